"""What the cpu study's runs show: the attention branch's gain with its spread, and the single runs.

Reads the finished, evaluated records of :mod:`defian.report.study` (``results/runs`` by
default). Item 1, DeFiAN_S against its attention-free twin, is paired by seed
(:func:`pairs`): at one seed both models saw the same patches in the same order, so
the difference removes the data-order part of the noise. :func:`paired_gains` and
:func:`summarize` give the gain with its Student-t interval across seeds and
:func:`verdict` the claim it supports; :func:`paired_noise` is the noise of one run,
against which :func:`single_runs` and :func:`table_spreads` read the one-seed
columns of Tables III-V. :func:`run_times` says what the runs cost and where their code
came from (segments of :mod:`defian.train.run_record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from defian.report import evaluate, table_runs, study
from defian.train import run_record
from defian.train.config import TrainConfig
from defian.report.study import ABLATION_SCALE, PAIR, PAIR_SCALE, SEEDS, SETS

__all__ = ["pair_attention_activity", "final_losses", "run_times", "holm", "image_gains", "paired_gains", "paired_noise",
           "pairs", "seeds_needed", "single_runs", "summarize", "t_interval", "t_p_value", "table_spreads",
           "validation_gaps", "verdict"]


def pairs(root: str | Path | None = None, schedule: str = "cpu") -> dict[int, tuple[run_record.Run, run_record.Run]]:
    """``{seed: (DeFiAN_S run, twin run)}`` for the seeds where both runs are finished and evaluated."""
    have = study.records_under(Path(root or run_record.runs_root(schedule)), schedule)
    by_label = {j.label: j for j in study.jobs(schedule)}
    out = {}
    for seed in SEEDS:
        runs = tuple(study.find_run(by_label[f"x{PAIR_SCALE} {m} seed {seed}"], have) for m in PAIR)
        if all(study.is_done(r) for r in runs):
            out[seed] = runs
    return out


def run_times(runs: Sequence[run_record.Run]) -> pd.DataFrame:
    """Per run: what it cost and what code ran it, from its segments (:attr:`run_record.Run.segments`).

    Returns:
        Columns ``run, segments, minutes`` (wall time, the sum of the segments),
        ``reconstructed minutes`` (the part of it rebuilt from metrics.csv: the earlier
        segments of a format-1 record that resumed, :func:`run_record.metrics_wall_s`),
        ``last shortfall`` (1 - metrics.csv's time / the measured time of the last segment:
        the validation and checkpoint writes the reconstruction leaves out; NaN for format 2),
        ``dirty`` (True: a segment ran from a work tree with uncommitted changes; None: a
        segment's commit is lost) and ``commits``.
    """
    rows = []
    for r in runs:
        segs = r.segments
        last = segs[-1]
        shortfall = np.nan
        if "segments" not in r.environment and last["wall_s"]:
            rebuilt = run_record.metrics_wall_s(r.metrics, r.config["batch"], last["from_update"], last["to_update"])
            shortfall = 1 - rebuilt / last["wall_s"]
        rows.append({"run": r.name, "segments": len(segs), "minutes": r.wall_s / 60,
                     "reconstructed minutes": r.wall_s_reconstructed / 60, "last shortfall": shortfall,
                     "dirty": r.dirty, "commits": ", ".join(s["git_commit"] or "lost" for s in segs)})
    cols = ["run", "segments", "minutes", "reconstructed minutes", "last shortfall", "dirty", "commits"]
    return pd.DataFrame(rows, columns=cols)


def paired_gains(root: str | Path | None = None, schedule: str = "cpu", sets: Sequence[str] = SETS) -> pd.DataFrame:
    """PSNR of DeFiAN_S minus its twin, per seed and set, from the evaluations under ``root``.

    Seeds are paired: at one seed both models saw the same patches in the same
    order, so the difference removes the data-order part of the noise.

    Returns:
        Columns ``seed, set, defian_s, rcan_s, gain`` (dB); seeds where either run or
        evaluation is missing are left out.
    """
    rows = []
    for seed, runs in pairs(root, schedule).items():
        evs = [evaluate.read_evaluation(evaluate.evaluation_dir(r.dir)) for r in runs]
        for s in sets:
            a, b = (ev.score(s, PAIR_SCALE) for ev in evs)
            if a is not None and b is not None:
                rows.append({"seed": seed, "set": s, PAIR[0]: a, PAIR[1]: b, "gain": a - b})
    return pd.DataFrame(rows, columns=["seed", "set", *PAIR, "gain"])


def image_gains(root: str | Path | None = None, schedule: str = "cpu") -> pd.DataFrame:
    """Per image: PSNR of DeFiAN_S minus its twin, per seed (columns ``seed, set, image, gain``).

    Says whether a set's mean gain is a few images or all of them.
    """
    frames = []
    for seed, runs in pairs(root, schedule).items():
        a, b = (evaluate.read_evaluation(evaluate.evaluation_dir(r.dir)).per_image.set_index(["set", "image"])["psnr"]
                for r in runs)
        frames.append((a - b).dropna().rename("gain").reset_index().assign(seed=seed))
    cols = ["seed", "set", "image", "gain"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def validation_gaps(root: str | Path | None = None, schedule: str = "cpu") -> pd.DataFrame:
    """Validation PSNR of DeFiAN_S minus its twin at every validation point (index: update; one column per seed).

    Whether the gap closes, opens or stays during training: the one hint these short
    runs give about longer ones.
    """
    cols = {}
    for seed, runs in pairs(root, schedule).items():
        a, b = (pd.Series(*reversed(r.curve("val_psnr"))) for r in runs)
        cols[f"seed {seed}"] = a - b
    return pd.DataFrame(cols).rename_axis("update")


def final_losses(root: str | Path | None = None, schedule: str = "cpu", last: int = 1000) -> pd.DataFrame:
    """Mean training loss (Eq. 23) over the last ``last`` updates of each pair, and DeFiAN_S's over the twin's.

    Both runs of a seed fit the same patches, so this compares how far each got in
    fitting the training data, free of test-set noise.
    """
    rows = []
    for seed, runs in pairs(root, schedule).items():
        window = [[m["loss"] for m in r.metrics if m["update"] > r.summary["updates"] - last] for r in runs]
        means = [float(np.mean(w)) if w else float("nan") for w in window]
        rows.append({"seed": seed, **dict(zip(PAIR, means, strict=True)), "ratio": means[0] / means[1]})
    return pd.DataFrame(rows, columns=["seed", *PAIR, "ratio"])


def pair_attention_activity(root: str | Path | None = None, schedule: str = "cpu", data_root: str = "") -> pd.DataFrame:
    """Does the pair's attention select anything? Per seed and DeFiAM of DeFiAN_S, at
    initialisation and after training, :func:`defian.report.figures.attention_activity` on the
    figure image (:func:`defian.report.figures.figure_image`, x2, whole image).

    The initial network is rebuilt by the function training builds it with
    (:func:`defian.train.loop.initial_model`: seed, preset, switches), so a DeFiAM whose last decoder stage is
    dead at both ends was dead from the start: a ReLU unit that never fires gets no
    gradient and cannot revive.

    Returns:
        Columns ``seed, DeFiAM, when ("init" | "trained"), a_rel_sd, v_sd, decoder_active, dac_gain``;
        ``.attrs["image"]`` names the image.
    """
    import torch

    from defian.report import figures
    from defian.train import loop
    from defian.report.evaluate import load_model

    image, lr, _ = figures.figure_image(data_root or None, PAIR_SCALE, 0)
    rows = []
    for seed, (run, _) in pairs(root, schedule).items():
        models = {"init": loop.initial_model(TrainConfig.from_dict(run.config), torch.device("cpu")),
                  "trained": load_model(run.dir / "last.pt")[0]}
        for when, model in models.items():
            for i, row in enumerate(figures.attention_activity(model, lr)):
                rows.append({"seed": seed, "DeFiAM": i + 1, "when": when, **row})
    out = pd.DataFrame(rows, columns=["seed", "DeFiAM", "when", "a_rel_sd", "v_sd", "decoder_active", "dac_gain"])
    out.attrs["image"] = image
    return out


def paired_noise(root: str | Path | None = None, schedule: str = "cpu", set_name: str = "Set5") -> float:
    """The sd over seeds of the pair's paired gain on ``set_name`` (dB): the noise of one run.

    Two single runs of different variants differ by their true difference plus noise
    of about this size (times sqrt(2) for unpaired runs), so single-run differences
    below ~2 sd are not a ranking. NaN with fewer than two seeds.
    """
    g = paired_gains(root, schedule, sets=(set_name,))
    return float(g["gain"].std(ddof=1)) if len(g) > 1 else float("nan")


def single_runs(psnr: pd.Series, root: str | Path | None = None, schedule: str = "cpu") -> str:
    """One sentence on a table column of single runs (index: variant, values: Set5 PSNR, dB):
    their spread next to the pair's noise (:func:`paired_noise`), so that nobody reads a ranking
    into differences the noise makes."""
    v = psnr.dropna()
    if v.empty:
        return "no measured run"
    if len(v) == 1:
        spread = f"one single run ({v.index[0]}), nothing to compare yet"
    else:
        spread = f"{len(v)} single runs span {v.max() - v.min():.3f} dB (highest {v.idxmax()}, lowest {v.idxmin()})"
    noise = paired_noise(root, schedule)
    if np.isnan(noise):
        return spread + "; the noise of one run is not measured yet"
    said = f"{spread}; one run's noise, measured by the cpu study's seed pairs: 2 sd = {2 * noise:.3f} dB on Set5"
    if len(v) == 1:
        return said
    return said + (", so these differences are not a ranking" if v.max() - v.min() < 2 * noise
                   else ", so only differences above that are more than noise")


def table_spreads(root: str | Path | None = None, schedule: str = "cpu", set_name: str = "Set5") -> pd.DataFrame:
    """Per table of Tables III-V: how far apart its measured single runs land on ``set_name``,
    next to how far apart the paper's numbers of the same columns are.

    A table's runs share the seed (so the patch order) and differ in the attention
    branch only; a small spread leaves little room for either the run-to-run noise at
    that seed or true differences between those variants at this budget.

    Returns:
        One row per table: ``table, variants, measured, span ours, sd ours, span paper,
        sd paper`` (dB; spans are max - min, sds across variants with ddof 1, over the
        measured columns only).
    """
    have = study.records_under(Path(root or run_record.runs_root(schedule)), schedule)
    by_name = {name: j for j in study.jobs(schedule) for name in (j.label, *j.also)}
    rows = []
    for which in ("III", "IV", "V"):
        paper, ours = table_runs.paper_set5(which), {}
        for label in paper:
            run = study.find_run(by_name[f"Table {which} {label}"], have)
            if study.is_done(run):
                ours[label] = evaluate.read_evaluation(evaluate.evaluation_dir(run.dir)).score(set_name, ABLATION_SCALE)
        mine = pd.Series(ours, dtype=float).dropna()
        theirs = pd.Series({k: paper[k] for k in mine.index}, dtype=float)
        rows.append({"table": f"Table {which}", "variants": len(paper), "measured": len(mine),
                     "span ours": mine.max() - mine.min() if len(mine) > 1 else np.nan,
                     "sd ours": mine.std(ddof=1),
                     "span paper": theirs.max() - theirs.min() if len(mine) > 1 else np.nan,
                     "sd paper": theirs.std(ddof=1)})
    return pd.DataFrame(rows)


def seeds_needed(sd_gain: float, difference: float, z: float = 2.0) -> int:
    """Seeds per variant for a paired comparison to resolve ``difference`` (dB) at ``z`` standard errors.

    The mean of ``n`` paired gains has standard error ``sd_gain / sqrt(n)``; it
    separates ``difference`` from zero when ``difference >= z * sd_gain / sqrt(n)``.
    """
    if difference <= 0 or not np.isfinite(sd_gain):
        raise ValueError(f"need a positive difference and a finite sd, got difference={difference}, sd={sd_gain}")
    return max(1, int(np.ceil((z * sd_gain / difference) ** 2)))


def t_interval(d: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Paired gains ``d`` over seeds: ``seeds``, ``mean gain``, ``sd gain`` (ddof 1) and the Student-t
    interval of the mean at ``confidence`` (``ci low``, ``ci high``); NaN spread with one seed."""
    d = np.asarray(d, float)
    n, mean = len(d), float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    return {"seeds": n, "mean gain": mean, "sd gain": sd, "ci low": mean - half, "ci high": mean + half}


def t_p_value(d: np.ndarray) -> float:
    """Two-sided p-value of the Student-t test that the mean of the paired gains ``d`` is zero
    (``scipy.stats.ttest_1samp``): the level at which :func:`t_interval`'s interval just touches zero.
    NaN with one seed; with no spread, 0 for a nonzero mean and 1 for a zero one."""
    d = np.asarray(d, float)
    if len(d) < 2:
        return float("nan")
    if np.ptp(d) == 0:  # scipy answers NaN (and warns) here
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of the p-values of a family of ``m`` tests: the ``k``-th smallest
    becomes ``max_{j<=k} (m - j + 1) p_(j)``, capped at 1. A claim whose adjusted p-value is below
    ``alpha`` holds with the family's chance of any false "supported" at most ``alpha``, whatever the
    dependence between the tests (the sets are scored on the same models). NaN stays NaN and does not
    count in ``m``."""
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    out[order] = np.minimum(1.0, np.maximum.accumulate((len(ok) - np.arange(len(ok))) * p[order]))
    return out


def summarize(gains: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per set: seeds, mean gain, its standard deviation across seeds (ddof 1), the
    Student-t interval of the mean at ``confidence``, and each model's own spread.

    With 3 seeds the t quantile is 4.30 at 95 %: the interval is wide, as it should be.
    """
    rows = []
    for s, g in gains.groupby("set", sort=False):
        n = len(g)
        rows.append({"set": s, **t_interval(g["gain"].to_numpy(float), confidence),
                     **{f"sd {m}": float(g[m].std(ddof=1)) if n > 1 else float("nan") for m in PAIR}})
    return pd.DataFrame(rows)


def verdict(row: pd.Series) -> str:
    """The claim "DeFiAN beats its twin" on one set, from a :func:`summarize` row:
    "supported" when the whole interval lies above zero, "contradicted" when below,
    else "not resolved" (also with a single seed, which has no spread)."""
    if not row["seeds"] > 1:
        return "not resolved (one seed: no spread)"
    if row["ci low"] > 0:
        return "supported"
    if row["ci high"] < 0:
        return "contradicted"
    return "not resolved"
