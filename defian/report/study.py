"""The cpu study: the book's own trained numbers, what they are and how to remake them.

Until the paper's schedule is run on GPUs, the book's trained numbers come from a
scaled-down study that two CPU cores finish in a few days (the ``cpu`` schedule of
:mod:`defian.train.config`; notebook 06 explains its size), trained on the 291-image set:

1. the central claim, DeFiAN_S against its attention-free twin (the same trunk,
   Table III (a)) at x2, seeds :data:`SEEDS`: the gain and its spread;
5. the MSHF question (deviations chapter): the pair's DeFiAN_S with the filters'
   released settings, :data:`MSHF_VARIANTS` (random frozen bias; trainable), same seeds;
2.-4. Tables III, IV and V at x3 (Sec. IV-D), one seed per variant. A variant
   that appears in several tables (Table IV "w/o HF" is Table III (a)) is trained
   once (:func:`defian.report.table_runs.attention_key`).

:func:`jobs` lists the runs; ``defian study`` trains the missing ones (resumable,
split over workers), evaluates each on :data:`SETS` and, with ``--publish``, copies
finished records into ``results/runs`` with a weights-only checkpoint
(:func:`defian.train.checkpoint.slim`). What the finished runs show (the gain of item 1
with its spread across seeds, the single runs' spreads) is :mod:`defian.report.study_stats`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from typing import Any

import pandas as pd

from defian import paths
from defian.data import testsets
from defian.report import evaluate, table_runs
from defian.train import checkpoint, config, run_record
from defian.train.config import TrainConfig
from defian.nn.model import make_config

__all__ = ["ABLATION_SCALE", "CLAIMS", "MSHF_VARIANTS", "PAIR", "PAIR_SCALE", "SEEDS", "SETS", "Job", "claim", "drive",
           "find_run",
           "is_done", "jobs", "main", "my_jobs", "publish", "publish_done", "records_under", "run_state", "short_names",
           "status", "study_parser", "train_fixed", "worker_slice"]

SEEDS = (0, 1, 2)
PAIR = ("defian_s", "rcan_s")  # DeFiAN_S and its attention-free twin
PAIR_SCALE = 2
ABLATION_SCALE = 3  # Tables III-V are x3 in the paper
SETS = testsets.SETS[:3]  # Set5, Set14, BSD100: the sets a 2-core machine evaluates on
#: The MSHF settings compared with the pair's frozen, zero-bias DeFiAN_S (defian.nn.hessian.MSHF_MODES).
MSHF_VARIANTS = ("random_bias", "trainable")
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
        for label, sw in table_runs.variants(which).items():
            switches = {**base.switches, **sw}
            key = table_runs.attention_key(make_config("defian_s", **switches))
            name = f"Table {which} {label}"
            if key in by_key:
                i = by_key[key]
                out[i] = dataclasses.replace(out[i], also=(*out[i].also, name))
                continue
            by_key[key] = len(out)
            out.append(Job(name, dataclasses.replace(base, model="defian_s", scale=ABLATION_SCALE,
                                                     switches=switches)))
    for s in SEEDS:  # the MSHF question: the pair's DeFiAN_S with the released filters' other two settings
        for mode in MSHF_VARIANTS:
            cfg = dataclasses.replace(base, model=PAIR[0], scale=PAIR_SCALE, seed=s,
                                      switches={**base.switches, "mshf_mode": mode})
            out.append(Job(f"x{PAIR_SCALE} {PAIR[0]} mshf {mode} seed {s}", cfg))
    return out


def find_run(job: Job, runs: Sequence[run_record.Run]) -> run_record.Run | None:
    """The run of ``job`` among ``runs`` (same settings except where the data came from), if any."""
    want = {k: v for k, v in job.config.to_dict().items() if k not in ("data_root", "progress", "threads")}
    want = json.loads(json.dumps(want))  # as a run's config.json holds it: tuples are lists
    return next((r for r in runs if {k: r.config.get(k) for k in want} == want), None)


def records_under(root: Path, schedule: str) -> list[run_record.Run]:
    """Every run record of ``schedule`` under ``root``, read once (:func:`find_run` matches in memory)."""
    return run_record.find(root, schedule=schedule)


def status(root: str | Path | None = None, schedule: str = "cpu") -> pd.DataFrame:
    """One row per job: its run under ``root`` (default ``results/runs``), state and whether it is evaluated.

    The state is the run's final status ("finished", "non-finite", ...), "missing", or for a
    run without a summary "partial k/n": k of n updates logged (training now, or
    interrupted: ``defian study --run`` resumes it from its last checkpoint).
    """
    have = records_under(Path(root or run_record.runs_root(schedule)), schedule)
    rows = []
    for job in jobs(schedule):
        run = find_run(job, have)
        state = run_state(run, job.config.updates)
        evaluated = run is not None and (evaluate.evaluation_dir(run.dir) / "per_set.csv").is_file()
        rows.append({"job": job.label, "also": ", ".join(job.also), "state": state, "evaluated": evaluated,
                     "run": run.dir.name if run else ""})
    return pd.DataFrame(rows)


def run_state(run: run_record.Run | None, updates: int) -> str:
    """A job's state: "missing", its run's final status ("finished", "non-finite", ...), or for a run
    without a summary "partial k/n" (k of ``updates`` logged: training now, or interrupted)."""
    if run is None:
        return "missing"
    if run.summary:
        return run.summary.get("status", "?")
    return f"partial {max((m['update'] for m in run.metrics), default=0)}/{updates}"


def study_parser(prog: str, description: str, runs_default: str, limit: bool = False) -> argparse.ArgumentParser:
    """The options every study's command shares (this one's, ``defian lfr-study``, ``defian ikm-study``):
    ``--schedule --runs-root --data-root --worker --run --publish`` (and ``--limit`` when asked)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--schedule", default="cpu", choices=sorted(config.SCHEDULES))
    p.add_argument("--runs-root", default="", help=f"where runs are trained (default: {runs_default})")
    p.add_argument("--data-root", default="", help='"" -> $DEFIAN_DATA, else the embedded default data')
    p.add_argument("--worker", default="1/1", type=_worker_text,
                   help="I/K: run every K-th job starting at the I-th (1-based)")
    p.add_argument("--run", action="store_true", help="train and evaluate this worker's missing jobs")
    p.add_argument("--publish", action="store_true", help=f"copy finished, evaluated runs into {runs_default}")
    p.add_argument("--only", nargs="+", metavar="TEXT", help="with --run: just the jobs whose label contains one of "
                   "these texts, in the order given (e.g. --only 'x3 defian_s seed 1' 'defian_lfr_s seed 1')")
    if limit:
        p.add_argument("--limit", type=int, default=None, help="evaluate on the first N images per set (a check; "
                       "such runs are never published)")
    return p


