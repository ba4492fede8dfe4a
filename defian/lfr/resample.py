"""MATLAB bicubic resizing of tensors, for the LFR model's pre- and post-upsampling.

ASDN feeds its network the LR image "bicubic interpolated" to the target size
(slides, "Training" and "Testing"). Inside a model that resizing must run on
tensors, on any device, and let gradients through; it must also be the same
bicubic that made the data, MATLAB's ``imresize``. This module applies the
1-D weights and source indices of :func:`defian.data.imresize.contributions`
(Keys a = -0.5, MATLAB's pixel mapping ``u = x/s + 0.5(1 - 1/s)``, antialiasing
when shrinking, half-sample mirrored borders) as a gather along the rows and
then the columns: a linear map of the input, differentiable, without rounding.
Its reference twin is :func:`defian.data.imresize.imresize_float`, tested equal
in float64 (``tests/lfr/test_lfr_resample.py``).

Scale semantics: with ``scale`` given, the pixel mapping uses it on both axes
(MATLAB ``imresize(A, scale)``), whatever ``size`` is; with ``scale=None``, each
axis uses ``n_out / n_in`` (MATLAB ``imresize(A, [h w])``). Upsampling an LR
image made by ``imresize(HR, 1/s)`` with ``scale=s`` keeps the two pixel grids
aligned even when ``size`` is not ``s * n``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from defian.data.imresize import contributions, output_size

__all__ = ["bicubic", "output_shape"]


def output_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size ``(ceil(s h), ceil(s w))`` (:func:`defian.data.imresize.output_size`)."""
    return output_size(shape[0], scale), output_size(shape[1], scale)


@functools.lru_cache(maxsize=128)
def _taps(n_in: int, n_out: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    return contributions(n_in, n_out, scale, antialias)  # (n_out, P) float64, (n_out, P) 0-based; copied below


def _resize_dim(x: torch.Tensor, dim: int, n_out: int, scale: float, antialias: bool) -> torch.Tensor:
    """Resize one spatial dim of ``x`` (B, C, H, W) to ``n_out``: ``y[o] = sum_k w[o, k] x[src[o, k]]``."""
    n_in = x.shape[dim]
    if n_out == n_in and scale == 1.0:
        return x  # MATLAB's weights at s = 1 are the identity (cubic(0) = 1, cubic(+-1) = cubic(+-2) = 0)
    weights, src = _taps(n_in, n_out, float(scale), antialias)
    p = weights.shape[1]
    w = torch.tensor(weights, dtype=x.dtype, device=x.device)  # (n_out, P), a copy: the cache stays intact
    idx = torch.tensor(src.reshape(-1), dtype=torch.long, device=x.device)  # (n_out * P,)
    g = x.index_select(dim, idx)  # (.., n_out * P, ..) along dim
    if dim == 2:  # rows: (B, C, n_out, P, W)
        g = g.unflatten(2, (n_out, p))
        return (g * w[:, :, None]).sum(dim=3)
    g = g.unflatten(3, (n_out, p))  # columns: (B, C, H, n_out, P)
    return (g * w).sum(dim=4)


def bicubic(
    x: torch.Tensor, size: tuple[int, int], scale: float | None = None, antialias: bool = True
) -> torch.Tensor:
    """MATLAB ``imresize(x, ..., 'bicubic')`` of a batch of images or feature maps, in x's dtype.

    Args:
        x: (B, C, h, w), floating point.
        size: (H, W), the output size.
        scale: the pixel-mapping scale of both axes; None: ``H / h`` and ``W / w``.
        antialias: widen the kernel when shrinking (MATLAB's default).

    Returns:
        (B, C, H, W). The rows are resized before the columns, as
        :func:`defian.data.imresize.imresize_float` does; no clamping, no rounding.

    Raises:
        ValueError: x not 4-D floating point, a size < 1 or a non-positive scale.
    """
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"bicubic expects a floating (B, C, h, w) tensor, got {tuple(x.shape)} {x.dtype}")
    h_out, w_out = (int(n) for n in size)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"bicubic size must be positive, got {tuple(size)!r}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"bicubic scale must be a positive number, got {scale!r}")
    sh = h_out / x.shape[2] if scale is None else float(scale)
    sw = w_out / x.shape[3] if scale is None else float(scale)
    return _resize_dim(_resize_dim(x, 2, h_out, sh, antialias), 3, w_out, sw, antialias)
