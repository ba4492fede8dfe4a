"""The comparison backbones of the IKM paper's Table III: RB, DB, RDB and U-HDB (Sec. IV-C2, Fig. 7).

Each is one body inside the shared :class:`SRFrame` (head, body, conv, global
residual, sub-pixel upsampler, tail), with any of the four convolution types
(``"vanilla"``, ``"ca"``, ``"sa"``, ``"ikm"``, :mod:`defian.ikm.attention`):

    RB     [23] EDSR residual blocks: x + conv(ReLU(conv(x))), 8 blocks of C0 = 48;
           CA / SA recalibrate the output of both convolutions.
    DB     [24] one block of 6 dense units of depth 5 (G = 12, C0 = 64), chained.
    RDB    [26] the same 6 units, each with a local residual, and a global feature
           fusion: a 1 x 1 conv (no bias) from the block input and the 6 unit outputs
           (7 C0 channels) to C0.
    U-HDB  one U-HDB of U-HDN (depths 6, 5, 4, 4, 5, 6).

The paper's text gives the design (Sec. IV-C2); the sizes (8 blocks of 48 for
RB, one block of 64 for the others) are the ones that reproduce every #Params
and #FLOPs printed in Table III (362.1K/15.8G, 382.3K/16.7G, 411.0K/18.0G,
384.9K/16.9G), and CA / SA add exactly the printed +19.4K / +9.62K (16 layers of
48 channels) and +2.61K / +1.29K (30 layers of 12): see ``tests/ikm/test_ikm_complexity.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from defian.ikm.attention import ConvLayer
from defian.ikm.operator import IKMError
from defian.ikm.uhdn import UHDB, DenseUnit, SRFrame, layer_settings

__all__ = ["BACKBONES", "DenseBlock", "ResidualBlock", "ResidualDenseBlock", "build_backbone"]


class ResidualBlock(nn.Module):
    """EDSR residual block [23]: x + L2(L1(x)), L1 with ReLU, L2 without.

    Args:
        channels: C.
        layer: keyword arguments of :class:`ConvLayer`.
    """

    def __init__(self, channels: int, **layer: Any) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, **layer),
                                  ConvLayer(channels, channels, relu=False, **layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return x + self.body(x)


class DenseBlock(nn.Sequential):
    """SRDenseNet-style block [24]: dense units chained, no skip (the frame keeps its global residual)."""

    def __init__(self, channels: int, growth: int, depths: tuple[int, ...], **layer: Any) -> None:
        super().__init__(*(DenseUnit(channels, growth, d, **layer) for d in depths))


class ResidualDenseBlock(nn.Module):
    """RDN-style block [26]: units with local residuals, then a 1 x 1 fusion of all their outputs.

    Args:
        channels: C0.
        growth: G.
        depths: the units' depths.
        layer: keyword arguments of :class:`ConvLayer`.
    """

    def __init__(self, channels: int, growth: int, depths: tuple[int, ...], **layer: Any) -> None:
        super().__init__()
        self.units = nn.ModuleList(DenseUnit(channels, growth, d, **layer) for d in depths)
        self.fusion = nn.Conv2d((len(depths) + 1) * channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C0, H, W) -> (B, C0, H, W)."""
        outs = [x]
        for unit in self.units:
            outs.append(outs[-1] + unit(outs[-1]))  # local residual learning
        return self.fusion(torch.cat(outs, 1))  # (B, (M + 1) C0, H, W) -> (B, C0, H, W)


#: Table III's backbones: name -> (C0, body factory taking the layer settings).
BACKBONES: dict[str, tuple[int, Any]] = {
    "RB": (48, lambda layer: nn.Sequential(*(ResidualBlock(48, **layer) for _ in range(8)))),
    "DB": (64, lambda layer: DenseBlock(64, 12, (5,) * 6, **layer)),
    "RDB": (64, lambda layer: ResidualDenseBlock(64, 12, (5,) * 6, **layer)),
    "U-HDB": (64, lambda layer: UHDB(64, 12, (6, 5, 4, 4, 5, 6), True, **layer)),
}


def build_backbone(name: str, scale: int, attention: str = "vanilla", **settings: Any) -> SRFrame:
    """A Table III network: backbone ``name`` with convolution type ``attention``.

    Args:
        name: a key of :data:`BACKBONES`.
        scale: upscaling factor (Table III: 2).
        attention: ``"vanilla"``, ``"ca"``, ``"sa"`` or ``"ikm"``.
        settings: other :func:`layer_settings` arguments (variant, optimization, method, ...).

    Returns:
        The model.
    """
    if name not in BACKBONES:
        raise IKMError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    channels, body = BACKBONES[name]
    return SRFrame(channels, scale, body(layer_settings(attention, **settings)))
