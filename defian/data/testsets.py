"""The paper's test sets (Sec. IV-A1) and their LR inputs; the Bicubic rows of Tables I/II.

Set5, Set14, BSD100 (alias B100), Urban100 and Manga109 are found under a data
root in any of the layouts the field ships them in (:data:`LAYOUTS`): EDSR's
``benchmark/<Set>/HR``, ``<Set>/HR``, BasicSR's ``<Set>/GTmod12``, or a flat
folder ``<Set>/*.png`` (also below ``benchmark/``). The embedded default test
set (``"Embedded"``, four scikit-image photographs) stands in when there is no
data root.

For a scale ``s`` the HR image is mod-cropped to a multiple of ``s`` and the LR
input is ``imresize(HR, 1/s)`` (MATLAB bicubic, :mod:`defian.data.imresize`). LR is
made on the fly, not cached: the five sets take seconds, and evaluation then
never writes into the user's benchmark folders. Other LR conventions
(``lr_method``: ``"matlab-round-once"`` = MATLAB's kernel rounded only at the
end, as the common Python ports; ``"matlab-float"`` = the released code's unrounded LR,
``"torch"`` = ``F.interpolate`` bicubic, ``"torch-aa"`` = the same with
``antialias=True``, ``"pil"``) exist to measure their effect (notebook 05,
:func:`lr_discrepancy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from defian.data import metrics
from defian.data.trainset import embedded_images
from defian.data.images import IMAGE_SUFFIXES, load_image, mod_crop, to_rgb
from defian.data.imresize import imresize, imresize_float, pil_bicubic, torch_bicubic

__all__ = ["ALIASES", "EMBEDDED", "LAYOUTS", "SETS", "Pair", "bicubic_rows", "downscale", "find", "find_set",
           "load_pairs", "lr_discrepancy", "upscale"]

SETS = ("Set5", "Set14", "BSD100", "Urban100", "Manga109")  # the columns of Tables I/II
#: Other names a set is shipped under (folder names are matched case-insensitively).
ALIASES = {"Set5": ("Set5",), "Set14": ("Set14",), "BSD100": ("BSD100", "B100", "BSDS100"),
           "Urban100": ("Urban100",), "Manga109": ("Manga109",)}
#: Where a set's HR images are looked for, relative to the data root, in order.
LAYOUTS = ("benchmark/{set}/HR", "{set}/HR", "benchmark/{set}/GTmod12", "{set}/GTmod12", "benchmark/{set}", "{set}")
EMBEDDED = "Embedded"
LR_METHODS = ("matlab", "matlab-round-once", "matlab-float", "torch", "torch-aa", "pil")


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name`` matched case-insensitively (``b100`` finds ``B100``)."""
    if (folder / name).is_dir():
        return folder / name
    if folder.is_dir():
        for c in folder.iterdir():
            if c.is_dir() and c.name.lower() == name.lower():
                return c
    return None


def _resolve(root: Path, rel: str) -> Path | None:
    here: Path | None = root
    for part in Path(rel).parts:
        here = _child(here, part) if here is not None else None
    return here


def find_set(root: str | Path, name: str) -> tuple[list[Path], Path]:
    """The HR images of one benchmark set.

    Args:
        root: The data root.
        name: One of :data:`SETS` (or an alias such as ``"B100"``).

    Returns:
        ``(files, folder)``: sorted image files and the folder they are in.

    Raises:
        FileNotFoundError: The set is absent; the message lists every place looked in.
    """
    canon = next((k for k, v in ALIASES.items() if name.lower() in (a.lower() for a in v)), None)
    if canon is None:
        raise ValueError(f"unknown benchmark set {name!r}; choose one of {', '.join(SETS)} (B100 = BSD100)")
    root, tried = Path(root), []
    for alias in ALIASES[canon]:
        for layout in LAYOUTS:
            rel = layout.format(set=alias)
            tried.append(rel)
            folder = _resolve(root, rel)
            if folder is not None:
                files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
                if files:
                    return files, folder
    raise FileNotFoundError(f"benchmark set {canon} not found under {root}; looked in: " + ", ".join(tried))


def find(root: str | Path | None) -> dict[str, list[Path]]:
    """Every benchmark set present under ``root`` (``None``: the embedded test set).

    Returns:
        ``{set name: sorted HR files}`` in the order of :data:`SETS`.

    Raises:
        FileNotFoundError: ``root`` holds none of the sets; the message lists the layouts.
    """
    if root is None:
        return {EMBEDDED: embedded_images("test")}
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a folder")
    found = {}
    for name in SETS:
        try:
            found[name] = find_set(root, name)[0]
        except FileNotFoundError:
            continue
    if not found:
        raise FileNotFoundError(f"no benchmark set ({', '.join(SETS)}) under {root}; layouts looked for: "
                                + ", ".join(LAYOUTS))
    return found


