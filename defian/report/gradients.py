"""Sec. IV-E, Eq. (25): is MSHF why deep DeFiANs' gradients explode? Measured at initialisation.

The paper (Sec. IV-E) reports gradient explosion or vanishing beyond about 600 layers
(Fig. 11) and blames MSHF: by Eq. (25), ``d lambda_3 / d x`` is "proportional to"
``d^3 x``, large on edges and small on smooth regions. Two facts about Eq. (12) say
otherwise, and this module measures both:

1. **MSHF's gradient does not grow with the input's derivatives.** With zero bias,
   ``lambda`` of Eq. (12) is positively homogeneous of degree 1 in the filtered values
   (``lambda(s g) = s lambda(g)``, ``s > 0``) and the filters are linear, so MSHF's
   Jacobian is homogeneous of degree 0: the same for ``x`` and ``1000 x``
   (:func:`mshf_gradient_scaling`). Its per-entry gradient
   ``(1/2 + d/(2r), 1/2 - d/(2r), c/r)`` is bounded by 1 (notebook 01), and each
   kernel of Eq. (16) has absolute sum 4, so for any input
   ``||d <g, MSHF(x)> / dx|| <= 12 sqrt(K / C) ||g||`` (K scales, C channels;
   Young's inequality; :func:`mshf_gradient_bound`).
2. **A deep stack grows geometrically, with or without MSHF.** The FEM of Eq. (7) is a
   chain of residual blocks, so ``F(x) = x + ...`` and a DeFiAM (Eq. 6) returns about
   ``x + a x``: each module multiplies the signal, and the gradient, by up to
   ``1 + a`` (``a`` in (0, 1); 2 for the attention-free twin, where ``a = 1``).
   :func:`stack_gradients` measures the input gradient of stacks of tiny DeFiAMs at
   PyTorch's default initialisation, in float64, for several depths and attention
   wirings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from defian.nn.defiam import AttentionSwitches, DeFiAM
from defian.nn.hessian import MSHF

__all__ = ["WIRINGS", "build_stack", "mshf_gradient_bound", "mshf_gradient_scaling", "stack_gradients"]

#: Attention wirings compared in deep stacks: the full DeFiAM, without MSHF (DiEnDec and DAC fed the
#: channel mean), and the attention-free twin (RCAN, Table III (a)).
WIRINGS: dict[str, AttentionSwitches] = {
    "DeFiAM": AttentionSwitches(),
    "DeFiAM without MSHF": AttentionSwitches(mshf=False),
    "no attention (RCAN)": AttentionSwitches(mshf=False, diendec=False, dac=False),
}


def mshf_gradient_bound(channels: int, n_scales: int = 3) -> float:
    """Upper bound on ``||d <g, MSHF(x)> / dx|| / ||g||`` for any input and zero bias: ``12 sqrt(K / C)``."""
    if channels < 1 or n_scales < 1:
        raise ValueError(f"mshf_gradient_bound: channels={channels} and n_scales={n_scales} must be >= 1")
    return 12.0 * math.sqrt(n_scales / channels)


def mshf_gradient_scaling(x: torch.Tensor, scales: Sequence[float] = (1e-3, 1.0, 1e3), seed: int = 0) -> pd.DataFrame:
    """Input gradient of ``<g, MSHF(s x)>`` with respect to MSHF's input ``s x``, for each ``s``.

    Args:
        x: (B, C, H, W) features (computed in float64).
        scales: the factors ``s``; a large ``s`` makes every derivative of the input, the third
            included, ``s`` times larger.
        seed: seeds the upstream gradient ``g`` (one unit-norm draw, shared by all ``s``).

    Returns:
        Columns ``scale, grad_norm, ratio_to_bound``: ``grad_norm`` with ``||g|| = 1``.
    """
    if x.dim() != 4:
        raise ValueError(f"mshf_gradient_scaling: x must be (B, C, H, W), got {tuple(x.shape)}")
    m = MSHF(x.shape[1]).double()
    g = torch.randn(x.shape[0], len(m.kernel_sizes), *x.shape[2:], dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    g = g / g.norm()
    bound = mshf_gradient_bound(x.shape[1], len(m.kernel_sizes))
    rows = []
    for s in scales:
        z = (float(s) * x.double()).requires_grad_()
        (grad,) = torch.autograd.grad((m(z) * g).sum(), z)
        rows.append({"scale": float(s), "grad_norm": grad.norm().item(), "ratio_to_bound": grad.norm().item() / bound})
    return pd.DataFrame(rows)


def build_stack(depth: int, switches: AttentionSwitches, channels: int, reduction: int, seed: int) -> nn.Sequential:
    """``depth`` DeFiAMs of one RCAB each, float64, at PyTorch's default initialisation (seeded)."""
    torch.manual_seed(seed)  # the same draw order for every wiring
    return nn.Sequential(*[DeFiAM(channels, 1, switches, reduction) for _ in range(depth)]).double()


def _stack_gradient(depth: int, switches: AttentionSwitches, channels: int, reduction: int, size: int, batch: int,
                    seed: int) -> dict[str, float]:
    stack = build_stack(depth, switches, channels, reduction, seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, dtype=torch.float64, generator=gen, requires_grad=True)
    y = stack(x)
    g = torch.randn(y.shape, dtype=torch.float64, generator=gen)
    (grad,) = torch.autograd.grad((y * (g / g.norm())).sum(), x)
    gain = grad.norm().item()
    return {"grad_norm": gain, "output_std": y.detach().std().item(), "growth_per_module": gain ** (1.0 / depth)}


def stack_gradients(depths: Sequence[int], wirings: Mapping[str, AttentionSwitches] | None = None, *,
                    channels: int = 16, reduction: int = 4, size: int = 16, batch: int = 2,
                    seed: int = 0) -> pd.DataFrame:
    """Input-gradient norm of stacks of ``depth`` DeFiAMs (one RCAB each) at initialisation.

    The loss is ``<g, y>`` with a random unit-norm ``g`` on the stack's output ``y``, so
    ``grad_norm`` is how much the stack amplifies a unit output gradient on its way
    back to the input (Eq. (25)'s "accumulated grad"); ``growth_per_module`` is its
    ``depth``-th root; ``output_std`` the forward signal's size for a unit-variance input.
    Float64 throughout, so that deep stacks stay finite.

    Args:
        depths: numbers of DeFiAMs, e.g. (10, 50, 200).
        wirings: label -> attention switches (default :data:`WIRINGS`).
        channels: C.
        reduction: bottleneck ratio of channel attention and DAC; the default 4 gives C = 16 the
            bottleneck of 4 that DeFiAN_L has (64 / 16). With a bottleneck of 1 the DAC's hidden
            ReLU is dead in about half the modules at initialisation, and their attention is a
            constant 0.5 whatever MSHF computes.
        size: side of the (batch, C, size, size) input.
        batch: samples in the input.
        seed: seeds the weights, the input and ``g``.

    Returns:
        Columns ``wiring, depth, grad_norm, growth_per_module, output_std``.
    """
    if any(int(d) < 1 for d in depths):
        raise ValueError(f"stack_gradients: depths must be >= 1, got {list(depths)}")
    rows = []
    for label, sw in (wirings or WIRINGS).items():
        for d in depths:
            rows.append({"wiring": label, "depth": int(d), **_stack_gradient(int(d), sw, channels, reduction, size, batch, seed)})
    return pd.DataFrame(rows)[["wiring", "depth", "grad_norm", "growth_per_module", "output_std"]]
