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
from torch import nn

__all__ = ["RCAB", "ChannelAttention", "FEM", "hidden_width"]


def hidden_width(channels: int, reduction: int) -> int:
    """Width of a C -> C/r -> C bottleneck, at least 1 (C/r rounds down as in RCAN)."""
    if channels < 1 or reduction < 1:
        raise ValueError(f"channels={channels} and reduction={reduction} must both be >= 1")
    return max(1, channels // reduction)


class ChannelAttention(nn.Module):
    """``f_CA`` of Eq. (7): squeeze-and-excitation channel weights.

    Args:
        channels (int): C.
        reduction (int): r; the bottleneck has ``C // r`` channels (paper [21]: 16).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = hidden_width(channels, reduction)
        self.squeeze = nn.Conv2d(channels, hidden, 1, bias=True)  # released code: bias
        self.relu = nn.ReLU(inplace=True)
        self.excite = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, 1, 1) weights in (0, 1)."""
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): global average pool
        return torch.sigmoid(self.excite(self.relu(self.squeeze(s))))


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
        return x + r * self.ca(r)


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
