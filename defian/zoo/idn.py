"""IDN (Hui, Wang, Gao, CVPR 2018).

"Fast and Accurate Single Image Super-Resolution via Information Distillation Network".

The network works on the LR luma (Sec. 3, Fig. 2): a feature extraction
block (two 3x3 convolutions, 64 channels), four *distillation blocks* and a
reconstruction block (a 17x17 transposed convolution with stride ``scale``)
whose output is added to the bicubic-upsampled LR image. A distillation
block (Sec. 3.2) is an *enhancement unit* -- three 3x3 convolutions
(48, 32 with 4 groups, 64 channels), a slice keeping the first 16 channels
(the "distilled" 1/4, concatenated with the block input), three more
convolutions on the other 48 (64, 48 with 4 groups, 80) added to that
concatenation -- and a *compression unit*, a 1x1 convolution back to 64.
Every convolution is followed by a LeakyReLU with slope 0.05. 552,769
parameters at every scale.

Released files (``weights/idn/IDN_x{2,3,4}.caffemodel`` and
``IDN_x{s}_deploy.prototxt``, Zheng222/IDN-Caffe@482c601 ``test/``): layers
``conv1``, ``conv2``, ``conv{3..6}_{1..6}``, ``down{1..4}``, ``upsample``
(read with :mod:`defian.zoo.caffe`). The loader checks every convolution's
output width, kernel, padding and group against the deploy file and the
deconvolution's stride (stored in the ``.caffemodel`` itself) against the
scale, so a file of another scale is refused.

Geometry of the reconstruction (``test_IDN.m``): Caffe's deconvolution
(kernel 17, pad 8) returns ``(h - 1) * s + 1`` rows, added to the bicubic
image without its first ``s - 1`` rows/columns (``mycrop``). The full-size
output here keeps the same alignment: the un-padded transposed convolution
cropped from row ``9 - s``, so rows ``0 .. s-2`` (which the authors never
produce, and every metric crops) hold the same kind of value as the rest.

Test pipeline, and where it differs from DeFiAN's: the authors' script
converts the *HR* image to Y, downsamples that Y in single precision,
bicubic-upsamples it (``imresize``) as the skip, feeds the LR Y in ``[0, 1]``
and scores ``uint8(Y * 255)`` directly; the book starts from the uint8 RGB
LR image and scores the Y of the rebuilt RGB image (bicubic Cb/Cr).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.caffe import read_caffemodel, read_prototxt
from defian.zoo.errors import ReleasedWeightsError
from defian.zoo.pytorch import assign

__all__ = ["IDN", "DistillationBlock", "check_deploy", "from_file", "read_weights"]

SLOPE = 0.05  # relu_param { negative_slope: 0.05 } in the deploy files


class DistillationBlock(nn.Module):
    """Enhancement unit + compression unit (Sec. 3.2, Fig. 3), with the released channel widths.

    Args:
        width: Block input/output channels D (64).
        distilled: Channels sliced off and concatenated with the input (16 = D/4).
    """

    def __init__(self, width: int = 64, distilled: int = 16) -> None:
        super().__init__()
        self.distilled = distilled
        self.up = nn.ModuleList([nn.Conv2d(width, 48, 3, padding=1), nn.Conv2d(48, 32, 3, padding=1, groups=4),
                                 nn.Conv2d(32, width, 3, padding=1)])
        self.down = nn.ModuleList([nn.Conv2d(width - distilled, width, 3, padding=1),
                                   nn.Conv2d(width, 48, 3, padding=1, groups=4),
                                   nn.Conv2d(48, width + distilled, 3, padding=1)])
        self.compress = nn.Conv2d(width + distilled, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 64, h, w) -> (B, 64, h, w)``."""
        p = x
        for conv in self.up:
            p = F.leaky_relu(conv(p), SLOPE)  # (B, 48) (B, 32) (B, 64)
        kept, rest = p[:, :self.distilled], p[:, self.distilled:]  # (B, 16), (B, 48)
        for conv in self.down:
            rest = F.leaky_relu(conv(rest), SLOPE)  # (B, 64) (B, 48) (B, 80)
        merged = torch.cat([x, kept], dim=1) + rest  # (B, 80)
        return F.leaky_relu(self.compress(merged), SLOPE)


