"""The training loop of Sec. IV-B2: Adam on the L1 loss of Eq. (23), step-halved learning rate.

One function, :func:`train`, runs a :class:`defian.train.config.TrainConfig` and leaves a
run record (:mod:`defian.train.run_record`); ``defian train ...``, ``python -m defian.train``
and ``torchrun --nproc_per_node=K -m defian.train ...`` call :func:`main`. A process's run is a
:class:`Session` (state, batches, update, validation) run by :func:`run_session`; Part III's
LFR runs (:mod:`defian.lfr.train`) bring their own batches and update to the same session.

Determinism. Training samples form one stream: position ``g`` is item
``perm_e[g mod n]`` of epoch ``e = g // n`` (``perm_e`` a permutation seeded by
(seed, e)), and the patch and augmentation of that item are a function of
(seed, e, item) alone (:mod:`defian.data.trainset`). Update ``u`` consumes positions
``u*K ... u*K+K-1`` split over ranks as :mod:`defian.train.distributed` describes. So
the data position is just ``update*K``; with the model, optimizer, scheduler,
scaler, EMA and RNG states in the checkpoint (:class:`defian.train.trainstate.TrainState`),
a resumed run repeats an uninterrupted one update by update (tests/train/test_loop.py
kills one with SIGKILL).
Bit-exactness needs the same number of CPU threads (``threads``) and memory layout
(``channels_last``) before and after: a different reduction split changes the last
bits of the loss (a resume under other values is allowed; it is the same computation).

Devices. CPU: glibc's malloc is tuned in-process (:func:`defian.train.distributed.tune_glibc_malloc`);
``LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 defian train ...`` (Debian
package libjemalloc2) replaces it, as PyTorch's CPU guide recommends;
``benchmarks/bench_train.py --allocators`` compares them. ``precision="bf16"`` autocasts
on CPU too. Both: channels-last (NHWC) weights and batches (``channels_last``; on this
2-core CPU 1.2x faster per update than NCHW). CUDA: cuDNN autotuning, pinned memory with
non-blocking copies, bf16 or fp16 autocast (fp16 with a GradScaler), optional
``torch.compile``. The loss and gradient norm are read back every update (one
device sync) so that a non-finite value stops training *before* the optimizer step.

Stability (Sec. IV-E). A non-finite loss or gradient norm stops training with
:class:`NonFiniteError` naming the update; nothing is saved after it, so
``last.pt`` stays the last good checkpoint. ``grad_clip`` clips the global norm.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from defian import provenance
from defian.train import checkpoint, distributed, run_record, trainstate, validation
from defian.train import config as config_mod
from defian.train.config import TrainConfig
from defian.train.trainstate import TrainState
from defian.kernels import accelerate
from defian.nn.model import build_model, to_channels_last


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss or gradient; the message names the update."""


# --- data --------------------------------------------------------------------------------------
def _train_set(cfg: TrainConfig) -> tuple[Any, str, str]:
    """The training set (defian.data.trainset), a short label for the run name, and its description."""
    from defian.data import trainset

    ts, desc = trainset.build_trainset(cfg.data_root or None, cfg.scale, cfg.patch, cfg.seed, augment=cfg.augment)
    return ts, trainset.run_label(desc, len(ts)), desc  # len(ts): the images that hold a patch


# --- pieces of a run ---------------------------------------------------------------------------
#: The autocast dtype of each of ``config.PRECISIONS`` (None: float32, no autocast).
AUTOCAST: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def adam(params: list[nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
         eps: float = 1e-8) -> torch.optim.Adam:
    """The optimizer of Sec. IV-B2 (Adam [46]), as the trainer and its benchmark build it.

    ``foreach``: the multi-tensor implementation, bit-identical to the per-tensor loop that is
    CPU's default and faster over DeFiAN_S's 397 tensors (``fused=True`` is faster still, but
    rounds otherwise, and would change every run's numbers).
    """
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, foreach=True)


