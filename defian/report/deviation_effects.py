"""The measured side of the deviations chapter: what each difference between paper, released code
and this book changes, computed (notebook 14 shows them in :mod:`defian.report.deviations`' table).

Facts about the released code are read from github.com/YuanfeiHuang/DeFiAN (no code copied):
``main.py`` (commit c8e7b31) trains on ``L1Loss(reduction="mean")(model(normalize(LR)), HR)`` and
validates ``unnormalize(model(normalize(LR)))``, with torchvision's ImageNet ``normalize`` and the
rounded inverse ``unnormalize`` of :data:`defian.nn.model.RELEASED_OUT_MEAN` / ``_STD``;
``utils.py`` (299035d, b6b5e85) ``calc_SSIM`` quantises SR and HR to [0, 255], passes those
*byte-range floats* to ``skimage.color.rgb2ycbcr`` (which expects [0, 1]) and divides by 255, so
its luma is ``Y' = Y - 16 + 16/255`` (:func:`released_ssim_luma`); ``option.py`` (c8e7b31) crops
128-pixel HR patches at every scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

from defian import paths
from defian.data import metrics
from defian.data.statistics import DIV2K_MEAN, IMAGENET_MEAN, IMAGENET_STD
from defian.nn import complexity
from defian.nn.model import RELEASED_OUT_MEAN, RELEASED_OUT_STD, build_model
from defian.report import evaluate, paper_tables, study
from defian.train import config, run_record

__all__ = ["INTENDED", "LEAK_OK", "MOMENTS", "adam_loss_reduction", "best_vs_last", "bf16_agreement", "filter_moments", "mshf_filter_drift", "mshf_study",
           "normalisation_round_trip", "param_counts", "patch_sizes", "released_ssim_luma", "released_validation_psnr",
           "second_derivative_test", "ssim_conventions"]

_LUMA = np.array([65.481, 128.553, 24.966])  # ITU-R BT.601 for RGB in [0, 1] (MATLAB/skimage rgb2ycbcr)


def param_counts(model: str = "defian_s", scale: int = 2) -> dict[str, float]:
    """#Params (K) of one preset as printed and under each counting rule.

    Returns:
        ``printed`` (Table I/II), ``paper rule`` (every parameter, MSHF's released convolutions
        included: :func:`defian.nn.complexity.count_params`), ``released counter, frozen MSHF``
        (``requires_grad`` only, the 2021 code), ``released counter, trainable MSHF`` (the first upload).
    """
    table, name = {"defian_s": (paper_tables.TABLE_II, "DeFiAN_S"), "defian_l": (paper_tables.TABLE_I, "DeFiAN_L")}[model]
    with torch.device("meta"):  # shapes only
        frozen, trainable = build_model(model, scale), build_model(model, scale, mshf_mode="trainable")
    grad_only = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad) / 1e3
    return {"printed": paper_tables.row(table, name, scale).params_k,
            "paper rule": complexity.count_params(frozen) / 1e3,
            "released counter, frozen MSHF": grad_only(frozen),
            "released counter, trainable MSHF": grad_only(trainable)}


def normalisation_round_trip() -> pd.DataFrame:
    """Per channel: DIV2K and ImageNet means, the input gain ``1/std``, and how far the released
    ``unnormalize(normalize(x))`` lands from ``x`` (grey levels of 255, worst x in [0, 1])."""
    rows = []
    for c, name in enumerate("RGB"):
        m, s, om, os_ = IMAGENET_MEAN[c], IMAGENET_STD[c], RELEASED_OUT_MEAN[c], RELEASED_OUT_STD[c]
        x = np.array([0.0, 1.0])  # the round trip is affine in x: its worst error is at an end
        err = np.abs(((x - m) / s - om) / os_ - x).max() * 255
        rows.append({"channel": name, "DIV2K mean": DIV2K_MEAN[c], "ImageNet mean": m, "ImageNet std": s,
                     "input gain 1/std": 1 / s, "round trip error (grey levels)": err})
    return pd.DataFrame(rows)


def released_validation_psnr(hr: np.ndarray, scale: int) -> float:
    """PSNR that released ``main.py``'s validation reports for a model fitting its training target exactly.

    Training compares the raw output with HR in [0, 1]; validation first applies ``unnormalize``
    (``(t - mean_u) / std_u`` with the rounded ImageNet inverse), so a perfect fit ``t = HR`` is
    scored as ``(HR - mean_u) / std_u``. Quantised to bytes, float Y (as its ``calc_PSNR``).

    Args:
        hr: uint8 (H, W, 3), mod-cropped.
        scale: border crop.
    """
    t = hr.astype(np.float64) / 255.0
    scored = (t - np.array(RELEASED_OUT_MEAN)) / np.array(RELEASED_OUT_STD)
    sr = np.floor(np.clip(scored, 0, 1) * 255 + 0.5).astype(np.uint8)
    return metrics.psnr(sr, hr, scale, metrics.PROTOCOLS["y-unrounded"])


def released_ssim_luma(img: np.ndarray) -> np.ndarray:
    """The luma released ``calc_SSIM`` scores: ``rgb2ycbcr`` of byte-range floats, over 255.

    ``(16 + 255 * (65.481 R + 128.553 G + 24.966 B) / 255) / 255`` for R, G, B in [0, 1], i.e.
    ``Y - 16 + 16/255`` with ``Y`` MATLAB's float luma in [16, 235]. float64 (the released code
    computes it in float32).

    Args:
        img: uint8 (H, W, 3).

    Returns:
        float64 (H, W).
    """
    rgb = np.asarray(img)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"released_ssim_luma: need a uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    return (16.0 + rgb.reshape(-1, 3).astype(np.float64) @ _LUMA).reshape(rgb.shape[:2]) / 255.0


def ssim_conventions(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], scale: int) -> pd.DataFrame:
    """SSIM of (name, SR, HR) uint8 RGB pairs on rounded Y (the book's default), float Y and the released Y'.

    Returns:
        One row per pair: ``image, rounded Y, float Y, released Y'`` and ``released - float``.
    """
    rows = []
    for name, sr, hr in pairs:
        y = {k: metrics.ssim(sr, hr, scale, metrics.PROTOCOLS[p]) for k, p in (("rounded Y", "paper"),
                                                                               ("float Y", "y-unrounded"))}
        a, b = (released_ssim_luma(im)[scale:-scale, scale:-scale] for im in (sr, hr))
        y["released Y'"] = metrics.ssim_prepared(a, b)
        rows.append({"image": name, **y, "released - float": y["released Y'"] - y["float Y"]})
    return pd.DataFrame(rows)


def adam_loss_reduction(batch: int = 16, patch: int = 24, eps: float = 1e-8, seed: int = 0,
                        switches: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Adam's first update under Eq. (23)'s sum and under the per-pixel mean (released code, this book).

    At Adam's first step (bias-corrected) an entry with gradient ``g`` moves by
    ``lr * g / (|g| + eps)``. The sum is the mean times ``n`` (the batch's output elements), so
    it moves by ``lr * n g / (n |g| + eps)``: the two differ only where ``|g|`` is not large
    against ``eps``. Measured on the cpu study's DeFiAN_S (N=3, M=5, C=32, x2; ``switches``
    replace it) at initialisation, one random batch of ``batch`` LR patches of ``patch`` pixels.

    Returns:
        ``loss factor`` n, ``update relative difference`` ``||u_mean - u_sum|| / ||u_sum||``,
        ``median |g|`` of the mean loss, and ``share |g| < eps`` among its nonzero entries.
    """
    torch.manual_seed(seed)
    model = build_model("defian_s", 2, **(config.CPU.switches if switches is None else switches))
    g = torch.Generator().manual_seed(seed)
    lr_img, hr_img = torch.rand(batch, 3, patch, patch, generator=g), torch.rand(batch, 3, 2 * patch, 2 * patch, generator=g)
    F.l1_loss(model(lr_img), hr_img).backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()]).double()
    n = float(hr_img.numel())
    safe = torch.where(grad == 0, 1.0, grad.abs())  # a zero gradient moves nothing under either loss
    u_mean, u_sum = grad / (safe + eps), n * grad / (n * safe + eps)
    nonzero = grad[grad != 0].abs()
    return {"loss factor": n, "update relative difference": ((u_mean - u_sum).norm() / u_sum.norm()).item(),
            "median |g|": nonzero.median().item(), "share |g| < eps": (nonzero < eps).double().mean().item()}