class IDN(nn.Module):
    """IDN for one scale: LR luma and its bicubic upsampling in, HR luma out.

    Args:
        scale: Upscaling factor (the deconvolution's stride).
        blocks: Number of distillation blocks (4).
        width: Feature channels (64).
    """

    def __init__(self, scale: int, blocks: int = 4, width: int = 64) -> None:
        super().__init__()
        self.scale = int(scale)
        self.fblock = nn.ModuleList([nn.Conv2d(1, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)])
        self.dblocks = nn.ModuleList(DistillationBlock(width) for _ in range(blocks))
        self.upsample = nn.ConvTranspose2d(width, 1, 17, stride=self.scale)

    def forward(self, y: torch.Tensor, bicubic: torch.Tensor) -> torch.Tensor:
        """``bicubic + RBlock(DBlocks(FBlock(y)))``.

        Args:
            y: ``(B, 1, h, w)`` LR luma in ``[0, 1]``.
            bicubic: ``(B, 1, s*h, s*w)`` its MATLAB-bicubic upsampling.

        Returns:
            ``(B, 1, s*h, s*w)`` luma (not clipped).
        """
        x = y
        for conv in self.fblock:
            x = F.leaky_relu(conv(x), SLOPE)  # (B, 64, h, w)
        for block in self.dblocks:
            x = block(x)
        s, (h, w) = self.scale, y.shape[-2:]
        full = self.upsample(x)  # (B, 1, (h - 1) * s + 17, ...)
        start = 9 - s  # Caffe's pad 8, then mycrop's s - 1 rows (module docstring)
        return bicubic + full[..., start:start + s * h, start:start + s * w]


def _layer_keys(blocks: int = 4) -> dict[str, str]:
    """Caffe layer name -> our module prefix."""
    keys = {"conv1": "fblock.0", "conv2": "fblock.1", "upsample": "upsample"}
    for b in range(blocks):
        for j in range(3):
            keys[f"conv{b + 3}_{j + 1}"] = f"dblocks.{b}.up.{j}"
            keys[f"conv{b + 3}_{j + 4}"] = f"dblocks.{b}.down.{j}"
        keys[f"down{b + 1}"] = f"dblocks.{b}.compress"
    return keys


def read_weights(caffemodel: str | Path) -> tuple[dict[str, np.ndarray], int, dict[str, dict[str, int]]]:
    """The released ``.caffemodel`` as a state dict of :class:`IDN`, its scale and its layers' settings.

    Returns:
        ``(state, stride, settings)``: our keys -> arrays; the deconvolution's stride (the
        scale); Caffe layer name -> its ``convolution_param`` (num_output, kernel_size, pad, group, stride).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file or a layer missing.
    """
    layers = {layer.name: layer for layer in read_caffemodel(caffemodel, "IDN weights") if layer.blobs}
    keys = _layer_keys()
    absent = sorted(set(keys) - set(layers))
    if absent:
        raise ReleasedWeightsError(f"{caffemodel}: no layers {absent[:4]} (not an IDN .caffemodel?)")
    state = {}
    for name, key in keys.items():
        w, b = layers[name].blobs
        state[f"{key}.weight"], state[f"{key}.bias"] = w, b.ravel()
    settings = {name: {k: v[0] for k, v in layers[name].conv.items()} for name in keys}
    return state, int(settings["upsample"].get("stride", 0)), settings


def check_deploy(settings: dict[str, dict[str, int]], prototxt: str | Path, caffemodel: str | Path = "") -> None:
    """Every convolution of the ``.caffemodel`` must have the settings its deploy file gives.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: A layer absent from the deploy file or set otherwise.
    """
    deploy = {d["name"][0]: d for d in read_prototxt(prototxt, "IDN deploy file").get("layer", [])}
    for name, have in settings.items():
        if name not in deploy:
            raise ReleasedWeightsError(f"{prototxt}: no layer {name!r}; not the deploy file of {caffemodel}")
        want = {k: v[0] for k, v in deploy[name].get("convolution_param", [{}])[0].items()
                if k in ("num_output", "kernel_size", "pad", "group", "stride")}
        if any(have.get(k, 1 if k == "group" else None) != v for k, v in want.items()):
            raise ReleasedWeightsError(f"{caffemodel}: layer {name} has {have}, {prototxt} says {want}")


def from_file(caffemodel: str | Path, scale: int, prototxt: str | Path | None = None) -> IDN:
    """Build :class:`IDN` for ``scale`` and load the released weights.

    Args:
        caffemodel: The binary weights.
        scale: Upscaling factor; must be the file's deconvolution stride.
        prototxt: The deploy file; when given, every layer's settings are checked against it.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: see :func:`read_weights` and :func:`check_deploy`;
            a file of another scale (deconvolution stride).
    """
    state, stride, settings = read_weights(caffemodel)
    if stride != scale:
        raise ReleasedWeightsError(f"{caffemodel}: its deconvolution 'upsample' has stride {stride}, i.e. an"
                                   f" x{stride} IDN; asked for x{scale}")
    if prototxt is not None:
        check_deploy(settings, prototxt, caffemodel)
    return assign(IDN(scale), state, caffemodel)