def grad_scaler(device_type: str, precision: str) -> torch.amp.GradScaler:
    """fp16's loss scaler; a disabled one (its calls pass through) for fp32 and bf16."""
    return torch.amp.GradScaler(device_type, enabled=precision == "fp16")


def forward_backward(net: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                     params: list[nn.Parameter], lr_b: torch.Tensor, hr_b: torch.Tensor,
                     amp: torch.dtype | None, grad_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One update up to the optimizer step: forward, Eq. (23) loss, backward, unscale, clip.

    Args:
        lr_b: (b, 3, p, p) LR patches in [0, 1]; hr_b: (b, 3, s*p, s*p) HR patches.
        amp: autocast dtype (bf16/fp16) or None for fp32.
        grad_clip: max global gradient norm; 0 = no clipping (the norm is still returned).

    Returns:
        (loss, gradient norm), 0-d tensors; the caller checks them before ``scaler.step``.
    """
    device = lr_b.device.type
    with torch.autocast(device, dtype=amp or torch.float32, enabled=amp is not None):
        sr = net(lr_b)  # (b, 3, s*p, s*p)
    loss = F.l1_loss(sr.float(), hr_b)  # Eq. (23), averaged over pixels (released code's L1Loss)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    gnorm = nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
    return loss, gnorm


def initial_model(cfg: TrainConfig, device: torch.device) -> nn.Module:
    """The network update 0 starts from: seeded by ``cfg.seed``, fused blocks, on ``device``.

    Every rank and every resume builds the same weights (a resume then loads its checkpoint).
    """
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every resume
    model = accelerate(build_model(cfg.model, cfg.scale, **cfg.switches)).to(device)  # fused twins: defian.kernels
    return to_channels_last(model) if cfg.channels_last else model


def environment(cfg: TrainConfig, ctx: distributed.DistContext, allocator: str) -> dict[str, Any]:
    """environment.json: provenance.environment() plus the training process's facts."""
    env = provenance.environment()  # torch_threads there is read after cfg.threads was applied
    env.update(world_size=ctx.world_size, device_type=ctx.device.type, allocator=allocator,
               cudnn=torch.backends.cudnn.version() if ctx.device.type == "cuda" else None,
               precision=cfg.precision)
    return env


def _tensorboard(cfg: TrainConfig, run_dir: Path) -> Any:
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("defian train: --tensorboard ignored: TensorBoard is not installed", file=sys.stderr)
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN has bfloat16 convolution kernels for this CPU (AVX-512 BW/VL/DQ and up).

    Without them (e.g. AVX2-only CPUs) bf16 autocast on CPU is correct but its
    convolutions run tens of times slower than float32 (``benchmarks/bench_mshf.py``,
    the ``bf16-autocast`` rows).
    """
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


# --- the run -----------------------------------------------------------------------------------
def train(cfg: TrainConfig, runs_root: str | Path, *, name: str | None = None,
          restart: bool = False) -> run_record.Run | None:
    """Train ``cfg`` and write its run record under ``runs_root``; resume if it has a checkpoint.

    Implements Eq. (23) with Adam and the step-halved learning rate of Sec. IV-B2.

    Args:
        cfg: The run's settings (e.g. ``defian.train.config.schedule("cpu", model="rcan_s")``).
        runs_root: Folder of run records (``defian.train.run_record.runs_root(profile)``).
        name: Run directory name; default :func:`defian.train.run_record.run_name` of the settings.
        restart: Discard an existing checkpoint and metrics of the same run.

    Returns:
        The finished run record (rank 0), ``None`` on other ranks. A run whose record
        already says "finished" with the same settings is returned without training.

    Raises:
        NonFiniteError: a non-finite loss or gradient at some update (message names it).
    """
    ctx = distributed.setup(cfg.device)
    if cfg.precision == "fp16" and ctx.device.type != "cuda":
        raise ValueError("precision='fp16' needs CUDA (GradScaler); use 'bf16' on CPU")
    if cfg.precision == "bf16" and ctx.device.type == "cpu" and not cpu_has_bf16_kernels():
        cap = torch.backends.cpu.get_cpu_capability()
        warnings.warn(f"precision='bf16' on a CPU without oneDNN bfloat16 kernels (vector ISA {cap}): its "
                      "convolutions take a slow path, tens of times slower than float32; use precision='fp32' "
                      "here", RuntimeWarning, stacklevel=2)
    torch.backends.cudnn.benchmark = ctx.device.type == "cuda"
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, runs_root, ctx, name, restart)
    finally:
        torch.set_num_threads(threads_before)


def _start(cfg: TrainConfig, ctx: distributed.DistContext, run_dir: Path, restart: bool) -> TrainState:
    """The state update 0 starts from, or the run's last checkpoint (``restart``: discard it)."""
    model = initial_model(cfg, ctx.device)
    ema = copy.deepcopy(model).requires_grad_(False).eval() if cfg.ema > 0 else None
    opt = adam([p for p in model.parameters() if p.requires_grad], cfg.lr, cfg.betas, cfg.eps)
    st = TrainState(model, opt, trainstate.scheduler(opt, cfg), grad_scaler(ctx.device.type, cfg.precision), ema)
    return resume(st, cfg, run_dir, restart, ctx.is_main)


def resume(st: TrainState, cfg: Any, run_dir: Path, restart: bool, is_main: bool = True,
           runtime: Sequence[str] = trainstate.RUNTIME_FIELDS) -> TrainState:
    """``st`` (update 0) loaded from the run's ``last.pt`` when there is one; ``restart``: that
    checkpoint and the metrics discarded instead. Files a kill left half-written are removed.

    Raises:
        ValueError: ``last.pt`` belongs to other settings (any field but ``runtime``), or holds
            weights only (a published record cannot resume).
    """
    last = run_dir / "last.pt"
    if last.is_file() and not restart:
        ckpt = checkpoint.load(last)
        trainstate.same_run(ckpt["config"], cfg, last, runtime)
        if ckpt.get("slim"):
            raise ValueError(f"{str(last)!r} holds weights only (a published record, defian.train.checkpoint.slim) "
                             "and cannot resume training; use --restart (restart=True) or another --runs-root")
        st.restore(ckpt)
    elif restart and is_main:
        for f in ("last.pt", "best.pt", "metrics.csv", "summary.json"):
            (run_dir / f).unlink(missing_ok=True)
    if is_main:
        for tmp in run_dir.glob("*.tmp"):  # left by a kill during an atomic write
            tmp.unlink(missing_ok=True)
    return st


def _step(st: TrainState, net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig,
          ctx: distributed.DistContext, amp: torch.dtype | None, last: Path) -> float:
    """One update (forward, backward, finite check, optimizer, scheduler, EMA); the loss over all ranks."""
    lr_b, hr_b = (t.to(ctx.device, non_blocking=True) for t in batch)  # (B/W, 3, p, p), (B/W, 3, s*p, s*p)
    if cfg.channels_last:
        lr_b = lr_b.contiguous(memory_format=torch.channels_last)
    params = st.opt.param_groups[0]["params"]
    loss, gnorm = forward_backward(net, st.opt, st.scaler, params, lr_b, hr_b, amp, cfg.grad_clip)
    gloss = float(distributed.mean_over_ranks(loss.detach(), ctx))
    # fp16: an inf gradient is the scaler's business (it skips the step); otherwise stop.
    if not math.isfinite(gloss) or (amp is not torch.float16 and not math.isfinite(float(gnorm))):
        where = (f"last good checkpoint {str(last)!r} (update {checkpoint.load(last)['update']})"
                 if last.is_file() else "no checkpoint was written yet")
        raise NonFiniteError(f"update {st.update + 1}: non-finite loss ({gloss}) or gradient norm "
                             f"({float(gnorm)}); stopped before the optimizer step; {where}")
    st.scaler.step(st.opt)
    st.scaler.update()
    st.sched.step()
    if st.ema is not None:
        trainstate.ema_update(st.ema, st.model, cfg.ema)
    st.update += 1
    return gloss


@dataclass
class Session:
    """What one training process holds from setup to summary: the run's state, its update and its
    periodic work (:func:`run_session` runs it). A fixed-scale run (:func:`_setup`) and an LFR run
    (:mod:`defian.lfr.train`) differ only in ``step``, ``batches`` and what is validated.
    """

    cfg: Any  # TrainConfig or LFRTrainConfig: updates, batch, log_every, val_every, ckpt_every, progress
    ctx: distributed.DistContext
    run_dir: Path
    record: run_record.RunRecord
    st: TrainState
    step: Callable[[Any], float]  # one update on a batch (Eq. (23)): forward, backward, checks, Adam; the loss
    batches: Iterator[Any]  # this rank's batches from the resumed update on
    val: list[tuple[torch.Tensor, Any]]  # validation.val_pairs; empty: no validation on this rank
    val_model: nn.Module  # what is validated: the model, its EMA, or an LFR model at val_scale
    val_scale: int
    tb: Any = None  # a TensorBoard SummaryWriter, or None
    start_update: int = 0  # the update this process resumed from (0: a fresh start)
    t_start: float = 0.0
    last_val: float | None = None  # the latest validation PSNR

    @property
    def last(self) -> Path:
        """The run's resumable checkpoint."""
        return self.run_dir / "last.pt"


def allocator(ctx: distributed.DistContext) -> str:
    """environment.json's allocator: a preloaded one, or glibc (on CPU tuned in-process: "glibc+mallopt")."""
    name = distributed.preloaded_allocator()
    if ctx.device.type == "cpu" and name == "glibc" and distributed.tune_glibc_malloc():
        name = "glibc+mallopt"
    return name


def finished_run(cfg: Any, run_dir: Path,
                 runtime: Sequence[str] = trainstate.RUNTIME_FIELDS) -> run_record.Run | None:
    """The run's record if it already finished with the settings ``cfg``, else None.

    Raises:
        ValueError: the record under ``run_dir`` has other settings than ``cfg`` in any field but
            ``runtime`` (:func:`defian.train.trainstate.same_run`).
    """
    if not (run_dir / "summary.json").is_file():
        return None
    done = run_record.read(run_dir)
    trainstate.same_run(done.config, cfg, run_dir, runtime)
    return done if done.summary and done.summary.get("status") == "finished" else None


def _network(model: nn.Module, cfg: TrainConfig, ctx: distributed.DistContext) -> nn.Module:
    """The module the updates run through: ``model``, DDP-wrapped over ranks, compiled if ``cfg.compile``."""
    net = model
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(net) if cfg.compile else net


def _loader(cfg: TrainConfig, ctx: distributed.DistContext, train_set: Any, update: int) -> DataLoader:
    """This rank's share of the sample stream from update ``update`` on (see the module docstring)."""
    sampler = distributed.RankSampler(len(train_set), cfg.seed, cfg.batch, update, ctx)
    return DataLoader(train_set, batch_size=cfg.batch // ctx.world_size, sampler=sampler, num_workers=cfg.workers,
                      pin_memory=ctx.device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed))