def bf16_agreement(seed: int = 0, patch: int = 24, switches: Mapping[str, Any] | None = None) -> dict[str, float]:
    """One forward/backward of a small DeFiAN_S (N=2, M=2, C=16 unless ``switches`` say otherwise; 4 LR
    patches of ``patch`` pixels, x2) at initialisation in float32 and under bfloat16 autocast on the CPU:
    relative output and gradient differences, cosine of the gradients."""
    torch.manual_seed(seed)
    model = build_model("defian_s", 2, **(switches or {"n_modules": 2, "n_blocks": 2, "channels": 16}))
    g = torch.Generator().manual_seed(seed)
    lr_img, hr_img = torch.rand(4, 3, patch, patch, generator=g), torch.rand(4, 3, 2 * patch, 2 * patch, generator=g)
    out, grads = [], []
    for bf16 in (False, True):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = model(lr_img)
        F.l1_loss(y.float(), hr_img).backward()
        out.append(y.detach().float())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    rel = lambda a, b: ((a - b).norm() / b.norm()).item()
    return {"output relative difference": rel(out[1], out[0]), "gradient relative difference": rel(grads[1], grads[0]),
            "gradient cosine": F.cosine_similarity(grads[0], grads[1], dim=0).item()}


def patch_sizes(scales: Sequence[int] = (2, 3, 4)) -> pd.DataFrame:
    """LR patch side per scale: the paper's (``full`` schedule, Sec. IV-A1) and the released code's
    (``released`` schedule: 128-pixel HR patches), and the ratio of pixels per patch (released / paper)."""
    rows = []
    for s in scales:
        paper, released = config.schedule("full", scale=s).patch, config.schedule("released", scale=s).patch
        rows.append({"scale": s, "paper LR patch": paper, "released LR patch": released,
                     "released HR patch": released * s, "pixels released / paper": (released / paper) ** 2})
    return pd.DataFrame(rows)


