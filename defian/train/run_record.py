"""Run records: the folder a training run leaves behind, and how to read it back.

Training is expensive and plotting is cheap (one producer per figure and number): notebooks 06-07
train and write run records; the table and figure notebooks only read them.
Smoke runs go to :data:`defian.paths.SCRATCH_RUNS` (git-ignored), all other
profiles to :data:`defian.paths.RUNS` (committed); :func:`runs_root` picks.

Format (version 2) of one run directory, named by :func:`run_name` after its
settings like BasicSR's run names, e.g. ``defian_s_x2_N3M5_div2k_6k_B16P24_cpu_s0``::

    config.json       TrainConfig.to_dict(): every setting (defian.train.config)
    environment.json  of the latest process: git commit, python/torch/CUDA/cuDNN
                      versions, device, threads, world size, precision, allocator,
                      train_data and val_data (what the data actually were); no host
                      names or user paths. Plus ``segments``: one entry per training
                      process (a resumed run has several), see below.
    metrics.csv       header ``update,loss,lr,val_psnr,samples_per_s``; one row every
                      ``log_every`` updates and at every validation.
                      update         updates completed (1-based: the row after update u)
                      loss           mean training L1 loss over the updates since the
                                     previous row (exact float repr; the global batch's
                                     loss under DDP)
                      lr             learning rate used by the last of those updates
                      val_psnr       mean Y-channel PSNR (dB) on the validation set, or
                                     empty when this row has no validation
                      samples_per_s  training patches per second over those updates
                                     (wall clock, data loading included)
    last.pt           the latest checkpoint (defian.train.checkpoint), rewritten atomically
    best.pt           the checkpoint with the best val_psnr so far
    summary.json      written at the end (or when training stops on a non-finite value):
                      status ("finished" | "diverged"), updates, final_loss,
                      best_val_psnr, best_update, final_val_psnr, wall_s (this
                      process), resumed_from (update it started at), samples_per_s,
                      params, peak_gpu_memory_bytes (None on CPU), message
    tensorboard/      optional event files (only when TensorBoard is installed and asked for)

Rows are appended with one ``write`` of a complete line; a reader ignores a last
line without its newline (a kill mid-write), and a resumed run first drops the
rows after its checkpoint's update, so the file reads as one uninterrupted run.

Segments. Each process that trains the run adds one entry to ``environment.json``'s
``segments`` (:data:`SEGMENT_KEYS`): its ``git_commit`` and ``dirty`` flag (True: the
code ran from a work tree with uncommitted changes, so the commit alone does not
name it), ``utc`` start time, ``device`` and ``cpu`` (the machine), ``from_update``
(the checkpoint it resumed from, 0 for a fresh start), ``to_update`` and ``wall_s``
(brought up to date at every metrics row and at the end, so a kill loses at most the
time since the last row). A kill after the last checkpoint makes two segments
overlap: the later one redoes updates, and both count in the time spent. A process
that starts from update 0 (a fresh run, ``--restart``) starts the list again.
:attr:`Run.wall_s` is the sum over segments.

Format 1 (records written before segments existed; the committed cpu study) kept the
environment of the last process only and ``summary.wall_s`` of that process.
:attr:`Run.segments` reads such a record as one segment for that process, preceded,
when it resumed (``summary.resumed_from > 0``), by a segment whose commit, time and
machine are lost; its wall time is reconstructed from metrics.csv
(:func:`metrics_wall_s`: each row's updates x batch / samples_per_s, which leaves out
validation and checkpoint writes; tests/train/test_run_segments.py bounds how far it
falls short of the measured ``wall_s`` of the same process on the committed format-1 runs).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defian import paths
from defian.atomic import write_atomic

FORMAT = 2
#: What each segment (one training process) of a run records (see the module docstring).
SEGMENT_KEYS = ("git_commit", "dirty", "utc", "device", "cpu", "from_update", "to_update", "wall_s")
COLUMNS = ("update", "loss", "lr", "val_psnr", "samples_per_s")
#: Short names for build_model switches in run names (the paper's letters N, M, C).
_SWITCH_LETTERS = {"n_modules": "N", "n_blocks": "M", "channels": "C"}


def runs_root(profile: str) -> Path:
    """Where a profile's run records go: scratch for smoke, the committed folder otherwise."""
    return paths.outputs("runs", profile)


def run_name(config: dict[str, Any], data_label: str) -> str:
    """A run directory name that carries its settings (BasicSR style).

    Args:
        config: ``TrainConfig.to_dict()``.
        data_label: Short name of the training data, e.g. ``"div2k"`` or ``"embedded"``.

    Returns:
        e.g. ``defian_s_x2_N3M5_div2k_6k_B16P24_cpu_s0`` (``-bf16`` etc. appended when
        the precision is not fp32).
    """
    switches = config["switches"]
    order = [k for k in _SWITCH_LETTERS if k in switches] + sorted(k for k in switches if k not in _SWITCH_LETTERS)
    sw = "".join(f"{_SWITCH_LETTERS.get(k, k)}{_short(switches[k])}" for k in order)
    updates = config["updates"]
    n = f"{updates // 1000}k" if updates >= 1000 and updates % 1000 == 0 else str(updates)
    parts = [config["model"], f"x{config['scale']}", sw, data_label, n,
             f"B{config['batch']}P{config['patch']}", config["schedule"], f"s{config['seed']}"]
    name = "_".join(p for p in parts if p)
    if config["precision"] != "fp32":
        name += "-" + config["precision"]
    return name.replace("/", "-").replace(" ", "")


