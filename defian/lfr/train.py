"""Training an LFR model: ASDN's random level per batch, with the fixed-scale runs' records and budget.

:func:`defian.train.loop.train` builds a fixed-scale DeFiAN whose forward takes the LR
image alone (``TrainConfig.scale`` in 2, 3, 4); an LFR model's forward needs a scale,
and each batch trains one level (slides, "Training"; :mod:`defian.lfr.data`). This
module supplies only what differs, the model, its batches, its update and what is
validated, to the fixed-scale loop's session (:class:`defian.train.loop.Session`,
:func:`defian.train.loop.run_session`), which runs it as it runs a fixed-scale one: the run
record (:mod:`defian.train.run_record`: config.json, environment.json with its segments,
metrics.csv, summary.json), resume (:func:`defian.train.loop.resume`), the checkpoint dict
and its atomic writes, validation (here at ``val_scale``), the best checkpoint and
:class:`defian.train.loop.NonFiniteError`.

Budget. :func:`schedule` copies every field the two kinds of run share from the
fixed-scale schedule of the same name (:data:`SHARED_FIELDS`: model size switches,
LR patch, batch, updates, learning rate and its halving, validation, checkpoints),
so an LFR run of the ``cpu`` schedule has, by construction, the cpu study's budget.

Update ``u``: level ``l`` and batch from :meth:`defian.lfr.data.LevelPatches.batch`,
``loss = L1(O_{r_l}(LR), HR)`` (Eq. 23 on the level's output; at a level the LFR
weight is 0, so only branch l and the trunk get gradients), Adam step, scheduler step.
Resume: the batch of update u is a function of (seed, u), and the checkpoint holds
the weights, Adam, the scheduler and every RNG, so a resumed run repeats an
uninterrupted one (``tests/lfr/test_lfr_train.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from defian.kernels import accelerate
from defian.lfr.data import build_level_patches
from defian.lfr.model import (
    PRESETS,
    LFRConfig,
    LFRModel,
    build_lfr_model,
    make_lfr_config,
)
from defian.nn.model import to_channels_last
from defian.train import checkpoint, config, distributed, loop, run_record, validation
from defian.train.loop import NonFiniteError, adam, forward_backward, grad_scaler
from defian.train.trainstate import TrainState

__all__ = ["RUNTIME_FIELDS", "SHARED_FIELDS", "AtScale", "LFRTrainConfig", "load_lfr_model", "run_name", "schedule",
           "train"]

#: Fields an LFR run takes from the fixed-scale schedule of the same name (the budget).
SHARED_FIELDS = ("switches", "data_root", "patch", "augment", "batch", "updates", "lr", "betas", "eps", "lr_step",
                 "lr_gamma", "seed", "val_every", "val_set", "val_images", "val_crop", "log_every", "ckpt_every",
                 "progress", "device", "threads", "channels_last", "schedule")
#: Fields that may change when a run is resumed (where and how fast, not what is computed).
RUNTIME_FIELDS = ("progress", "device", "threads", "channels_last", "data_root")


@dataclass(frozen=True)
class LFRTrainConfig:
    """Every setting of one LFR training run; ``to_dict()`` is its config.json."""

    model: str = "defian_lfr_s"  # a preset of defian.lfr.model.PRESETS
    switches: dict[str, Any] = field(default_factory=dict)  # LFRConfig overrides, e.g. n_modules, upsampling
    data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
    patch: int = 48  # LR patch side p; HR patch floor(p r_l) (ASDN slides: 48x48 LR patches)
    augment: bool = True  # flips and 90-degree rotations (ASDN slides)
    batch: int = 16  # ASDN slides: 16 patches per batch
    updates: int = 1_000_000  # ASDN slides: 10^6 mini-batch updates
    lr: float = 1e-4  # DeFiAN's (paper IV-B2); the slides say "Adam (default parameters)"
    betas: tuple[float, float] = (0.9, 0.999)  # Adam defaults (slides)
    eps: float = 1e-8  # Adam default
    lr_step: int = 200_000  # ASDN slides: halved every 2x10^5 updates
    lr_gamma: float = 0.5  # "halved"
    seed: int = 0  # model init, levels, sample order, patches, augmentation
    val_scale: int = 2  # validation scale (the fixed-scale x2 runs' curves are comparable)
    val_every: int = 5_000  # validate every K updates
    val_set: str = "Set5"
    val_images: int = 5
    val_crop: int = 0  # centre-crop HR to this side before validating; 0 = whole image
    log_every: int = 100  # a metrics.csv row every this many updates
    ckpt_every: int = 5_000  # write last.pt every this many updates
    progress: bool = False  # print a line at every metrics row
    device: str = "auto"  # "auto": CUDA when present, else CPU
    threads: int = 0  # torch.set_num_threads; 0 = torch's default
    channels_last: bool = True  # NHWC weights and batches (as the fixed-scale runs)
    schedule: str = "full"  # the named schedule this config was derived from (recorded only)

    def __post_init__(self) -> None:
        checks = {"model": self.model in PRESETS, "patch": self.patch >= 4, "batch": self.batch >= 1,
                  "updates": self.updates >= 1, "lr": self.lr > 0, "lr_step": self.lr_step >= 1,
                  "val_scale": self.val_scale in (2, 3, 4), "val_every": self.val_every >= 0,
                  "log_every": self.log_every >= 1, "threads": self.threads >= 0,
                  "ckpt_every": self.ckpt_every >= 1 and self.ckpt_every % self.log_every == 0}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"LFRTrainConfig.{name}={getattr(self, name)!r} is not valid"
                                 + (f" (presets: {', '.join(PRESETS)})" if name == "model" else "")
                                 + (" (must be a multiple of log_every)" if name == "ckpt_every" else ""))
        if self.val_every % self.log_every:
            raise ValueError(f"LFRTrainConfig.val_every={self.val_every} must be a multiple of "
                             f"log_every={self.log_every}")
        object.__setattr__(self, "betas", tuple(self.betas))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LFRTrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown LFRTrainConfig field(s) {unknown}")
        return cls(**d)


def schedule(name: str, **overrides: Any) -> LFRTrainConfig:
    """The LFR run of the fixed-scale schedule ``name`` (:data:`defian.train.config.SCHEDULES`): its
    :data:`SHARED_FIELDS`, then ``overrides`` (``switches`` are merged into the schedule's)."""
    if name not in config.SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(config.SCHEDULES)}")
    base = config.SCHEDULES[name]
    shared = {k: getattr(base, k) for k in SHARED_FIELDS}
    shared["switches"] = {**base.switches, **overrides.pop("switches", {})}
    return LFRTrainConfig(**{**shared, **overrides})