def _setup(cfg: TrainConfig, ctx: distributed.DistContext, run_dir: Path, restart: bool, alloc: str,
           train_set: Any, desc: str) -> Session:
    """Set up a process: its state (fresh or resumed, :func:`_start`), record segment, network and data.

    Rank 0 loads the validation images, starts a segment of the run record and drops the
    metrics rows after the resumed update.
    """
    st = _start(cfg, ctx, run_dir, restart)
    val, val_label = validation.val_pairs(cfg) if ctx.is_main and cfg.val_every else ([], "none")
    record = run_record.RunRecord(run_dir)
    if ctx.is_main:
        env = environment(cfg, ctx, alloc)
        env.update(train_data=desc, val_data=val_label)
        record.start(cfg.to_dict(), env, from_update=st.update)  # one segment per process
        record.truncate(st.update)
    net, amp, last = _network(st.model, cfg, ctx), AUTOCAST[cfg.precision], run_dir / "last.pt"
    batches = iter(_loader(cfg, ctx, train_set, st.update))
    tb = _tensorboard(cfg, run_dir) if ctx.is_main else None
    return Session(cfg, ctx, run_dir, record, st, lambda batch: _step(st, net, batch, cfg, ctx, amp, last), batches,
                   val, st.model if st.ema is None else st.ema, cfg.scale, tb, st.update)


