"""SRCNN (Dong et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2016; ECCV 2014).

Three convolutions on the bicubic-upsampled luma (Sec. 3.1, Eqs. 1-3)::

    F1 = max(0, W1 * Y + B1)      # patch extraction, f1 x f1, n1 = 64 filters
    F2 = max(0, W2 * F1 + B2)     # non-linear mapping, f2 x f2, n2 = 32 filters
    F  = W3 * F2 + B3             # reconstruction, f3 x f3, one output

Two released settings: 9-5-5 trained on ImageNet (the TPAMI model, 57,281
parameters) and 9-1-5 trained on the 91 images (the ECCV model, 8,129).

Released files (``weights/srcnn/*.mat``, a copy of the authors' MATLAB
release): ``weights_conv1`` ``(f1*f1, n1)``, ``weights_conv2`` ``(n1, f2*f2,
n2)``, ``weights_conv3`` ``(n2, f3*f3)``, ``biases_conv{1,2,3}``; each filter
is a column-major ``reshape`` to ``f x f``. The authors' ``SRCNN.m`` applies
every filter with ``imfilter(x, w, 'same', 'replicate')``: a correlation with
replicated borders, which the convolutions here reproduce
(``padding_mode="replicate"``). The file holds no record of its scale (x2,
x3 and x4 files have the same shapes): :func:`from_file` compares the file's
SHA-256 with the released manifest (:func:`defian.zoo.known.check_release`)
and refuses a released file of the other setting or another scale.

Test pipeline, and where it differs from DeFiAN's protocol: the authors'
demo converts the *HR* image to Y, downsamples that Y in single precision and
upsamples it again with MATLAB's bicubic; the book instead makes the uint8
RGB LR image first (:mod:`defian.data.testsets`), takes its unrounded Y
(:mod:`defian.zoo.colour`) and upsamples that (float64, no rounding). The
network sees Y in ``[0, 1]``; the authors score the rounded Y directly,
the book scores the Y of the RGB image rebuilt with bicubic Cb/Cr.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.known import check_release
from defian.zoo.matlab import matlab_reshape, read_mat
from defian.zoo.pytorch import assign

__all__ = ["SRCNN", "from_file", "read_weights"]


class SRCNN(nn.Module):
    """SRCNN ``f1-f2-f3`` on the bicubic-upsampled luma.

    Args:
        f2: Size of the mapping filter: 5 (9-5-5) or 1 (9-1-5).
        f1: Patch extraction filter size (paper: 9).
        f3: Reconstruction filter size (paper: 5).
        n1: Number of first-layer filters (paper: 64).
        n2: Number of second-layer filters (paper: 32).
    """

    def __init__(self, f2: int = 5, f1: int = 9, f3: int = 5, n1: int = 64, n2: int = 32) -> None:
        super().__init__()
        # 'same' output with replicated borders, as imfilter(..., 'same', 'replicate') in SRCNN.m
        self.conv1 = nn.Conv2d(1, n1, f1, padding=f1 // 2, padding_mode="replicate")
        self.conv2 = nn.Conv2d(n1, n2, f2, padding=f2 // 2, padding_mode="replicate")
        self.conv3 = nn.Conv2d(n2, 1, f3, padding=f3 // 2, padding_mode="replicate")

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Eqs. (1)-(3).

        Args:
            y: ``(B, 1, H, W)`` bicubic-upsampled luma in ``[0, 1]``.

        Returns:
            ``(B, 1, H, W)`` restored luma (not clipped).
        """
        f1 = F.relu(self.conv1(y))  # (B, 64, H, W)
        f2 = F.relu(self.conv2(f1))  # (B, 32, H, W)
        return self.conv3(f2)


def read_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The released ``.mat`` as a state dict of :class:`SRCNN` (float32, our key names).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file or not an SRCNN file.
    """
    names = ("weights_conv1", "biases_conv1", "weights_conv2", "biases_conv2", "weights_conv3", "biases_conv3")
    m = read_mat(path, "SRCNN weights", required=names)
    w1, w2, w3 = m["weights_conv1"], m["weights_conv2"], m["weights_conv3"]
    f1, f2, f3 = (int(round(np.sqrt(n))) for n in (w1.shape[0], w2.shape[1], w3.shape[1]))
    n1, n2 = w1.shape[1], w3.shape[0]
    conv1 = np.stack([matlab_reshape(w1[:, o], f1, f1) for o in range(n1)])[:, None]  # (n1, 1, f1, f1)
    conv2 = np.stack([np.stack([matlab_reshape(w2[i, :, o], f2, f2) for i in range(n1)]) for o in range(n2)])
    conv3 = np.stack([matlab_reshape(w3[i, :], f3, f3) for i in range(n2)])[None]  # (1, n2, f3, f3)
    return {"conv1.weight": conv1, "conv1.bias": m["biases_conv1"].ravel(),
            "conv2.weight": conv2, "conv2.bias": m["biases_conv2"].ravel(),
            "conv3.weight": conv3, "conv3.bias": m["biases_conv3"].ravel()}


def from_file(path: str | Path, scale: int, f2: int = 5) -> SRCNN:
    """Build :class:`SRCNN` with mapping size ``f2`` and load a released file into it.

    The file holds no scale: a 9-1-5 file loaded as 9-5-5 (or the reverse)
    fails on ``conv2.weight``'s shape, and a file whose SHA-256 is a released
    file of another setting or scale than ``SRCNN-9{f2}5`` x``scale`` is refused
    (:func:`defian.zoo.known.check_release`); a file not in the manifest
    (one's own) loads whatever ``scale`` says.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: see :func:`read_weights`; shape mismatch;
            a released file of another setting or scale.
    """
    model = assign(SRCNN(f2=f2), read_weights(path), path)
    check_release(path, f"SRCNN-9{f2}5", scale)
    return model
