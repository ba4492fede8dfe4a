"""The degradation model of the paper's data (Sec. IV-A): MATLAB bicubic resizing.

Every table in the paper (Tables I-V) is computed on low-resolution images made
by MATLAB's ``imresize(HR, 1/s, 'bicubic')``. PSNR is only comparable when our
LR images are the same, so this module re-implements MATLAB's semantics, not
"a" bicubic:

* the Keys cubic kernel with ``a = -0.5`` (:func:`cubic`);
* pixel-centre mapping ``u = x / s + 0.5 (1 - 1 / s)`` for output pixel ``x``
  (1-based) and scale ``s``;
* antialiasing when shrinking (``s < 1``): the kernel is stretched to
  ``h(x) = s * cubic(s * x)`` and its support widened from 4 to ``4 / s`` taps;
* ``P = ceil(width) + 2`` taps per output pixel, weights normalised to sum 1;
* symmetric (half-sample mirror) borders: index ``0`` reads pixel ``1``;
* the output size ``ceil(s * n)``; the height is resized before the width
  (MATLAB resizes the dimension with the smaller scale first, rows on a tie);
* arithmetic in float64; for a uint8 image each pass returns uint8 (MATLAB's
  ``imresizemex`` keeps the input's class), so the result is rounded after the
  rows and again after the columns (:func:`imresize`). :func:`imresize_float`
  is the unrounded float64 resize.

The computation is separable: each dimension is one product with a sparse
``(n_out, n_in)`` matrix holding the ``P`` weights of every output pixel, so a
DIV2K image takes well under a second. PIL, OpenCV and ``torch.nn.functional.interpolate`` give other images (PIL:
the same kernel and antialiasing, but fixed-point weights and the width
resized first; torch: ``a = -0.75`` and, by default, no antialiasing);
:func:`torch_bicubic` and :func:`pil_bicubic` are kept here so notebook 05
can measure the difference.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

__all__ = ["cubic", "contributions", "imresize", "imresize_float", "output_size", "pil_bicubic", "torch_bicubic"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``).

    Args:
        x: Distances, any shape, float64.

    Returns:
        Kernel values, same shape: ``1.5|x|^3 - 2.5|x|^2 + 1`` on ``|x| <= 1``,
        ``-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2`` on ``1 < |x| <= 2``, 0 beyond.
    """
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def output_size(n: int, scale: float) -> int:
    """MATLAB's output length ``ceil(scale * n)``, robust to ``scale = 1/3``.

    ``321 * (1/3)`` is ``107.00000000000001`` in float64; MATLAB would give 108
    there too, but every caller of this project passes a mod-cropped size,
    where the intended answer is the exact quotient, so values within 1e-9 of
    an integer are taken as that integer.
    """
    value = n * scale
    nearest = round(value)
    return int(nearest) if abs(value - nearest) < 1e-9 else int(math.ceil(value))


