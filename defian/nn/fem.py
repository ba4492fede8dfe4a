"""Feature extraction module (FEM): a chain of residual channel attention blocks.

Implements Eq. (7) of Section III-A: ``F(x) = B_M(... B_2(B_1(x)))`` where each
residual channel attention block (RCAB, from RCAN) is

    B(x) = x + f_FE(x) * f_CA(f_FE(x)),

``f_FE`` = conv3x3 -> ReLU -> conv3x3 and ``f_CA`` = global average pool ->
1x1 conv (C -> C/r) -> ReLU -> 1x1 conv (C/r -> C) -> sigmoid.

Facts taken from the authors' released code (read, not copied): the two 3x3
convolutions of ``f_FE`` have no bias; the two 1x1 convolutions of the channel
attention have a bias; the reduction is r = 16. For channel counts below 16
(tiny test models only) the hidden width is clamped to 1; the released code
would build a zero-width layer there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


__all__ = ["RCAB", "ChannelAttention", "FEM", "Pointwise", "hidden_width"]


def hidden_width(channels: int, reduction: int) -> int:
    """Width of a C -> C/r -> C bottleneck, at least 1 (C/r rounds down as in RCAN)."""
    if channels < 1 or reduction < 1:
        raise ValueError(f"channels={channels} and reduction={reduction} must both be >= 1")
    return max(1, channels // reduction)


class Pointwise(nn.Conv2d):
    """A 1x1 convolution that runs as a matrix product on (B, C, 1, 1) inputs.

    The channel attention here and the DAC's MLPs (Eq. 21) apply 1x1
    convolutions to pooled (B, C, 1, 1) statistics; on such inputs a 1x1
    convolution is the matrix product ``F.linear`` (the same arithmetic), which
    CPUs run much faster than a convolution call, and a DeFiAN_S forward pass has
    120 of these layers. The module stays an ``nn.Conv2d``: the same parameters and
    state-dict keys, and the forward hooks of :mod:`defian.nn.complexity` see it.
    Other sizes run the convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W); a matrix product when H = W = 1."""
        if x.dim() == 4 and x.shape[2] == 1 and x.shape[3] == 1:
            return F.linear(x.flatten(1), self.weight.flatten(1), self.bias)[:, :, None, None]
        return super().forward(x)


class ChannelAttention(nn.Module):
    """``f_CA`` of Eq. (7): squeeze-and-excitation channel weights.

    Args:
        channels (int): C.
        reduction (int): r; the bottleneck has ``C // r`` channels (paper [21]: 16).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = hidden_width(channels, reduction)
        self.squeeze = Pointwise(channels, hidden, bias=True)  # released code: 1x1 convolutions with bias
        self.relu = nn.ReLU(inplace=True)
        self.excite = Pointwise(hidden, channels, bias=True)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 1, 1), the weights before their sigmoid."""
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): global average pool
        return self.excite(self.relu(self.squeeze(s)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 1, 1) weights in (0, 1)."""
        return torch.sigmoid(self.logits(x))


class RCAB(nn.Module):
    """Residual channel attention block ``B(x) = x + f_FE(x) * f_CA(f_FE(x))``.

    Args:
        channels (int): C.
        reduction (int): channel-attention reduction r.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)  # released: no bias
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.ca = ChannelAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        r = self.conv2(self.relu(self.conv1(x)))  # f_FE(x): (B, C, H, W)
        return x + r * self.ca(r)  # Eq. (7): the channel weights (B, C, 1, 1) broadcast over space


class FEM(nn.Module):
    """A chain of M RCABs, Eq. (7). No residual around the chain itself.

    Args:
        channels (int): C.
        n_blocks (int): M (DeFiAN_L: 20, DeFiAN_S: 10; paper IV-B1).
        reduction (int): channel-attention reduction r.
    """

    def __init__(self, channels: int, n_blocks: int, reduction: int = 16) -> None:
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        self.blocks = nn.Sequential(*[RCAB(channels, reduction) for _ in range(n_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Implements Eq. (7): (B, C, H, W) -> F(x), (B, C, H, W)."""
        return self.blocks(x)
