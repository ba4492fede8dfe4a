"""Scoring a folder of super-resolved images against HR images (Sec. IV-A2; ``defian evaluate --images``).

The paper compares methods on "the super-resolved byte-format images generated
using the released codes" (footnote to Table I), so a method whose network we do
not run can still be scored from the PNGs its authors published. This module
pairs each SR file with its HR image and scores the pair with a named
convention of :mod:`defian.data.metrics` (never a metric of its own).

HR images come either from a benchmark set under the data root
(:func:`defian.data.testsets.find_set`), mod-cropped to a multiple of the scale
as the book's protocol does, or from a folder the caller names (for instance
the RCAN authors' own mod-cropped HR), used as it is unless ``mod_crop=True``.

Pairing is by image name. Released outputs carry the method and the scale in
their names, so an SR file matches the HR image whose name it equals, or
starts with followed by ``_``, ``-``, ``.`` or a scale tag ``x<s>``; the
longest such HR name wins:

* ``baby_RCAN_x2.png`` -> ``baby`` (RCAN/RDN test code: ``<image>_<method>_x<s>``);
* ``baby.png`` -> ``baby`` (DeFiAN's released code, BasicSR);
* ``babyx2.png`` -> ``baby`` (EDSR's benchmark LR names);
* ``img_001_SRF_2_SR.png`` -> ``img_001`` (Huang et al.'s SelfExSR release).

HR names lose a role tag first (``baby_HR_x2`` -> ``baby``, ``img_001_SRF_2_HR``
-> ``img_001``, ``baby_GT`` -> ``baby``). A scale tag (``x3``, ``SRF_3``) that
contradicts ``scale`` is an error, as are missing images, extra images, two SR
files for one HR image, a file that is not an image, and a size mismatch (the
message says whether mod-cropping the HR by the scale would fix it): each is a
:class:`FolderError` subclass naming the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from defian import paths
from defian.data import metrics, testsets
from defian.data.images import IMAGE_SUFFIXES, load_image, to_rgb
from defian.data.images import mod_crop as _mod_crop
from defian.data.trainset import embedded_images

__all__ = ["COLUMNS", "DuplicateImagesError", "ExtraImagesError", "FolderError", "MissingImagesError",
           "NotAnImageError", "ScaleTagError", "SizeMismatchError", "hr_key", "list_images", "match_images",
           "match_stem", "score_folder"]

#: Columns of :func:`score_folder`'s frame.
COLUMNS = ("image", "sr_file", "hr_file", "height", "width", "scale", "protocol", "psnr", "ssim")


class FolderError(ValueError):
    """An SR or HR folder that cannot be scored as it is; the message names the files."""


class NotAnImageError(FolderError):
    """A file whose suffix is not an image suffix (:data:`defian.data.images.IMAGE_SUFFIXES`)."""


class MissingImagesError(FolderError):
    """HR images with no SR file."""


class ExtraImagesError(FolderError):
    """SR files that match no HR image."""


class DuplicateImagesError(FolderError):
    """Two or more SR files that match the same HR image."""


class ScaleTagError(FolderError):
    """A file whose name says another scale (``_x3`` when scoring x2)."""


class SizeMismatchError(FolderError):
    """An SR image whose height/width differ from its HR image's."""


# --- names --------------------------------------------------------------------------------------
_HR_TAG = re.compile(r"^(?P<key>.+?)(?:_SRF_(?P<srf>\d+)_HR|_(?:HR|GT)(?:mod\d+)?(?:_?[xX](?P<x>\d+))?)$")
_SCALE_TAG = re.compile(r"(?:^|[_.\-])(?:x|SRF_)(\d+)(?=$|[_.\-])|^x(\d+)", re.IGNORECASE)


def hr_key(stem: str) -> str:
    """The matching key of an HR file name: lower case, role tag removed.

    ``"baby_HR_x2"`` -> ``"baby"``, ``"img_001_SRF_2_HR"`` -> ``"img_001"``, ``"baby_GT"`` -> ``"baby"``,
    ``"GOOD_KISS_Ver2"`` -> ``"good_kiss_ver2"`` (no tag: unchanged).
    """
    m = _HR_TAG.match(stem)
    return (m.group("key") if m else stem).lower()


def _scale_tags(text: str) -> set[int]:
    return {int(a or b) for a, b in _SCALE_TAG.findall(text)}


