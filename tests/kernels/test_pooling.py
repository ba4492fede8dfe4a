"""spatial_mean: x.mean over space bit for bit, and a gradient that keeps the other gradient's layout."""

import pytest
import torch

from defian.kernels.pooling import spatial_mean


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_forward_and_backward_equal_torch_mean_bitwise(dtype):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 7, 6, dtype=dtype).contiguous(memory_format=torch.channels_last)
    g = torch.randn(3, 5, 1, 1, dtype=dtype)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = spatial_mean(a), b.mean(dim=(2, 3), keepdim=True)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    assert torch.equal(ya, yb)
    assert torch.equal(a.grad, b.grad)


def test_gradient_against_finite_differences():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(spatial_mean, (x,))
    (spatial_mean(x) * torch.arange(6.0, dtype=torch.float64).view(2, 3, 1, 1)).sum().backward()
    expected = torch.arange(6.0, dtype=torch.float64).view(2, 3, 1, 1).expand(2, 3, 4, 5) / 20  # d/dx of the mean
    assert torch.allclose(x.grad, expected, rtol=0, atol=1e-15)


def test_gradient_is_a_broadcast_view_so_accumulation_keeps_channels_last():
    # the reason for the module: torch's mean backward hands autograd an NCHW (B, C, H, W) tensor
    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = spatial_mean(x)
    (gx,) = torch.autograd.grad(y.sum(), x)
    assert gx.stride()[2:] == (0, 0)
    w = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    (x * w).sum().add(spatial_mean(x).sum()).backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x.grad, w + 1 / 36)


def test_rejects_other_ranks():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*\(4, 5\)"):
        spatial_mean(torch.zeros(4, 5))


def test_benchmark_compares_equal_gradients() -> None:
    from defian import paths

    rows = paths.benchmark_script("bench_pool").rows((2, 8, 6, 6), rounds=1)
    assert [r["dtype"] for r in rows] == ["float32", "bfloat16"]
    assert all(r["equal_gradients"] for r in rows)
    for r in rows:  # the reported ratio is the ratio of the reported times
        assert r["ratio"] == pytest.approx(r["spatial_mean_ms"] / r["mean_ms"], rel=1e-12)
