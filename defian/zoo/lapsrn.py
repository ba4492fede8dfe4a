"""LapSRN (Lai, Huang, Ahuja, Yang, CVPR 2017).

"Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution".

A Laplacian pyramid on the LR luma (Sec. 3.1, Fig. 3): at each level (one
per factor 2), the *feature extraction* branch applies ``depth`` 3x3
convolutions (64 channels, LeakyReLU 0.2) and a 2x transposed convolution,
then predicts a residual image with one more convolution; the *image
reconstruction* branch upsamples the previous image by 2 with a (learned,
bilinear-initialised) 4x4 transposed convolution and adds the residual. The
x4 model has two levels and its first level's output is an x2 image.

Released files (``weights/lapsrn/LapSRN_x{2,4}.mat``,
phoenix104104/LapSRN@95154bb ``pretrained_models/``): a MatConvNet DagNN
(:func:`defian.zoo.matlab.read_dagnn`). Parameter names, from
``init_LapSRN_model.m``: ``input_conv_{f,b}``, ``level{L}_conv{d}_{f,b}``,
``level{L}_upconv_{f,b}``, ``level{L}_residual_conv_{f,b}``,
``level{L}_img_up_f``, with ``L`` counting *down* from the coarsest level
to 1 (the output). Filters are ``(kh, kw, in, out)`` for ``dagnn.Conv`` and
``(kh, kw, out, in)`` for ``dagnn.ConvTranspose`` (``vl_nnconvt``'s
``FH x FW x K x D``). Layer settings read from the file and checked here:
conv padding 1, LeakyReLU leak 0.2, feature upsampling ``crop = [0 1 0 1]``
(top bottom left right), image upsampling ``crop = 1``. The 814,242 numbers
of the x4 file (407,441 for x2) include the two learned 4x4 image kernels.

Test pipeline (``SR_LapSRN.m``, ``evaluate_LapSRN_dataset.m``), and where it
differs from DeFiAN's: the authors make the LR image from a *double* HR
image (``im2double`` then ``imresize``: never rounded to uint8); the book
uses the uint8 LR. Both convert with ``rgb2ycbcr`` on doubles, feed Y in
``[0, 1]``, upsample Cb/Cr with bicubic and rebuild RGB with ``ycbcr2rgb``.
The authors' ``evaluate_SR`` crops ``scale`` pixels, as the book.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.errors import ReleasedWeightsError
from defian.zoo.matlab import DagNN, read_dagnn
from defian.zoo.pytorch import assign

__all__ = ["LapSRN", "from_file", "read_weights"]

LEAK = 0.2  # dagnn.ReLU('leak', 0.2) in init_LapSRN_model.m


class _Level(nn.Module):
    """One pyramid level: feature embedding, 2x feature upsampling, residual prediction, 2x image upsampling."""

    def __init__(self, depth: int, width: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(depth))
        self.upconv = nn.ConvTranspose2d(width, width, 3, stride=2)  # then crop [0 1 0 1]
        self.residual = nn.Conv2d(width, 1, 3, padding=1)
        self.img_up = nn.ConvTranspose2d(1, 1, 4, stride=2, bias=False)  # then crop 1 on every side

    def forward(self, feat: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for conv in self.convs:
            feat = F.leaky_relu(conv(feat), LEAK)  # (B, 64, h, w)
        feat = F.leaky_relu(self.upconv(feat)[..., :-1, :-1], LEAK)  # (B, 64, 2h, 2w): crop bottom/right row
        img = self.img_up(img)[..., 1:-1, 1:-1]  # (B, 1, 2h, 2w)
        return feat, img + self.residual(feat)


class LapSRN(nn.Module):
    """LapSRN for ``scale = 2 ** levels``.

    Args:
        scale: 2 or 4 (the released models; 8 also builds).
        depth: Convolutions per level (released: 10).
        width: Feature channels (released: 64).
    """

    def __init__(self, scale: int, depth: int = 10, width: int = 64) -> None:
        super().__init__()
        levels = int(round(np.log2(scale)))
        if 2 ** levels != scale:
            raise ValueError(f"LapSRN upsamples by powers of 2, got scale {scale}")
        self.scale = int(scale)
        self.input_conv = nn.Conv2d(1, width, 3, padding=1)
        self.levels = nn.ModuleList(_Level(depth, width) for _ in range(levels))

    def pyramid(self, y: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every level, ``[x2, x4, ...]``.

        Args:
            y: ``(B, 1, h, w)`` LR luma in ``[0, 1]``.
        """
        feat, img, outs = F.leaky_relu(self.input_conv(y), LEAK), y, []
        for level in self.levels:
            feat, img = level(feat, img)
            outs.append(img)
        return outs

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The finest level: ``(B, 1, h, w)`` LR luma in ``[0, 1]`` -> ``(B, 1, scale*h, scale*w)``."""
        return self.pyramid(y)[-1]


def _conv(f: np.ndarray) -> np.ndarray:
    f = f.reshape(f.shape[0], f.shape[1], f.shape[2] if f.ndim > 2 else 1, -1)  # restore dropped trailing 1s
    return f.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)


def _convt(f: np.ndarray) -> np.ndarray:
    f = f.reshape(f.shape[0], f.shape[1], f.shape[2] if f.ndim > 2 else 1, -1)
    return f.transpose(3, 2, 0, 1)  # (kh, kw, out, in) -> (in, out, kh, kw)


def _check_layers(net: DagNN, path: str | Path) -> None:
    """The settings the model hard-codes must be those of the file."""
    for layer in net.layers.values():
        b = layer.block
        bad = None
        if layer.type == "dagnn.ReLU" and not np.isclose(float(b["leak"].ravel()[0]), LEAK):
            bad = f"leak {b['leak'].ravel()}"
        elif layer.type == "dagnn.Conv" and (b["pad"].ravel().tolist() != [1] * 4
                                             or b["stride"].ravel().tolist() != [1, 1]):
            bad = f"pad {b['pad'].ravel()} stride {b['stride'].ravel()}"
        elif layer.type == "dagnn.ConvTranspose":
            want = [0, 1, 0, 1] if layer.name.endswith("_upconv") else [1, 1, 1, 1]
            crop = np.broadcast_to(b["crop"].ravel(), (4,)).tolist()
            if crop != want or b["upsample"].ravel().tolist() not in ([2, 2], [2]):
                bad = f"crop {crop} upsample {b['upsample'].ravel()}"
        if bad:
            raise ReleasedWeightsError(f"{path}: layer {layer.name} has {bad}, unlike the LapSRN built here")


def read_weights(path: str | Path) -> tuple[dict[str, np.ndarray], int]:
    """The released DagNN as a state dict of :class:`LapSRN` and the file's scale (``2 ** levels``).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file, not a LapSRN DagNN, or layer
            settings other than those of the released models.
    """
    net = read_dagnn(path, "LapSRN weights")
    if "input_conv_f" not in net.params:
        raise ReleasedWeightsError(f"{path}: no 'input_conv_f' parameter; not a LapSRN DagNN")
    _check_layers(net, path)
    n_levels = len({k.split("_")[0] for k in net.params if k.startswith("level")})
    state = {"input_conv.weight": _conv(net.params["input_conv_f"]),
             "input_conv.bias": net.params["input_conv_b"].ravel()}
    for k in range(n_levels):
        src, dst = f"level{n_levels - k}", f"levels.{k}"  # file levels count down to 1 (the output)
        for name, value in net.params.items():
            if not name.startswith(src + "_"):
                continue
            part, kind = name[len(src) + 1:].rsplit("_", 1)  # e.g. ("conv3", "f"), ("residual_conv", "b")
            if part.startswith("conv"):
                key = f"{dst}.convs.{int(part[4:]) - 1}"
            else:
                key = {"upconv": f"{dst}.upconv", "residual_conv": f"{dst}.residual", "img_up": f"{dst}.img_up"}[part]
            transposed = part in ("upconv", "img_up")
            state[f"{key}.{'weight' if kind == 'f' else 'bias'}"] = (
                (_convt(value) if transposed else _conv(value)) if kind == "f" else value.ravel())
    return state, 2 ** n_levels


def from_file(path: str | Path, scale: int) -> LapSRN:
    """Build :class:`LapSRN` for ``scale`` and load a released file into it.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: see :func:`read_weights`; a file of another
            scale (its number of pyramid levels differs); shape mismatch.
    """
    state, file_scale = read_weights(path)
    if file_scale != scale:
        raise ReleasedWeightsError(f"{path}: a x{file_scale} LapSRN ({file_scale.bit_length() - 1} pyramid levels),"
                                   f" asked for x{scale}")
    depth = sum(1 for k in state if k.startswith("levels.0.convs.") and k.endswith(".weight"))
    return assign(LapSRN(scale, depth=depth), state, path)