def run_name(cfg: LFRTrainConfig, data_label: str) -> str:
    """e.g. ``defian_lfr_s_N3M5_pre_train291_6k_B16P24_cpu_s0``: the settings, BasicSR style."""
    sw = dict(cfg.switches)
    letters = "".join(f"{a}{sw.pop(k)}" for k, a in (("n_modules", "N"), ("n_blocks", "M"), ("channels", "C"))
                      if k in sw)
    upsampling = sw.pop("upsampling", LFRConfig.upsampling)
    rest = "".join(f"{k}{int(v) if isinstance(v, bool) else v}" for k, v in sorted(sw.items()))
    n = f"{cfg.updates // 1000}k" if cfg.updates >= 1000 and cfg.updates % 1000 == 0 else str(cfg.updates)
    parts = [cfg.model, letters + rest, upsampling, data_label, n, f"B{cfg.batch}P{cfg.patch}", cfg.schedule,
             f"s{cfg.seed}"]
    return "_".join(p for p in parts if p).replace("/", "-").replace(" ", "")


class AtScale(nn.Module):
    """An LFR model fixed at one scale: ``forward(lr) = model(lr, scale)`` (validation, evaluation, figures).

    Attributes:
        scale: the scale; ``body`` is the trunk's DeFiAMs (for :func:`defian.report.figures.capture`).
    """

    def __init__(self, model: LFRModel, scale: float) -> None:
        super().__init__()
        self.model, self.scale = model, scale
        self.body = getattr(model.trunk, "body", None)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) -> (B, 3, ceil(s h), ceil(s w))."""
        return self.model(lr, self.scale)


def _build(cfg: LFRTrainConfig, device: torch.device) -> LFRModel:
    torch.manual_seed(cfg.seed)  # the same initial weights on every resume
    model = accelerate(build_lfr_model(cfg.model, **cfg.switches)).to(device)
    return to_channels_last(model) if cfg.channels_last else model


def load_lfr_model(path: str | Path) -> tuple[LFRModel, dict[str, Any]]:
    """An LFR model (eval mode, CPU) from a checkpoint of :func:`train` (full or slimmed).

    Raises:
        FileNotFoundError: no file; ValueError: not an LFR checkpoint (the message says what to use).
    """
    ckpt = checkpoint.load(path)
    cfg = ckpt.get("config", {})
    if cfg.get("model") not in PRESETS:
        raise ValueError(f"{str(path)!r} is not an LFR checkpoint (model {cfg.get('model')!r}); "
                         "for a fixed-scale one use defian.report.evaluate.load_model")
    c = LFRTrainConfig.from_dict(cfg)
    model = accelerate(build_lfr_model(c.model, **c.switches))
    model.load_state_dict(ckpt["model"])
    return model.eval(), {"checkpoint": Path(path).name, "update": int(ckpt["update"]), "model": c.model,
                          "switches": c.switches, "seed": c.seed}


def _start(cfg: LFRTrainConfig, device: torch.device, run_dir: Path, restart: bool) -> TrainState:
    """The state of update 0, or the run's last checkpoint (``restart``: discard it)."""
    model = _build(cfg, device)
    opt = adam([p for p in model.parameters() if p.requires_grad], cfg.lr, cfg.betas, cfg.eps)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)  # per update
    st = TrainState(model, opt, sched, grad_scaler(device.type, "fp32"), None)
    return loop.resume(st, cfg, run_dir, restart, runtime=RUNTIME_FIELDS)


