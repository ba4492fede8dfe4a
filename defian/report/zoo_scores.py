"""Per-image scores of the released models (:mod:`defian.zoo`) on a benchmark set, cached by file SHA-256.

Two numbers per image, the two the released-artifacts chapter sets side by side:

* **book**: the book's protocol (Sec. IV-A2 as :mod:`defian.data.metrics` ``"paper"`` reads it):
  LR = MATLAB bicubic of the mod-cropped uint8 HR (:func:`defian.data.testsets.downscale`),
  the method's test pipeline (:func:`defian.zoo.super_resolve`), Y of the uint8 SR image
  rounded to bytes, ``scale`` border pixels shaved;
* **own**: the method's own evaluation (:func:`defian.zoo.authors_pair`: how its authors made
  LR and which Y they scored; :data:`OWN_WAYS` names each combination). For a method whose
  authors used the book's LR (``authors_lr == "uint8-rgb"``) the SR image is the same and only
  the Y convention may change, so it is not computed twice. A method of :data:`GREY_AS_RGB`
  had its grey HR images (Set14's bridge) read as three equal channels before taking Y, which
  raises that image's PSNR: its own score does the same.

:func:`score_images` keeps every image's four numbers in a CSV under :data:`CACHE_DIR`, one
file per (method, scale, set, released file): the file's name carries the SHA-256 of the
weight files, :data:`CACHE_VERSION` and the method's :data:`PIPELINE_VERSIONS` entry, each row
the SHA-256 of its HR image, so a changed weight file or image is recomputed and an interrupted
run resumes where it stopped. The cache cannot see code: bump :data:`CACHE_VERSION` when the
scoring itself changes (LR, metrics, columns; every method recomputes), and a method's entry of
:data:`PIPELINE_VERSIONS` when its model or pipeline in :mod:`defian.zoo` changes what it
outputs (only that method recomputes).

A cached number is the one computed first. Float32 convolutions do not give the same bits under
every thread count, and an output that moves in its last bits flips the uint8 rounding of a few
pixels, so a score can move slightly with the thread count (most for CoMo-S). The notebook and the
tests score with one thread; :data:`defian.report.released.REGENERATE_TOL` bounds how far a
re-run may move a row (tests/report/test_released_rows.py recomputes a subset within it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from defian import paths
from defian.atomic import write_atomic
from defian.data import metrics, testsets
from defian.data.images import load_image, mod_crop, to_rgb
from defian.zoo import RELEASED, authors_pair, load, super_resolve, weight_path

__all__ = ["CACHE_DIR", "CACHE_VERSION", "COLUMNS", "GREY_AS_RGB", "OWN_WAYS", "PIPELINE_VERSIONS", "file_sha256",
           "own_way", "param_counts", "score_images", "weight_files"]

CACHE_DIR: Path = paths.CACHE / "released_scores"
CACHE_VERSION = 1  # bump when the scoring changes (LR, metrics, the cache's columns): every method recomputes
#: Method -> version of its model and pipeline in :mod:`defian.zoo` (absent: 1); bump one when that method's
#: output changes, so that only its cached scores are recomputed.
PIPELINE_VERSIONS: dict[str, int] = {
    "CoMo-S": 2,  # 2: built from defian.ikm's IKMConv2d (commit 969d187); outputs moved in their last bits
}
COLUMNS = ("image", "hr_sha256", "psnr_book", "ssim_book", "psnr_own", "ssim_own")

#: (authors_lr, authors_y) of :class:`defian.zoo.ReleasedModel` -> a short name of the method's own evaluation.
OWN_WAYS: dict[tuple[str, str], str] = {
    ("float-y", "direct"): "LR from the HR luma in float; the network's luma scored",
    ("float-rgb", "float"): "LR from the double RGB image; float Y",
    ("uint8-rgb", "float"): "uint8 LR as the book; float Y",
    ("uint8-rgb", "rounded"): "the book's protocol",
}

#: Methods whose authors' test script reads a grey image as RGB (three equal channels) -> where that is read.
GREY_AS_RGB: dict[str, str] = {
    "IMDN": "Zheng222/IMDN test_IMDN.py: cv2.imread(name, cv2.IMREAD_COLOR) for HR and LR",
}


def own_way(method: str) -> str:
    """The name of ``method``'s own evaluation (:data:`OWN_WAYS`).

    Raises:
        ValueError: the method is unknown, or its authors' evaluation is not in :data:`OWN_WAYS`.
    """
    spec = RELEASED.get(method)
    if spec is None:
        raise ValueError(f"unknown released method {method!r}; choose one of {', '.join(RELEASED)}")
    key = (spec.authors_lr, spec.authors_y)
    if key not in OWN_WAYS:
        raise ValueError(f"{method}: its authors' evaluation {key} has no name in OWN_WAYS")
    return OWN_WAYS[key] + ("; a grey image read as RGB" if method in GREY_AS_RGB else "")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weight_files(method: str, scale: int, released: str | os.PathLike[str] | None = None) -> list[Path]:
    """The released files ``method`` at ``scale`` is built from (IDN: the ``.caffemodel`` and its deploy file)."""
    path = weight_path(method, scale, released)
    return [path, path.with_name(f"IDN_x{scale}_deploy.prototxt")] if method == "IDN" else [path]


def param_counts(model: nn.Module) -> tuple[int, int]:
    """``(all, kernels)``: every number the loaded model holds from its file, and only the convolution
    kernels (parameters of two or more dimensions: no bias, PReLU slope or threshold)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.ndim >= 2)


