"""U-HDB and U-HDN: U-style residual learning over hourglass dense units (IKM paper, Sec. III-C, Fig. 4).

A dense unit of depth D (Eqs. 16-17) maps C0 channels to C0: D layers, each
a 3 x 3 convolution + ReLU whose G output channels are concatenated to its
input (C0 + j G channels in for layer j), then a 1 x 1 transition back to C0
without ReLU. A U-hourglass dense block (U-HDB, Eq. 19) chains M such units
with U-style skips and hourglass depths (D_m = D_{M+1-m}, deepest at both ends):

    x_0 = x,   x_{m+1} = U_m(x_m)                    for m < M/2
               x_{m+1} = U_m(x_m) + x_{M-1-m}        for m >= M/2

so for M = 6: x4 = U3(x3) + x2, x5 = U4(x4) + x1, y = U5(x5) + x. U-HDN
(Fig. 4): a 3 x 3 head conv 3 -> C0, B U-HDBs, a 3 x 3 conv, a global
residual, a sub-pixel upsampler and a 3 x 3 conv C0 -> 3. IKM modulates every
dense-unit layer, not the transitions (paper IV-B1). The network works on
mean-subtracted RGB (paper IV-A), subtracted outside this module.

Facts from the released code (YuanfeiHuang/IKM@cf723d4, ``model.py``,
``option.py``, ``src/basic_module.py``), each reproducing the paper's #Params
to the digit (:mod:`defian.ikm.complexity`): depths (6, 5, 4, 4, 5, 6),
C0 = 64, G = 12, B = 4; no bias in the dense layers, the transitions, the
body's last conv and the upsampler; biases in the head and the last conv;
the upsampler is, per factor 2 (or once for 3), a 3 x 3 conv C0 -> s^2 C0
with 4 input channels per group, then a pixel shuffle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from defian.ikm.attention import ATTENTIONS, ConvLayer
from defian.ikm.operator import IKMError
from defian.nn.model import configure

__all__ = ["PRESETS", "UHDB", "UHDN", "DenseUnit", "SRFrame", "UHDNConfig", "Upsampler", "build", "config",
           "layer_settings"]


@dataclass(frozen=True)
class UHDNConfig:
    """Every architecture setting of U-HDN; the fields are :func:`build`'s switches."""

    n_blocks: int = 4  # B (paper IV-D4: "stacking B = 4 U-HDBs"; released option.py)
    depths: tuple[int, ...] = (6, 5, 4, 4, 5, 6)  # D_1..D_M, hourglass (released model.py)
    channels: int = 64  # C0 (released option.py n_channels)
    growth: int = 12  # G (paper IV-C2 "G = 12 as our U-HDN"; released growth_rate)
    kernel_size: int = 3  # k of the dense layers (Table IV varies it)
    dilation: int = 1  # of the dense layers (Table IV varies it)
    attention: str = "ikm"  # "vanilla" / "ca" / "sa" / "ikm" (Table III)
    reduction: int = 4  # r of CA / SA (Table III's +2.61K / +1.29K)
    u_style: bool = True  # U-style skips (Table V); False: y = x + U_M(...U_1(x))
    group_width: int = 4  # input channels per group of the upsampler conv (released groups = 64 // 4)
    variant: str = "paper"  # IKM variant, defian.ikm.operator.VARIANTS
    optimization: str = "iso"  # "iso" (Algorithm 1) or "go" (footnote 1)
    method: str = "grouped"  # IsO implementation, defian.ikm.operator.METHODS (all exact)


#: Named presets (paper Tables I, II, V and Sec. IV-D4). U-HDNL's B, G, C0 are not
#: legible in our copy of the paper; (8, 24, 128) is the setting with the released
#: depths and M = 6 that gives both printed numbers (10.9M, 471.5G).
PRESETS: dict[str, dict[str, Any]] = {
    "U-HDN": {},
    "U-HDNL": {"n_blocks": 8, "growth": 24, "channels": 128},
    "U-HDN_V1": {"depths": (4, 5, 6, 6, 5, 4)},  # symmetric, inverted (IV-D4; same #Params as U-HDN)
    "U-HDN_V2": {"depths": (4, 4, 4, 5, 6, 7)},  # ascending (IV-D4; the released clamp max(D, 4) of 2..7)
    "U-HDN_V3": {"depths": (7, 6, 5, 4, 4, 4)},  # descending
    "U-HDN_uniform": {"depths": (5, 5, 5, 5, 5, 5)},  # Table V without the hourglass
    # Table III backbone: one U-HDB (30 layers, as its +2.61K CA count implies)
    "U-HDB_x1": {"n_blocks": 1},
}