def contributions(n_in: int, n_out: int, scale: float, antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Weights and source indices of a 1-D MATLAB bicubic resize.

    Args:
        n_in: Input length.
        n_out: Output length.
        scale: Scale factor ``s`` (``< 1`` shrinks).
        antialias: Widen the kernel by ``1 / s`` when shrinking (MATLAB default).

    Returns:
        ``(weights, indices)``, both of shape ``(n_out, P)``: output pixel ``i``
        is ``sum_k weights[i, k] * input[indices[i, k]]`` (0-based indices,
        already mirrored into ``[0, n_in)``). Rows of ``weights`` sum to 1.
    """
    shrink_aa = antialias and scale < 1
    width = 4.0 / scale if shrink_aa else 4.0
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # pixel-centre mapping (1-based)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink_aa else cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    # symmetric borders: 1-based index i maps into [1, n_in] by half-sample mirroring
    period = 2 * n_in
    m = np.mod(idx.astype(np.int64) - 1, period)
    src = np.where(m < n_in, m, period - 1 - m)
    keep = np.any(weights != 0, axis=0)  # MATLAB drops all-zero tap columns
    return weights[:, keep], src[:, keep]


def _resize_axis(img: np.ndarray, axis: int, n_out: int, scale: float, antialias: bool) -> np.ndarray:
    weights, src = contributions(img.shape[axis], n_out, scale, antialias)
    # (n_out, n_in) sparse matrix; mirrored taps that hit the same pixel are summed
    rows = np.repeat(np.arange(n_out), weights.shape[1])
    mat = sparse.csr_matrix((weights.ravel(), (rows, src.ravel())), shape=(n_out, img.shape[axis]))
    moved = np.moveaxis(img, axis, 0)  # (n_in, ...)
    out = mat @ moved.reshape(moved.shape[0], -1)  # (n_out, prod(rest))
    return np.moveaxis(out.reshape((n_out,) + moved.shape[1:]), 0, axis)


def imresize_float(
    img: np.ndarray, scale: float, out_shape: tuple[int, int] | None = None, antialias: bool = True
) -> np.ndarray:
    """MATLAB bicubic resize in float64, without rounding.

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` array, any real dtype.
        scale: Scale factor (``1/4`` makes a x4 LR image).
        out_shape: ``(h, w)``; default ``ceil(scale * (H, W))``. When given, the
            scales are ``h / H`` and ``w / W`` (MATLAB's ``imresize(A, [h w])``).
        antialias: MATLAB's ``'Antialiasing'`` option (default true).

    Returns:
        float64 array of shape ``(h, w)`` or ``(h, w, C)``.
    """
    arr = np.asarray(img, dtype=np.float64)
    (h, sh), (w, sw) = _plan(arr, scale, out_shape)
    # rows first, then columns (MATLAB's order for equal scales)
    return _resize_axis(_resize_axis(arr, 0, h, sh, antialias), 1, w, sw, antialias)


def _plan(arr: np.ndarray, scale: float, out_shape: tuple[int, int] | None) -> tuple[tuple[int, float], ...]:
    """``((h, row scale), (w, column scale))``: MATLAB derives the scales from a given size."""
    if arr.ndim not in (2, 3):
        raise ValueError(f"imresize expects an (H, W) or (H, W, C) image, got shape {arr.shape}")
    if out_shape is not None:
        if min(out_shape) < 1:
            raise ValueError(f"imresize out_shape must be positive, got {out_shape!r}")
        return tuple((int(n), int(n) / m) for n, m in zip(out_shape, arr.shape[:2], strict=True))
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"imresize scale must be a positive number, got {scale!r}")
    return (output_size(arr.shape[0], scale), scale), (output_size(arr.shape[1], scale), scale)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    # MATLAB's conversion to uint8: saturate, round half away from zero (values are >= 0 here)
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def imresize(img: np.ndarray, scale: float, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` on a uint8 image.

    As in MATLAB, each 1-D pass returns the input's class: the rows are
    resized in float64 and rounded to uint8, then the columns of that uint8
    image are resized and rounded again. (Rounding only once at the end, the
    common Python ports, differs by one grey level at a few pixels; both
    reproduce the paper's Bicubic rows, the per-pass rounding more closely.)

    Args:
        img: uint8 array ``(H, W)`` or ``(H, W, C)``.
        scale: Scale factor; ``1 / s`` makes the x``s`` LR image of the paper.
        out_shape: Optional ``(h, w)``; the scales are then ``h / H``, ``w / W``.

    Returns:
        uint8 array ``(h, w[, C])``.
    """
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"imresize expects a uint8 image (MATLAB semantics), got dtype {arr.dtype}")
    (h, sh), (w, sw) = _plan(arr, scale, out_shape)
    passes = [(0, h, sh), (1, w, sw)]
    if sw < sh:  # MATLAB resizes the dimension with the smaller scale first (rows on a tie)
        passes.reverse()
    out = arr
    for axis, n, s in passes:
        out = _to_uint8(_resize_axis(out.astype(np.float64), axis, n, s, True))
    return out


def torch_bicubic(img: np.ndarray, scale: float, antialias: bool = False) -> np.ndarray:
    """``torch.nn.functional.interpolate(mode='bicubic')`` on a uint8 image.

    What code that makes LR "on the fly" in PyTorch gets: ``a = -0.75`` and,
    by default, no antialiasing. Used only to show the difference (notebook 05).
    """
    import torch
    import torch.nn.functional as F

    arr = np.asarray(img, dtype=np.float64)
    t = torch.from_numpy(arr if arr.ndim == 3 else arr[..., None]).permute(2, 0, 1)[None]
    size = (output_size(arr.shape[0], scale), output_size(arr.shape[1], scale))
    out = F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=antialias)
    out = out[0].permute(1, 2, 0).numpy()
    out = out if arr.ndim == 3 else out[..., 0]
    return _to_uint8(out)


def pil_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """``PIL.Image.resize(..., BICUBIC)`` on a uint8 image (notebook 05 only)."""
    from PIL import Image

    arr = np.asarray(img, dtype=np.uint8)
    size = (output_size(arr.shape[1], scale), output_size(arr.shape[0], scale))
    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BICUBIC))
