"""Evaluation at any scale: LFR models (direct and recursive), bicubic, and fixed-scale models.

The paper's protocol (:mod:`defian.data.metrics`, Sec. IV-A2) mod-crops HR to a
multiple of an integer scale s, makes LR by MATLAB's ``imresize(HR, 1/s)`` and
crops ``s`` border pixels from the Y channel. At a non-integer scale the LR size
``n / s`` of a mod-cropped image is not an integer, so this module generalises the
crop (:func:`crop_to_scale`):

* **the crop rule**: write s in lowest terms as ``p / q`` (its decimal meaning:
  2.5 = 5/2, 3.5 = 7/2, 1.1 = 11/10; :func:`scale_fraction`) and crop HR (bottom,
  right) to the largest multiple of ``p``. Then ``n / s = n q / p`` is an integer, the
  LR of ``imresize(HR, 1/s)`` has exactly that size, and ``ceil(s n_lr) = n``: the SR
  image, the bicubic image and HR have the same size and their pixel grids are
  aligned exactly (no resampling of the result). For an integer s, ``p = s``: the
  paper's mod-crop, so at x2, x3 and x4 the numbers equal :mod:`defian.report.evaluate`'s
  (``tests/lfr/test_lfr_evaluate.py``).
* **the border**: ``ceil(s)`` pixels are cropped from each side before PSNR/SSIM
  (the paper's ``s`` at integer scales).

Methods: ``None`` is Bicubic (:func:`defian.data.testsets.upscale`, MATLAB's
``imresize(LR, s)``); an :class:`defian.lfr.model.LFRModel` is deployed with one of
:data:`DEPLOYMENTS` (``largest_first``: the slides' rule, one step for s <= 2; ``equal2``:
the slides' Table 3 "recursive deployment", two equal steps ``sqrt(s)`` even at x2);
any other module with a ``scale`` attribute is a fixed-scale model (a cpu-study
DeFiAN_S), valid at its own scale only. A scale a method does not support raises
:class:`defian.lfr.levels.ScaleOutOfRange` before any image is read.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from defian import paths, provenance
from defian.atomic import write_atomic
from defian.data import metrics, testsets
from defian.data.images import load_image
from defian.data.imresize import imresize
from defian.lfr.levels import Deployment, ScaleOutOfRange, deploy, min_steps
from defian.lfr.model import LFRModel
from defian.report import evaluate as fixed_evaluate
from defian.report.inference import to_uint8

__all__ = ["DEPLOYMENTS", "PER_IMAGE", "PER_SET", "crop_to_scale", "evaluate_lfr_run", "evaluate_scales",
           "method_kind", "per_set", "read_lfr_evaluation", "scale_fraction"]

#: How an LFR model reaches a scale (:mod:`defian.lfr.levels`): name -> the deployment of s.
DEPLOYMENTS: dict[str, Callable[[float], Deployment]] = {
    "largest_first": lambda s: deploy(s, "largest_first"),  # the slides' rule: (2, ..., 2, s / 2^(N-1))
    "smallest_first": lambda s: deploy(s, "smallest_first"),
    "equal": lambda s: deploy(s, "equal"),  # N = ceil(log2 s) equal ratios
    "equal2": lambda s: deploy(s, "equal", n_steps=max(2, min_steps(s))),  # slides' Table 3: sqrt(s) twice
}
PER_IMAGE = ("method", "kind", "rule", "ratios", "set", "scale", "image", "psnr", "ssim", "hr_h", "hr_w", "lr_h",
             "lr_w", "seconds")
PER_SET = ("method", "kind", "rule", "ratios", "set", "scale", "images", "psnr", "ssim")
_MAX_NUMERATOR = 1000  # a scale like 1.2345 (= 2469/2000) would crop whole images away


def scale_fraction(scale: Real) -> Fraction:
    """The scale as an exact fraction in its decimal meaning: 2.5 -> 5/2, 1.1 -> 11/10, 3 -> 3."""
    if isinstance(scale, bool) or not isinstance(scale, Real):
        raise TypeError(f"a scale must be a real number, got {scale!r}")
    f = scale if isinstance(scale, Fraction) else Fraction(str(float(scale)))  # shortest decimal repr
    if not f > 1:
        raise ScaleOutOfRange(f"scale {scale!r} is not an upscaling factor (need s > 1)")
    if f.numerator > _MAX_NUMERATOR:
        raise ValueError(f"scale {scale!r} = {f} needs HR sizes that are multiples of {f.numerator}; "
                         f"use a scale whose numerator is at most {_MAX_NUMERATOR} (e.g. 2 decimals)")
    return f


def crop_to_scale(hr: np.ndarray, scale: Real) -> np.ndarray:
    """HR cropped (bottom, right) to multiples of p, s = p / q in lowest terms: its LR size ``n q / p`` is exact.

    Raises:
        ValueError: the image is smaller than p.
    """
    p = scale_fraction(scale).numerator
    h, w = hr.shape[:2]
    if min(h, w) < p:
        raise ValueError(f"a {h}x{w} image has no crop that is a multiple of {p} (scale {scale!r})")
    return hr[: h - h % p, : w - w % p]


def method_kind(model: nn.Module | None) -> str:
    """``"bicubic"`` (None), ``"lfr"`` (an LFRModel) or ``"fixed"`` (a module with an integer ``scale``)."""
    if model is None:
        return "bicubic"
    if isinstance(model, LFRModel):
        return "lfr"
    if isinstance(getattr(model, "scale", None), int):
        return "fixed"
    raise TypeError(f"cannot evaluate {type(model).__name__}: not an LFRModel and no integer `scale` attribute")


def _plan(model: nn.Module | None, kind: str, scale: float, rule: str) -> Deployment | None:
    """The deployment an LFR model uses at ``scale`` (None otherwise); unsupported scales raise."""
    if kind == "fixed" and scale != model.scale:
        raise ScaleOutOfRange(f"a fixed-scale x{model.scale} model cannot upscale by {scale!r}")
    if kind != "lfr":
        return None
    model.plan(scale)  # (1, max_scale]: ScaleOutOfRange otherwise
    return DEPLOYMENTS[rule](scale)


def evaluate_scales(model: nn.Module | None, scales: Sequence[Real], *, rule: str = "largest_first",
                    sets: Sequence[str] | None = None, data_root: str | None = None, limit: int | None = None,
                    crop: int = 0, with_ssim: bool = True, device: str = "cpu",
                    method: str | None = None) -> pd.DataFrame:
    """PSNR/SSIM of one method at each scale on the benchmark sets, one row per image (:data:`PER_IMAGE`).

    Args:
        model: None (Bicubic), an LFRModel, or a fixed-scale model (``model.scale``).
        scales: s > 1, e.g. ``(1.5, 2, 2.5, 3, 3.5, 4)``.
        rule: a key of :data:`DEPLOYMENTS` (LFR models only).
        sets: sets to score (default: every set present; the embedded test set without a data root).
        limit: the first ``limit`` images of each set.
        crop: centre-crop HR to this side first (0: whole image; quick looks only).
        with_ssim: also compute SSIM (the slow part); NaN otherwise.
        device: where the model runs.
        method: row label (default: the kind, or the model's preset).

    Raises:
        ScaleOutOfRange: a scale the method does not support (checked before any image is read).
        KeyError: an unknown rule. FileNotFoundError: an absent set.
    """
    kind = method_kind(model)
    if rule not in DEPLOYMENTS:
        raise KeyError(f"unknown deployment rule {rule!r}; choose one of {', '.join(DEPLOYMENTS)}")
    plans = {float(s): _plan(model, kind, float(s), rule) for s in scales}
    for s in plans:
        scale_fraction(s)  # refuses scales whose crop would be impractical
    root = paths.data_root(data_root)
    present = testsets.find(root)
    names = list(present) if sets is None else list(sets)
    if absent := [n for n in names if n not in present]:
        raise FileNotFoundError(f"set(s) {absent} not found; present: {', '.join(present)}")
    label = method or {"bicubic": "Bicubic", "lfr": "lfr", "fixed": "fixed"}[kind]
    dev = torch.device(device)
    if model is not None:
        model = model.to(dev).eval()
    rows = []
    for name in names:
        for f in present[name][:limit]:
            full = load_image(f)
            if crop:
                c = min(crop, *full.shape[:2])
                y, x = (full.shape[0] - c) // 2, (full.shape[1] - c) // 2
                full = full[y:y + c, x:x + c]
            for s, plan in plans.items():
                hr = crop_to_scale(full, s)
                lr = imresize(hr, float(1 / scale_fraction(s)))  # exact size n q / p
                t0 = time.perf_counter()
                if model is None:
                    sr = testsets.upscale(lr, s)
                else:
                    x = testsets.Pair(f.stem, hr, lr).lr_tensor().to(dev)  # (1, 3, h, w), grey replicated
                    with torch.no_grad():
                        out = model(x, s, out_size=hr.shape[:2], deployment=plan) if kind == "lfr" else model(x)
                    sr = to_uint8(out)
                sec = time.perf_counter() - t0
                border = math.ceil(s)
                a, b = metrics.prepare(sr, hr, border)
                rows.append({"method": label, "kind": kind, "rule": rule if kind == "lfr" else "one step",
                             "ratios": " x ".join(f"{float(r):.4g}" for r in plan.ratios) if plan else f"{s:g}",
                             "set": name, "scale": s, "image": f.stem, "psnr": metrics.psnr_prepared(a, b),
                             "ssim": metrics.ssim_prepared(a, b) if with_ssim else float("nan"),
                             "hr_h": hr.shape[0], "hr_w": hr.shape[1], "lr_h": lr.shape[0], "lr_w": lr.shape[1],
                             "seconds": sec})
    return pd.DataFrame(rows, columns=PER_IMAGE)


def per_set(per_image: pd.DataFrame) -> pd.DataFrame:
    """Means of :func:`evaluate_scales` rows per (method, rule, set, scale): :data:`PER_SET`."""
    keys = ["method", "kind", "rule", "ratios", "set", "scale"]
    out = (per_image.groupby(keys, sort=False).agg(images=("psnr", "size"), psnr=("psnr", "mean"),
                                                   ssim=("ssim", "mean")).reset_index())
    return out[list(PER_SET)]


def read_lfr_evaluation(folder: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(per_image, per_set, meta)`` of a folder written by :func:`evaluate_lfr_run`."""
    folder = Path(folder)
    if not (folder / "per_image.csv").is_file():
        raise FileNotFoundError(f"{str(folder)!r} holds no LFR evaluation (per_image.csv)")
    meta = json.loads((folder / "evaluation.json").read_text()) if (folder / "evaluation.json").is_file() else {}
    return pd.read_csv(folder / "per_image.csv"), pd.read_csv(folder / "per_set.csv"), meta


def evaluate_lfr_run(run_dir: str | os.PathLike[str], grid: Sequence[tuple[str, float, str]], *,
                     data_root: str | None = None, device: str = "cpu", limit: int | None = None) -> pd.DataFrame:
    """Evaluate a run's ``last.pt`` on ``grid`` ((set, scale, rule) triples) into ``<run>/evaluation/last_paper/``.

    Resumable: triples already stored for the same checkpoint update are not recomputed,
    so an interrupted evaluation continues where it stopped (each (set, rule) is written
    as soon as it is done). ``per_set.csv`` is what :func:`defian.report.study.publish` checks for.

    Returns:
        The per-set table of the whole grid.
    """
    from defian.lfr.train import load_lfr_model

    run_dir = Path(run_dir)
    model, info = load_lfr_model(run_dir / "last.pt")
    out = fixed_evaluate.evaluation_dir(run_dir, limit=limit)
    old = read_lfr_evaluation(out) if (out / "per_image.csv").is_file() else None
    rows = old[0] if old is not None and old[2].get("update") == info["update"] else pd.DataFrame(columns=PER_IMAGE)
    done = set(zip(rows["set"], rows["scale"].astype(float), rows["rule"], strict=True))
    meta = {"run": run_dir.name, "update": info["update"], "checkpoint": info["checkpoint"], "model": info["model"],
            "switches": info["switches"], "limit": limit, "device": device, "data": provenance.data_label(data_root),
            "protocol": "paper at integer scales; HR cropped to multiples of p (s = p/q), border ceil(s) "
                        "(defian.lfr.evaluate)", "environment": provenance.environment()}
    by_group: dict[tuple[str, str], list[float]] = {}
    for set_name, scale, rule in grid:
        if (set_name, float(scale), rule) not in done:
            by_group.setdefault((set_name, rule), []).append(float(scale))
    for (set_name, rule), scales in by_group.items():
        new = evaluate_scales(model, scales, rule=rule, sets=[set_name], data_root=data_root, limit=limit,
                              device=device, method=info["model"])
        rows = pd.concat([rows, new], ignore_index=True) if len(rows) else new
        write_atomic(out / "per_image.csv", rows.to_csv(index=False))
        write_atomic(out / "per_set.csv", per_set(rows).to_csv(index=False))
        write_atomic(out / "evaluation.json", json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return per_set(rows)