def _worker_text(text: str) -> str:
    """``--worker``'s check at parse time: ``I/K`` with ``1 <= I <= K``."""
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        i, k = 0, 0
    if not 1 <= i <= k:
        raise argparse.ArgumentTypeError(f"expects I/K with 1 <= I <= K, got {text!r}")
    return text


def worker_slice(p: argparse.ArgumentParser, text: str) -> slice:
    """``--worker I/K`` as the slice of the job list that worker runs (every K-th from the I-th)."""
    try:
        i, k = (int(x) for x in text.split("/"))
        if not 1 <= i <= k:
            raise ValueError
    except ValueError:
        p.error(f"--worker expects I/K with 1 <= I <= K, got {text!r}")
    return slice(i - 1, None, k)


def my_jobs(p: argparse.ArgumentParser, a: argparse.Namespace, todo: Sequence[Any]) -> list[Any]:
    """The jobs of ``todo`` (anything with a ``label``) this worker runs: its ``--worker I/K`` slice, then
    with ``--only`` the jobs whose label contains one of those texts, in their order (a text that matches
    no job is an error naming it)."""
    mine = list(todo)[worker_slice(p, a.worker)]
    if not getattr(a, "only", None):
        return mine
    out: list[Any] = []
    for text in a.only:
        hits = [job for job in mine if text in job.label]
        if not hits:
            p.error(f"--only {text!r} matches no job of this worker; labels: {', '.join(j.label for j in mine)}")
        out += [job for job in hits if job not in out]
    return out