def _updates(s: Session, bar: Any) -> None:
    """Update (``s.step``) until ``cfg.updates``; every ``log_every`` and at the end, :func:`_periodic`.

    The logged loss and samples/s are averages over the updates since the previous log row.
    """
    cfg, st = s.cfg, s.st
    window_loss, window_n, t_window = 0.0, 0, time.perf_counter()
    while st.update < cfg.updates:
        lr_now = st.sched.get_last_lr()[0]  # the rate this update uses
        window_loss, window_n = window_loss + s.step(next(s.batches)), window_n + 1
        bar.update(1)
        end = st.update == cfg.updates
        if not (st.update % cfg.log_every == 0 or end):
            continue
        sps = window_n * cfg.batch / (time.perf_counter() - t_window)
        bar.set_postfix(loss=f"{window_loss / window_n:.4f}", lr=f"{lr_now:.2e}", sps=f"{sps:.1f}")
        if s.ctx.is_main:
            _periodic(s, window_loss / window_n, lr_now, sps, end)
        window_loss, window_n, t_window = 0.0, 0, time.perf_counter()


def _validate(s: Session, end: bool) -> float | None:
    """The validation PSNR of ``s.val_model`` (the EMA weights when kept) if due (every ``val_every``
    and at the end), else None."""
    if not (s.val and (s.st.update % s.cfg.val_every == 0 or end)):
        return None
    s.last_val = validation.validate(s.val_model, s.val, s.val_scale, s.ctx.device)
    return s.last_val