def best_vs_last(runs: Sequence[run_record.Run]) -> pd.DataFrame:
    """Per finished run: validation PSNR of the best and of the last checkpoint, and the gap (dB).

    The released code's test branch loads ``model_epoch_{best_epoch}``, the epoch picked by
    validation PSNR on its test set; this book scores ``last.pt``.
    """
    rows = []
    for r in runs:
        s = r.summary or {}
        best, last = s.get("best_val_psnr"), s.get("final_val_psnr")
        if s.get("status") == "finished" and best is not None and last is not None and math.isfinite(best):
            rows.append({"run": r.name, "best val PSNR": best, "last val PSNR": last, "best update": s.get("best_update"),
                         "updates": s.get("updates"), "best - last (dB)": best - last})
    return pd.DataFrame(rows, columns=["run", "best val PSNR", "last val PSNR", "best update", "updates",
                                       "best - last (dB)"])


def mshf_study(root: str | Path | None = None, set_name: str = "Set5", confidence: float = 0.95) -> pd.DataFrame:
    """The MSHF question of ``defian study`` (x2 DeFiAN_S, seeds 0-2), read from the run records under ``root``.

    Per setting of :data:`defian.report.study.MSHF_VARIANTS`: how many of its seeds are finished and
    evaluated, and once every seed is (with its frozen twin of the pair), the paired ``set_name``
    PSNR difference ``setting - frozen`` per seed, its mean and Student-t interval.

    Returns:
        Columns ``setting, runs done, seeds, mean diff (dB), ci low, ci high, status`` (``status``
        "pending k/n" until every run is done).
    """
    have = study.records_under(Path(root or paths.RUNS), "cpu")
    jobs = {j.label: j for j in study.jobs("cpu")}
    score = lambda r: evaluate.read_evaluation(evaluate.evaluation_dir(r.dir)).score(set_name, study.PAIR_SCALE)
    rows = []
    for mode in study.MSHF_VARIANTS:
        runs = [(study.find_run(jobs[f"x{study.PAIR_SCALE} {study.PAIR[0]} mshf {mode} seed {s}"], have),
                 study.find_run(jobs[f"x{study.PAIR_SCALE} {study.PAIR[0]} seed {s}"], have)) for s in study.SEEDS]
        done = sum(study.is_done(r) for r, _ in runs)
        row = {"setting": mode, "runs done": f"{done}/{len(runs)}", "seeds": 0, "mean diff (dB)": np.nan,
               "ci low": np.nan, "ci high": np.nan, "status": f"pending {done}/{len(runs)} (defian study)"}
        if all(study.is_done(a) and study.is_done(b) for a, b in runs):
            d = np.array([score(a) - score(b) for a, b in runs])
            half = stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            row.update({"seeds": len(d), "mean diff (dB)": d.mean(), "ci low": d.mean() - half,
                        "ci high": d.mean() + half, "status": "done"})
        rows.append(row)
    return pd.DataFrame(rows)


# --- the trainable MSHF filters after training -------------------------------------------------------
#: The polynomials a 3x3 filter's moments answer to, in tap units (x along a row, y down a column).
MOMENTS = ("1", "x", "y", "x^2", "y^2", "xy")
#: Which moment each stencil of :func:`defian.nn.hessian.compact_stencils` estimates (G_hh: x^2, G_vv: y^2, G_hv: xy).
INTENDED = {"G_hh": "x^2", "G_vv": "y^2", "G_hv": "xy"}
#: A trained filter whose response to 1, x and y stays below this fraction of its gain counts as a
#: second-derivative filter still (the stencils: 0).
LEAK_OK = 0.1