def match_stem(sr_stem: str, keys: Sequence[str]) -> str | None:
    """The HR key an SR file name belongs to, or None.

    An SR name matches a key it equals (case-insensitively), or one it starts with
    followed by ``_``, ``-``, ``.`` or ``x<digit>``; the longest matching key wins.

    Args:
        sr_stem: The SR file name without suffix, e.g. ``"baby_RCAN_x2"``.
        keys: HR keys (:func:`hr_key`).
    """
    s = sr_stem.lower()
    best = None
    for k in keys:
        rest = s[len(k):] if s.startswith(k) else None
        if rest is None or not (rest == "" or rest[0] in "_-." or re.match(r"x\d", rest)):
            continue
        if best is None or len(k) > len(best):
            best = k
    return best


def list_images(folder: str | os.PathLike[str], what: str = "image folder") -> list[Path]:
    """The image files of a folder, sorted; hidden files and sub-folders are ignored.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        NotAnImageError: a file with another suffix is there (named).
        FolderError: the folder holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} {str(folder)!r} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    odd = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if odd:
        raise NotAnImageError(f"{what} {str(folder)!r} holds files that are not images: {', '.join(odd)} "
                              f"(image suffixes: {' '.join(IMAGE_SUFFIXES)})")
    if not files:
        raise FolderError(f"{what} {str(folder)!r} holds no image")
    return files


def _check_scale_tag(path: Path, tag_text: str, scale: int) -> None:
    tags = _scale_tags(tag_text)
    if tags and scale not in tags:
        raise ScaleTagError(f"{path.name}: its name says x{'/x'.join(map(str, sorted(tags)))}, "
                            f"but the folder is being scored at x{scale}")


def match_images(sr_files: Sequence[Path], hr_files: Sequence[Path], scale: int) -> list[tuple[str, Path, Path]]:
    """Pair SR files with HR files by name (see the module docstring).

    Args:
        sr_files: Super-resolved images.
        hr_files: Ground-truth images.
        scale: The upscaling factor; a scale tag in a name that contradicts it is an error.

    Returns:
        ``(key, sr_file, hr_file)`` per HR image, in HR key order.

    Raises:
        ScaleTagError, ExtraImagesError, DuplicateImagesError, MissingImagesError: named files.
        FolderError: two HR files with the same key.
    """
    hr_by_key: dict[str, Path] = {}
    for h in hr_files:
        k = hr_key(h.stem)
        if k in hr_by_key:
            raise FolderError(f"HR files {hr_by_key[k].name} and {h.name} both stand for image {k!r}")
        m = _HR_TAG.match(h.stem)
        _check_scale_tag(h, h.stem[len(m.group("key")):] if m else "", scale)
        hr_by_key[k] = h
    sr_by_key: dict[str, list[Path]] = {}
    extra = []
    for f in sr_files:
        k = match_stem(f.stem, list(hr_by_key))
        if k is None:
            extra.append(f.name)
            continue
        _check_scale_tag(f, f.stem[len(k):], scale)
        sr_by_key.setdefault(k, []).append(f)
    if extra:
        raise ExtraImagesError(f"SR files that match no HR image: {', '.join(extra)}; HR images: "
                               + ", ".join(h.stem for h in hr_by_key.values()))
    dup = {k: v for k, v in sr_by_key.items() if len(v) > 1}
    if dup:
        raise DuplicateImagesError("several SR files for one HR image: " + "; ".join(
            f"{hr_by_key[k].name} <- {', '.join(p.name for p in v)}" for k, v in dup.items()))
    missing = [hr_by_key[k].name for k in hr_by_key if k not in sr_by_key]
    if missing:
        raise MissingImagesError(f"{len(missing)} of {len(hr_by_key)} HR images have no SR file: "
                                 + ", ".join(missing))
    return [(k, sr_by_key[k][0], hr_by_key[k]) for k in sorted(hr_by_key)]


# --- scoring ------------------------------------------------------------------------------------
def _hr_files(set_name: str | None, hr_dir: str | os.PathLike[str] | None, data_root: str | None) -> list[Path]:
    if (set_name is None) == (hr_dir is None):
        raise ValueError("give exactly one of set_name (a benchmark set under the data root) and hr_dir")
    if hr_dir is not None:
        return list_images(hr_dir, "HR folder")
    if set_name == testsets.EMBEDDED:
        return embedded_images("test")
    root = paths.data_root(data_root)
    if root is None:
        raise FileNotFoundError(f"benchmark set {set_name} needs a data root (data_root or ${paths.ENV_DATA})")
    return testsets.find_set(root, set_name)[0]


def _size_error(sr_file: Path, hr_file: Path, sr: np.ndarray, hr: np.ndarray, scale: int, cropped: bool) -> str:
    (h, w), (H, W) = sr.shape[:2], hr.shape[:2]
    msg = f"{sr_file.name} is {h}x{w} (HxW) but its HR image {hr_file.name} is {H}x{W}"
    if not cropped and _mod_crop(hr, scale).shape[:2] == (h, w):
        return msg + f"; mod-cropping the HR by the scale ({scale}) would fix it (mod_crop=True; --mod-crop)"
    if (h, w) == (H * scale, W * scale):
        return msg + f"; the SR is {scale}x the HR: is the HR folder the LR folder?"
    return msg + (f"; a mod-crop by {scale} gives {_mod_crop(hr, scale).shape[0]}x{_mod_crop(hr, scale).shape[1]}, "
                  "so it would not fix it")


def score_folder(sr_dir: str | os.PathLike[str], *, set_name: str | None = None,
                 hr_dir: str | os.PathLike[str] | None = None, scale: int,
                 protocol: str | metrics.Protocol = "paper", data_root: str | None = None,
                 mod_crop: bool | None = None, grey_as_rgb: bool = False) -> pd.DataFrame:
    """PSNR/SSIM of every image of an SR folder against its HR image.

    Args:
        sr_dir: Folder of super-resolved images (uint8 PNG/BMP/..., grey or RGB).
        set_name: A benchmark set (:data:`defian.data.testsets.SETS`, an alias, or ``"Embedded"``)
            whose HR images are found under the data root.
        hr_dir: Or a folder of HR images (exactly one of ``set_name`` and ``hr_dir``).
        scale: Upscaling factor: border crop, mod-crop and the check of scale tags in names.
        protocol: A key of :data:`defian.data.metrics.PROTOCOLS` or a :class:`~defian.data.metrics.Protocol`
            (its ``lr_method`` plays no part: the SR images are given).
        data_root: Data root for ``set_name`` (None/"": ``$DEFIAN_DATA``).
        mod_crop: Crop HR to a multiple of ``scale`` (default: yes for ``set_name``, as the book's
            protocol; no for ``hr_dir``, taken as it is).
        grey_as_rgb: Replicate a grey HR image to three channels before taking Y, as the DeFiAN
            released ``test.py`` does (``common.set_channel``); the book's protocol compares a grey
            image as it is (:func:`defian.data.metrics.prepare`).

    Returns:
        One row per image (:data:`COLUMNS`), in name order; ``height``/``width`` are the scored
        (uncropped) size. The set's score is the mean of the ``psnr``/``ssim`` columns.

    Raises:
        FolderError: (a subclass of) missing, extra, duplicate or non-image files, a contradicting
            scale tag, or a size mismatch; :class:`defian.data.images.ImageError` for an unreadable image.
    """
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    if isinstance(protocol, str):
        if protocol not in metrics.PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(metrics.PROTOCOLS)}")
        protocol = metrics.PROTOCOLS[protocol]
    crop = set_name is not None if mod_crop is None else mod_crop
    pairs = match_images(list_images(sr_dir, "SR folder"), _hr_files(set_name, hr_dir, data_root), scale)
    rows = []
    for key, sr_file, hr_file in pairs:
        sr, hr = load_image(sr_file), load_image(hr_file)
        if crop:
            hr = _mod_crop(hr, scale)
        if sr.shape[:2] != hr.shape[:2]:
            raise SizeMismatchError(_size_error(sr_file, hr_file, sr, hr, scale, crop))
        if grey_as_rgb and hr.ndim == 2:
            hr = to_rgb(hr)
        p, s = metrics.psnr_ssim(sr, hr, scale, protocol)
        rows.append({"image": key, "sr_file": sr_file.name, "hr_file": hr_file.name, "height": hr.shape[0],
                     "width": hr.shape[1], "scale": scale, "protocol": protocol.name, "psnr": p, "ssim": s})
    return pd.DataFrame(rows, columns=list(COLUMNS))