def _periodic(s: Session, loss: float, lr_now: float, sps: float, end: bool) -> None:
    """Rank 0's work at a log row: validate if due, append the metrics row, keep the best, checkpoint.

    ``last.pt`` is written every ``ckpt_every`` updates, at the end and whenever the
    validation PSNR improves (then also as ``best.pt``).
    """
    st = s.st
    v = _validate(s, end)
    s.record.append(st.update, loss, lr_now, v, sps)
    if s.tb is not None:
        s.tb.add_scalar("train/loss", loss, st.update)
        if v is not None:
            s.tb.add_scalar("val/psnr", v, st.update)
    better = v is not None and (st.best["val_psnr"] is None or v > st.best["val_psnr"])
    if better:
        st.best = {"val_psnr": v, "update": st.update}
    if st.update % s.cfg.ckpt_every == 0 or end or better:
        ck = st.checkpoint(s.cfg)
        checkpoint.save(s.last, ck)
        if better:
            checkpoint.save(s.run_dir / "best.pt", ck)


def _summary(s: Session) -> dict[str, Any]:
    """summary.json of a finished run: last logged loss, best and final validation, this process's throughput."""
    st, cfg, ctx = s.st, s.cfg, s.ctx
    rows = run_record.read_metrics(s.run_dir)
    wall = time.perf_counter() - s.t_start
    return {
        "status": "finished", "updates": st.update, "final_loss": rows[-1]["loss"] if rows else None,
        "best_val_psnr": st.best["val_psnr"], "best_update": st.best["update"], "final_val_psnr": s.last_val,
        "wall_s": wall, "resumed_from": s.start_update,
        "samples_per_s": (st.update - s.start_update) * cfg.batch / wall if wall > 0 else None,
        "params": sum(p.numel() for p in st.model.parameters()), "message": "",
        "peak_gpu_memory_bytes": torch.cuda.max_memory_allocated(ctx.device) if ctx.device.type == "cuda" else None,
    }