def filter_moments(taps: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) correlation taps -> (..., 6): the filter's response at the centre to the images
    1, x, y, x^2, y^2, xy of :data:`MOMENTS` (float64).

    A filter answers a smooth image with ``sum_k m_k d^k f / k!`` (Taylor), so a second-derivative
    filter has no response to 1, x and y. The stencils of Eqs. (14)-(16): G_hh -> (0, 0, 0, 2, 0, 0),
    G_vv -> (0, 0, 0, 0, 2, 0), G_hv -> (0, 0, 0, 0, 0, 4).
    """
    o = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    y, x = torch.meshgrid(o, o, indexing="ij")
    basis = torch.stack([torch.ones_like(x), x, y, x * x, y * y, x * y])  # (6, 3, 3)
    return torch.einsum("...ij,mij->...m", taps.double(), basis)


def second_derivative_test(taps: torch.Tensor, which: str) -> dict[str, torch.Tensor]:
    """For taps trained from the stencil ``which`` (a key of :data:`INTENDED`), relative to the filter's own
    gain on its intended moment: ``leak``, the size of its response to 1, x and y (0: still a
    second-derivative filter), and ``cross``, that to the two other second-order moments (0: still the
    same derivative). Shapes: ``taps`` (..., 3, 3) -> each (...)."""
    m = filter_moments(taps)
    k = MOMENTS.index(INTENDED[which])
    gain = m[..., k].abs()
    others = [i for i in (3, 4, 5) if i != k]
    return {"gain": m[..., k], "leak": m[..., :3].norm(dim=-1) / gain, "cross": m[..., others].norm(dim=-1) / gain}


def mshf_filter_drift(root: str | Path | None = None, mode: str = "trainable") -> pd.DataFrame:
    """The MSHF filters of the study's ``mode`` runs (x2 DeFiAN_S, seeds 0-2) after training, per seed,
    DeFiAM and stencil (over the three scales and every channel).

    The initial weights are rebuilt from each run's config (the seed gives the stencils and the random
    bias, as at update 0). Columns: ``seed, module, filter``; ``drift med`` / ``drift max``, the
    relative change ``|w - s| / |s|`` of a channel's taps; ``leak max`` and ``cross max``
    (:func:`second_derivative_test`); ``gain min`` / ``gain max``, each filter's gain on its intended
    moment over the stencil's; ``bias change max``, ``|b - b0|``; ``moved``: any tap changed at all;
    ``filters`` (scales x channels), ``leak ok`` (of them, leak below :data:`LEAK_OK`), ``drift sum``.
    A DeFiAM whose attention branch passes no gradient (a dead DAC or decoder) keeps its stencils exactly.
    """
    from defian.nn.hessian import compact_stencils

    have = study.records_under(Path(root or paths.RUNS), "cpu")
    jobs = {j.label: j for j in study.jobs("cpu")}
    stencils = compact_stencils()  # (3, 3, 3) [G_hh, G_vv, G_hv]
    names = list(INTENDED)
    rows = []
    for seed in study.SEEDS:
        run = study.find_run(jobs[f"x{study.PAIR_SCALE} {study.PAIR[0]} mshf {mode} seed {seed}"], have)
        if not study.is_done(run):
            continue
        ck = torch.load(run.dir / "last.pt", map_location="cpu", weights_only=True)
        trained = ck["ema"] if ck.get("ema") is not None else ck["model"]
        cfg = run.config
        torch.manual_seed(cfg["seed"])  # as defian.train.loop.initial_model: update 0's weights
        start = build_model(cfg["model"], cfg["scale"], **cfg["switches"]).state_dict()
        for n in range(len([k for k in trained if k.endswith(".mshf.weight")])):
            w, b = trained[f"body.{n}.mshf.weight"].double(), trained[f"body.{n}.mshf.bias"].double()
            w0, b0 = start[f"body.{n}.mshf.weight"].double(), start[f"body.{n}.mshf.bias"].double()
            for j, name in enumerate(names):
                wj, sj = w[:, j], stencils[j]  # (scales, C, 3, 3)
                drift = (wj - sj).flatten(-2).norm(dim=-1) / sj.norm()
                t = second_derivative_test(wj, name)
                gain0 = second_derivative_test(sj, name)["gain"]
                rows.append({"seed": seed, "module": n, "filter": name, "drift med": float(drift.median()),
                             "drift max": float(drift.max()), "leak max": float(t["leak"].max()),
                             "cross max": float(t["cross"].max()), "gain min": float((t["gain"] / gain0).min()),
                             "gain max": float((t["gain"] / gain0).max()),
                             "bias change max": float((b[:, j] - b0[:, j]).abs().max()),
                             "moved": bool((w0[:, j] != w[:, j]).any()), "filters": drift.numel(),
                             "leak ok": int((t["leak"] < LEAK_OK).sum()), "drift sum": float(drift.sum())})
    return pd.DataFrame(rows, columns=["seed", "module", "filter", "drift med", "drift max", "leak max", "cross max",
                                       "gain min", "gain max", "bias change max", "moved", "filters", "leak ok",
                                       "drift sum"])
