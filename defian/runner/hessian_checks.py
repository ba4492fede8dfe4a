"""Checks of the Hessian filtering (Sec. III-B) that notebooks 01-02 narrate.

Kept out of :mod:`defian.nn.hessian` because nothing in the network uses them:
they measure the closed form of Eq. (12) against an eigen-solver, list the
offsets the scaled kernels of Eqs. (14)-(17) sample, and count the pixels
where the released formula's discriminant is exactly zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from defian.nn import hessian


def kernel_support(ker: int, variant: str = "paper") -> set[tuple[int, int]]:
    """Offsets (row, col) read by any of the three kernels of scale ``ker`` (Eqs. (15), (17)).

    ``variant``: a name of :data:`defian.nn.hessian.VARIANTS` (or an alias).
    """
    h = (ker - 1) // 2
    found: set[tuple[int, int]] = set()
    for kernel in hessian.hessian_kernels(ker, variant):
        found |= {(int(i) - h, int(j) - h) for i, j in torch.nonzero(kernel).tolist()}
    return found


def eigenvalue_errors(a: Tensor, b: Tensor, c: Tensor) -> dict[str, float]:
    """Max errors of Eq. (12) against ``torch.linalg.eigvalsh`` on matrices [[a, c], [c, b]].

    Args:
        a, b, c: float64 tensors of one shape, the entries (g_hh, g_vv, g_hv).

    Returns:
        ``n``, the error over the spectral norm (everywhere), and the error over
        |lambda_1| where |lambda_1| >= 1e-3 of the norm (relative accuracy is only
        meaningful there: lambda_1 = 0 next to a large lambda_2 is a cancellation).
    """
    lam = hessian.max_eigenvalue(a, b, c)
    ev = torch.linalg.eigvalsh(torch.stack([torch.stack([a, c], -1), torch.stack([c, b], -1)], -2))
    ref, norm = ev[..., -1], ev.abs().amax(-1).clamp_min(torch.finfo(a.dtype).tiny)
    err = (lam.double() - ref).abs()
    good = ref.abs() >= 1e-3 * norm
    return {"n": a.numel(), "max err / ||H||": (err / norm).max().item(),
            "max err / |lam| (|lam| >= 1e-3 ||H||)": (err[good] / ref[good].abs()).max().item()}


def zero_discriminants(feat: Tensor, bias: Tensor, dtype: torch.dtype) -> Tensor:
    """Per sample, the pixels where the released formula's discriminant is exactly 0 in ``dtype``.

    Args:
        feat: (B, C, H, W) features.
        bias: (3, 3, C) the released frozen biases, per scale (3, 5, 7) and kernel (hh, vv, hv).
        dtype: the precision the released convolutions run in (float32, or bfloat16 under autocast).

    Returns:
        (B,) int64 counts over the three scales.
    """
    taps, C = hessian.compact_stencils().to(dtype), feat.shape[1]
    count = torch.zeros(feat.shape[0], dtype=torch.int64)
    for k, (dil, _) in enumerate(hessian.MSHF(C).pairs):
        g = [F.conv2d(feat.to(dtype), taps[j].expand(C, 1, 3, 3), bias[k, j].to(dtype),
                      padding=dil, dilation=dil, groups=C) for j in range(3)]
        count += ((g[0] - g[1]) ** 2 + 4 * g[2] ** 2 == 0).flatten(1).sum(1)
    return count