def run_session(s: Session) -> run_record.Run | None:
    """Run a set-up process to ``cfg.updates`` (:func:`_updates`) and finish its record (:func:`_summary`).

    Returns:
        The finished record on rank 0, None on other ranks.

    Raises:
        NonFiniteError: the record is marked "diverged" first; ``last.pt`` stays the last good checkpoint.
    """
    from tqdm import tqdm

    if s.ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(s.ctx.device)
    bar = tqdm(total=s.cfg.updates, initial=s.st.update, disable=not (s.cfg.progress and s.ctx.is_main),
               desc=s.run_dir.name, dynamic_ncols=True)
    s.t_start = time.perf_counter()
    try:
        _updates(s, bar)
    except NonFiniteError as err:
        if s.ctx.is_main:
            s.record.finish({"status": "diverged", "updates": s.st.update, "message": str(err)})
        raise
    finally:
        bar.close()
        if s.tb is not None:
            s.tb.close()
    if not s.ctx.is_main:
        return None
    s.record.finish(_summary(s))
    return run_record.read(s.run_dir)


def _train(cfg: TrainConfig, runs_root: str | Path, ctx: distributed.DistContext, name: str | None,
           restart: bool) -> run_record.Run | None:
    """:func:`train` in this process: set up (:func:`_setup`), then :func:`run_session`.

    A finished run with the same settings is returned as it is.
    """
    alloc = allocator(ctx)
    train_set, label, desc = _train_set(cfg)
    run_dir = Path(runs_root) / (name or run_record.run_name(cfg.to_dict(), label))
    done = None if restart else finished_run(cfg, run_dir)
    if done is not None:
        return done if ctx.is_main else None
    return run_session(_setup(cfg, ctx, run_dir, restart, alloc, train_set, desc))


def main(argv: list[str] | None = None) -> int:
    """``defian train [--schedule NAME] [--FIELD VALUE ...] [--runs-root DIR] [--restart]``."""
    parser = argparse.ArgumentParser(
        prog="defian train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a model (Sec. IV-B2) and write a run record; resumes from the run's last.pt when "
                    "there is one. Every flag overrides one field of the --schedule's TrainConfig.",
        epilog="examples:\n"
               "  defian train --schedule cpu --model rcan_s\n"
               "  defian train --schedule full --model defian_l --scale 4 --precision bf16\n"
               "  torchrun --nproc_per_node=4 -m defian.train --schedule full --model defian_l --scale 2\n"
               "  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 defian train --schedule cpu   # CPU malloc\n"
               "exit status: 0 finished, 2 bad arguments, 3 stopped on a non-finite loss or gradient")
    config_mod.add_arguments(parser)
    parser.add_argument("--runs-root", default=None,
                        help="folder of run records (default: _build/runs for --schedule smoke, else results/runs)")
    parser.add_argument("--name", default=None, help="run directory name (default: named after the settings)")
    parser.add_argument("--restart", action="store_true", help="discard the run's checkpoint and metrics")
    args = parser.parse_args(argv)
    try:
        cfg = config_mod.from_arguments(args)
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    root = args.runs_root or run_record.runs_root(cfg.schedule)
    try:
        run = train(cfg, root, name=args.name, restart=args.restart)
    except NonFiniteError as err:
        print(f"defian train: {err}", file=sys.stderr)
        return 3
    finally:
        distributed.cleanup()
    if run is not None:
        print(run.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
