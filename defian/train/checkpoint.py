"""The training checkpoint: one dict, written atomically, from which a run resumes bit-exactly.

A checkpoint is what makes a SIGKILLed run continue as if it had never stopped
(Sec. IV-B2's 6x10^5-update schedule takes days; it will be interrupted). The
dict (format 1) holds::

    format      1
    update      updates completed (the next update has this index)
    model       model.state_dict() (the unwrapped module: no "module." prefix)
    optimizer   optimizer.state_dict()
    scheduler   lr scheduler state_dict()
    scaler      GradScaler state_dict() or None (fp16 only)
    ema         EMA weights state_dict() or None
    rng         {"python", "numpy", "torch", "cuda"} generator states (see capture_rng)
    sampler     {"position": samples drawn from the stream so far} (see defian.train.distributed.RankSampler)
    best        {"val_psnr": best validation PSNR so far or None, "update": where}
    config      TrainConfig.to_dict() of the run

Everything in it is a tensor or a plain Python value, so :func:`load` reads it
with ``torch.load(weights_only=True)``: loading a checkpoint runs no pickled code.

Writing is atomic: the dict goes to a temporary file in the same folder, is
fsync'ed, and replaces the target with ``os.replace``; a kill at any moment
leaves either the previous checkpoint or the new one, never half a file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from defian.atomic import atomic_file

FORMAT = 1
KEYS = ("format", "update", "model", "optimizer", "scheduler", "scaler", "ema", "rng", "sampler", "best", "config")
#: What a published (weights-only) checkpoint keeps: enough to evaluate, not to resume.
SLIM_KEYS = ("format", "update", "model", "ema", "best", "config")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, corrupt, not a PyTorch file) or has the wrong format."""


def read_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, any reading failure turned into :class:`CheckpointError`.

    ``torch.load`` fails on a cut zip archive with a RuntimeError and on foreign bytes with an
    UnpicklingError (or EOFError, ValueError, ...); each becomes one error naming the file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is not a readable PyTorch file of tensors and plain values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 (RuntimeError, UnpicklingError, EOFError: all mean "not readable")
        # torch's own text is long and suggests weights_only=False, which would run pickled code: not repeated
        raise CheckpointError(f"{str(path)!r} is not a readable PyTorch checkpoint: truncated or corrupt file "
                              f"({type(err).__name__} from torch.load)") from None


def capture_rng() -> dict[str, Any]:
    """The state of every random generator training may touch, as tensors and plain values.

    Returns:
        ``{"python": (version, tuple of 625 ints, gauss), "numpy": {...}, "torch": uint8
        tensor, "cuda": list of uint8 tensors (empty without CUDA)}``.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put every generator back to ``state`` (from :func:`capture_rng`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | os.PathLike[str], checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temp file + fsync + os.replace).

    Args:
        path: Target file, e.g. ``<run>/last.pt``.
        checkpoint: The dict described in the module docstring; missing keys are an error.

    Returns:
        The path written.
    """
    missing = [k for k in KEYS if k not in checkpoint]
    if missing:
        raise KeyError(f"checkpoint for {str(path)!r} lacks {missing}")
    path = Path(path)
    with atomic_file(path, durable=True) as fh:
        torch.save(checkpoint, fh)
    return path


def slim(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Write the weights-only form of checkpoint ``src`` to ``dst`` (atomically).

    Keeps :data:`SLIM_KEYS` and marks the dict ``"slim": True``; the optimizer,
    scheduler, RNG and sampler states are dropped (for DeFiAN_S at C = 32 that is
    two thirds of the file: Adam keeps two moments per weight). What a committed run
    record holds: :func:`defian.report.evaluate.load_model` reads it, training cannot resume
    from it.
    """
    ckpt = load(src)
    out = {k: ckpt[k] for k in SLIM_KEYS} | {"slim": True}
    dst = Path(dst)
    with atomic_file(dst, durable=True) as fh:
        torch.save(out, fh)
    return dst


def load(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save` (``weights_only=True``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is unreadable or not a format-1 checkpoint; the message names it.
    """
    ckpt = read_file(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a format-{FORMAT} DeFiAN training checkpoint")
    return ckpt
