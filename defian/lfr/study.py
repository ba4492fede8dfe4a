"""The reduced LFR study (Part III): one DeFiAN at every scale, against the fixed-scale cpu study.

Same 291 training images and, by construction, the same budget per run as the cpu
study (:func:`defian.lfr.train.schedule` copies the fixed-scale ``cpu`` schedule:
N = 3 DeFiAMs of M = 5 RCABs, C = 32, batch 16, 24x24 LR patches, 6,000 updates,
lr 2e-4 halved every 2,500). The jobs (:func:`jobs`):

1. the central comparison: DeFiAN-LFR (DeFiAM trunk with its attention branch,
   ASDN's pre-upsampled input, L = 11 levels in (1, 2]), seeds :data:`SEEDS`, against
   the fixed-scale DeFiAN_S at x2 (the cpu study's three committed runs) and x3
   (seed 0 is the cpu study's Table III (h) run; seeds 1 and 2 are trained here);
2. with and without the attention branch: the same LFR model on the attention-free
   trunk (RCAN's FEMs, Fig. 10 (a)), the same seeds (paired: at one seed both draw
   the same levels and patches); the cpu study's x2 twin runs give the fixed-scale gain;
3. the slides' Table 3 (recursive against direct deployment) at x2, x3, x4: "direct"
   is the fixed-scale DeFiAN_S of that scale (x4: one run trained here), "recursive"
   the LFR models deployed as two equal steps (``equal2``), next to the slides' own
   rule (``largest_first``); evaluation only, no extra LFR training;
4. the post-upsampling variant (trunk at LR, features resampled; seed 0): cheaper per
   update; with the slides' 1x1 image branches its output is the bicubic upsampling
   of an LR image (the 1x1 convolution commutes with the resampling).

Every LFR run is evaluated on :func:`eval_grid` (:mod:`defian.lfr.evaluate`), every
fixed-scale run as the cpu study's (:func:`defian.report.evaluate.evaluate_run`).
Records go to ``results/runs/lfr/`` (smoke: ``_build/runs/lfr/``); the cpu study's
committed records in ``results/runs/`` satisfy the jobs they match (:func:`find_run`).
``python -m defian.lfr.study --run [--worker I/K] [--publish]`` trains the missing ones.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from defian import paths
from defian.lfr.evaluate import evaluate_lfr_run, read_lfr_evaluation
from defian.lfr.train import RUNTIME_FIELDS, LFRTrainConfig
from defian.lfr.train import schedule as lfr_schedule
from defian.lfr.train import train as lfr_train
from defian.nn.model import make_config
from defian.report import evaluate
from defian.report import study as cpu_study
from defian.train import config, run_record
from defian.train.config import TrainConfig

__all__ = ["CURVE_SCALES", "SEEDS", "SETS", "Job", "eval_grid", "find_run", "is_done", "jobs", "lfr_root", "main",
           "records", "status"]

SEEDS = (0, 1, 2)
SETS = cpu_study.SETS  # Set5, Set14, BSD100, as the cpu study
#: The PSNR-vs-scale curve on Set5: (1, 4] in steps of 1/4 (numerators at most 15: small crops).
CURVE_SCALES = tuple(1 + k / 4 for k in range(1, 13))
NON_INTEGER = (1.5, 2.5, 3.5)
LFR_MODELS = ("defian_lfr_s", "rcan_lfr_s")  # with and without the attention branch


@dataclass(frozen=True)
class Job:
    """One run of the study: what it is for, its settings, and which trainer makes it."""

    label: str  # e.g. "LFR defian_lfr_s seed 1", "fixed x3 defian_s seed 2"
    config: LFRTrainConfig | TrainConfig

    @property
    def kind(self) -> str:
        """``"lfr"`` or ``"fixed"``."""
        return "lfr" if isinstance(self.config, LFRTrainConfig) else "fixed"


def lfr_root(schedule: str = "cpu") -> Path:
    """Where this study's records go: ``results/runs/lfr`` (smoke: ``_build/runs/lfr``)."""
    return run_record.runs_root(schedule) / "lfr"


def jobs(schedule: str = "cpu", data_root: str = "") -> list[Job]:
    """Every run of the study: the LFR models, then the fixed-scale runs it compares with."""
    out = []
    for seed in SEEDS:
        for m in LFR_MODELS:
            cfg = lfr_schedule(schedule, model=m, seed=seed, data_root=data_root, progress=False)
            out.append(Job(f"LFR {m} seed {seed}", cfg))
    out.append(Job("LFR defian_lfr_s post seed 0", lfr_schedule(schedule, model="defian_lfr_s", seed=0,
                                                                data_root=data_root, progress=False,
                                                                switches={"upsampling": "post"})))
    base = config.schedule(schedule, data_root=data_root, progress=False)
    fixed = ((2, ("defian_s", "rcan_s"), SEEDS), (3, ("defian_s",), SEEDS), (4, ("defian_s",), (0,)))
    for scale, models, seeds in fixed:
        for seed in seeds:
            for m in models:
                out.append(Job(f"fixed x{scale} {m} seed {seed}",
                               dataclasses.replace(base, model=m, scale=scale, seed=seed)))
    return out


