"""The reduced IKM study (Part II): IKM against vanilla, CA and SA, and IsO against GO, at cpu scale.

Modelled on the DeFiAN cpu study (:mod:`defian.report.study`): the same trainer
(:func:`defian.train.loop.train`, the model built through the registry of
:mod:`defian.ikm.trainable`), the same ``cpu`` schedule (291 training images, batch 16,
24 x 24 LR patches, 6,000 updates, lr 2e-4 halved every 2,500, x2), the same
evaluation (Set5, Set14, BSD100, paper protocol). The backbone is ``uhdn_cpu``: one
U-HDB of four hourglass dense units (depths 6, 5, 5, 6), C0 = 32, G = 12: the Table III
U-HDB backbone shrunk as the cpu study shrinks DeFiAN_S.

Cost: ``defian ikm-study --time --record`` measures the per-update CPU time of each kind of
run against the cpu study's DeFiAN_S (one thread; :func:`time_updates`) and writes it to
:data:`COST_RECORD` with the machine it ran on; :func:`measured_cost` and :func:`cost` read that
record (notebook 17 glues from it), so no ratio is typed here.

The jobs (:func:`jobs`):

1. IKM against vanilla convolution, seeds :data:`SEEDS` (paired: at one seed both
   draw the same patches in the same order and start from the same generator state),
   the IKM paper's Table III claim on its U-HDB backbone; the seed pairs measure the
   noise of one run (:func:`noise`);
2. CA and SA (the paper's Table III columns), seed 0: single runs, read against that noise;
3. IsO against GO (the paper's Fig. 10) at :data:`BATCHES` (16 and 4): GO at batch 16 and
   both at batch 4, seed 0; IsO at batch 16, seed 0, is job 1's IKM run (``also``).

The jobs that differ only in the convolution type differ in nothing but the ``attention``
switch (and GO runs in nothing but ``optimization``, batch pairs in nothing but ``batch``;
``tests/ikm/test_ikm_study.py``). Records go to ``results/runs/ikm/`` (smoke:
``_build/runs/ikm/``); ``python -m defian.ikm.study --run [--worker I/K] [--runs-root DIR]``
trains the missing ones, resumably, and evaluates them; ``--publish`` copies finished,
evaluated records into ``results/runs/ikm/`` (weights-only checkpoints, whatever the schedule, as
the LFR study's ``--publish``).
:func:`results`, :func:`paired_gains` and :func:`noise` read them for notebook 17.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from defian import paths, provenance
from defian.atomic import write_atomic
from defian.ikm import trainable
from defian.ikm.attention import ATTENTIONS
from defian.ikm.operator import OPTIMIZATIONS, IKMError
from defian.report import evaluate, study_stats
from defian.report import study as cpu_study
from defian.train import config, run_record
from defian.train.config import TrainConfig

__all__ = ["BATCHES", "COMPARED", "MODEL", "SCALE", "SEEDS", "SETS", "SMOKE_SWITCHES", "Job", "cost", "find_run",
           "ikm_root", "is_done", "jobs", "main", "noise", "paired_gains", "records", "results", "status"]

MODEL = "uhdn_cpu"  # defian.ikm.trainable.PRESETS
SCALE = 2  # the paper's Table III and Fig. 10 are x2
SEEDS = (0, 1, 2)
SETS = cpu_study.SETS  # Set5, Set14, BSD100
#: The convolution types compared with vanilla at seed 0 only (the paper's Table III columns).
COMPARED = ("ca", "sa")
#: The sizes of the ``smoke`` schedule's U-HDN (the CI's seconds-long runs).
SMOKE_SWITCHES: dict[str, Any] = {"depths": [2, 2], "channels": 8, "growth": 4}
#: The kinds of run whose per-update cost :func:`time_updates` measures: (attention, optimization, batch).
COST_KINDS = (("vanilla", "iso", 16), ("ca", "iso", 16), ("sa", "iso", 16), ("ikm", "iso", 16), ("ikm", "go", 16),
              ("ikm", "iso", 4), ("ikm", "go", 4))
#: The committed measurement of those costs (``--time --record``).
COST_RECORD = paths.RESULTS / "bench" / "ikm_study_cost.csv"


@dataclass(frozen=True)
class Job:
    """One run of the study: what it is for and its settings."""

    label: str  # e.g. "x2 ikm seed 1", "x2 ikm go B4 seed 0"
    config: TrainConfig
    also: tuple[str, ...] = ()  # other labels this run stands for (IsO B16 = the IKM seed-0 run)

    @property
    def attention(self) -> str:
        """The convolution type (``vanilla``, ``ca``, ``sa``, ``ikm``)."""
        return self.config.switches["attention"]

    @property
    def optimization(self) -> str:
        """``iso`` or ``go`` (IKM runs; the others compute the same either way)."""
        return self.config.switches.get("optimization", "iso")


def ikm_root(schedule: str = "cpu") -> Path:
    """Where this study's records go: ``results/runs/ikm`` (smoke: ``_build/runs/ikm``)."""
    return run_record.runs_root(schedule) / "ikm"


