"""Each method's *own* evaluation, to explain the gap between the book's number and the printed one.

The book scores every method one way (:mod:`defian.data.metrics`, protocol
``"paper"``): LR = MATLAB bicubic of the uint8 HR image, Y rounded to uint8
from the uint8 SR image, ``scale`` border pixels cropped. The authors of the
compared methods did not all do that; two choices matter (the registry's
``authors_lr`` and ``authors_y``, read from each released test script):

``authors_lr``
    ``"uint8-rgb"`` as the book; ``"float-rgb"``: ``imresize`` of the *double*
    RGB image, never rounded (LapSRN's ``evaluate_LapSRN_dataset.m``);
    ``"float-y"``: the HR image's luma (``rgb2ycbcr`` of uint8: rounded),
    as single in ``[0, 1]``, downsampled in float (the SRCNN, FSRCNN, IDN and
    original VDSR scripts).
``authors_y``
    ``"rounded"`` as the book; ``"float"``: Y of the uint8 SR image *not*
    rounded (LapSRN's ``evaluate_SR``, IMDN's and CoMo-S's published numbers);
    ``"direct"``: the network's luma rounded to uint8 and compared with the
    HR luma, no RGB image at all (``float-y`` scripts).

Both only ever make the LR image *better* than the book's (no uint8
rounding) or the metric *kinder* (no Y rounding), so a method's own number
is higher than the book's, by 0.01 to 0.11 dB on Set5 x2; :func:`authors_pair`
reproduces the own number, and the tests check it against the printed row.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from defian.data import metrics
from defian.data.imresize import imresize, imresize_float
from defian.zoo.colour import rgb_to_ycbcr, ycbcr_to_rgb
from defian.zoo.pipeline import predict_y, quantize, super_resolve
from defian.zoo.registry import ReleasedModel

__all__ = ["authors_pair", "authors_psnr_ssim"]


def authors_pair(spec: ReleasedModel, model: nn.Module, hr: np.ndarray,
                 scale: int) -> tuple[np.ndarray, np.ndarray, metrics.Protocol]:
    """The (SR, HR) pair and metric protocol with which ``spec``'s authors scored ``hr``.

    Args:
        spec: Registry entry with ``authors_lr`` and ``authors_y`` set.
        model: The loaded model.
        hr: uint8 HR image, mod-cropped to a multiple of ``scale``.
        scale: Upscaling factor.

    Returns:
        ``(sr, hr, protocol)`` for :func:`defian.data.metrics.psnr`: uint8 images (grey for
        ``"direct"``), and ``"paper"`` or ``"y-unrounded"``.

    Raises:
        ValueError: The spec's authors' protocol is unknown (``None``) or inconsistent.
    """
    lr_kind, y_kind = spec.authors_lr, spec.authors_y
    if lr_kind is None or y_kind is None:
        raise ValueError(f"{spec.name}: its authors' evaluation is not known (see its module docstring)")
    protocol = metrics.PROTOCOLS["y-unrounded" if y_kind == "float" else "paper"]
    if lr_kind == "uint8-rgb":
        return super_resolve(spec, model, imresize(hr, 1.0 / scale), scale), hr, protocol
    if spec.colour != "y":
        raise ValueError(f"{spec.name}: authors_lr {lr_kind!r} is defined for Y models only")
    if lr_kind == "float-y":
        if y_kind != "direct":
            raise ValueError(f"{spec.name}: 'float-y' LR is scored 'direct', not {y_kind!r}")
        hr_y = metrics.rgb_to_y(hr) if hr.ndim == 3 else hr  # MATLAB rgb2ycbcr of uint8: rounded
        lr_y = imresize_float(hr_y / 255.0, 1.0 / scale)  # imresize of single(Y) / 255
        return quantize(predict_y(spec, model, lr_y, scale)), hr_y, protocol
    if lr_kind == "float-rgb":
        lr = imresize_float(hr / 255.0, 1.0 / scale)  # imresize of im2double(HR)
        ycbcr = rgb_to_ycbcr(lr if lr.ndim == 3 else np.repeat(lr[..., None], 3, axis=2))
        up = imresize_float(ycbcr, scale)
        up[..., 0] = predict_y(spec, model, ycbcr[..., 0], scale)
        return quantize(ycbcr_to_rgb(up)), hr, protocol
    raise ValueError(f"{spec.name}: unknown authors_lr {lr_kind!r}")


def authors_psnr_ssim(spec: ReleasedModel, model: nn.Module, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one image under the method's own evaluation (:func:`authors_pair`)."""
    sr, ref, protocol = authors_pair(spec, model, hr, scale)
    return metrics.psnr_ssim(sr, ref, scale, protocol)
