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


def test_benchmark_on_known_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known times in, the benchmark's times and ratios out (worked by hand): a fake clock moves only when
    a pool runs, by the next of its times. Per pool and dtype: one warm-up (1 ms, the least: it must not
    count), three interleaved rounds, one call for the gradient comparison (not timed)."""
    import sys

    from defian import paths

    bench = paths.benchmark_script("bench_pool")
    clocks = sys.modules[bench._min_times.__module__].CLOCKS  # bench_mshf's clocks, which _min_times reads
    ms = {("spatial_mean", torch.float32): [1, 5, 3, 4, 0], ("x.mean", torch.float32): [1, 6, 4, 8, 0],
          ("spatial_mean", torch.bfloat16): [1, 9, 7, 2, 0], ("x.mean", torch.bfloat16): [1, 5, 10, 5, 0]}
    now = [0.0]

    def timed(name: str):  # noqa: ANN202
        def pool(x: torch.Tensor) -> torch.Tensor:
            now[0] += ms[name, x.dtype].pop(0) / 1e3
            return real[name](x)
        return pool

    real = dict(bench.POOLS)
    monkeypatch.setattr(bench, "POOLS", {name: timed(name) for name in real})
    monkeypatch.setitem(clocks, "fake", lambda: now[0])
    rows = bench.rows((2, 8, 6, 6), rounds=3, clock="fake")
    assert not any(ms.values())  # every time was used: no call more or fewer than the worked example's
    got = [(r["dtype"], r["spatial_mean_ms"], r["mean_ms"], r["ratio"]) for r in rows]
    assert got == [("float32", pytest.approx(3), pytest.approx(4), pytest.approx(0.75)),  # minima 3 and 4 ms
                   ("bfloat16", pytest.approx(2), pytest.approx(5), pytest.approx(0.4))]  # minima 2 and 5 ms
    assert all(r["equal_gradients"] for r in rows)  # the real pools ran: their gradients agree bit for bit
