"""Reading benchmark and training images, and making (and caching) their LR versions (Sec. IV-A).

The protocol is defined on 8-bit RGB images. :func:`load_image` reads 8-bit grey
and RGB as they are; palette images are expanded through their palette; bilevel
('1') becomes 0/255 grey; an alpha channel that is fully opaque is dropped; a
translucent alpha, 16- or 32-bit samples and CMYK are refused with the reason
(convert them yourself). A corrupt or truncated file raises :class:`ImageError`
naming it. :func:`to_rgb` replicates grey to RGB (training does), :func:`mod_crop`
crops to a multiple of the scale (the paper's protocol).

LR images are made by MATLAB's bicubic downscaling (:func:`defian.data.imresize.imresize`)
once and cached as PNG (:func:`cached_lr`) under ``<root>/cache/`` (:func:`cache_root`;
under :data:`defian.paths.CACHE` for the embedded data or when the root is read-only),
in a folder named after the method and its version (:data:`LR_METHOD`), written
atomically: a cache made by another method is never picked up.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from defian import paths
from defian.atomic import atomic_file
from defian.data.imresize import imresize

__all__ = ["IMAGE_SUFFIXES", "LR_METHOD", "ImageError", "cache_root", "cached_lr", "load_image", "mod_crop", "to_rgb"]

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image file that cannot be read or is outside the supported formats."""


def _png_bit_depth(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 25 else None


def load_image(path: str | Path) -> np.ndarray:
    """Read an 8-bit image as uint8 ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB).

    Raises:
        ImageError: Unreadable/truncated file, or a refused format; the message
            names the file and the reason.
    """
    path = Path(path)
    if _png_bit_depth(path) == 16:  # PIL would silently keep only the high byte of 16-bit RGB
        raise ImageError(f"{path}: 16-bit PNG refused; convert to 8-bit first (round(v / 257))")
    try:
        with Image.open(path) as im:
            im.load()
            mode, info = im.mode, dict(im.info)
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in info else "RGB")
            elif mode == "1":
                im = im.convert("L")
            arr = np.asarray(im)
            mode = im.mode
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise ImageError(f"cannot read image {path}: {err}") from err
    if mode in ("RGBA", "LA"):
        if arr[..., -1].min() < 255:
            raise ImageError(f"{path}: translucent alpha channel refused; flatten it onto a background first")
        arr = arr[..., :-1] if mode == "RGBA" else arr[..., 0]
    elif mode not in ("L", "RGB"):
        raise ImageError(f"{path}: image mode {mode!r} refused; the protocol needs 8-bit grey or RGB")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """Replicate a grey ``(H, W)`` image to ``(H, W, 3)``; RGB passes through."""
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


#: Names the LR-making method in the cache path; bump the version if imresize changes.
LR_METHOD = "matlab-bicubic-v2"  # v2: uint8 rounding after each pass, as MATLAB


def cache_root(root: str | Path) -> Path:
    """LR cache folder of a data root: ``<root>/cache``, or under :data:`paths.CACHE` if read-only."""
    root = Path(root)
    cache = root / "cache"
    if os.access(cache if cache.is_dir() else root, os.W_OK):
        return cache
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    warnings.warn(f"data root {root} is read-only; caching LR images under {paths.CACHE}", stacklevel=2)
    return paths.CACHE / "lr" / digest


def cached_lr(hr_path: str | Path, name: str, scale: int, cache_dir: str | Path) -> Path:
    """Path of the cached LR image of ``hr_path``, made now if missing.

    LR = ``imresize(mod_crop(hr, scale), 1 / scale)`` (grey stays grey), saved
    as ``<cache_dir>/<LR_METHOD>/X<scale>/<name>.png`` via a temporary file
    and ``os.replace``, so a crash never leaves a partial file. A cached file
    whose size does not match the HR image is made again (the HR changed).
    """
    out = Path(cache_dir) / LR_METHOD / f"X{scale}" / Path(name).with_suffix(".png")
    if out.is_file():
        with Image.open(hr_path) as im_hr, Image.open(out) as im_lr:
            (w, h), lr_size = im_hr.size, im_lr.size
        if lr_size == (w // scale, h // scale):
            return out
    hr = mod_crop(load_image(hr_path), scale)
    lr = imresize(hr, 1.0 / scale)
    with atomic_file(out) as fh:
        Image.fromarray(lr).save(fh, format="PNG")
    return out