def _round(x: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def downscale(hr: np.ndarray, scale: int, method: str = "matlab") -> np.ndarray:
    """LR image of a mod-cropped HR image: uint8, or float64 in [0, 255] for ``"matlab-float"``."""
    if method == "matlab":
        return imresize(hr, 1.0 / scale)
    if method == "matlab-float":  # released code: MATLAB kernel in torch, LR never rounded
        return imresize_float(hr, 1.0 / scale)
    if method == "matlab-round-once":  # the common Python ports: float64 passes, one final rounding
        return _round(imresize_float(hr, 1.0 / scale))
    if method in ("torch", "torch-aa"):
        return torch_bicubic(hr, 1.0 / scale, antialias=method == "torch-aa")
    if method == "pil":
        return pil_bicubic(hr, 1.0 / scale)
    raise ValueError(f"unknown lr_method {method!r}; choose one of {', '.join(LR_METHODS)}")


def upscale(lr: np.ndarray, scale: int, method: str = "matlab") -> np.ndarray:
    """Bicubic upscaling by ``scale`` with the same family of resizer, uint8 out."""
    if method == "matlab":
        return imresize(lr, float(scale))
    if method in ("matlab-float", "matlab-round-once"):  # one float64 resize, rounded once
        return _round(imresize_float(lr, float(scale)))
    if method in ("torch", "torch-aa"):
        return torch_bicubic(lr, float(scale))
    if method == "pil":
        return pil_bicubic(lr, float(scale))
    raise ValueError(f"unknown lr_method {method!r}; choose one of {', '.join(LR_METHODS)}")


@dataclass
class Pair:
    """One evaluation image: name, mod-cropped HR (uint8) and its LR."""

    name: str
    hr: np.ndarray  # (H, W) grey as stored, or (H, W, 3); H, W multiples of scale
    lr: np.ndarray  # (H/s, W/s[, 3]) uint8 (float64 for lr_method "matlab-float")

    def lr_tensor(self) -> torch.Tensor:
        """Model input: float32 ``(1, 3, h, w)`` RGB in [0, 1] (grey replicated)."""
        rgb = to_rgb(np.asarray(self.lr, dtype=np.float32))
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None] / 255.0


def load_pairs(root: str | Path | None, name: str, scale: int, lr_method: str = "matlab",
               limit: int | None = None) -> list[Pair]:
    """HR/LR pairs of one benchmark set at one scale.

    Args:
        root: The data root (``None`` with ``name="Embedded"``: the embedded test set).
        name: A set of :data:`SETS`, an alias, or ``"Embedded"``.
        scale: 2, 3 or 4.
        lr_method: How LR is made (:func:`downscale`); the paper's is ``"matlab"``.
        limit: Use only the first ``limit`` images (``None``: all).

    Returns:
        A list of :class:`Pair`, in file-name order.
    """
    if name == EMBEDDED:
        files = embedded_images("test")
    elif root is None:
        raise FileNotFoundError(f"benchmark set {name} needs a data root (DEFIAN_DATA or data_root)")
    else:
        files = find_set(root, name)[0]
    pairs = []
    for f in files[:limit]:
        hr = mod_crop(load_image(f), scale)
        pairs.append(Pair(f.stem, hr, downscale(hr, scale, lr_method)))
    return pairs


def bicubic_rows(root: str | Path | None, sets: Sequence[str] | None = None, scales: Sequence[int] = (2, 3, 4),
                 protocol: metrics.Protocol | Sequence[metrics.Protocol] = metrics.PAPER, limit: int | None = None,
                 with_ssim: bool = True) -> list[dict]:
    """Regenerate the Bicubic rows of Tables I/II: mean PSNR/SSIM of bicubic upscaling.

    Args:
        root: Data root (``None``: the embedded test set only).
        sets: Sets to score (default: all present).
        scales: Upscaling factors.
        protocol: One convention or several (:data:`defian.data.metrics.PROTOCOLS`);
            conventions sharing an ``lr_method`` share the LR and upscaled images.
        limit: First ``limit`` images per set (``None``: all).
        with_ssim: Also compute SSIM (the costly part); ``nan`` otherwise.

    Returns:
        One dict per (protocol, set, scale): ``set, scale, psnr, ssim, images, protocol``.
    """
    protocols = [protocol] if isinstance(protocol, metrics.Protocol) else list(protocol)
    names = list(sets) if sets is not None else list(find(root))
    rows = []
    for method in dict.fromkeys(p.lr_method for p in protocols):  # unique, in order
        group = [p for p in protocols if p.lr_method == method]
        for name in names:
            for s in scales:
                scores: dict[str, list[tuple[float, float]]] = {p.name: [] for p in group}
                for pair in load_pairs(root, name, s, method, limit):
                    up = upscale(pair.lr, s, method)
                    for p in group:
                        a, b = metrics.prepare(up, pair.hr, s, p)
                        q = metrics.ssim_prepared(a, b) if with_ssim else float("nan")
                        scores[p.name].append((metrics.psnr_prepared(a, b), q))
                for p in group:
                    mean_psnr, mean_ssim = np.mean(scores[p.name], axis=0)
                    rows.append({"set": name, "scale": s, "psnr": float(mean_psnr), "ssim": float(mean_ssim),
                                 "images": len(scores[p.name]), "protocol": p.name})
    order = {p.name: k for k, p in enumerate(protocols)}
    return sorted(rows, key=lambda r: order[r["protocol"]])


def lr_discrepancy(root: str | Path | None, name: str, scale: int, method: str, limit: int | None = None) -> dict:
    """How far another resizer's LR images are from MATLAB's, over one set.

    Returns:
        ``{"set", "scale", "method", "mean_abs", "max_abs", "psnr"}``: the mean and
        largest absolute difference in grey levels (RGB, all pixels) and the PSNR
        of the other LR against MATLAB's (RGB, no crop), averaged over images.
    """
    stats = []
    for pair in load_pairs(root, name, scale, "matlab", limit):
        other = np.asarray(downscale(pair.hr, scale, method), dtype=np.float64)
        diff = other - pair.lr
        mse = float(np.mean(diff**2))
        stats.append((np.abs(diff).mean(), np.abs(diff).max(), 10 * np.log10(255.0**2 / mse) if mse else np.inf))
    mean_abs, _, db = np.mean(stats, axis=0)
    return {"set": name, "scale": scale, "method": method, "mean_abs": float(mean_abs),
            "max_abs": float(np.max([s[1] for s in stats])), "psnr": float(db)}
