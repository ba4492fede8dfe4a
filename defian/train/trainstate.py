"""What a training run carries from one update to the next, and when a resume is the same run.

:class:`TrainState` is the state of Sec. IV-B2's loop that a checkpoint
(:mod:`defian.train.checkpoint`) must hold for a resumed run to repeat an uninterrupted
one update by update: the weights, Adam's moments, the step-halved learning
rate (:func:`scheduler`), the fp16 loss scaler, the optional EMA of the weights
(:func:`ema_update`), every RNG, the data stream's position and the best
validation score so far. :func:`same_run` refuses to resume a run under settings
that would compute something else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from defian.train import checkpoint
from defian.train.config import TrainConfig

__all__ = ["RUNTIME_FIELDS", "TrainState", "ema_update", "same_run", "scheduler"]

#: Fields that may change when a run is resumed: they do not change what is computed, only
#: where and how fast (device, thread count and memory layout may reorder floating-point sums,
#: ~1e-7 relative).
RUNTIME_FIELDS = ("workers", "progress", "tensorboard", "device", "compile", "threads", "channels_last")


def scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.StepLR:
    """Sec. IV-B2's step-halved learning rate, stepped once per update.

    ``lr_step_unit="update"``: x ``lr_gamma`` every ``lr_step`` updates (paper: 0.5 every
    2x10^5); ``"epoch"`` (released code): every ``lr_step`` epochs of ``epoch_updates``.
    """
    step = cfg.lr_step if cfg.lr_step_unit == "update" else cfg.lr_step * cfg.epoch_updates
    return torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=cfg.lr_gamma)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters; buffers are copied."""
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
        be.copy_(bm)


def same_run(saved: dict[str, Any], cfg: Any, where: Path, runtime: Sequence[str] = RUNTIME_FIELDS) -> None:
    """Raise ``ValueError`` naming ``where`` and each differing field if ``saved`` (a run's
    config dict) and ``cfg`` (a :class:`TrainConfig`, or another run config with ``to_dict``
    and defaults, e.g. Part III's LFRTrainConfig) differ in anything but ``runtime``."""
    now, default = cfg.to_dict(), type(cfg)().to_dict()
    saved = {**default, **saved}  # a field added later reads as its default in older records
    diff = sorted(k for k in now if k not in runtime and saved.get(k) != now.get(k))
    if diff:
        shown = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)
        raise ValueError(f"{str(where)!r} belongs to a run with other settings ({shown}); "
                         "pass restart=True (--restart) or another name (--name)")


@dataclasses.dataclass
class TrainState:
    """The loop's state; :meth:`checkpoint` and :meth:`restore` map it to a checkpoint dict."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.StepLR
    scaler: torch.amp.GradScaler
    ema: nn.Module | None
    update: int = 0  # updates completed
    best: dict[str, Any] = dataclasses.field(default_factory=lambda: {"val_psnr": None, "update": None})

    def checkpoint(self, cfg: TrainConfig) -> dict[str, Any]:
        """The checkpoint dict of :mod:`defian.train.checkpoint` (format 1) for this state."""
        return {"format": checkpoint.FORMAT, "update": self.update, "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "rng": checkpoint.capture_rng(), "sampler": {"position": self.update * cfg.batch},
                "best": dict(self.best), "config": cfg.to_dict()}

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Load a checkpoint dict into this state, RNGs included."""
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        if ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        if self.ema is not None and ckpt["ema"] is not None:
            self.ema.load_state_dict(ckpt["ema"])
        checkpoint.restore_rng(ckpt["rng"])
        self.update, self.best = int(ckpt["update"]), dict(ckpt["best"])
