"""Side-by-side crops of the released methods' outputs, in the style of the paper's Figs. 6-9.

For a few images of one benchmark set: the HR image, its bicubic upscaling and each
available method's output, cut to the same window, each titled with the whole image's
PSNR under the book's protocol (:mod:`defian.data.metrics` ``"paper"``). The methods are
the released models (:data:`defian.zoo.RELEASED`, run through their own test pipelines on
the book's LR) and the released outputs (:data:`defian.report.y_convention.OUTPUTS`:
DeFiAN_S x2 on Set5/Set14, RCAN/RDN on Set5), read as published.

The images are the ``n`` of the set with the lowest bicubic PSNR (the hardest to upscale,
where methods differ most), and the window is the ``size x size`` one where bicubic
upscaling loses most (largest sum of squared luma error, away from the shaved border): both
chosen by computation, so no crop is hand-picked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.ndimage import uniform_filter

from defian import paths
from defian.data import metrics, testsets
from defian.data.images import load_image, mod_crop
from defian.report import y_convention
from defian.report.folders import list_images, match_stem
from defian.zoo import RELEASED, load, super_resolve

__all__ = ["crop_box", "crops", "hardest_images", "output_image"]


def hardest_images(files: Sequence[Path], scale: int, n: int) -> list[Path]:
    """The ``n`` files of lowest bicubic PSNR (book protocol), in that order."""
    def bicubic_psnr(f: Path) -> float:
        hr = mod_crop(load_image(f), scale)
        return metrics.psnr(testsets.upscale(testsets.downscale(hr, scale), scale), hr, scale)

    return sorted(files, key=bicubic_psnr)[:n]


def crop_box(hr: np.ndarray, bicubic: np.ndarray, size: int, scale: int) -> tuple[int, int]:
    """``(top, left)`` of the ``size x size`` window with the largest squared luma error of ``bicubic``.

    Args:
        hr: uint8 HR image ``(H, W[, 3])``.
        bicubic: uint8 bicubic upscaling, same shape.
        size: Window side (pixels); must fit inside the image less ``scale`` border pixels.
        scale: Border left out, as the metric shaves it.

    Raises:
        ValueError: the window does not fit.
    """
    h, w = hr.shape[:2]
    if size > min(h, w) - 2 * scale:
        raise ValueError(f"crop size {size} does not fit a {h}x{w} image less {scale} border pixels")
    y = metrics.rgb_to_y if hr.ndim == 3 else (lambda a: a)
    err = (y(hr).astype(np.float64) - y(bicubic).astype(np.float64)) ** 2
    mean = uniform_filter(err, size=size, mode="constant")  # mean over the window centred at each pixel
    half = size // 2
    valid = mean[scale + half: h - scale - (size - half) + 1, scale + half: w - scale - (size - half) + 1]
    top, left = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(top) + scale, int(left) + scale


def output_image(label: str, set_name: str, scale: int, image: str,
                 released: str | os.PathLike[str] | None = None) -> np.ndarray | None:
    """The released output ``label`` (:data:`~defian.report.y_convention.OUTPUTS`) for one image, or None if absent."""
    root = paths.released_root(released)
    pattern = next((p for name, p, sets, scales in y_convention.OUTPUTS
                    if name == label and set_name in sets and scale in scales), None)
    if root is None or pattern is None or not (root / pattern.format(set=set_name, scale=scale)).is_dir():
        return None
    hits = [f for f in list_images(root / pattern.format(set=set_name, scale=scale))
            if match_stem(f.stem, [image.lower()]) is not None]
    return load_image(hits[0]) if len(hits) == 1 else None


def crops(set_name: str, scale: int = 2, *, methods: Sequence[str] | None = None,
          outputs: Sequence[str] | None = None, images: int = 2, size: int = 48,
          released: str | os.PathLike[str] | None = None, data_root: str | None = None) -> Figure:
    """One row per image: HR, bicubic, each method's output, the same crop, PSNR (whole image, book) in the titles.

    Args:
        set_name: A benchmark set under the data root.
        scale: Upscaling factor.
        methods: Released models (default: every one with a model at ``scale``).
        outputs: Released outputs (default: every label of ``OUTPUTS`` with this set and scale).
        images: How many images (the hardest for bicubic, module docstring).
        size: Side of the crop in HR pixels.
        released: The released artifacts folder (:func:`defian.paths.released_root`).
        data_root: The data root (None/"": ``$DEFIAN_DATA``).

    Returns:
        A matplotlib Figure (not attached to pyplot).

    Raises:
        FileNotFoundError: no data root, or the set is absent.
    """
    root = paths.data_root(data_root)
    if root is None:
        raise FileNotFoundError(f"crops of {set_name} need a data root (data_root or ${paths.ENV_DATA})")
    methods = [m for m in (RELEASED if methods is None else methods) if scale in RELEASED[m].scales]
    outputs = [o[0] for o in y_convention.OUTPUTS] if outputs is None else list(outputs)
    models = {m: load(m, scale, released) for m in methods}
    chosen = hardest_images(testsets.find_set(root, set_name)[0], scale, images)
    rows = []
    for f in chosen:
        hr = mod_crop(load_image(f), scale)
        bicubic = testsets.upscale(testsets.downscale(hr, scale), scale)
        panels = [("HR", hr), ("Bicubic", bicubic)]
        panels += [(m, super_resolve(RELEASED[m], models[m], testsets.downscale(hr, scale), scale)) for m in methods]
        panels += [(o, img) for o in outputs
                   if (img := output_image(o, set_name, scale, f.stem, released)) is not None
                   and img.shape[:2] == hr.shape[:2]]
        rows.append((f.stem, hr, crop_box(hr, bicubic, size, scale), panels))
    ncols = max(len(p) for *_, p in rows)
    fig = Figure(figsize=(1.7 * ncols, 1.95 * len(rows) + 0.3), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), ncols, squeeze=False))
    for r, (name, hr, (top, left), panels) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_axis_off()
            if c >= len(panels):
                continue
            label, img = panels[c]
            ax.imshow(img[top:top + size, left:left + size], cmap="gray" if img.ndim == 2 else None,
                      vmin=0, vmax=255, interpolation="nearest")
            title = f"{name}: HR" if label == "HR" else f"{label}\n{metrics.psnr(img, hr, scale):.2f} dB"
            ax.set_title(title, fontsize=8)
    fig.suptitle(f"{set_name} x{scale}: the window where bicubic loses most ({size} px), PSNR of the whole image "
                 "(book protocol)", fontsize=9)
    return fig