def eval_grid(sets: Sequence[str] = SETS) -> list[tuple[str, float, str]]:
    """(set, scale, rule) triples an LFR run is evaluated on.

    Set5: the curve over (1, 4] (slides' rule) and Table 3's recursive x2, x3, x4;
    Set14: x1.5 to x4 in halves and Table 3; BSD100 (the slow set): the central x2, x3.
    """
    grid = [(sets[0], s, "largest_first") for s in CURVE_SCALES]
    if len(sets) > 1:
        grid += [(sets[1], s, "largest_first") for s in (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)]
    grid += [(s, float(x), "largest_first") for s in sets[2:] for x in (2, 3)]
    grid += [(s, float(x), "equal2") for s in sets[:2] for x in (2, 3, 4)]
    return grid


def records(roots: Sequence[Path], schedule: str) -> list[run_record.Run]:
    """Every run record of ``schedule`` directly under each of ``roots`` (absent roots are skipped)."""
    return [r for root in roots for r in run_record.find(root, schedule=schedule)]


def _matches(job: Job, run: run_record.Run) -> bool:
    want, have = job.config.to_dict(), run.config
    if job.kind == "lfr":
        if have.get("model") != want["model"]:
            return False
        return all(have.get(k) == v for k, v in want.items() if k not in RUNTIME_FIELDS)
    if have.get("model") != want["model"] or "val_scale" in have:
        return False
    have = {**TrainConfig().to_dict(), **have}  # a field added later reads as its default in older records
    ignore = ("data_root", "progress", "threads", "switches")
    if any(have.get(k) != v for k, v in json.loads(json.dumps(want)).items() if k not in ignore):
        return False
    try:  # same network whatever the switch spelling (the cpu study's Table III (h) names every part)
        return make_config(want["model"], **want["switches"]) == make_config(have["model"], **have["switches"])
    except (ValueError, TypeError):
        return False


def find_run(job: Job, runs: Sequence[run_record.Run]) -> run_record.Run | None:
    """The record of ``job`` among ``runs``: a finished and evaluated one first, else any."""
    hits = [r for r in runs if _matches(job, r)]
    return next((r for r in hits if is_done(job, r)), hits[0] if hits else None)


def is_done(job: Job, run: run_record.Run | None) -> bool:
    """Finished and evaluated (LFR: every triple of :func:`eval_grid`; fixed: as the cpu study)."""
    if run is None or (run.summary or {}).get("status") != "finished":
        return False
    folder = evaluate.evaluation_dir(run.dir)
    if job.kind == "fixed":
        return (folder / "per_set.csv").is_file()
    if not (folder / "per_image.csv").is_file():
        return False
    have = read_lfr_evaluation(folder)[0]
    return set(eval_grid()) <= set(zip(have["set"], have["scale"].astype(float), have["rule"], strict=True))


def status(schedule: str = "cpu", roots: Sequence[Path] | None = None) -> pd.DataFrame:
    """One row per job: its state ("finished", "missing", "partial k/n"), evaluated, and where its record is."""
    roots = list(roots) if roots is not None else [lfr_root(schedule), run_record.runs_root(schedule)]
    have = records(roots, schedule)
    rows = []
    for job in jobs(schedule):
        run = find_run(job, have)
        rows.append({"job": job.label, "kind": job.kind, "state": cpu_study.run_state(run, job.config.updates),
                     "evaluated": is_done(job, run),
                     "run": _shown(run.dir) if run else ""})
    return pd.DataFrame(rows)


def _shown(folder: Path) -> str:
    """A record's folder relative to the repository (absolute when elsewhere)."""
    try:
        return str(folder.resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(folder)


def _run_jobs(todo: Sequence[Job], root: Path, data_root: str, publish_to: Path | None, limit: int | None) -> None:
    """Train and evaluate each job of ``todo`` under ``root`` unless a finished, evaluated record exists
    (:func:`defian.report.study.drive`)."""
    if not todo:
        return
    schedule = todo[0].config.schedule
    have = records([root, lfr_root(schedule), run_record.runs_root(schedule)], schedule)

    def done(job: Job) -> run_record.Run | None:
        run = find_run(job, have)
        return run if is_done(job, run) else None

    fixed = cpu_study.train_fixed(root, data_root, SETS, limit)

    def train_and_evaluate(job: Job) -> run_record.Run | None:
        if job.kind != "lfr":
            return fixed(job)
        run = lfr_train(dataclasses.replace(job.config, data_root=data_root), root)
        evaluate_lfr_run(run.dir, eval_grid(), data_root=data_root or None, limit=limit)
        return run

    cpu_study.drive(todo, "lfr-study", done, train_and_evaluate, publish_to if limit is None else None, claims=root)


def main(argv: list[str] | None = None) -> int:
    """``python -m defian.lfr.study``: list, run (resumable, ``--worker I/K``) or publish the LFR study."""
    p = cpu_study.study_parser("defian lfr-study", __doc__.split("\n\n")[0], "results/runs/lfr", limit=True)
    a = p.parse_args(argv)
    root = Path(a.runs_root) if a.runs_root else lfr_root(a.schedule)
    dest = paths.RUNS / "lfr" if a.publish else None
    if a.run:
        _run_jobs(cpu_study.my_jobs(p, a, jobs(a.schedule)), root, a.data_root, dest, a.limit)
    elif a.publish:
        have = records([root], a.schedule)
        todo = jobs(a.schedule)
        cpu_study.publish_done([r if is_done(j, r) else None for j, r in zip(todo, (find_run(j, have) for j in todo))],
                               dest)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(status(a.schedule, [root, lfr_root(a.schedule), run_record.runs_root(a.schedule)]).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