def batches(schedule: str = "cpu") -> tuple[int, int]:
    """The two batch sizes of the IsO-GO comparison: the schedule's and a quarter of it (at least 2)."""
    b = config.SCHEDULES[schedule].batch
    return b, max(2, b // 4)


BATCHES = batches("cpu")


def _switches(schedule: str, attention: str, optimization: str | None = None) -> dict[str, Any]:
    if attention not in ATTENTIONS:
        raise IKMError(f"attention={attention!r} is not one of {ATTENTIONS}")
    if optimization is not None and optimization not in OPTIMIZATIONS:
        raise IKMError(f"optimization={optimization!r} is not one of {OPTIMIZATIONS}")
    sw: dict[str, Any] = dict(SMOKE_SWITCHES) if schedule == "smoke" else {}
    sw["attention"] = attention
    if optimization is not None:
        sw["optimization"] = optimization
    trainable.model_config(MODEL, **sw)  # every name and value checked now, not at the first update
    return sw


def job(schedule: str, attention: str, seed: int = 0, optimization: str | None = None, batch: int | None = None,
        data_root: str = "") -> Job:
    """One job: ``attention`` at ``seed`` (``optimization`` and ``batch`` for the IsO-GO runs).

    Raises:
        IKMError: an unknown attention or optimization name (the message lists the valid ones).
    """
    base = config.schedule(schedule, data_root=data_root, progress=False)
    cfg = dataclasses.replace(base, model=MODEL, scale=SCALE, seed=seed, batch=batch or base.batch,
                              switches=_switches(schedule, attention, optimization))
    label = f"x{SCALE} {attention}" + (f" {optimization} B{cfg.batch}" if optimization else "") + f" seed {seed}"
    return Job(label, cfg)


def jobs(schedule: str = "cpu", data_root: str = "") -> list[Job]:
    """Every run of the study: the vanilla-IKM seed pairs, CA and SA, then the IsO-GO runs."""
    big, small = batches(schedule)
    out = [job(schedule, a, s, data_root=data_root) for s in SEEDS for a in ("vanilla", "ikm")]
    out[1] = dataclasses.replace(out[1], also=(f"x{SCALE} ikm iso B{big} seed 0",))
    out += [job(schedule, a, 0, data_root=data_root) for a in COMPARED]
    out.append(job(schedule, "ikm", 0, "go", big, data_root))
    out += [job(schedule, "ikm", 0, o, small, data_root) for o in OPTIMIZATIONS]
    return out


def measured_cost(path: str | Path = COST_RECORD) -> dict[tuple[str, str, int], float]:
    """Per-update cost of each of :data:`COST_KINDS`, DeFiAN_S of the cpu schedule = 1, from the record.

    Raises:
        FileNotFoundError: no record (``defian ikm-study --time --record`` writes it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no cost record at {str(path)!r}; run `defian ikm-study --time --record`")
    ratios = pd.read_csv(path).set_index("kind")["ratio"]
    return {kind: float(ratios[_kind_name(*kind)]) for kind in COST_KINDS}


def cost(ratios: dict[tuple[str, str, int], float] | None = None) -> float:
    """The cpu study's cost in DeFiAN_S runs of the cpu schedule (``ratios``: :func:`measured_cost`)."""
    ratios = measured_cost() if ratios is None else ratios
    return float(sum(ratios[(j.attention, j.optimization, j.config.batch)] for j in jobs("cpu")))


def _kind_name(attention: str, optimization: str, batch: int) -> str:
    return f"{attention} {optimization} B{batch}"


# --- records ---------------------------------------------------------------------------------------
def records(roots: Sequence[Path], schedule: str) -> list[run_record.Run]:
    """Every record of ``schedule`` and of :data:`MODEL` directly under each of ``roots`` (absent ones skipped)."""
    return [r for root in roots for r in run_record.find(root, schedule=schedule, model=MODEL)]


def _matches(job: Job, run: run_record.Run) -> bool:
    """Same settings except where and how fast it ran; switches compared as the network they build."""
    want = json.loads(json.dumps(job.config.to_dict()))
    have = {**TrainConfig().to_dict(), **run.config}  # a field added later reads as its default
    ignore = ("data_root", "progress", "threads", "switches")
    if any(have.get(k) != v for k, v in want.items() if k not in ignore):
        return False
    try:
        return trainable.model_config(MODEL, **want["switches"]) == trainable.model_config(MODEL, **have["switches"])
    except (ValueError, TypeError):
        return False


def is_done(run: run_record.Run | None) -> bool:
    """Finished and evaluated (``evaluation/last_paper/per_set.csv``), as the cpu study's."""
    return cpu_study.is_done(run)


def find_run(job: Job, runs: Sequence[run_record.Run]) -> run_record.Run | None:
    """The record of ``job`` among ``runs``: a finished and evaluated one first, else any."""
    hits = [r for r in runs if _matches(job, r)]
    return next((r for r in hits if is_done(r)), hits[0] if hits else None)


def _roots(schedule: str, roots: Sequence[Path] | None) -> list[Path]:
    return list(roots) if roots is not None else [ikm_root(schedule)]


def status(schedule: str = "cpu", roots: Sequence[Path] | None = None) -> pd.DataFrame:
    """One row per job: its state ("finished", "missing", "partial k/n"), evaluated, and its record's folder."""
    have = records(_roots(schedule, roots), schedule)
    rows = []
    for j in jobs(schedule):
        run = find_run(j, have)
        rows.append({"job": j.label, "also": ", ".join(j.also), "state": cpu_study.run_state(run, j.config.updates),
                     "evaluated": is_done(run),
                     "run": run.dir.name if run else ""})
    return pd.DataFrame(rows)


def results(schedule: str = "cpu", roots: Sequence[Path] | None = None) -> pd.DataFrame:
    """PSNR/SSIM (x2, paper protocol) of every finished, evaluated job: one row per job and set.

    Columns ``job, attention, optimization, batch, seed, set, psnr, ssim, minutes, params``.
    """
    have = records(_roots(schedule, roots), schedule)
    rows = []
    for j in jobs(schedule):
        run = find_run(j, have)
        if not is_done(run):
            continue
        ev = evaluate.read_evaluation(evaluate.evaluation_dir(run.dir))
        for s in SETS:
            psnr, ssim = ev.score(s, SCALE), ev.score(s, SCALE, "ssim")
            if psnr is not None:
                rows.append({"job": j.label, "attention": j.attention, "optimization": j.optimization,
                             "batch": j.config.batch, "seed": j.config.seed, "set": s, "psnr": psnr, "ssim": ssim,
                             "minutes": run.wall_s / 60, "params": (run.summary or {}).get("params")})
    cols = ["job", "attention", "optimization", "batch", "seed", "set", "psnr", "ssim", "minutes", "params"]
    return pd.DataFrame(rows, columns=cols)


def paired_gains(res: pd.DataFrame, a: str = "ikm", b: str = "vanilla", confidence: float = 0.95) -> pd.DataFrame:
    """Per set: ``a`` minus ``b`` paired by seed (batch 16, IsO), its mean, sd and Student-t interval.

    Columns ``set, seeds, mean gain, sd gain, ci low, ci high, verdict``; with one seed the
    sd and the interval are NaN and the verdict says so.
    """
    rows = []
    main_runs = res[(res["batch"] == res["batch"].max()) & (res["optimization"] == "iso")] if len(res) else res
    for s in SETS:
        t = main_runs[main_runs["set"] == s].pivot_table(index="seed", columns="attention", values="psnr")
        if a not in t or b not in t:
            continue
        d = (t[a] - t[b]).dropna().to_numpy(float)
        if not len(d):
            continue
        row = {"set": s, **study_stats.t_interval(d, confidence)}
        rows.append({**row, "verdict": study_stats.verdict(pd.Series(row))})
    return pd.DataFrame(rows, columns=["set", "seeds", "mean gain", "sd gain", "ci low", "ci high", "verdict"])


def noise(res: pd.DataFrame, set_name: str = "Set5") -> float:
    """The noise of one run on ``set_name`` (dB): the sd over seeds of the IKM-vanilla paired gain.

    Two single runs differ by their true difference plus noise of about this size (for
    runs at the same seed); a single-run difference below 2 sd is no ranking. NaN with
    fewer than two seeds.
    """
    g = paired_gains(res)
    row = g[g["set"] == set_name]
    return float(row["sd gain"].iloc[0]) if len(row) else float("nan")


# --- running ---------------------------------------------------------------------------------------
def _run_jobs(todo: Sequence[Job], root: Path, data_root: str, publish_to: Path | None, limit: int | None) -> None:
    """Train (resuming a partial run) and evaluate each job of ``todo`` under ``root``, unless a finished,
    evaluated record already exists under ``root`` or ``results/runs/ikm`` (:func:`defian.report.study.drive`)."""
    if not todo:
        return
    schedule = todo[0].config.schedule
    have = records(list(dict.fromkeys([root, ikm_root(schedule)])), schedule)

    def done(job: Job) -> run_record.Run | None:
        run = find_run(job, have)
        return run if is_done(run) else None

    step = cpu_study.train_fixed(root, data_root, SETS, limit)
    cpu_study.drive(todo, "ikm-study", done, step, publish_to if limit is None else None, claims=root)


def time_updates(rounds: int = 3, n: int = 4, schedule: str = "cpu") -> pd.DataFrame:
    """Per-update CPU time of each kind of run against the cpu study's DeFiAN_S, on one thread.

    Random patches of the schedule's size, the trainer's own model construction
    (:func:`defian.train.loop.initial_model`, channels-last), forward, Eq. (23), backward and
    the Adam step; ``rounds`` rounds in alternating order (ABBA) of ``n`` updates each,
    after two warm-up updates; the median per kind. Columns ``kind, params, ms, ratio``.
    """
    import torch

    from defian.train import loop

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base = config.schedule(schedule, progress=False)
        kinds = {"defian_s": dataclasses.replace(base, model="defian_s")}
        for (att, opt, batch) in COST_KINDS:
            j = job(schedule, att, 0, opt if att == "ikm" else None, batch if schedule == "cpu" else None)
            kinds[_kind_name(att, opt, batch)] = j.config
        steps, sizes = {}, {}
        for name, cfg in kinds.items():
            net = loop.initial_model(cfg, torch.device("cpu"))
            params = list(net.parameters())
            opt_, scaler = loop.adam(params, cfg.lr), loop.grad_scaler("cpu", "fp32")
            g = torch.Generator().manual_seed(0)
            lr_b = torch.rand(cfg.batch, 3, cfg.patch, cfg.patch, generator=g).contiguous(
                memory_format=torch.channels_last)
            hr_b = torch.rand(cfg.batch, 3, cfg.scale * cfg.patch, cfg.scale * cfg.patch, generator=g)

            def step(net=net, opt_=opt_, scaler=scaler, params=params, lr_b=lr_b, hr_b=hr_b) -> None:
                loop.forward_backward(net, opt_, scaler, params, lr_b, hr_b, None, 0.0)
                scaler.step(opt_)
                scaler.update()

            step(), step()
            steps[name], sizes[name] = step, sum(p.numel() for p in params)
        times: dict[str, list[float]] = {k: [] for k in steps}
        for r in range(rounds):
            for k in (list(steps) if r % 2 == 0 else list(reversed(steps))):
                t0 = time.process_time()
                for _ in range(n):
                    steps[k]()
                times[k].append((time.process_time() - t0) / n)
    finally:
        torch.set_num_threads(threads)
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
    return pd.DataFrame([{"kind": k, "params": sizes[k], "ms": v, "ratio": v / ms["defian_s"]} for k, v in ms.items()])


# --- command line ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``defian ikm-study``: list, run (resumable, ``--worker I/K``) or publish the reduced IKM study."""
    p = cpu_study.study_parser("defian ikm-study", __doc__.split("\n\n")[0], "results/runs/ikm", limit=True)
    p.add_argument("--time", action="store_true", help="measure the per-update cost of each kind of run "
                   "against DeFiAN_S (one thread) and exit")
    p.add_argument("--record", action="store_true", help=f"with --time: write the result to {COST_RECORD} "
                   "(with the machine and commit), which the study's cost estimate reads")
    a = p.parse_args(argv)
    if a.time:
        table = time_updates(schedule=a.schedule)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        if a.record:
            env = provenance.environment()
            table = table.assign(machine=env["cpu"], commit=env["git_commit"], utc=env["utc"])
            write_atomic(COST_RECORD, table.to_csv(index=False))
            print(f"written to {COST_RECORD}")
        return 0
    root = Path(a.runs_root) if a.runs_root else ikm_root(a.schedule)
    dest = paths.RUNS / "ikm" if a.publish else None
    if a.run:
        _run_jobs(cpu_study.my_jobs(p, a, jobs(a.schedule)), root, a.data_root, dest, a.limit)
    elif a.publish:
        have = records([root], a.schedule)
        cpu_study.publish_done([r if is_done(r) else None for r in (find_run(j, have) for j in jobs(a.schedule))], dest)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(status(a.schedule, list(dict.fromkeys([root, ikm_root(a.schedule)]))).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
