"""The training loop of Sec. IV-B2: Adam on the L1 loss of Eq. (23), step-halved learning rate.

One function, :func:`train`, runs a :class:`defian.config.TrainConfig` and leaves a
run record (:mod:`defian.runrecord`); ``defian train ...``, ``python -m defian.train``
and ``torchrun --nproc_per_node=K -m defian.train ...`` call :func:`main`.

Determinism. Training samples form one stream: position ``g`` is item
``perm_e[g mod n]`` of epoch ``e = g // n`` (``perm_e`` a permutation seeded by
(seed, e)), and the patch and augmentation of that item are a function of
(seed, e, item) alone (:mod:`defian.data`). Update ``u`` consumes positions
``u*K ... u*K+K-1`` split over ranks as :mod:`defian.distributed` describes. So
the data position is just ``update*K``; with the model, optimizer, scheduler,
scaler, EMA and RNG states in the checkpoint, a resumed run repeats an
uninterrupted one update by update (tests/test_train.py kills one with SIGKILL).

Stability (Sec. IV-E). A non-finite loss or gradient norm stops training with
:class:`NonFiniteError` naming the update; nothing is saved after it, so
``last.pt`` stays the last good checkpoint. ``grad_clip`` clips the global norm.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from defian import checkpoint, config as config_mod, distributed, provenance, runrecord
from defian.config import TrainConfig


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss or gradient; the message names the update."""


# --- data: the sample stream -------------------------------------------------------------------
class PatchStream(Sampler[int]):
    """Infinite stream positions this rank consumes, from update ``start`` on.

    Update ``u`` takes global positions ``u*batch + r``, ``u*batch + r + W``, ...
    (rank ``r`` of ``W``): DistributedSampler's strided split of each global batch.
    """

    def __init__(self, batch: int, start: int, ctx: distributed.DistContext) -> None:
        self.batch, self.start, self.offsets = batch, start, list(distributed.rank_slice(batch, ctx))

    def __iter__(self) -> Iterator[int]:
        u = self.start
        while True:
            for j in self.offsets:
                yield u * self.batch + j
            u += 1


class StreamSet(Dataset):
    """Maps a stream position to an (lr, hr) training pair of :class:`defian.data.TrainSet`."""

    def __init__(self, base: Any, seed: int) -> None:
        self.base, self.seed, self.n = base, seed, len(base)
        self._perm: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:  # the stream is infinite; DataLoader only needs the sampler
        return sys.maxsize

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, k = divmod(position, self.n)
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(self.n, generator=g))
        return self.base.pair(epoch, int(self._perm[1][k]))


def _train_set(cfg: TrainConfig) -> tuple[Any, str]:
    """The training set and its short label for the run name."""
    from defian import data

    ts = data.TrainSet(scale=cfg.scale, patch=cfg.patch, augment=cfg.augment, seed=cfg.seed,
                       data_root=cfg.data_root or None)
    return ts, ts.label


def _val_pairs(cfg: TrainConfig) -> list[tuple[torch.Tensor, np.ndarray]]:
    """Validation images as (LR float (1, 3, h, w) in [0, 1], HR uint8 (H, W, 3))."""
    from defian import data

    pairs = data.validation_pairs(cfg.val_set, cfg.scale, n=cfg.val_images, crop=cfg.val_crop,
                                  data_root=cfg.data_root or None)
    return [(torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None].float() / 255, hr)
            for lr, hr in pairs]


# --- pieces of a run ---------------------------------------------------------------------------
@torch.no_grad()
def validate(model: nn.Module, pairs: list[tuple[torch.Tensor, np.ndarray]], scale: int,
             device: torch.device) -> float:
    """Mean Y-channel PSNR (dB) of ``model`` on ``pairs`` (paper IV-A2 protocol, defian.metrics)."""
    from defian import metrics

    was_training = model.training
    model.eval()
    scores = []
    for lr, hr in pairs:
        sr = model(lr.to(device)).float().clamp(0, 1)  # (1, 3, s*h, s*w)
        sr8 = (sr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()
        scores.append(metrics.psnr(sr8, hr, scale))
    model.train(was_training)
    return float(np.mean(scores))


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.StepLR:
    """Stepped once per update; "epoch" units (released code) step every lr_step epochs."""
    step = cfg.lr_step if cfg.lr_step_unit == "update" else cfg.lr_step * cfg.epoch_updates
    return torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=cfg.lr_gamma)


def _build(cfg: TrainConfig, device: torch.device) -> nn.Module:
    from defian.model import build_model

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every resume
    model = build_model(cfg.model, cfg.scale, **cfg.switches).to(device)
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def environment(cfg: TrainConfig, ctx: distributed.DistContext, allocator: str) -> dict[str, Any]:
    """environment.json: provenance.environment() plus the training process's facts."""
    env = provenance.environment()
    env.update(world_size=ctx.world_size, device_type=ctx.device.type, allocator=allocator,
               cudnn=torch.backends.cudnn.version() if ctx.device.type == "cuda" else None,
               precision=cfg.precision)
    return env


@dataclasses.dataclass
class _State:
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.StepLR
    scaler: torch.amp.GradScaler
    ema: nn.Module | None
    update: int = 0
    best: dict[str, Any] = dataclasses.field(default_factory=lambda: {"val_psnr": None, "update": None})

    def checkpoint(self, cfg: TrainConfig) -> dict[str, Any]:
        return {"format": checkpoint.FORMAT, "update": self.update, "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "rng": checkpoint.capture_rng(), "sampler": {"position": self.update * cfg.batch},
                "best": dict(self.best), "config": cfg.to_dict()}

    def restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        if ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        if self.ema is not None and ckpt["ema"] is not None:
            self.ema.load_state_dict(ckpt["ema"])
        checkpoint.restore_rng(ckpt["rng"])
        self.update, self.best = int(ckpt["update"]), dict(ckpt["best"])


def _tensorboard(cfg: TrainConfig, run_dir: Path) -> Any:
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("defian train: --tensorboard ignored: TensorBoard is not installed", file=sys.stderr)
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
