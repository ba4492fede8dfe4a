"""One released model's test pipeline, from a uint8 LR image to a uint8 SR image.

:func:`super_resolve` is what the book runs for every method of
:data:`defian.zoo.registry.RELEASED`, on the book's LR images (MATLAB-bicubic
uint8 RGB, :mod:`defian.data.testsets`). For comparison, DeFiAN itself
(:func:`defian.report.inference.to_uint8`) takes RGB in ``[0, 1]``
(normalised inside the model) and rounds ``255 x`` of its clamped RGB output;
the book then scores the rounded Y of that uint8 image
(:mod:`defian.data.metrics`, protocol ``"paper"``). The released methods:

* **Y models** (``spec.colour == "y"``: SRCNN, FSRCNN, VDSR, LapSRN, IDN),
  as their MATLAB test scripts: the LR image as double in ``[0, 1]``,
  ``rgb2ycbcr`` without rounding (:mod:`defian.zoo.colour`); the network gets
  the LR luma (``upsampling == "post"``) or its MATLAB-bicubic upsampling in
  float64 (``"pre"``; :func:`defian.data.imresize.imresize_float`, MATLAB's
  ``imresize`` of a double), IDN both (``bicubic_skip``); Cb/Cr are
  bicubic-upsampled the same way; ``ycbcr2rgb`` and one rounding to uint8
  (MATLAB's ``uint8``/``imwrite`` of a double). A grey LR image is its own
  luma, and the result is grey.
* **RGB models** (CARN-M, IMDN, CoMo-S): RGB in ``[0, 1]`` (grey replicated);
  each model applies its authors' mean handling inside; the output times 255
  is clipped and rounded (``quantize == "round"``) or truncated (``"floor"``:
  CARN's ``sample.py`` casts with ``.byte()``).

Where each method's *own* evaluation differs from this (how its LR image was
made, which Y it scored) is written in its module's docstring and encoded in
:mod:`defian.zoo.authors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from defian.data.imresize import imresize_float
from defian.zoo.colour import rgb_to_ycbcr, ycbcr_to_rgb

if TYPE_CHECKING:
    from defian.zoo.registry import ReleasedModel

__all__ = ["predict_y", "quantize", "run_rgb", "super_resolve"]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def quantize(x: np.ndarray, how: str = "round") -> np.ndarray:
    """``[0, 1]`` floats to uint8: ``x * 255`` clipped, then rounded (half up) or truncated."""
    if how not in ("round", "floor"):
        raise ValueError(f"quantize must be 'round' or 'floor', got {how!r}")
    v = np.clip(np.asarray(x, dtype=np.float64) * 255.0, 0.0, 255.0)
    return np.floor(v + (0.5 if how == "round" else 0.0)).astype(np.uint8)


@torch.no_grad()
def predict_y(spec: ReleasedModel, model: nn.Module, y: np.ndarray, scale: int) -> np.ndarray:
    """Run a Y model on an LR luma.

    Args:
        spec: The method's registry entry (``upsampling``, ``bicubic_skip``).
        model: The loaded model.
        y: ``(h, w)`` float LR luma in ``[0, 1]`` (MATLAB's double Y).
        scale: Upscaling factor.

    Returns:
        ``(s*h, s*w)`` float64 luma in about ``[0, 1]`` (not clipped).
    """
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None].to(_device(model))

    if spec.upsampling == "pre":
        out = model(t(imresize_float(y, scale)))  # MATLAB imresize of a double: float64, not rounded
    elif spec.bicubic_skip:
        out = model(t(y), t(imresize_float(y, scale)))
    else:
        out = model(t(y))
    return out[0, 0].double().cpu().numpy()


@torch.no_grad()
def run_rgb(model: nn.Module, lr: np.ndarray) -> np.ndarray:
    """Run an RGB model: ``(h, w, 3)`` uint8 (or ``[0, 1]`` float) in, ``(s*h, s*w, 3)`` float64 in about [0, 1] out."""
    x = np.asarray(lr, dtype=np.float64)
    x = x / 255.0 if np.asarray(lr).dtype == np.uint8 else x
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None].to(_device(model))
    return model(t)[0].permute(1, 2, 0).double().cpu().numpy()


def super_resolve(spec: ReleasedModel, model: nn.Module, lr: np.ndarray, scale: int) -> np.ndarray:
    """The method's test pipeline on one uint8 LR image (module docstring).

    Args:
        spec: The method's registry entry.
        model: The model :func:`defian.zoo.registry.load` returned for ``scale``.
        lr: uint8 ``(h, w, 3)`` RGB or ``(h, w)`` grey LR image.
        scale: Upscaling factor the model was loaded for.

    Returns:
        uint8 ``(s*h, s*w, 3)`` RGB, or ``(s*h, s*w)`` for a grey input to a Y model.

    Raises:
        TypeError: ``lr`` is not uint8.
        ValueError: ``lr`` is not ``(h, w)`` or ``(h, w, 3)``, or ``scale`` is not one of the spec's.
    """
    lr = np.asarray(lr)
    if lr.dtype != np.uint8:
        raise TypeError(f"super_resolve expects a uint8 LR image, got dtype {lr.dtype}")
    if not (lr.ndim == 2 or (lr.ndim == 3 and lr.shape[2] == 3)):
        raise ValueError(f"LR image must be (h, w) or (h, w, 3), got shape {lr.shape}")
    if scale not in spec.files:
        raise ValueError(f"{spec.name} has released models for x{sorted(spec.files)}, not x{scale}")
    if spec.colour == "rgb":
        return quantize(run_rgb(model, lr), spec.quantize)
    if lr.ndim == 2:  # a grey image is its own luma (as the MATLAB scripts: size(im, 3) == 1)
        return quantize(predict_y(spec, model, lr / 255.0, scale), spec.quantize)
    ycbcr = rgb_to_ycbcr(lr / 255.0)  # (h, w, 3) double, not rounded
    up = imresize_float(ycbcr, scale)  # bicubic Cb/Cr (and Y, replaced below)
    up[..., 0] = predict_y(spec, model, ycbcr[..., 0], scale)
    return quantize(ycbcr_to_rgb(up), spec.quantize)
