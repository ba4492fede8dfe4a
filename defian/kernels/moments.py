"""The DAC's statistics (Eqs. 20-21) as one C++ pass: :func:`mean_std` on channels-last CPU tensors.

:func:`defian.nn.dac.mean_std` is the reference: a spatial mean, then the
unbiased variance in a second pass. The kernel (``csrc/gate_cpu.cpp``,
``moments_forward``/``moments_backward``) makes the same two passes per sample
and channel with double accumulators over a channels-last tensor, and one pass
backward. It runs for CPU float32/float64 channels-last input outside autocast
and ``torch.compile`` (:func:`defian.kernels.extension.takes`); otherwise the
reference runs. ``tests/kernels/test_moments.py`` holds them equal in float64.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from defian.kernels import extension
from defian.kernels.pooling import spatial_mean
from defian.nn.dac import check_moments_input

__all__ = ["mean_std"]


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`defian.nn.dac.mean_std`, by the C++ kernel where it applies.

    Args:
        feat: (B, C, H, W) with H * W >= 2.
        eps: added to the variance.

    Returns:
        mean, std: each (B, C, 1, 1).
    """
    check_moments_input(feat)
    if extension.takes(feat) and feat.is_contiguous(memory_format=torch.channels_last):
        kernel = extension.kernel("gate_cpu")
        if kernel is not None:
            return _FusedMeanStd.apply(feat, eps, kernel)
    mean = spatial_mean(feat)  # = feat.mean((2, 3)), with a gradient in feat's layout
    dev = feat - mean
    var = (dev * dev).sum(dim=(2, 3), keepdim=True) / (feat.shape[2] * feat.shape[3] - 1)  # unbiased
    return mean, (var + eps).sqrt()


class _FusedMeanStd(torch.autograd.Function):
    """:func:`mean_std` by the C++ kernel; see its docstring."""

    @staticmethod
    def forward(ctx, feat: torch.Tensor, eps: float, kernel: object) -> tuple[torch.Tensor, torch.Tensor]:
        b, c = feat.shape[:2]
        mean, std = kernel.moments_forward(extension.rows(feat), eps)
        ctx.kernel = kernel
        ctx.save_for_backward(feat, mean, std)
        return mean.view(b, c, 1, 1), std.view(b, c, 1, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, gmean: torch.Tensor, gstd: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        feat, mean, std = ctx.saved_tensors
        b, c, h, w = feat.shape
        gmean, gstd = (t.reshape(b, c).contiguous() for t in (gmean, gstd))
        gx = ctx.kernel.moments_backward(extension.rows(feat), mean, std, gmean, gstd)
        return extension.from_rows(gx, h, w), None, None
