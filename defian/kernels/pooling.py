"""Global average pooling whose gradient keeps the input's memory layout.

The channel attention of every RCAB (Eq. 7's ``f_CA``) and the DAC's statistics
(Eq. 21) pool a (B, C, H, W) feature to (B, C, 1, 1). ``x.mean(dim=(2, 3))``
does the forward well, but PyTorch's backward of it divides the *expanded*
gradient, which materialises a (B, C, H, W) tensor in the default (NCHW) layout.
The same feature's other gradient (from the gated residual, or the convolution
that reads it) is channels-last, so autograd then adds two tensors of different
layouts, which TensorIterator does as a strided loop instead of one vectorised
pass. A DeFiAN_S update has 50 of these additions, one per RCAB.

:func:`spatial_mean` has the same forward; its backward divides the (B, C, 1, 1)
gradient first and returns it *expanded* (a stride-0 view, no (B, C, H, W)
tensor at all), which autograd adds into the other gradient in that gradient's
layout. ``benchmarks/bench_pool.py`` times the two pools where their gradient meets
another; its records are in ``results/bench/``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["spatial_mean"]


class _SpatialMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.shape = x.shape
        return x.mean(dim=(2, 3), keepdim=True)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        b, c, h, w = ctx.shape
        return (grad / (h * w)).expand(b, c, h, w)  # d mean / d x = 1 / (H W) at every pixel


def spatial_mean(x: Tensor) -> Tensor:
    """The mean over space, (B, C, H, W) -> (B, C, 1, 1), with a layout-preserving backward.

    Equal to ``x.mean(dim=(2, 3), keepdim=True)`` bit for bit, forward and backward
    (PyTorch's backward divides the same gradient by the same ``H W`` at every pixel;
    this one divides it once and broadcasts); see the module docstring for why it exists.
    """
    if x.dim() != 4:
        raise ValueError(f"spatial_mean expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    return _SpatialMean.apply(x)
