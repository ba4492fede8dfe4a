"""The per-tap GEMM form of IsO (defian.ikm.fast) against its reference twin, Algorithm 1's grouped conv."""

from __future__ import annotations

import pytest
import torch

from defian.ikm.fast import tap_conv2d
from defian.ikm.operator import iso_conv2d


def _case(b, c_in, c_out, k, h, w, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, c_in, h, w, generator=g, dtype=dtype),
            torch.randn(c_out, c_in, k, k, generator=g, dtype=dtype),
            0.5 + torch.rand(b, c_in, k, k, generator=g, dtype=dtype),
            torch.randn(c_out, generator=g, dtype=dtype))


@pytest.mark.parametrize("b, c_in, c_out, k, h, w, dilation", [
    (2, 3, 4, 3, 5, 7, 1),
    (1, 5, 2, 1, 4, 4, 1),
    (3, 2, 3, 5, 6, 5, 1),
    (2, 3, 3, 3, 7, 6, 2),
    (2, 2, 3, 3, 2, 1, 1),  # smaller than the kernel
])
def test_taps_equal_grouped_forward_and_backward(b, c_in, c_out, k, h, w, dilation):
    x, wt, a, bias = _case(b, c_in, c_out, k, h, w)
    res = {}
    for method in ("taps", "grouped"):
        leaves = [t.clone().requires_grad_() for t in (x, wt, a, bias)]
        y = iso_conv2d(*leaves, dilation=dilation, method=method)
        gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=y.dtype)
        res[method] = [y, *torch.autograd.grad(y, leaves, gy)]
    for name, p, q in zip(("y", "dx", "dW", "dA", "dbias"), res["taps"], res["grouped"]):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12, msg=name)


def test_taps_pass_gradcheck():
    x, wt, a, _ = _case(2, 2, 3, 3, 4, 5)
    leaves = [t.requires_grad_() for t in (x, wt, a)]
    assert torch.autograd.gradcheck(lambda *t: tap_conv2d(*t), leaves)


def test_taps_in_float32_match_to_rounding():
    x, wt, a, bias = _case(4, 16, 8, 3, 12, 12, dtype=torch.float32, seed=3)
    ref = iso_conv2d(x.double(), wt.double(), a.double(), bias.double(), method="grouped")
    out = iso_conv2d(x, wt, a, bias, method="taps")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_any_chunk_of_images_gives_the_same_result(chunk):
    x, wt, a, bias = _case(5, 3, 4, 3, 6, 5, seed=7)
    res = []
    for c in (None, chunk):
        leaves = [t.clone().requires_grad_() for t in (x, wt, a, bias)]
        y = tap_conv2d(*leaves, chunk=c)
        res.append([y, *torch.autograd.grad(y.square().sum(), leaves)])
    for p, q in zip(*res):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