class DenseUnit(nn.Module):
    """Eqs. (16)-(17): D densely connected layers, then a 1 x 1 transition to C0 (no ReLU, no bias).

    Args:
        channels: C0, in and out.
        growth: G.
        depth: D.
        layer: keyword arguments of :class:`ConvLayer` (attention, kernel_size, ...).
    """

    def __init__(self, channels: int, growth: int, depth: int, **layer: Any) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ConvLayer(channels + j * growth, growth, **layer) for j in range(depth))
        self.transition = nn.Conv2d(channels + depth * growth, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C0, H, W) -> (B, C0, H, W)."""
        for layer in self.layers:
            x = torch.cat((x, layer(x)), 1)  # (B, C0 + j G, H, W)
        return self.transition(x)


class UHDB(nn.Module):
    """Eq. (19): M dense units with U-style skips (module docstring).

    Args:
        channels: C0.
        growth: G.
        depths: D_1..D_M (M even for the U-style skips).
        u_style: the skips of Eq. (19); False gives x + U_M(...U_1(x)).
        layer: keyword arguments of :class:`ConvLayer`.
    """

    def __init__(self, channels: int, growth: int, depths: tuple[int, ...], u_style: bool = True,
                 **layer: Any) -> None:
        super().__init__()
        if u_style and len(depths) % 2:
            raise IKMError(f"U-style skips pair the units: depths must have an even length, got {depths}")
        self.u_style = u_style
        self.units = nn.ModuleList(DenseUnit(channels, growth, d, **layer) for d in depths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C0, H, W) -> (B, C0, H, W)."""
        m = len(self.units)
        if not self.u_style:
            y = x
            for unit in self.units:
                y = unit(y)
            return x + y
        xs = [x]  # x_0 .. x_{M/2 - 1}, the skip sources
        for j, unit in enumerate(self.units):
            y = unit(xs[-1] if j < m // 2 else y)
            if j < m // 2:
                xs.append(y)
            else:
                y = y + xs[m - 1 - j]
        return y


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling [30]: per factor 2 (or once for 3) a grouped 3 x 3 conv C -> s^2 C, pixel shuffle.

    Args:
        channels: C.
        scale: 1, 2, 3 or 4 (8, 16, ... as repeated factors 2).
        group_width: input channels per group (released: 4, i.e. groups = C / 4).
    """

    def __init__(self, channels: int, scale: int, group_width: int = 4) -> None:
        if channels % group_width:
            raise IKMError(f"channels={channels} is not a multiple of group_width={group_width}")
        if scale == 3:
            factors = [3]
        elif scale >= 1 and scale & (scale - 1) == 0:
            factors = [2] * (scale.bit_length() - 1)
        else:
            raise IKMError(f"scale={scale!r}: the sub-pixel upsampler handles 1, 3 and powers of 2")
        layers: list[nn.Module] = []
        for f in factors:
            layers += [nn.Conv2d(channels, f * f * channels, 3, padding=1, groups=channels // group_width,
                                 bias=False), nn.PixelShuffle(f)]
        super().__init__(*layers)


class SRFrame(nn.Module):
    """The frame every backbone of the IKM paper shares (Fig. 4): head, body, conv, global residual, upsampler, tail.

    Args:
        channels: C0.
        scale: upscaling factor s.
        body: C0 -> C0 feature extractor (a stack of blocks).
        group_width: input channels per group of the upsampler conv.
    """

    def __init__(self, channels: int, scale: int, body: nn.Module, group_width: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = body
        self.body_tail = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.upsample = Upsampler(channels, scale, group_width)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W), mean-subtracted LR -> (B, 3, sH, sW)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise IKMError(f"the network takes RGB images (B, 3, H, W), got shape {tuple(x.shape)}")
        f = self.head(x)  # (B, C0, H, W)
        f = f + self.body_tail(self.blocks(f))  # global residual
        return self.tail(self.upsample(f))  # (B, 3, sH, sW)


def layer_settings(attention: str, kernel_size: int = 3, dilation: int = 1, reduction: int = 4,
                   variant: str = "paper", optimization: str = "iso", method: str = "grouped") -> dict[str, Any]:
    """Keyword arguments of :class:`ConvLayer` for one convolution type (shared by every backbone)."""
    if attention not in ATTENTIONS:
        raise IKMError(f"attention={attention!r} is not one of {ATTENTIONS}")
    return {"attention": attention, "kernel_size": kernel_size, "dilation": dilation, "reduction": reduction,
            "ikm": {"variant": variant, "optimization": optimization, "method": method}}


class UHDN(SRFrame):
    """U-HDN (Fig. 4): the :class:`SRFrame` around B U-HDBs.

    Args:
        scale: upscaling factor s.
        cfg: the architecture (:class:`UHDNConfig`).
    """

    def __init__(self, scale: int, cfg: UHDNConfig = UHDNConfig()) -> None:
        layer = layer_settings(cfg.attention, cfg.kernel_size, cfg.dilation, cfg.reduction, cfg.variant,
                               cfg.optimization, cfg.method)
        body = nn.Sequential(*(UHDB(cfg.channels, cfg.growth, cfg.depths, cfg.u_style, **layer)
                               for _ in range(cfg.n_blocks)))
        super().__init__(cfg.channels, scale, body, cfg.group_width)
        self.cfg = cfg


def config(name: str, **switches: Any) -> UHDNConfig:
    """The :class:`UHDNConfig` of preset ``name`` with ``switches`` overriding its fields."""
    return configure(UHDNConfig, PRESETS, name, error=IKMError, kind="U-HDN preset", **switches)


def build(name: str, scale: int, attention: str = "ikm", **switches: Any) -> UHDN:
    """Build a named preset (:data:`PRESETS`) at ``scale`` with the given convolution type.

    Args:
        name: a key of :data:`PRESETS`, e.g. ``"U-HDN"``.
        scale: upscaling factor.
        attention: ``"vanilla"``, ``"ca"``, ``"sa"`` or ``"ikm"``.
        switches: any other :class:`UHDNConfig` field.

    Returns:
        The model, in training mode, float32.
    """
    return UHDN(scale, config(name, attention=attention, **switches))
