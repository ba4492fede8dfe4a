"""VDSR (Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional Networks", CVPR 2016).

Twenty 3x3 convolutions (64 channels, ReLU between them, zero padding) predict
the residual between the bicubic-upsampled luma and the HR luma (Sec. 3.1,
"residual learning"): ``y_hr = y_bicubic + f(y_bicubic)``. One model serves
x2, x3 and x4 (trained on all three scales, Sec. 4.3). 665,921 parameters.

Released file (``weights/vdsr/VDSR_Official.mat``, from
huangzehao/caffe-vdsr@5a83923 ``Test/VDSR_Official.mat``, "converted from the
official test code"): a struct ``model`` with cell arrays ``weight{i}``
(MatConvNet layout ``(kh, kw, in, out)``; the last saved as ``(3, 3, 64)``)
and ``bias{i}`` ``(out, 1)``. Its ``Test/utils/VDSR_Matconvnet.m`` runs
``vl_nnconv(x, weight{i}, bias{i}, 'Pad', 1)`` (a correlation) with
``vl_nnrelu`` between layers and adds the input at the end.

Test pipeline (``Test/Demo_SR_Conv.m``), and where it differs from DeFiAN's:
LR = ``imresize(uint8 HR, 1/s, 'bicubic')`` as in the book; the LR is made
double in ``[0, 1]``, converted with ``rgb2ycbcr`` (no rounding), its Y
upsampled with ``imresize`` in double; Cb/Cr are upsampled the same way and the
RGB result rebuilt with ``ycbcr2rgb``, as :func:`defian.zoo.pipeline.super_resolve`
does. The printed VDSR numbers (37.53 dB on Set5 x2) are the original
authors', whose script downsamples the HR *luma* in float and scores the
network's luma directly (``authors_lr = "float-y"`` in the registry): that
reproduces 37.53, the book's protocol gives 0.06 dB less.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.errors import ReleasedWeightsError
from defian.zoo.matlab import cell, read_mat, struct_field
from defian.zoo.pytorch import assign

__all__ = ["VDSR", "from_file", "read_weights"]


class VDSR(nn.Module):
    """VDSR: ``depth`` 3x3 convolutions predicting the luma residual.

    Args:
        depth: Number of convolutions (paper: 20).
        width: Channels of the hidden layers (paper: 64).
    """

    def __init__(self, depth: int = 20, width: int = 64) -> None:
        super().__init__()
        chans = [1] + [width] * (depth - 1) + [1]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in zip(chans[:-1], chans[1:], strict=True))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``y + f(y)`` (Sec. 3.1).

        Args:
            y: ``(B, 1, H, W)`` bicubic-upsampled luma in ``[0, 1]``.

        Returns:
            ``(B, 1, H, W)`` restored luma (not clipped).
        """
        x = self.convs[0](y)
        for conv in self.convs[1:]:
            x = conv(F.relu(x))  # (B, 64, H, W), last (B, 1, H, W)
        return y + x


def read_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The released ``.mat`` as a state dict of :class:`VDSR` (our key names).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file or not a VDSR file.
    """
    model = read_mat(path, "VDSR weights", required=("model",))["model"]
    names = np.asarray(model).dtype.names or ()
    if "weight" not in names or "bias" not in names:
        raise ReleasedWeightsError(f"{path}: 'model' has fields {names}, VDSR's has 'weight' and 'bias'")
    state = {}
    for i, (w, b) in enumerate(zip(cell(struct_field(model, "weight")), cell(struct_field(model, "bias")),
                                   strict=True)):
        w = w.reshape(w.shape[0], w.shape[1], w.shape[2] if w.ndim > 2 else 1, -1)  # (kh, kw, in, out)
        state[f"convs.{i}.weight"] = w.transpose(3, 2, 0, 1)  # (out, in, kh, kw)
        state[f"convs.{i}.bias"] = b.ravel()
    return state


def from_file(path: str | Path, scale: int) -> VDSR:
    """Build :class:`VDSR` and load the released file (one model for every ``scale``).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: see :func:`read_weights`; shape mismatch.
    """
    del scale  # one model for x2, x3, x4
    return assign(VDSR(), read_weights(path), path)
