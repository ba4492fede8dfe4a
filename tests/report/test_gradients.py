"""defian.report.gradients: Eq. (25)'s argument measured (MSHF's gradient; deep stacks at init)."""

from __future__ import annotations

import pytest
import torch

from defian.nn.defiam import AttentionSwitches
from defian.report import gradients

F64 = torch.float64


def test_mshf_gradient_is_scale_free_and_bounded() -> None:
    # Degree-0 homogeneous Jacobian: x and 1e6 x (every derivative, the third included, 1e6 times larger)
    # get the same gradient; the bound 12 sqrt(K/C) holds on noise and on a checkerboard ("full of edges").
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(2, 6, 11, 10, generator=g, dtype=F64)
    board = ((torch.arange(11)[:, None] + torch.arange(10)[None]) % 2).to(F64).expand(1, 6, 11, 10).clone()
    for x in (noise, board):
        out = gradients.mshf_gradient_scaling(x, scales=(1e-6, 1.0, 1e6))
        ref = out["grad_norm"].iloc[1]
        assert ((out["grad_norm"] - ref).abs() <= 1e-12 * ref).all()
        assert (out["ratio_to_bound"] <= 1.0).all() and ref > 0
    assert gradients.mshf_gradient_bound(6, 3) == pytest.approx(12 * (3 / 6) ** 0.5)


def test_stack_gradient_norm_matches_a_central_difference() -> None:
    # Independent of autograd: the derivative of <g, y(x + h u)> along u = grad / ||grad|| is ||grad||.
    depth, C, r, size, seed = 3, 8, 4, 6, 0
    sw = gradients.WIRINGS["DeFiAM"]
    got = gradients.stack_gradients([depth], {"DeFiAM": sw}, channels=C, reduction=r, size=size, batch=1, seed=seed)
    stack = gradients.build_stack(depth, sw, C, r, seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, C, size, size, dtype=F64, generator=gen, requires_grad=True)
    y = stack(x)
    gvec = torch.randn(y.shape, dtype=F64, generator=gen)
    gvec = gvec / gvec.norm()
    (grad,) = torch.autograd.grad((y * gvec).sum(), x)
    u, h = grad / grad.norm(), 1e-5
    with torch.no_grad():
        fd = ((stack(x + h * u) * gvec).sum() - (stack(x - h * u) * gvec).sum()) / (2 * h)
    assert got["grad_norm"].iloc[0] == pytest.approx(fd.item(), rel=1e-6)


def test_the_attention_free_trunk_doubles_per_module() -> None:
    # Eqs. (6)-(7): F(x) = x + ..., so without attention each module returns about 2x: growth ~2 per module,
    # and the gradient grows with depth in every wiring.
    out = gradients.stack_gradients([2, 6], channels=8, reduction=4, size=6, batch=1)
    rcan = out[out.wiring == "no attention (RCAN)"]
    assert rcan["growth_per_module"].between(1.8, 2.2).all()
    for _, part in out.groupby("wiring"):
        assert part.sort_values("depth")["grad_norm"].is_monotonic_increasing


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="depths"):
        gradients.stack_gradients([0], {"x": AttentionSwitches()})
    with pytest.raises(ValueError, match="channels"):
        gradients.mshf_gradient_bound(0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        gradients.mshf_gradient_scaling(torch.zeros(3, 4))
