"""Run records: the folder a training run leaves behind, and how to read it back.

Training is expensive and plotting is cheap (one producer per figure and number): notebooks 06-07
train and write run records; the table and figure notebooks only read them.
Smoke runs go to :data:`defian.paths.SCRATCH_RUNS` (git-ignored), all other
profiles to :data:`defian.paths.RUNS` (committed); :func:`runs_root` picks.

Format (version 1) of one run directory, named by :func:`run_name` after its
settings like BasicSR's run names, e.g. ``defian_s_x2_N3M5_div2k_6k_B16P24_cpu_s0``::

    config.json       TrainConfig.to_dict(): every setting (defian.train.config)
    environment.json  git commit, python/torch/CUDA/cuDNN versions, device, threads,
                      world size, precision, allocator, train_data and val_data (what
                      the data actually were); no host names or user paths
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
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defian import paths
from defian.atomic import write_atomic

FORMAT = 1
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

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.csv"

    def start(self, config: dict[str, Any], environment: dict[str, Any]) -> None:
        """Write config.json and environment.json and an empty metrics.csv (if absent)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "config.json", config)
        write_json(self.dir / "environment.json", environment)
        if not self.metrics_path.exists():
            self._rewrite_metrics([])

    def append(self, update: int, loss: float, lr: float, val_psnr: float | None, samples_per_s: float) -> None:
        """Append one metrics row with a single write of a complete line."""
        line = ",".join([_fmt(update), _fmt(loss), _fmt(lr), _fmt(val_psnr), _fmt(samples_per_s)]) + "\n"
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def truncate(self, update: int) -> None:
        """Keep only the complete rows with ``update <= update`` (before resuming)."""
        rows = [r for r in read_metrics(self.dir) if r["update"] <= update]
        self._rewrite_metrics(rows)

    def _rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        lines = [",".join(COLUMNS)] + [",".join(_fmt(r[c]) for c in COLUMNS) for r in rows]
        write_atomic(self.metrics_path, "\n".join(lines) + "\n")

    def finish(self, summary: dict[str, Any]) -> None:
        """Write summary.json (atomically)."""
        write_json(self.dir / "summary.json", {"format": FORMAT, **summary})


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
