"""The four convolution types the IKM paper compares: vanilla, CA, SA, IKM (Sec. III-A, Table III).

A layer is a convolution, a ReLU and, for CA or SA, a recalibration of the
layer's output (the placement of the released code's commented-out CA/SA in
``dense_conv``, YuanfeiHuang/IKM@cf723d4 ``src/basic_module.py``):

    ``"vanilla"``  f = ReLU(W * x)
    ``"ca"``       f * sigmoid(FC(ReLU(FC(AvgPool_1x1(f)))))          Eqs. (3)-(4), SENet
    ``"sa"``       f * sigmoid(conv1x1(ReLU(conv1x1(f))))              Eq. (5), CSFM-style [33]
    ``"ikm"``      f = ReLU(W_b * x), W_b of Eq. (12)                  :class:`IKMConv2d`

CA and SA use reduction r = 4 with biases: on the growth-rate-12 layers of
Table III that is 12 -> 3 -> 12 (87 parameters) and 12 -> 3 -> 1 (43), and the
30 layers of the Table III backbones give exactly the printed +2.61K and +1.29K.
The paper's Eq. (6) names CBAM's 7 x 7 convolution over the channel mean and
max instead; that design has 99 parameters per layer (+2.97K for 30 layers),
which no row of Table III prints, so the counted design is the one built here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from defian.ikm.operator import IKMConv2d, IKMError

__all__ = ["ATTENTIONS", "ChannelAttention", "ConvLayer", "SpatialAttention"]

ATTENTIONS = ("vanilla", "ca", "sa", "ikm")


def _squeeze_gate(channels: int, reduction: int, out: int) -> nn.Sequential:
    """conv1x1 C -> max(1, C // r), ReLU, conv1x1 -> ``out``, sigmoid: the weights of both attentions."""
    hidden = max(1, channels // reduction)
    return nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, out, 1), nn.Sigmoid())


class ChannelAttention(nn.Module):
    """SE channel attention, Eqs. (3)-(4): f * sigmoid(FC2(ReLU(FC1(mean_hw f)))).

    Args:
        channels: C.
        reduction: r; the hidden width is max(1, C // r).
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc = _squeeze_gate(channels, reduction, channels)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return f * self.fc(f.mean((2, 3), keepdim=True))  # (B, C, 1, 1) weights


class SpatialAttention(nn.Module):
    """Spatial attention as Table III counts it: f * sigmoid(conv1x1(ReLU(conv1x1(f)))), one map.

    Args:
        channels: C.
        reduction: r; the hidden width is max(1, C // r).
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.map = _squeeze_gate(channels, reduction, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return f * self.map(f)  # (B, 1, H, W) weights


class ConvLayer(nn.Module):
    """One k x k convolution C_in -> C_out, ReLU, and the recalibration of ``attention``.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        attention: one of :data:`ATTENTIONS`.
        kernel_size: k (odd).
        dilation: d; padding d (k - 1) / 2 keeps H x W.
        bias: convolution bias (the IKM paper's dense layers have none).
        reduction: r of CA and SA.
        relu: apply the ReLU (False for the second conv of a residual block).
        ikm: keyword arguments of :class:`IKMConv2d` (variant, optimization, method, threshold).
    """

    def __init__(self, in_channels: int, out_channels: int, attention: str = "vanilla", kernel_size: int = 3,
                 dilation: int = 1, bias: bool = False, reduction: int = 4, relu: bool = True,
                 ikm: dict[str, Any] | None = None) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise IKMError(f"attention={attention!r} is not one of {ATTENTIONS}")
        self.conv = IKMConv2d(in_channels, out_channels, kernel_size, dilation, bias,
                              modulate=attention == "ikm", **(ikm or {}))
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()
        if attention == "ca":
            self.recalibrate: nn.Module = ChannelAttention(out_channels, reduction)
        elif attention == "sa":
            self.recalibrate = SpatialAttention(out_channels, reduction)
        else:
            self.recalibrate = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W)."""
        return self.recalibrate(self.relu(self.conv(x)))
