"""What the LFR study's records show: one model at every scale against fixed-scale models.

Reads the finished, evaluated records of :mod:`defian.lfr.study` (``results/runs/lfr``
and the cpu study's ``results/runs``) and answers its three questions:

* :func:`central`: DeFiAN-LFR against the fixed-scale DeFiAN_S at x2 and x3, per set.
  The two kinds of run do not see the same patches (a level per batch against one
  scale), so the comparison is unpaired: the difference of the means over seeds,
  with Welch's interval; a side with one run has no spread and resolves nothing.
* :func:`attention_gain`: DeFiAN-LFR minus its attention-free twin, paired by seed
  (at one seed both draw the same levels and patches), next to the fixed-scale
  pair's gain at x2 (:func:`defian.report.study_stats.paired_gains`).
* :func:`table3`: the slides' Table 3 at reduced scale: direct (fixed-scale model of
  that scale) against recursive (LFR, two equal steps) and the slides' rule, with
  the slides' ASDN row for reference (:data:`SLIDES_TABLE3`).
* :func:`upsampling`: the post-upsampling variant against the pre-upsampled model at
  the same seed (same levels and patches), with what each costs: floating-point
  operations per image (:func:`forward_flops`, counted by PyTorch's dispatcher) and
  the training throughput each run recorded.

Verdicts use :func:`defian.report.study_stats.verdict`: "supported" when the whole 95 %
interval lies above zero, "contradicted" below, "not resolved" otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch.utils.flop_counter import FlopCounterMode

from defian.lfr import study
from defian.lfr.evaluate import read_lfr_evaluation
from defian.lfr.model import LFRModel
from defian.report import evaluate
from defian.report.study_stats import holm, t_interval, t_p_value, verdict
from defian.train import run_record

__all__ = ["SLIDES_TABLE3", "attention_family", "attention_gain", "central", "fixed_results", "forward_flops",
           "interval", "lfr_results", "table3", "throughput", "upsampling"]

#: The slides' Table 3, ASDN ("Ours") on Set5: direct and recursive deployment at x2, x3, x4 (dB).
SLIDES_TABLE3 = {"direct": {2: 38.12, 3: 34.52, 4: 32.28}, "recursive": {2: 37.35, 3: 34.43, 4: 32.27}}
_CONFIDENCE = 0.95


def _roots(schedule: str, roots: Sequence[Path] | None) -> list[Path]:
    return list(roots) if roots is not None else [study.lfr_root(schedule), run_record.runs_root(schedule)]


def _done(schedule: str, roots: Sequence[Path] | None, kind: str) -> list[tuple[study.Job, run_record.Run]]:
    have = study.records(_roots(schedule, roots), schedule)
    out = []
    for job in study.jobs(schedule):
        run = study.find_run(job, have) if job.kind == kind else None
        if study.is_done(job, run):
            out.append((job, run))
    return out


def lfr_results(schedule: str = "cpu", roots: Sequence[Path] | None = None) -> pd.DataFrame:
    """Per-set scores of every finished, evaluated LFR job: ``job, model, upsampling, seed`` + the
    evaluation's ``set, scale, rule, ratios, images, psnr, ssim``."""
    frames = []
    for job, run in _done(schedule, roots, "lfr"):
        ps = read_lfr_evaluation(evaluate.evaluation_dir(run.dir))[1]
        frames.append(ps.assign(job=job.label, model=job.config.model, seed=job.config.seed,
                                upsampling=job.config.switches.get("upsampling", "pre")))
    cols = ["job", "model", "upsampling", "seed", "set", "scale", "rule", "ratios", "images", "psnr", "ssim"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def fixed_results(schedule: str = "cpu", roots: Sequence[Path] | None = None) -> pd.DataFrame:
    """Per-set scores of the study's fixed-scale jobs: ``job, model, seed, set, scale, images, psnr, ssim``."""
    frames = []
    for job, run in _done(schedule, roots, "fixed"):
        ps = evaluate.read_evaluation(evaluate.evaluation_dir(run.dir)).per_set
        frames.append(ps.assign(job=job.label, model=job.config.model, seed=job.config.seed))
    cols = ["job", "model", "seed", "set", "scale", "images", "psnr", "ssim"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def interval(a: Sequence[float], b: Sequence[float], confidence: float = _CONFIDENCE) -> dict[str, float]:
    """mean(a) - mean(b) with Welch's t interval; NaN bounds when either side has fewer than 2 values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "ci low": float("nan"), "ci high": float("nan")}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    half = float(stats.t.ppf(0.5 + confidence / 2, dof) * se)
    return {"diff": diff, "ci low": diff - half, "ci high": diff + half}


def _verdict(row: dict) -> str:
    return verdict(pd.Series({"seeds": min(row["n lfr"], row["n fixed"]), **row}))


def central(lfr: pd.DataFrame, fixed: pd.DataFrame, scales: Sequence[int] = (2, 3),
            model: str = "defian_lfr_s", fixed_model: str = "defian_s") -> pd.DataFrame:
    """Per set and scale: DeFiAN-LFR (pre-upsampled, slides' rule) against the fixed-scale model, over seeds.

    Returns:
        ``set, scale, n lfr, lfr, sd lfr, n fixed, fixed, sd fixed, diff, ci low, ci high, verdict``
        (dB; ``diff`` = LFR - fixed; the verdict is about "LFR beats fixed").
    """
    rows = []
    sel = lfr[(lfr["model"] == model) & (lfr["upsampling"] == "pre") & (lfr["rule"] == "largest_first")]
    for s in scales:
        for set_name in dict.fromkeys(fixed["set"]):
            a = sel[(sel["scale"] == s) & (sel["set"] == set_name)]["psnr"].to_numpy(float)
            b = fixed[(fixed["model"] == fixed_model) & (fixed["scale"] == s) & (fixed["set"] == set_name)]["psnr"]
            b = b.to_numpy(float)
            if not len(b):
                continue
            row = {"set": set_name, "scale": s, "n lfr": len(a), "lfr": a.mean() if len(a) else np.nan,
                   "sd lfr": a.std(ddof=1) if len(a) > 1 else np.nan, "n fixed": len(b), "fixed": b.mean(),
                   "sd fixed": b.std(ddof=1) if len(b) > 1 else np.nan, **interval(a, b)}
            row["verdict"] = _verdict(row) if len(a) else "no LFR run"
            rows.append(row)
    cols = ["set", "scale", "n lfr", "lfr", "sd lfr", "n fixed", "fixed", "sd fixed", "diff", "ci low", "ci high",
            "verdict"]
    return pd.DataFrame(rows, columns=cols)


def attention_gain(lfr: pd.DataFrame, confidence: float = _CONFIDENCE) -> pd.DataFrame:
    """DeFiAN-LFR minus its attention-free twin, paired by seed, per (set, scale, rule).

    Returns:
        ``set, scale, rule, seeds, mean gain, sd gain, ci low, ci high, p, verdict`` (Student-t over
        seeds; ``p`` two-sided, for :func:`defian.report.study_stats.holm` over the rows a page states).
    """
    pre = lfr[lfr["upsampling"] == "pre"]
    keys = ["seed", "set", "scale", "rule"]
    a = pre[pre["model"] == "defian_lfr_s"].set_index(keys)["psnr"]
    b = pre[pre["model"] == "rcan_lfr_s"].set_index(keys)["psnr"]
    gains = (a - b).dropna().rename("gain").reset_index()
    rows = []
    for (set_name, s, rule), g in gains.groupby(["set", "scale", "rule"], sort=False):
        d = g["gain"].to_numpy(float)
        row = {"set": set_name, "scale": s, "rule": rule, **t_interval(d, confidence), "p": t_p_value(d)}
        rows.append({**row, "verdict": verdict(pd.Series(row))})
    cols = ["set", "scale", "rule", "seeds", "mean gain", "sd gain", "ci low", "ci high", "p", "verdict"]
    return pd.DataFrame(rows, columns=cols)


def attention_family(gain: pd.DataFrame, scales: Sequence[float] = (2, 3), rule: str = "largest_first",
                     ) -> pd.DataFrame:
    """The rows of :func:`attention_gain` a page states one verdict each for (``scales`` under ``rule``,
    more than one seed), with ``p holm``: their p-values adjusted together by
    :func:`defian.report.study_stats.holm`, since each extra set or scale is one more chance of a
    spurious "supported"."""
    family = gain[gain["scale"].isin(scales) & (gain["rule"] == rule) & (gain["seeds"] > 1)]
    return family.assign(**{"p holm": holm(family["p"].to_numpy(float))})


def table3(lfr: pd.DataFrame, fixed: pd.DataFrame, set_name: str = "Set5") -> pd.DataFrame:
    """The slides' Table 3 at reduced scale on ``set_name`` (means over seeds; NaN where not run).

    Returns:
        One row per scale 2, 3, 4: ``direct (fixed)`` and its seed count, ``LFR equal2`` (the
        slides' "recursive deployment"), ``LFR largest_first`` (the slides' rule), ``recursive
        - direct``, and the slides' ASDN ``slides direct`` / ``slides recursive``.
    """
    sel = lfr[(lfr["model"] == "defian_lfr_s") & (lfr["upsampling"] == "pre") & (lfr["set"] == set_name)]
    fx = fixed[(fixed["model"] == "defian_s") & (fixed["set"] == set_name)]
    rows = []
    for s in (2, 3, 4):
        direct = fx[fx["scale"] == s]["psnr"]
        rec = sel[(sel["scale"] == s) & (sel["rule"] == "equal2")]["psnr"]
        own = sel[(sel["scale"] == s) & (sel["rule"] == "largest_first")]["psnr"]
        rows.append({"scale": s, "direct (fixed)": direct.mean(), "fixed runs": len(direct),
                     "LFR equal2": rec.mean(), "LFR largest_first": own.mean(), "LFR runs": len(rec),
                     "recursive - direct": rec.mean() - direct.mean(),
                     "slides direct": SLIDES_TABLE3["direct"][s], "slides recursive": SLIDES_TABLE3["recursive"][s]})
    return pd.DataFrame(rows)


def throughput(schedule: str = "cpu", roots: Sequence[Path] | None = None) -> pd.DataFrame:
    """Training speed each finished, evaluated LFR run recorded: ``job, model, upsampling, seed,
    samples per s, wall s`` (``samples_per_s`` of its summary; ``wall s`` summed over its segments).

    Both are wall-clock figures of a shared machine (the study's workers run side by side), so a
    ratio between runs is a measurement of that machine, not of the networks alone.
    """
    rows = [{"job": job.label, "model": job.config.model, "seed": job.config.seed,
             "upsampling": job.config.switches.get("upsampling", "pre"),
             "samples per s": float(run.summary["samples_per_s"]), "wall s": run.wall_s}
            for job, run in _done(schedule, roots, "lfr")]
    cols = ["job", "model", "upsampling", "seed", "samples per s", "wall s"]
    return pd.DataFrame(rows, columns=cols)


def forward_flops(model: LFRModel, scale: float, lr_size: tuple[int, int] = (64, 64)) -> int:
    """Floating-point operations of one forward pass on a ``lr_size`` RGB image at ``scale``.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` (2 per multiply-add of every
    convolution and matrix product; elementwise operations are not counted), deployment
    (recursion, resampling) included as the model runs it.
    """
    x = torch.zeros(1, 3, *lr_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x, scale)
    return int(counter.get_total_flops())


def upsampling(lfr: pd.DataFrame, model: str = "defian_lfr_s", rule: str = "largest_first") -> pd.DataFrame:
    """Post-upsampling minus pre-upsampling, paired by seed, per set and scale.

    Returns:
        ``set, scale, seeds, pre, post, post - pre`` (dB, means over the seeds that have both) and
        ``sd pre``: the spread (ddof 1) of the pre-upsampled model over all its seeds there, the
        yardstick for a one-pair difference (NaN with one pre run).
    """
    sel = lfr[(lfr["model"] == model) & (lfr["rule"] == rule)]
    keys = ["seed", "set", "scale"]
    pre = sel[sel["upsampling"] == "pre"].set_index(keys)["psnr"].rename("pre")
    post = sel[sel["upsampling"] == "post"].set_index(keys)["psnr"].rename("post")
    both = pd.concat([pre, post], axis=1, join="inner").reset_index()
    cols = ["set", "scale", "seeds", "pre", "post", "post - pre", "sd pre"]
    if both.empty:
        return pd.DataFrame(columns=cols)
    out = both.groupby(["set", "scale"], sort=False).agg(seeds=("seed", "size"), pre=("pre", "mean"),
                                                          post=("post", "mean")).reset_index()
    spread = pre.groupby(["set", "scale"]).std(ddof=1).rename("sd pre")
    out = out.merge(spread.reset_index(), on=["set", "scale"], how="left")
    return out.assign(**{"post - pre": out["post"] - out["pre"]})[cols]