def _own(method: str, model: nn.Module, hr: np.ndarray, sr: np.ndarray, scale: int) -> tuple[float, float]:
    spec = RELEASED[method]
    if method in GREY_AS_RGB and hr.ndim == 2:  # the SR of a grey LR is RGB already (run_rgb replicates it)
        hr = to_rgb(hr)
    if spec.authors_lr == "uint8-rgb":  # the book's LR: the same SR image, maybe another Y
        protocol = metrics.PROTOCOLS["y-unrounded" if spec.authors_y == "float" else "paper"]
        return metrics.psnr_ssim(sr, hr, scale, protocol)
    a, b, protocol = authors_pair(spec, model, hr, scale)
    return metrics.psnr_ssim(a, b, scale, protocol)


def _cache_file(cache: Path, method: str, scale: int, set_name: str, weights_sha: str) -> Path:
    variant = "-grey-rgb" if method in GREY_AS_RGB else ""  # the own score's convention is part of the key
    pipeline = PIPELINE_VERSIONS.get(method, 1)
    version = f"v{CACHE_VERSION}" + (f"p{pipeline}" if pipeline != 1 else "")  # version 1: the names as before
    return cache / f"{method}_x{scale}_{set_name}_{weights_sha[:16]}_{version}{variant}.csv"


def score_images(method: str, scale: int, set_name: str, *, released: str | os.PathLike[str] | None = None,
                 data_root: str | None = None, cache: str | os.PathLike[str] | None = CACHE_DIR,
                 limit: int | None = None, model: nn.Module | None = None) -> pd.DataFrame:
    """Book and own PSNR/SSIM of every image of one set, for one released model.

    Args:
        method: A key of :data:`defian.zoo.RELEASED`.
        scale: One of its scales.
        set_name: A benchmark set under the data root.
        released: The released artifacts folder (:func:`defian.paths.released_root`).
        data_root: The data root (None/"": ``$DEFIAN_DATA``).
        cache: Folder of the score cache (``None``: no cache).
        limit: Score only the first ``limit`` images (``None``: all).
        model: The loaded model, if the caller has it (else :func:`defian.zoo.load`).

    Returns:
        One row per image (:data:`COLUMNS`), in file-name order.

    Raises:
        FileNotFoundError: no data root, or the set is absent under it.
        ValueError: unknown method or scale. :class:`defian.zoo.ReleasedWeightsError`: a missing or bad file.
    """
    root = paths.data_root(data_root)
    if root is None:
        raise FileNotFoundError(f"scoring {method} on {set_name} needs a data root (data_root or ${paths.ENV_DATA})")
    files = testsets.find_set(root, set_name)[0][:limit]
    weights_sha = hashlib.sha256("".join(file_sha256(p) for p in weight_files(method, scale, released)).encode())
    store = _cache_file(Path(cache), method, scale, set_name, weights_sha.hexdigest()) if cache is not None else None
    known = pd.read_csv(store).set_index("hr_sha256") if store is not None and store.is_file() else None
    rows: list[dict] = []
    for f in files:
        sha = file_sha256(f)
        if known is not None and sha in known.index:
            rows.append({"image": f.stem, "hr_sha256": sha, **known.loc[sha, list(COLUMNS[2:])].to_dict()})
            continue
        model = load(method, scale, released) if model is None else model
        hr = mod_crop(load_image(f), scale)
        sr = super_resolve(RELEASED[method], model, testsets.downscale(hr, scale), scale)
        book = metrics.psnr_ssim(sr, hr, scale)
        own = _own(method, model, hr, sr, scale)
        rows.append({"image": f.stem, "hr_sha256": sha, "psnr_book": book[0], "ssim_book": book[1],
                     "psnr_own": own[0], "ssim_own": own[1]})
        if store is not None:  # after every image: an interrupted run resumes here
            merged = pd.DataFrame(rows, columns=list(COLUMNS))
            if known is not None:
                merged = pd.concat([known.reset_index()[list(COLUMNS)], merged]).drop_duplicates("hr_sha256", keep="last")
            write_atomic(store, merged.to_csv(index=False))
    return pd.DataFrame(rows, columns=list(COLUMNS))
