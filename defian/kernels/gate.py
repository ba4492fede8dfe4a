"""Gated residuals ``y = x + f * S(z)``: the end of a DeFiAM (Eqs. 22 and 6) and of an RCAB (Eq. 7).

A DeFiAM (:func:`gated_residual`) ends Eq. (6) by taking the DAC's aligned
logits (Eq. 22: the normalised attention map ``x_o~``, (B, 1, H, W), re-scaled
and shifted per channel by ``sigma^`` and ``mu^``, each (B, C, 1, 1)), applying
the sigmoid S, weighting F(x) with the result and adding the module input x. An
RCAB (:func:`channel_gated_residual`) ends Eq. (7) the same way with one logit
per sample and channel, ``x + f_FE(x) * S(z)``, z the channel attention's
logits (B, C, 1, 1).

As PyTorch expressions these are four memory-bound passes over (B, C, H, W)
tensors forward and about seven backward. On CPU a C++ kernel
(``defian/kernels/csrc/gate_cpu.cpp``, :mod:`defian.kernels.extension`) makes one pass each
way over channels-last tensors and recomputes the sigmoid instead of storing it
(its own vectorised exp in float32); ``benchmarks/bench_gate.py`` times both
against the expressions (its records: ``results/bench``), and notebook 06 shows
what they give a training update. Since every model
here has tens of RCABs, the RCAB's gate saves the more in all.

:func:`reference` and :func:`channel_reference` are the expressions: the path on
other devices, under autocast and ``torch.compile`` (which fuses them itself),
for other layouts and when the kernel cannot be built, and what the kernel is
tested against (float64, ``tests/kernels/test_gate.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from defian.kernels import extension
from defian.kernels.extension import from_rows, rows

__all__ = ["channel_gated_residual", "channel_reference", "gated_residual", "reference"]


def reference(x: Tensor, f: Tensor, normalised: Tensor, sd_hat: Tensor, mu_hat: Tensor) -> Tensor:
    """Eqs. (22) and (6) as PyTorch expressions: ``x + f * sigmoid(normalised * sd_hat + mu_hat)``."""
    return x + f * torch.sigmoid(normalised * sd_hat + mu_hat)


def channel_reference(x: Tensor, f: Tensor, logits: Tensor) -> Tensor:
    """Eq. (7)'s end as a PyTorch expression: ``x + f * sigmoid(logits)``."""
    return x + f * torch.sigmoid(logits)


def _kernel_applies(x: Tensor, f: Tensor, *small: Tensor, spatial: bool = True) -> bool:
    """Whether the C++ kernel takes these tensors: ``small`` is (normalised, sd_hat, mu_hat) or (logits,)."""
    b, c, h, w = f.shape
    shapes = [(b, 1, h, w), (b, c, 1, 1), (b, c, 1, 1)] if spatial else [(b, c, 1, 1)]
    return (
        extension.takes(x, f, *small)
        and x.shape == f.shape
        and all(t.is_contiguous(memory_format=torch.channels_last) for t in (x, f))
        and [tuple(t.shape) for t in small] == shapes
    )


def gated_residual(x: Tensor, f: Tensor, normalised: Tensor, sd_hat: Tensor, mu_hat: Tensor) -> Tensor:
    """Implements the end of Eq. (6) with Eq. (22): ``x + f * S(normalised * sd_hat + mu_hat)``.

    Args:
        x: the module input, (B, C, H, W).
        f: F(x), (B, C, H, W).
        normalised: x_o~ of Eq. (20), (B, 1, H, W).
        sd_hat, mu_hat: sigma^ and mu^ of Eq. (21), each (B, C, 1, 1).

    Returns:
        y, (B, C, H, W). The C++ kernel runs when it is available, ``x`` and ``f`` are
        channels-last and :func:`defian.kernels.extension.takes` the tensors (CPU, float32 or
        float64, outside autocast and ``torch.compile``); otherwise :func:`reference`.
    """
    if f.dim() != 4:
        raise ValueError(f"f must be (B, C, H, W), got shape {tuple(f.shape)}")
    if _kernel_applies(x, f, normalised, sd_hat, mu_hat):
        kernel = extension.kernel("gate_cpu")
        if kernel is not None:
            return _FusedGate.apply(x, f, normalised, sd_hat, mu_hat, kernel)
    return reference(x, f, normalised, sd_hat, mu_hat)


def channel_gated_residual(x: Tensor, f: Tensor, logits: Tensor) -> Tensor:
    """Implements the end of an RCAB, Eq. (7): ``x + f * S(logits)``.

    Args:
        x: the block input, (B, C, H, W).
        f: f_FE(x), (B, C, H, W).
        logits: the channel attention before its sigmoid, (B, C, 1, 1).

    Returns:
        y, (B, C, H, W); the C++ kernel under the conditions of :func:`gated_residual`.
    """
    if f.dim() != 4:
        raise ValueError(f"f must be (B, C, H, W), got shape {tuple(f.shape)}")
    if _kernel_applies(x, f, logits, spatial=False):
        kernel = extension.kernel("gate_cpu")
        if kernel is not None:
            return _FusedChannelGate.apply(x, f, logits, kernel)
    return channel_reference(x, f, logits)


class _FusedGate(torch.autograd.Function):
    """:func:`reference` in one pass each way; see the module docstring."""

    @staticmethod
    def forward(ctx, x: Tensor, f: Tensor, normalised: Tensor, sd_hat: Tensor, mu_hat: Tensor,
                kernel: object) -> Tensor:
        b, c, h, w = f.shape
        n, s, m = (t.reshape(b, -1).contiguous() for t in (normalised, sd_hat, mu_hat))  # (B, H*W), (B, C), (B, C)
        ctx.kernel = kernel
        ctx.save_for_backward(f, n, s, m)  # the sigmoid is recomputed in the backward
        return from_rows(kernel.forward(rows(x), rows(f), n, s, m), h, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        f, n, s, m = ctx.saved_tensors
        b, c, h, w = f.shape
        g = grad.contiguous(memory_format=torch.channels_last)
        gf, gn, gs, gm = ctx.kernel.backward(rows(g), rows(f), n, s, m)
        return grad, from_rows(gf, h, w), gn.view(b, 1, h, w), gs.view(b, c, 1, 1), gm.view(b, c, 1, 1), None


class _FusedChannelGate(torch.autograd.Function):
    """:func:`channel_reference` in one pass each way."""

    @staticmethod
    def forward(ctx, x: Tensor, f: Tensor, logits: Tensor, kernel: object) -> Tensor:
        b, c, h, w = f.shape
        m = logits.reshape(b, c).contiguous()
        ctx.kernel = kernel
        ctx.save_for_backward(f, m)
        return from_rows(kernel.channel_forward(rows(x), rows(f), m), h, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        f, m = ctx.saved_tensors
        b, c, h, w = f.shape
        g = grad.contiguous(memory_format=torch.channels_last)
        gf, gm = ctx.kernel.channel_backward(rows(g), rows(f), m)
        return grad, from_rows(gf, h, w), gm.view(b, c, 1, 1), None
