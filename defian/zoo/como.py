"""CoMo-S: CoMoNet-S of Huang, Li, Hu, Huang, Gao, TCSVT 2024.

"Deep Convolution Modulation for Image Super-resolution".

The journal version of the IKM paper (``../shared/paper/ikm-follow-up.md``):
a U-hourglass dense network (Sec. III-C, Fig. 4) whose 3x3 convolutions are
modulated per image (IKM/CoMo, Sec. III-A, Eqs. 7-11). A modulated layer
with kernel ``W`` of size ``k x k`` computes, for each image and input
channel (Eq. 10: principal information activation; Eq. 9: average pooling;
Eq. 11: proportion transformation)::

    M   = 1[x >= t]                          # t: the layer's learned threshold
    P   = adaptive_avg_pool(M, (k, k))       # (B, C_in, k, k)
    A   = k^2 * softmax(P over its k^2 cells)
    y_b = conv(x_b, W * A_b)                 # the kernel modulated per image (Eq. 7)

(the released code uses ``k^2 * softmax`` as written here; the IKM paper's
Eq. 11 describes a sigmoid-based residual form, the journal code does not).
The operator is Part II's :class:`defian.ikm.IKMConv2d` with ``variant="released"``
(:class:`CoMoConv` only keeps the released constructor); ``tests/ikm/test_ikm_como.py``
checks the loaded network against a functional restatement of the released file.

Network (released ``model.py``/``option.py`` of YuanfeiHuang/IKM@b76ac4f, the
``CoMo-S`` settings): a 3x3 input convolution to 48 channels; 4 U-HDBs; a 3x3
convolution; a global skip; an upscaling module of depthwise 3x3 (48 to
``48 s^2`` channels, no bias), 1x1 (no bias) and pixel shuffle per factor
(x4: twice by 2); a 3x3 output convolution. A U-HDB is six dense units with
5 / 4 / 3 / 3 / 4 / 5 + 1 layers -- precisely ``[6, 5, 4, 4, 5, 6]`` modulated
3x3 convolutions of growth 8 (no bias, LeakyReLU 0.1) whose outputs are
concatenated, and a 1x1 *transition* (with bias, not modulated) back to 48 --
wired as ``u1 = D1(x); u2 = D2(u1); u3 = D3(u2); u4 = D4(u3) + u2;
u5 = D5(u4) + u1; y = D6(u5) + x`` (U-style residual learning, Sec. III-C1).
Every layer, transitions included, stores a threshold (the transitions'
are unused): 722,259 / 874,179 / 760,851 numbers (x2/x3/x4).

Released files (``weights/como/CoMo-S_x{2,3,4}.pth``): key names
``input``, ``body.{n}.body.{u}.body.{l}.layer.0.{threshold,Conv2d.weight}``,
``body.{n}.body.{u}.gate.0.{threshold,Conv2d.weight,Conv2d.bias}``,
``body.4``, ``tail.0.{0,1[,3,4]}``, ``tail.1``; :func:`released_key` maps
ours to theirs.

Test pipeline (``main.py``), and where it differs from DeFiAN's: RGB in
``[0, 1]`` normalised by ``(x - mean) / std`` with mean ``(0.466, 0.448,
0.403)`` and std ``(0.242, 0.234, 0.246)`` (DF2K statistics) before the
network and un-normalised after (done inside :class:`CoMoNet` here, as
fixed buffers); the authors run it under ``torch.cuda.amp.autocast`` in half
precision, here it runs in float32. They score the quantised RGB's Y in
float (skimage ``rgb2ycbcr``, not rounded), border ``scale``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from defian.ikm.operator import IKMConv2d
from defian.zoo.pytorch import assign, read_state_dict

__all__ = ["CoMoConv", "CoMoNet", "DenseUnit", "UHDB", "from_file", "released_key"]

MEAN = (0.466, 0.448, 0.403)  # main.py: opt.normalize_mean
STD = (0.242, 0.234, 0.246)  # main.py: opt.normalize_std
SLOPE = 0.1  # option.py: --act nn.LeakyReLU(0.1)
UNITS = (6, 5, 4, 4, 5, 6)  # option.py: --n_layers (layers per dense unit of a U-HDB)


class CoMoConv(IKMConv2d):
    """The released variant of the IKM operator (:class:`defian.ikm.IKMConv2d`, ``variant="released"``, IsO).

    The attention and the per-image convolution are :mod:`defian.ikm.operator`'s (one implementation of
    the operator in the book); this class only keeps the released layer's constructor and its parameter
    names ``weight``, ``bias``, ``threshold``.

    Args:
        cin: Input channels.
        cout: Output channels.
        k: Kernel size (padding ``k // 2``).
        bias: Learn a bias.
        modulate: Apply CoMo; the transitions do not, yet hold a threshold (as the released file).
    """

    def __init__(self, cin: int, cout: int, k: int, bias: bool = False, modulate: bool = True) -> None:
        super().__init__(cin, cout, k, bias=bias, variant="released", optimization="iso", method="grouped",
                         modulate=modulate)


class DenseUnit(nn.Module):
    """``layers`` modulated 3x3 convolutions with growth ``growth``, concatenated, and a 1x1 transition (Eq. 17)."""

    def __init__(self, width: int, growth: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CoMoConv(width + i * growth, growth, 3) for i in range(layers))
        self.transition = CoMoConv(width + layers * growth, width, 1, bias=True, modulate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, F.leaky_relu(layer(x), SLOPE)], dim=1)  # (B, 48 + i * 8, H, W)
        return self.transition(x)  # (B, 48, H, W)


class UHDB(nn.Module):
    """U-hourglass dense block (Sec. III-C, Fig. 4): six dense units with U-style skips."""

    def __init__(self, width: int = 48, growth: int = 8, units: tuple[int, ...] = UNITS) -> None:
        super().__init__()
        if len(units) != 6:
            raise ValueError(f"the released U-HDB wiring has 6 dense units, got {len(units)}")
        self.units = nn.ModuleList(DenseUnit(width, growth, n) for n in units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.units
        u1 = d[0](x)
        u2 = d[1](u1)
        u3 = d[2](u2)
        u4 = d[3](u3) + u2
        u5 = d[4](u4) + u1
        return d[5](u5) + x


class CoMoNet(nn.Module):
    """CoMoNet on RGB in ``[0, 1]`` (normalisation inside), with the CoMo-S defaults.

    Args:
        scale: 2, 3 or 4.
        width: Feature channels (CoMo-S: 48).
        blocks: Number of U-HDBs (CoMo-S: 4).
        growth: Dense growth rate (CoMo-S: 8).
    """

    _not_in_file = ("mean", "std")  # normalisation of main.py, not stored in the released files

    def __init__(self, scale: int, width: int = 48, blocks: int = 4, growth: int = 8) -> None:
        super().__init__()
        self.scale = int(scale)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.ModuleList(UHDB(width, growth) for _ in range(blocks))
        self.body_tail = nn.Conv2d(width, width, 3, padding=1)
        factors = {2: [2], 3: [3], 4: [2, 2]}[self.scale]
        up: list[nn.Module] = []
        for f in factors:  # depthwise 3x3, 1x1, pixel shuffle; no bias, no activation (UpScale('SubPixel'))
            up += [nn.Conv2d(width, f * f * width, 3, padding=1, groups=width, bias=False),
                   nn.Conv2d(f * f * width, f * f * width, 1, bias=False), nn.PixelShuffle(f)]
        self.upscale = nn.Sequential(*up)
        self.output = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, h, w)`` RGB in ``[0, 1]`` -> ``(B, 3, s*h, s*w)`` RGB (not clipped)."""
        f = self.head((x - self.mean) / self.std)  # (B, 48, h, w)
        y = f
        for block in self.blocks:
            y = block(y)
        y = self.body_tail(y) + f  # global skip
        return self.output(self.upscale(y)) * self.std + self.mean


def released_key(key: str, blocks: int = 4) -> str:
    """Our state-dict key -> the released file's (e.g. ``blocks.0.units.1.layers.2.weight`` ->
    ``body.0.body.1.body.2.layer.0.Conv2d.weight``)."""
    rules = [
        (r"head\.(.*)", r"input.\1"),
        (r"blocks\.(\d+)\.units\.(\d+)\.layers\.(\d+)\.threshold", r"body.\1.body.\2.body.\3.layer.0.threshold"),
        (r"blocks\.(\d+)\.units\.(\d+)\.layers\.(\d+)\.weight", r"body.\1.body.\2.body.\3.layer.0.Conv2d.weight"),
        (r"blocks\.(\d+)\.units\.(\d+)\.transition\.threshold", r"body.\1.body.\2.gate.0.threshold"),
        (r"blocks\.(\d+)\.units\.(\d+)\.transition\.(weight|bias)", r"body.\1.body.\2.gate.0.Conv2d.\3"),
        (r"body_tail\.(.*)", rf"body.{blocks}.\1"),
        (r"upscale\.(\d+)\.weight", r"tail.0.\1.weight"),
        (r"output\.(.*)", r"tail.1.\1"),
    ]
    for pattern, repl in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    return key


def from_file(path: str | Path, scale: int) -> CoMoNet:
    """Build :class:`CoMoNet` (CoMo-S) for ``scale`` and load a released state dict.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file, another method's keys, or a
            file of another scale (the upscaling module's shapes/keys differ).
    """
    model = CoMoNet(scale)
    theirs = read_state_dict(path, f"CoMo-S x{scale} weights")
    ours = {k: released_key(k) for k in model.state_dict() if k not in model._not_in_file}
    back = {v: k for k, v in ours.items()}
    state = {back.get(k, k): v for k, v in theirs.items()}
    return assign(model, state, path)