def short_names(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Run directory names cut to what differs: the ``_``-separated parts of two or more
    characters that every (non-empty) name has are removed, and returned as the second
    item, in the order of the first name. One-character parts stay (``defian_s``,
    ``rcan_s``: the model's name stays whole)."""
    parts = [n.split("_") for n in names if n]
    shared = [p for p in parts[0] if len(p) > 1 and all(p in q for q in parts)] if len(parts) > 1 else []
    short = ["_".join(p for p in n.split("_") if p not in shared) if n else "" for n in names]
    return short, shared


def publish(run_dir: str | Path, dest_root: str | Path | None = None) -> Path:
    """Copy a finished, evaluated run record into ``dest_root`` (``results/runs``) for the repository.

    The copy holds the record files, the evaluations and ``last.pt`` slimmed to its
    weights (:func:`defian.train.checkpoint.slim`: a few hundred kB instead of a few MB);
    ``best.pt`` and the optimizer state stay behind. Written to a temporary folder
    and renamed, so ``dest_root`` never holds half a record. A record already published with the
    same record files and evaluation, byte for byte, is left as it is.
    """
    run_dir, dest_root = Path(run_dir), Path(dest_root or paths.RUNS)
    run = run_record.read(run_dir)
    if (run.summary or {}).get("status") != "finished":
        raise ValueError(f"{str(run_dir)!r} has not finished (summary status "
                         f"{(run.summary or {}).get('status')!r}); nothing published")
    if not (evaluate.evaluation_dir(run_dir) / "per_set.csv").is_file():
        raise ValueError(f"{str(run_dir)!r} has no evaluation; run `defian evaluate --run {run_dir}` first")
    dest = dest_root / run_dir.name
    if _same_record(run_dir, dest):
        return dest
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


def _same_record(src: Path, dest: Path) -> bool:
    """Whether ``dest`` holds ``src``'s record files and evaluation unchanged (and a checkpoint)."""
    def files(root: Path) -> list[Path]:
        return [*(root / n for n in RECORD_FILES), *sorted((root / "evaluation").rglob("*"))]

    if not (dest / "last.pt").is_file():
        return False
    mine, theirs = files(src), files(dest)
    if [p.relative_to(src) for p in mine] != [p.relative_to(dest) for p in theirs]:
        return False
    return all(a.is_dir() == b.is_dir() and (a.is_dir() or (b.is_file() and a.read_bytes() == b.read_bytes()))
               for a, b in zip(mine, theirs))


def is_done(run: run_record.Run | None) -> bool:
    """Whether ``run`` is a finished, evaluated record (what the study's tables read)."""
    return (run is not None and (run.summary or {}).get("status") == "finished"
            and (evaluate.evaluation_dir(run.dir) / "per_set.csv").is_file())


#: Under a runs root: one lock file per job that a worker is running (:func:`claim`).
CLAIMS = ".claims"


@contextlib.contextmanager
def claim(root: str | os.PathLike[str], label: str) -> Iterator[bool]:
    """Hold the job ``label`` under ``root`` for this process while the block runs.

    Yields True when this process holds it (a lock file ``<root>/.claims/<label>.lock`` naming
    the process, created exclusively and removed afterwards), False when another process does.
    A lock left by a process that died on this machine is taken over; one written on another
    machine is respected (its process cannot be checked from here: delete the file by hand).
    """
    folder = Path(root) / CLAIMS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", label) + ".lock")
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):  # a stale lock is removed once, then the exclusive create is tried again
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _holder_alive(path):
                yield False
                return
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me + "\n")
        try:
            yield True
        finally:
            path.unlink(missing_ok=True)
        return
    yield False


