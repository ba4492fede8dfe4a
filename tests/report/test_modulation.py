"""defian.report.modulation: Eqs. (1)-(5) location by location against conv2d (float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from defian.report.modulation import location_kernels, modulated_conv

F64 = torch.float64


def _data(k: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 6, generator=g, dtype=F64)
    w = torch.randn(4, 3, k, k, generator=g, dtype=F64)
    b = torch.randn(4, generator=g, dtype=F64)
    a = torch.rand(2, 3, 7, 6, generator=g, dtype=F64)
    return x, w, b, a


@pytest.mark.parametrize("k", [1, 3, 5])
def test_eq2_is_eq1(k: int) -> None:
    x, w, b, _ = _data(k)
    assert torch.allclose(modulated_conv(x, w, b), F.conv2d(x, w, b, padding=k // 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_eq4_with_a_per_input_position_is_eq5(k: int) -> None:
    x, w, b, a = _data(k)
    assert torch.allclose(modulated_conv(x, w, b, a), F.conv2d(x * a, w, b, padding=k // 2), rtol=0, atol=1e-12)


def test_kernels_differ_per_location_and_reduce_to_w_where_a_is_one() -> None:
    _, w, _, a = _data()
    kern = location_kernels(w, a)  # (B, H*W, Cout, Cin, 3, 3)
    assert kern.shape == (2, 42, 4, 3, 3, 3)
    assert len({tuple(kern[0, i].flatten().tolist()) for i in range(42)}) == 42  # a different kernel at every pixel
    ones = location_kernels(w, torch.ones_like(a))
    assert torch.equal(ones[0, 3 * 6 + 2], w)  # an interior pixel with a = 1: the shared kernel of Eq. (1)
    assert torch.equal(ones[0, 0, :, :, 0, 0], torch.zeros(4, 3, dtype=F64))  # the corner's outside taps: padding


def test_bad_shapes_are_named() -> None:
    x, w, b, a = _data()
    with pytest.raises(ValueError, match="attention a"):
        modulated_conv(x, w, b, a[:, :2])
    with pytest.raises(ValueError, match="odd square"):
        modulated_conv(x, w[..., :2, :2], b)