def _short(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (list, tuple)):
        return "-".join(map(str, v))
    return str(v)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _fmt(v: float | int | None) -> str:
    if v is None:
        return ""
    return str(v) if isinstance(v, int) else repr(float(v))


class RunRecord:
    """One run directory: create it, append metrics, truncate on resume, write the summary."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self._env: dict[str, Any] | None = None  # this process's environment.json, once started
        self._t0 = 0.0

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.csv"

    def start(self, config: dict[str, Any], environment: dict[str, Any], from_update: int = 0) -> None:
        """Write config.json, environment.json with a new segment, and an empty metrics.csv (if absent).

        Args:
            config: ``TrainConfig.to_dict()``.
            environment: This process's facts (``defian.train.loop.environment``).
            from_update: The update this process starts from (its checkpoint's; 0: a fresh
                start, which drops the segments of earlier processes).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "config.json", config)
        earlier: list[dict[str, Any]] = []
        old_path = self.dir / "environment.json"
        if from_update > 0 and old_path.is_file():
            old = json.loads(old_path.read_text())
            if "segments" in old:
                earlier = old["segments"]
            else:  # format 1: its segments are rebuilt from metrics.csv
                rows = read_metrics(self.dir) if self.metrics_path.is_file() else []
                earlier = _format1_segments(old, None, rows)
        self._t0 = time.perf_counter()
        self._env = {**environment, "segments": [*earlier, new_segment(environment, from_update)]}
        write_json(old_path, self._env)
        if not self.metrics_path.exists():
            self._rewrite_metrics([])

    def _close_segment(self, update: int) -> None:
        """This process's segment now covers up to ``update`` and the time since :meth:`start`."""
        if self._env is None:  # a record opened without start(): nothing to time
            return
        self._env["segments"][-1].update(to_update=int(update), wall_s=time.perf_counter() - self._t0)
        write_json(self.dir / "environment.json", self._env)

    def append(self, update: int, loss: float, lr: float, val_psnr: float | None, samples_per_s: float) -> None:
        """Append one metrics row with a single write of a complete line; bring the segment up to date."""
        line = ",".join([_fmt(update), _fmt(loss), _fmt(lr), _fmt(val_psnr), _fmt(samples_per_s)]) + "\n"
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self._close_segment(update)

    def truncate(self, update: int) -> None:
        """Keep only the complete rows with ``update <= update`` (before resuming)."""
        rows = [r for r in read_metrics(self.dir) if r["update"] <= update]
        self._rewrite_metrics(rows)

    def _rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        lines = [",".join(COLUMNS)] + [",".join(_fmt(r[c]) for c in COLUMNS) for r in rows]
        write_atomic(self.metrics_path, "\n".join(lines) + "\n")

    def finish(self, summary: dict[str, Any]) -> None:
        """Close this process's segment (at ``summary["updates"]``) and write summary.json (atomically).

        ``summary["wall_s"]`` is this process's; the run's total is :attr:`Run.wall_s`.
        """
        if "updates" in summary:
            self._close_segment(summary["updates"])
        write_json(self.dir / "summary.json", {"format": FORMAT, **summary})


# --- segments -------------------------------------------------------------------------------------------
def dirty_flag(git_commit: str | None) -> bool | None:
    """Whether a commit string (``provenance.git_commit``) says the work tree had changes; None if unknown."""
    if not git_commit or git_commit == "unknown":
        return None
    return git_commit.endswith("+dirty")


def new_segment(environment: dict[str, Any], from_update: int) -> dict[str, Any]:
    """The segment of a process that starts at ``from_update`` (:data:`SEGMENT_KEYS`)."""
    seg = {k: environment.get(k) for k in ("git_commit", "utc", "device", "cpu")}
    seg.update(dirty=dirty_flag(seg["git_commit"]), from_update=int(from_update), to_update=int(from_update),
               wall_s=0.0)
    return {k: seg[k] for k in SEGMENT_KEYS}


