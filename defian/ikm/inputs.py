"""What the IKM operators accept: :class:`IKMError` and the shape checks that the exact
implementations (:mod:`defian.ikm.operator`, :mod:`defian.ikm.fast`) share, so that every entry
point names a bad input the same way."""

from __future__ import annotations

import torch

__all__ = ["IKMError", "check_inputs", "check_kernel_size"]


class IKMError(ValueError):
    """A bad argument or input for the IKM operator (names the parameter and value)."""


def check_kernel_size(k: int) -> int:
    """``k`` if it is an odd integer >= 1 (IKM pads to keep the size), else :class:`IKMError` naming it."""
    if not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise IKMError(f"kernel_size must be an odd integer >= 1 (IKM pads to keep the size), got {k!r}")
    return k


def check_inputs(x: torch.Tensor, weight: torch.Tensor, attention: torch.Tensor,
                 bias: torch.Tensor | None = None, dilation: int = 1) -> tuple[int, int]:
    """``(k, (k - 1) // 2)`` of a modulated convolution's inputs, each shape checked against the others.

    Raises:
        IKMError: the first input whose shape or value does not fit, named with what was expected.
    """
    if x.dim() != 4:
        raise IKMError(f"x must be (B, C_in, H, W), got shape {tuple(x.shape)}")
    if 0 in x.shape:
        raise IKMError(f"x must hold at least one image of at least one pixel, got shape {tuple(x.shape)}")
    if not isinstance(dilation, int) or dilation < 1:
        raise IKMError(f"dilation must be a positive integer, got {dilation!r}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise IKMError(f"bias must be (C_out,) = ({weight.shape[0]},), got {tuple(bias.shape)}")
    if weight.dim() != 4 or weight.shape[2] != weight.shape[3]:
        raise IKMError(f"weight must be (C_out, C_in, k, k), got shape {tuple(weight.shape)}")
    k = check_kernel_size(weight.shape[2])
    if x.shape[1] != weight.shape[1]:
        raise IKMError(f"x has {x.shape[1]} channels, the kernel expects C_in={weight.shape[1]}")
    if attention.shape != (x.shape[0], weight.shape[1], k, k):
        raise IKMError(f"attention must be (B, C_in, k, k) = {(x.shape[0], weight.shape[1], k, k)}, "
                       f"got {tuple(attention.shape)}")
    return k, (k - 1) // 2
