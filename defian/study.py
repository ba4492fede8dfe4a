"""The cpu study: the book's own trained numbers, what they are and how to remake them.

Until the paper's schedule is run on GPUs, the book's trained numbers come from a
scaled-down study that two CPU cores finish in a few days (the ``cpu`` schedule of
:mod:`defian.config`; notebook 06 explains its size), trained on the 291-image set:

1. the central claim, DeFiAN_S against its attention-free twin (the same trunk,
   Table III (a)) at x2, seeds :data:`SEEDS`: the gain and its spread;
2.-4. Tables III, IV and V at x3 (Sec. IV-D), one seed per variant. A variant
   that appears in several tables (Table IV "w/o HF" is Table III (a)) is trained
   once (:func:`defian.records.attention_key`).

:func:`jobs` lists the runs; ``defian study`` trains the missing ones (resumable,
split over workers), evaluates each on :data:`SETS` and, with ``--publish``, copies
finished records into ``results/runs`` with a weights-only checkpoint
(:func:`defian.checkpoint.slim`). :func:`paired_gains` and :func:`summarize` turn
the evaluations into the gain of item 1 with its spread across seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from defian import checkpoint, config, evaluate, paths, records, runrecord
from defian.config import TrainConfig
from defian.model import make_config

__all__ = ["ABLATION_SCALE", "PAIR", "PAIR_SCALE", "SEEDS", "SETS", "Job", "attention_activity", "final_losses",
           "image_gains", "jobs", "main", "paired_gains", "paired_noise", "pairs", "publish", "seeds_needed",
           "single_runs", "status", "summarize", "table_spreads", "validation_gaps", "verdict"]

SEEDS = (0, 1, 2)
PAIR = ("defian_s", "rcan_s")  # DeFiAN_S and its attention-free twin
PAIR_SCALE = 2
ABLATION_SCALE = 3  # Tables III-V are x3 in the paper
SETS = ("Set5", "Set14", "BSD100")
#: Files of a run record that are published (the checkpoint is slimmed, best.pt is left out).
RECORD_FILES = ("config.json", "environment.json", "metrics.csv", "summary.json")


@dataclass(frozen=True)
class Job:
    """One run of the study: what it is for and its settings."""

    label: str  # e.g. "x2 defian_s seed 1", "Table III (a)"
    config: TrainConfig
    also: tuple[str, ...] = ()  # other table columns this run stands for


def jobs(schedule: str = "cpu", data_root: str = "") -> list[Job]:
    """Every run of the study, the seed pairs first, then Tables III, IV and V (deduplicated)."""
    base = config.schedule(schedule, data_root=data_root, progress=False)
    out = [Job(f"x{PAIR_SCALE} {m} seed {s}", dataclasses.replace(base, model=m, scale=PAIR_SCALE, seed=s))
           for s in SEEDS for m in PAIR]
    by_key: dict[tuple, int] = {}
    for which in ("III", "IV", "V"):
        for label, sw in records.variants(which).items():
            switches = {**base.switches, **sw}
            key = records.attention_key(make_config("defian_s", **switches))
            name = f"Table {which} {label}"
            if key in by_key:
                i = by_key[key]
                out[i] = dataclasses.replace(out[i], also=(*out[i].also, name))
                continue
            by_key[key] = len(out)
            out.append(Job(name, dataclasses.replace(base, model="defian_s", scale=ABLATION_SCALE,
                                                     switches=switches)))
    return out


def _find(job: Job, runs: Sequence[runrecord.Run]) -> runrecord.Run | None:
    """The run of ``job`` among ``runs`` (same settings except where the data came from), if any."""
    want = {k: v for k, v in job.config.to_dict().items() if k not in ("data_root", "progress", "threads")}
    want = json.loads(json.dumps(want))  # as a run's config.json holds it: tuples are lists
    return next((r for r in runs if {k: r.config.get(k) for k in want} == want), None)


def _records(root: Path, schedule: str) -> list[runrecord.Run]:
    """Every run record of ``schedule`` under ``root``, read once (:func:`_find` matches in memory)."""
    return runrecord.find(root, schedule=schedule)


def status(root: str | Path | None = None, schedule: str = "cpu") -> pd.DataFrame:
    """One row per job: its run under ``root`` (default ``results/runs``), state and whether it is evaluated.

    The state is the run's final status ("finished", "non-finite", ...), "missing", or for a
    run without a summary "partial k/n": k of n updates logged (training now, or
    interrupted: ``defian study --run`` resumes it from its last checkpoint).
    """
    records = _records(Path(root or runrecord.runs_root(schedule)), schedule)
    rows = []
    for job in jobs(schedule):
        run = _find(job, records)
        if run is None:
            state = "missing"
        elif run.summary:
            state = run.summary.get("status", "?")
        else:
            state = f"partial {max((m['update'] for m in run.metrics), default=0)}/{job.config.updates}"
        evaluated = run is not None and (evaluate.evaluation_dir(run.dir) / "per_set.csv").is_file()
        rows.append({"job": job.label, "also": ", ".join(job.also), "state": state, "evaluated": evaluated,
                     "run": run.dir.name if run else ""})
    return pd.DataFrame(rows)


def publish(run_dir: str | Path, dest_root: str | Path | None = None) -> Path:
    """Copy a finished, evaluated run record into ``dest_root`` (``results/runs``) for the repository.

    The copy holds the record files, the evaluations and ``last.pt`` slimmed to its
    weights (:func:`defian.checkpoint.slim`: a few hundred kB instead of a few MB);
    ``best.pt`` and the optimizer state stay behind. Written to a temporary folder
    and renamed, so ``dest_root`` never holds half a record.
    """
    run_dir, dest_root = Path(run_dir), Path(dest_root or paths.RUNS)
    run = runrecord.read(run_dir)
    if (run.summary or {}).get("status") != "finished":
        raise ValueError(f"{str(run_dir)!r} has not finished (summary status "
                         f"{(run.summary or {}).get('status')!r}); nothing published")
    if not (evaluate.evaluation_dir(run_dir) / "per_set.csv").is_file():
        raise ValueError(f"{str(run_dir)!r} has no evaluation; run `defian evaluate --run {run_dir}` first")
    dest = dest_root / run_dir.name
    tmp = dest_root / f".{run_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in RECORD_FILES:
        shutil.copy2(run_dir / name, tmp / name)
    shutil.copytree(run_dir / "evaluation", tmp / "evaluation")
    checkpoint.slim(run_dir / "last.pt", tmp / "last.pt")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def _done(run: runrecord.Run | None) -> bool:
    """Whether ``run`` is a finished, evaluated record (what the study's tables read)."""
    return (run is not None and (run.summary or {}).get("status") == "finished"
            and (evaluate.evaluation_dir(run.dir) / "per_set.csv").is_file())


def _run_all(todo: Sequence[Job], root: Path, data_root: str, publish_to: Path | None,
             published: Path | None = None) -> None:
    """Train and evaluate each job of ``todo`` under ``root`` (resuming a partial run), publishing
    each to ``publish_to`` if given. A job whose record under ``published`` (``results/runs``) is
    already finished and evaluated is skipped, so a fresh ``root`` does not retrain the study."""
    from defian import train

    elsewhere = published is not None and todo and Path(root).resolve() != Path(published).resolve()
    have = _records(published, todo[0].config.schedule) if elsewhere else []
    for job in todo:
        if elsewhere and _done(_find(job, have)):
            print(f"[study] {job.label}: published in {published}, skipped", flush=True)
            continue
        print(f"[study] {time.strftime('%Y-%m-%d %H:%M:%S')} {job.label}", flush=True)
        run = train.train(dataclasses.replace(job.config, data_root=data_root), root)
        if run is None:  # not rank 0
            continue
        evaluate.evaluate_run(run.dir, data_root=data_root or None, sets=list(SETS))
        if publish_to is not None:
            print(f"[study] published {publish(run.dir, publish_to)}", flush=True)


# --- the gain and its spread ----------------------------------------------------------------------
def pairs(root: str | Path | None = None, schedule: str = "cpu") -> dict[int, tuple[runrecord.Run, runrecord.Run]]:
    """``{seed: (DeFiAN_S run, twin run)}`` for the seeds where both runs are finished and evaluated."""
    records = _records(Path(root or runrecord.runs_root(schedule)), schedule)
    by_label = {j.label: j for j in jobs(schedule)}
    out = {}
    for seed in SEEDS:
        runs = tuple(_find(by_label[f"x{PAIR_SCALE} {m} seed {seed}"], records) for m in PAIR)
        if all(_done(r) for r in runs):
            out[seed] = runs
    return out


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


def attention_activity(root: str | Path | None = None, schedule: str = "cpu", data_root: str = "") -> pd.DataFrame:
    """Does the pair's attention select anything? Per seed and DeFiAM of DeFiAN_S, at
    initialisation and after training, :func:`defian.figures.attention_activity` on the
    figure image (:func:`defian.figures.figure_image`, x2, whole image).

    The initial network is rebuilt by the function training builds it with
    (:func:`defian.train._build`: seed, preset, switches), so a DeFiAM whose last decoder stage is
    dead at both ends was dead from the start: a ReLU unit that never fires gets no
    gradient and cannot revive.

    Returns:
        Columns ``seed, DeFiAM, when ("init" | "trained"), a_rel_sd, v_sd, decoder_active, dac_gain``;
        ``.attrs["image"]`` names the image.
    """
    import torch

    from defian import figures, train
    from defian.evaluate import load_model

    image, lr, _ = figures.figure_image(data_root or None, PAIR_SCALE, 0)
    rows = []
    for seed, (run, _) in pairs(root, schedule).items():
        models = {"init": train._build(TrainConfig.from_dict(run.config), torch.device("cpu")),
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
    records_ = _records(Path(root or runrecord.runs_root(schedule)), schedule)
    by_name = {name: j for j in jobs(schedule) for name in (j.label, *j.also)}
    rows = []
    for which in ("III", "IV", "V"):
        paper, ours = records.paper_set5(which), {}
        for label in paper:
            run = _find(by_name[f"Table {which} {label}"], records_)
            if _done(run):
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


def summarize(gains: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per set: seeds, mean gain, its standard deviation across seeds (ddof 1), the
    Student-t interval of the mean at ``confidence``, and each model's own spread.

    With 3 seeds the t quantile is 4.30 at 95 %: the interval is wide, as it should be.
    """
    rows = []
    for s, g in gains.groupby("set", sort=False):
        d = g["gain"].to_numpy(float)
        n = len(d)
        sd = float(d.std(ddof=1)) if n > 1 else float("nan")
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
        rows.append({"set": s, "seeds": n, "mean gain": float(d.mean()), "sd gain": sd,
                     "ci low": float(d.mean()) - half, "ci high": float(d.mean()) + half,
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


# --- command line ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``defian study``: list, run (resumable, ``--worker I/K``) or publish the cpu study."""
    p = argparse.ArgumentParser(prog="defian study", description=__doc__.split("\n\n")[0])
    p.add_argument("--schedule", default="cpu", choices=sorted(config.SCHEDULES))
    p.add_argument("--runs-root", default="", help="where runs are trained (default: results/runs)")
    p.add_argument("--data-root", default="", help='"" -> $DEFIAN_DATA, else the embedded default data')
    p.add_argument("--worker", default="1/1", help="I/K: run every K-th job starting at the I-th (1-based)")
    p.add_argument("--publish", action="store_true", help="copy finished, evaluated runs into results/runs")
    p.add_argument("--run", action="store_true", help="train and evaluate this worker's missing jobs")
    a = p.parse_args(argv)
    try:
        i, k = (int(x) for x in a.worker.split("/"))
        if not 1 <= i <= k:
            raise ValueError
    except ValueError:
        p.error(f"--worker expects I/K with 1 <= I <= K, got {a.worker!r}")
    root = Path(a.runs_root) if a.runs_root else runrecord.runs_root(a.schedule)
    if a.run:
        _run_all(jobs(a.schedule)[i - 1::k], root, a.data_root, paths.RUNS if a.publish else None, paths.RUNS)
    elif a.publish:
        records = _records(root, a.schedule)
        for job in jobs(a.schedule):
            run = _find(job, records)
            if run and (run.summary or {}).get("status") == "finished":
                evaluate.evaluate_run(run.dir, data_root=a.data_root or None, sets=list(SETS))  # stored: a no-op
                print(f"published {publish(run.dir)}")
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(status(root, a.schedule).to_string(index=False))
    return 0