def _format1_segments(environment: dict[str, Any], summary: dict[str, Any] | None,
                      rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A format-1 record's segments: its last process (environment.json, summary.wall_s), after a
    segment whose commit, time, machine and wall time are lost when that process resumed."""
    end = max((r["update"] for r in rows), default=0)
    if summary is None:  # unfinished: where the last process started is not recorded
        return [{**new_segment(environment, 0), "to_update": end, "wall_s": None}]
    start = int(summary.get("resumed_from") or 0)
    last = {**new_segment(environment, start), "to_update": int(summary.get("updates", end)),
            "wall_s": summary.get("wall_s")}
    if start == 0:
        return [last]
    lost = dict.fromkeys(SEGMENT_KEYS)
    lost.update(from_update=0, to_update=start)
    return [lost, last]


def metrics_wall_s(rows: list[dict[str, Any]], batch: int, first: int, last: int) -> float:
    """Training seconds of updates ``first+1 .. last`` reconstructed from metrics rows.

    Each row logs ``samples_per_s`` over the updates since the row before it (or since the
    checkpoint a process resumed from, which is always a logged update), so its seconds are
    ``(update - previous update) * batch / samples_per_s``. Validation and checkpoint writes
    fall between rows' timers and are not counted.

    Args:
        rows: :func:`read_metrics` rows; batch: the global batch (config ``batch``).
    """
    t, prev = 0.0, first
    for r in rows:
        if first < r["update"] <= last:
            t += (r["update"] - prev) * batch / r["samples_per_s"]
            prev = r["update"]
    return t


def read_metrics(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete rows of ``<directory>/metrics.csv`` as dicts (val_psnr None when empty)."""
    path = Path(directory) / "metrics.csv"
    text = path.read_text()
    lines = text.split("\n")[:-1]  # the piece after the last newline is incomplete (or "")
    if not lines or lines[0] != ",".join(COLUMNS):
        raise ValueError(f"{str(path)!r}: expected header {','.join(COLUMNS)!r}")
    rows = []
    for line in lines[1:]:
        u, loss, lr, val, sps = line.split(",")
        rows.append({"update": int(u), "loss": float(loss), "lr": float(lr),
                     "val_psnr": float(val) if val else None, "samples_per_s": float(sps)})
    return rows


@dataclass(frozen=True)
class Run:
    """A run record read back: what the table notebooks consume."""

    dir: Path
    config: dict[str, Any]
    environment: dict[str, Any]
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] | None  # None while the run has not finished

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def segments(self) -> list[dict[str, Any]]:
        """One dict per training process (:data:`SEGMENT_KEYS`), oldest first; format-1
        records are read as the module docstring says (a lost segment has None values)."""
        segs = self.environment.get("segments")
        if segs is None:
            segs = _format1_segments(self.environment, self.summary, self.metrics)
        return [dict(s) for s in segs]

    def _segment_walls(self) -> list[tuple[float, bool]]:
        """(seconds, reconstructed?) per segment: measured, or from metrics.csv where not recorded."""
        out = []
        for s in self.segments:
            if s["wall_s"] is not None:
                out.append((float(s["wall_s"]), False))
            else:
                out.append((metrics_wall_s(self.metrics, self.config["batch"], s["from_update"], s["to_update"]), True))
        return out

    @property
    def wall_s(self) -> float:
        """Wall seconds the run took: the sum over its segments (see :meth:`segments`)."""
        return sum(w for w, _ in self._segment_walls())

    @property
    def wall_s_reconstructed(self) -> float:
        """The part of :attr:`wall_s` reconstructed from metrics.csv (segments whose time was lost)."""
        return sum(w for w, rec in self._segment_walls() if rec)

    @property
    def dirty(self) -> bool | None:
        """True if any segment ran from a dirty work tree, False if every segment's commit is known
        and clean, None otherwise (a segment's commit is lost: format-1 records that resumed)."""
        flags = [s["dirty"] for s in self.segments]
        return True if True in flags else (None if None in flags else False)

    def curve(self, column: str) -> tuple[list[int], list[float]]:
        """(updates, values) of one metrics column, skipping empty cells."""
        pts = [(r["update"], r[column]) for r in self.metrics if r[column] is not None]
        return [p[0] for p in pts], [p[1] for p in pts]


def read(directory: str | os.PathLike[str]) -> Run:
    """Read one run directory; a missing summary.json means the run is unfinished."""
    d = Path(directory)
    if not (d / "config.json").is_file():
        raise FileNotFoundError(f"{str(d)!r} is not a run record (no config.json)")
    summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else None
    return Run(d, json.loads((d / "config.json").read_text()), json.loads((d / "environment.json").read_text()),
               read_metrics(d), summary)


def find(root: str | os.PathLike[str], **match: Any) -> list[Run]:
    """All run records under ``root`` whose config has every ``key=value`` of ``match``.

    Example: ``find(runs_root("cpu"), model="defian_s", scale=2, schedule="cpu")``.
    """
    root = Path(root)
    runs = [read(p.parent) for p in sorted(root.glob("*/config.json"))] if root.is_dir() else []
    return [r for r in runs if all(r.config.get(k) == v for k, v in match.items())]


def finite_or_none(x: float | None) -> float | None:
    """JSON has no NaN: store non-finite numbers as None."""
    return None if x is None or not math.isfinite(x) else float(x)