def _update(st: TrainState, batch: tuple[torch.Tensor, torch.Tensor, int], cfg: LFRTrainConfig,
            device: torch.device, last: Path) -> float:
    """One update on one level: L1(O_{r_l}(LR), HR) (:func:`defian.train.loop.forward_backward`, fp32),
    finite check, Adam, scheduler."""
    lr_b, hr_b, level = batch
    lr_b, hr_b = lr_b.to(device), hr_b.to(device)  # (B, 3, p, p), (B, 3, H_l, H_l)
    if cfg.channels_last:
        lr_b = lr_b.contiguous(memory_format=torch.channels_last)
    size = tuple(hr_b.shape[-2:])
    params = st.opt.param_groups[0]["params"]
    loss, gnorm = forward_backward(lambda x: st.model.level_output(x, level, size), st.opt, st.scaler, params,
                                   lr_b, hr_b, None, 0.0)  # (B, 3, H_l, H_l) against HR
    value = float(loss.detach())
    if not (math.isfinite(value) and math.isfinite(float(gnorm))):
        where = f"last good checkpoint {str(last)!r}" if last.is_file() else "no checkpoint was written yet"
        raise NonFiniteError(f"update {st.update + 1} (level {level}): non-finite loss ({value}) or gradient norm "
                             f"({float(gnorm)}); stopped before the optimizer step; {where}")
    st.opt.step()
    st.sched.step()
    st.update += 1
    return value


def train(cfg: LFRTrainConfig, runs_root: str | Path, *, name: str | None = None,
          restart: bool = False) -> run_record.Run:
    """Train ``cfg`` and write its run record under ``runs_root``; resume from its last.pt if there is one.

    Returns:
        The finished run record; a run already finished with the same settings is returned untouched.

    Raises:
        NonFiniteError: a non-finite loss or gradient (the record says "diverged"; last.pt stays good).
        ValueError: a checkpoint of other settings, or a published (slim) one, in the run's folder.
    """
    device = distributed.pick_device(cfg.device)
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, Path(runs_root), device, name, restart)
    finally:
        torch.set_num_threads(threads_before)


def _train(cfg: LFRTrainConfig, root: Path, device: torch.device, name: str | None, restart: bool) -> run_record.Run:
    """:func:`train` in this process: the LFR state, batches and update in a
    :class:`defian.train.loop.Session`, run by :func:`defian.train.loop.run_session` as a fixed-scale run is."""
    ctx = distributed.DistContext(device=device)
    alloc = loop.allocator(ctx)  # as the fixed-scale loop: the same speed per update
    n_levels = make_lfr_config(cfg.model, **cfg.switches).n_levels
    data, label, desc = build_level_patches(cfg.data_root or None, cfg.patch, cfg.seed, n_levels, cfg.augment)
    run_dir = root / (name or run_name(cfg, label))
    done = None if restart else loop.finished_run(cfg, run_dir, RUNTIME_FIELDS)
    if done is not None:
        return done
    run_dir.mkdir(parents=True, exist_ok=True)
    st = _start(cfg, device, run_dir, restart)
    val_cfg = types.SimpleNamespace(data_root=cfg.data_root, val_set=cfg.val_set, val_images=cfg.val_images,
                                    val_crop=cfg.val_crop, scale=cfg.val_scale)
    val, val_label = validation.val_pairs(val_cfg) if cfg.val_every else ([], "none")
    env = loop.environment(config.TrainConfig(device=cfg.device), ctx, alloc)
    env.update(train_data=desc, val_data=f"{val_label}, x{cfg.val_scale}", lfr_levels=st.model.config.n_levels)
    record = run_record.RunRecord(run_dir)
    record.start(cfg.to_dict(), env, from_update=st.update)  # one segment per process
    record.truncate(st.update)
    last = run_dir / "last.pt"
    batches = (data.batch(u, cfg.batch) for u in itertools.count(st.update))  # update u's batch: (seed, u) alone
    run = loop.run_session(loop.Session(cfg, ctx, run_dir, record, st, lambda b: _update(st, b, cfg, device, last),
                                        batches, val, AtScale(st.model, float(cfg.val_scale)), cfg.val_scale,
                                        start_update=st.update))
    if run is None:  # run_session answers None on a rank other than 0; LFR training is one process
        raise RuntimeError(f"LFR training in {str(run_dir)!r} returned no record (not rank 0?)")
    return run