def _holder_alive(path: Path) -> bool:
    """Whether the process a claim file names still runs (on another machine: assumed so)."""
    try:
        pid, host = path.read_text().split()[:2]
    except (OSError, ValueError):
        return True  # being written this instant, or unreadable: leave it alone
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def drive(todo: Sequence[Any], tag: str, done: Callable[[Any], run_record.Run | None],
          train_and_evaluate: Callable[[Any], run_record.Run | None], publish_to: Path | None = None,
          claims: Path | None = None) -> None:
    """The ``--run`` loop of every study (this one, ``defian ikm-study``, ``defian lfr-study``).

    A job (anything with a ``label``) for which ``done(job)`` returns a record is skipped;
    every other is trained (resuming a partial run) and evaluated by ``train_and_evaluate(job)``,
    which returns its record (None on a rank other than 0), and then copied into ``publish_to``
    (:func:`publish`) unless that is where it was trained. With ``claims`` (the runs root), each
    job runs under :func:`claim`, and a job another worker holds is skipped: any number of
    workers given the same jobs share them out as they go (``--worker 1/1`` each), besides the
    fixed slices of ``--worker I/K``.
    """
    for job in todo:
        found = done(job)
        if found is not None:
            print(f"[{tag}] {job.label}: done ({found.dir}), skipped", flush=True)
            continue
        with claim(claims, job.label) if claims is not None else contextlib.nullcontext(True) as mine:
            if not mine:
                print(f"[{tag}] {job.label}: another worker is running it, skipped", flush=True)
                continue
            print(f"[{tag}] {time.strftime('%Y-%m-%d %H:%M:%S')} {job.label}", flush=True)
            run = train_and_evaluate(job)
            if run is not None and publish_to is not None and run.dir.parent.resolve() != Path(publish_to).resolve():
                print(f"[{tag}] {_publish_line(run, publish_to)}", flush=True)


def train_fixed(root: Path, data_root: str, sets: Sequence[str] = SETS,
                limit: int | None = None) -> Callable[[Any], run_record.Run | None]:
    """The :func:`drive` step of a fixed-scale job (anything with a ``TrainConfig`` as ``config``):
    :func:`defian.train.loop.train` under ``root`` (resuming), then the last checkpoint scored on
    ``sets`` (the first ``limit`` images of each: a check) by :func:`defian.report.evaluate.evaluate_run`."""
    from defian.train import loop

    def step(job: Any) -> run_record.Run | None:
        run = loop.train(dataclasses.replace(job.config, data_root=data_root), root)
        if run is not None:  # rank 0
            evaluate.evaluate_run(run.dir, data_root=data_root or None, sets=list(sets), limit=limit)
        return run

    return step


def publish_done(found: Sequence[run_record.Run | None], dest: Path) -> None:
    """``--publish`` without ``--run``: copy each finished, evaluated record of ``found`` (None: a job
    without one) into ``dest``, unless it is there already."""
    for run in found:
        if run is not None and run.dir.parent.resolve() != Path(dest).resolve():
            print(_publish_line(run, dest))


def _publish_line(run: run_record.Run, dest: Path) -> str:
    """Publish ``run`` into ``dest`` and say what happened: "published" or "unchanged"."""
    same = _same_record(run.dir, Path(dest) / run.dir.name)
    return f"{'unchanged' if same else 'published'} {publish(run.dir, dest)}"


def _run_all(todo: Sequence[Job], root: Path, data_root: str, publish_to: Path | None,
             published: Path | None = None) -> None:
    """Train and evaluate each job of ``todo`` under ``root`` (:func:`drive`), publishing each to
    ``publish_to`` if given. A job whose record under ``published`` (``results/runs``) is already
    finished and evaluated is skipped, so a fresh ``root`` does not retrain the study."""
    elsewhere = published is not None and todo and Path(root).resolve() != Path(published).resolve()
    have = records_under(published, todo[0].config.schedule) if elsewhere else []

    def done(job: Job) -> run_record.Run | None:
        run = find_run(job, have)
        return run if is_done(run) else None

    drive(todo, "study", done, train_fixed(root, data_root), publish_to, claims=Path(root))


# --- command line ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``defian study``: list, run (resumable, ``--worker I/K``) or publish the cpu study."""
    p = study_parser("defian study", __doc__.split("\n\n")[0], "results/runs")
    a = p.parse_args(argv)
    root = Path(a.runs_root) if a.runs_root else run_record.runs_root(a.schedule)
    if a.run:
        _run_all(my_jobs(p, a, jobs(a.schedule)), root, a.data_root, paths.RUNS if a.publish else None, paths.RUNS)
    elif a.publish:
        have = records_under(root, a.schedule)
        found = [run for run in (find_run(job, have) for job in jobs(a.schedule))
                 if run is not None and (run.summary or {}).get("status") == "finished"]
        for run in found:  # a finished run not yet scored is scored first (stored evaluations: a no-op)
            evaluate.evaluate_run(run.dir, data_root=a.data_root or None, sets=list(SETS))
        publish_done(found, paths.RUNS)
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(status(root, a.schedule).to_string(index=False))
    return 0
