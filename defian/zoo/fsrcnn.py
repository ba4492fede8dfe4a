"""FSRCNN (Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural Network", ECCV 2016).

FSRCNN(d, s, m) works on the LR luma and upsamples at the end (Sec. 3.2):
feature extraction ``Conv(5, d, 1)``, shrinking ``Conv(1, s, d)``, ``m``
mapping layers ``Conv(3, s, s)``, expanding ``Conv(1, d, s)``, each followed
by a PReLU, then a deconvolution ``DeConv(9, 1, d)`` with stride ``scale``.
The released models are FSRCNN(56, 12, 4): 12,644 numbers (12,637 weights and
biases, one PReLU slope per layer).

Released files (``weights/fsrcnn/FSRCNN_x{2,3,4}.mat``, a copy of the authors'
MATLAB release): cell arrays ``weights_conv{i}`` ``(in, k*k, out)`` (the last,
the deconvolution, ``(1, 81, d)``), ``biases_conv{i}``, ``prelu_conv{i}``
(a 1x1 slope; the 8th is empty). Facts of the authors' ``FSRCNN.m``:
convolutions are ``imfilter(x, w, 'same', 'replicate')`` (correlation,
replicated borders, column-major ``reshape`` of each filter); the
deconvolution pads the LR feature maps by one replicated pixel, scatters
``x[i] * w`` at ``i * scale`` (a transposed convolution, filter not flipped)
and keeps the ``scale * h`` rows starting at row ``(9 + 1) / 2 + scale``
(1-based). The deconvolution filter is the same 9x9 at every scale, so the
shapes cannot tell a file of another scale (the file holds no scale):
:func:`from_file` compares its SHA-256 with the released manifest instead.

A finding about the x3 file: with that crop the x3 model's output is shifted
by one HR pixel (Set5 x3: 26.32 dB); scanning the crop start over 3..9
(0-based) on Set5 gives one aligned offset per scale, 6 / 6 / 8 for x2 / x3 /
x4 (36.95 / 33.14 / 30.70 dB), i.e. the formula's ``4 + scale`` for x2 and
x4 and one less for x3 (:data:`CROP_START`). The released x3 kernels are
centred on MATLAB's pixel-centre mapping (LR pixel ``i`` at HR ``3i + 1``),
the x2/x4 ones are shifted by the formula's half pixel.

Test pipeline, and where it differs from DeFiAN's protocol: as SRCNN's
(:mod:`defian.zoo.srcnn`), except that the network takes the LR luma itself
(no bicubic input). The authors downsample the HR luma; the book feeds the
unrounded luma of the uint8 RGB LR image. Scored the authors' way the x2
model gives 37.00 / 0.9558 on Set5, the values the CARN paper prints for
FSRCNN; DeFiAN's Table II prints 36.98 / 0.9556, the book's protocol gives 36.95.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.errors import ReleasedWeightsError
from defian.zoo.known import check_release
from defian.zoo.matlab import cell, matlab_reshape, read_mat
from defian.zoo.pytorch import assign

__all__ = ["CROP_START", "FSRCNN", "from_file", "read_weights"]

#: First HR row/column (0-based) kept from the full transposed convolution of the padded LR features.
CROP_START = {2: 6, 3: 6, 4: 8}  # FSRCNN.m's (9 - 1) / 2 + scale, except x3 (see the module docstring)


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) for one scale, on the LR luma.

    Args:
        scale: Upscaling factor (the deconvolution's stride).
        d: LR feature dimension (paper: 56).
        s: Shrunk dimension (paper: 12).
        m: Number of mapping layers (paper: 4).
    """

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__()
        self.scale = int(scale)
        widths = [1, d, s] + [s] * m + [d]  # in/out channels of the 2 + m + 1 convolutions
        kernels = [5, 1] + [3] * m + [1]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, padding=k // 2, padding_mode="replicate")
                                   for i, o, k in zip(widths[:-1], widths[1:], kernels, strict=True))
        self.prelus = nn.ModuleList(nn.PReLU(1) for _ in kernels)  # one slope per layer, as released
        self.deconv = nn.ConvTranspose2d(d, 1, 9, stride=self.scale)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Super-resolve the luma.

        Args:
            y: ``(B, 1, h, w)`` LR luma in ``[0, 1]``.

        Returns:
            ``(B, 1, scale*h, scale*w)`` luma (not clipped).
        """
        x = y
        for conv, act in zip(self.convs, self.prelus, strict=True):
            x = act(conv(x))  # (B, d or s, h, w)
        h, w = y.shape[-2:]
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")  # FSRCNN.m deconv: one replicated border pixel
        out = self.deconv(x)  # (B, 1, (h + 1) * s + 9, ...)
        s = self.scale
        start = CROP_START.get(s, (self.deconv.kernel_size[0] - 1) // 2 + s)  # FSRCNN.m: (k + 1) / 2 + s, 1-based
        return out[..., start:start + s * h, start:start + s * w]


def read_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The released ``.mat`` as a state dict of :class:`FSRCNN` (our key names).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file or not an FSRCNN file.
    """
    m = read_mat(path, "FSRCNN weights", required=("weights_conv", "biases_conv", "prelu_conv"))
    ws, bs, ps = cell(m["weights_conv"]), cell(m["biases_conv"]), cell(m["prelu_conv"])
    if not (len(ws) == len(bs) == len(ps)) or len(ws) < 3:
        raise ReleasedWeightsError(f"{path}: FSRCNN cells of lengths {len(ws)}, {len(bs)}, {len(ps)}")
    state: dict[str, np.ndarray] = {}
    for idx, (w, b, a) in enumerate(zip(ws[:-1], bs[:-1], ps[:-1], strict=True)):
        w = w.reshape(w.shape[0], w.shape[1], -1)  # (in, k*k, out); MATLAB drops a trailing 1
        k = int(round(np.sqrt(w.shape[1])))
        state[f"convs.{idx}.weight"] = np.stack(
            [np.stack([matlab_reshape(w[i, :, o], k, k) for i in range(w.shape[0])]) for o in range(w.shape[2])])
        state[f"convs.{idx}.bias"] = b.ravel()
        state[f"prelus.{idx}.weight"] = a.ravel()
    w = ws[-1].reshape(1, ws[-1].shape[1], -1)  # (1, k*k, d)
    k = int(round(np.sqrt(w.shape[1])))
    state["deconv.weight"] = np.stack([matlab_reshape(w[0, :, c], k, k) for c in range(w.shape[2])])[:, None]
    state["deconv.bias"] = bs[-1].ravel()
    return state


def from_file(path: str | Path, scale: int) -> FSRCNN:
    """Build :class:`FSRCNN` for ``scale`` and load a released file into it.

    Every scale's file has the same shapes; a file whose SHA-256 is a released
    file of another method or scale than FSRCNN x``scale`` is refused
    (:func:`defian.zoo.known.check_release`); a file not in the manifest
    (one's own) loads whatever ``scale`` says.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: see :func:`read_weights`; shape mismatch;
            a released file of another scale.
    """
    model = assign(FSRCNN(scale), read_weights(path), path)
    check_release(path, "FSRCNN", scale)
    return model
