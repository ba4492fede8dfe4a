"""Attention as kernel modulation (Sec. III-A, Eqs. 1-5), computed literally.

Eq. (1) is a convolution, ``y_j = sum_i x_i (*) w_{j,i} + b_j``; Eq. (2) writes it per
output location ``p*`` as a sum over the receptive field. Eq. (3) lets every location
use its own kernel ``f*(w)``; Eq. (4) takes the linear choice
``f*(w)_{j,i}(p) = a*_{j,i} w_{j,i}(p)``, and Eq. (5) lets ``a*`` be the entry
``a_i(p* + p)`` of an attention map of the input's size, so that

    y_j = sum_i (x_i . a_i) (*) w_{j,i} + b_j                       (Eq. 5)

a plain convolution of the modulated input. :func:`modulated_conv` evaluates Eqs. (3)-(4)
with one explicit kernel per output location (unfold), which Eq. (5) claims equals
``conv2d(x * a, w, b)``; ``a = 1`` gives Eqs. (1)-(2). ``tests/report/test_modulation.py``
checks both in float64. The attention here is per input channel ``i`` (the paper's
``a_{j,i}`` with no dependence on ``j``), as DeFiAM's ``a`` of Eq. (6) is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["location_kernels", "modulated_conv"]


def _check(x: Tensor, w: Tensor, a: Tensor | None) -> None:
    if x.dim() != 4 or w.dim() != 4 or w.shape[1] != x.shape[1] or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
        raise ValueError(f"modulated_conv: need x (B, Cin, H, W) and an odd square w (Cout, Cin, k, k); "
                         f"got x {tuple(x.shape)}, w {tuple(w.shape)}")
    if a is not None and a.shape != x.shape:
        raise ValueError(f"modulated_conv: attention a must have x's shape {tuple(x.shape)}, got {tuple(a.shape)}")


def location_kernels(w: Tensor, a: Tensor) -> Tensor:
    """The kernel Eq. (4) applies at every output location: ``w*_{j,i}(p*; p) = a_i(p* + p) w_{j,i}(p)``.

    Args:
        w: (Cout, Cin, k, k) the shared kernel of Eq. (1).
        a: (B, Cin, H, W) the attention of Eq. (5), zero-padded outside the image.

    Returns:
        (B, H*W, Cout, Cin, k, k): one kernel per sample and output location ("same" padding).
    """
    k = w.shape[-1]
    cols = F.unfold(a, k, padding=k // 2)  # (B, Cin*k*k, H*W): a_i(p* + p) for every p*, p
    cols = cols.transpose(1, 2).reshape(a.shape[0], -1, 1, w.shape[1], k, k)  # (B, L, 1, Cin, k, k)
    return cols * w[None, None]


def modulated_conv(x: Tensor, w: Tensor, b: Tensor | None = None, a: Tensor | None = None) -> Tensor:
    """Eqs. (2)-(4) evaluated location by location, with the kernels of :func:`location_kernels`.

    ``y_j(p*) = sum_i sum_{p in R} x_i(p* + p) w*_{j,i}(p*; p) + b_j`` with zero padding
    ("same" output size, stride 1). With ``a = None`` (all ones) this is Eq. (2), i.e. Eq. (1).

    Args:
        x: (B, Cin, H, W) input features.
        w: (Cout, Cin, k, k), k odd.
        b: (Cout,) bias or None.
        a: (B, Cin, H, W) attention or None.

    Returns:
        (B, Cout, H, W).
    """
    _check(x, w, a)
    B, _, H, W = x.shape
    k = w.shape[-1]
    kernels = location_kernels(w, torch.ones_like(x) if a is None else a)  # (B, L, Cout, Cin, k, k)
    patches = F.unfold(x, k, padding=k // 2).transpose(1, 2).reshape(B, H * W, 1, -1)  # (B, L, 1, Cin*k*k)
    y = (patches * kernels.flatten(3)).sum(-1)  # (B, L, Cout): one dot product per location and output channel
    if b is not None:
        y = y + b
    return y.transpose(1, 2).reshape(B, w.shape[0], H, W)
