"""Process setup for training: DistributedDataParallel from torchrun's environment, and the CPU allocator.

One process per device. ``torchrun --nproc_per_node=K -m defian.train ...`` sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`setup` reads them once and returns a :class:`DistContext`. Without them
the run is a single process (world size 1) and nothing is initialised.
Backend: NCCL on CUDA, gloo on CPU. Only rank 0 writes (run record, checkpoints,
progress bar).

Splitting the global batch: update ``u`` consumes stream positions
``u*K ... u*K + K - 1`` (K = ``TrainConfig.batch``); rank ``r`` of ``W`` takes the
positions ``u*K + r, u*K + r + W, ...`` (DistributedSampler's strided split), i.e.
K/W samples. Each rank's L1 loss is the mean over its K/W samples; DDP averages
the gradients over ranks, so the gradient is the mean over all K samples -- the
same as one process with batch K, up to the order of floating-point additions.
K must be divisible by W.

Several machines: run the same torchrun line on each with
``--nnodes=M --node_rank=i --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT``
(README, "Training on several machines").

CPU allocator: glibc's malloc returns large blocks to the OS with ``munmap`` and
gets them back with ``mmap``, so every large activation page-faults afresh on
every step. PyTorch's CPU performance guide recommends jemalloc or tcmalloc via
``LD_PRELOAD``; :func:`tune_glibc_malloc` is the in-process alternative
(``mallopt`` thresholds), applied by ``defian train`` on CPU unless an allocator
is preloaded. ``benchmarks/bench_train.py`` measures both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistContext:
    """Who this process is: rank among world_size, and the device it drives."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is present, else CPU; otherwise as named."""
    if preference == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(preference)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={preference!r} asked for CUDA, but torch.cuda.is_available() is False")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def setup(device: str = "auto") -> DistContext:
    """Read torchrun's environment, initialise the process group when WORLD_SIZE > 1.

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``; under DDP each rank takes
            ``cuda:LOCAL_RANK``.

    Returns:
        The process's :class:`DistContext`.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    dev = pick_device(device, local)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=30))
    return DistContext(rank=rank, local_rank=local, world_size=world, device=dev)


def cleanup() -> None:
    """Tear the process group down (no-op for one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of a tensor over ranks (identity for one process); every rank gets it."""
    if not ctx.distributed:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / ctx.world_size


def broadcast_flag(flag: bool, ctx: DistContext) -> bool:
    """Rank 0's boolean, on every rank (e.g. "this validation is the best so far")."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    dist.broadcast(t, src=0)
    return bool(t.item())


def rank_slice(batch: int, ctx: DistContext) -> range:
    """Offsets (0..batch-1) within a global batch that this rank takes (strided split)."""
    if batch % ctx.world_size:
        raise ValueError(f"batch={batch} is not divisible by WORLD_SIZE={ctx.world_size}")
    return range(ctx.rank, batch, ctx.world_size)


class RankSampler(Sampler[tuple[int, int]]):
    """The (epoch, item) keys this rank consumes, from update ``start`` on (endless).

    Global stream position ``k`` is :class:`defian.data.trainset.TrainSampler`'s key ``k``;
    update ``u`` takes positions ``u*batch ... u*batch + batch - 1`` and rank ``r`` of
    ``W`` takes those with ``k % W == r`` (DistributedSampler's strided split).
    """

    def __init__(self, n: int, seed: int, batch: int, start: int, ctx: DistContext) -> None:
        rank_slice(batch, ctx)  # checks that W divides the batch
        self.n, self.seed, self.position, self.rank, self.world = n, seed, start * batch, ctx.rank, ctx.world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        from defian.data.trainset import TrainSampler

        return itertools.islice(iter(TrainSampler(self.n, self.seed, start=self.position)), self.rank, None,
                                self.world)


# --- CPU allocator ---------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def preloaded_allocator() -> str:
    """"jemalloc"/"tcmalloc" when one is in LD_PRELOAD, else "glibc"."""
    pre = os.environ.get("LD_PRELOAD", "")
    for name in ("jemalloc", "tcmalloc"):
        if name in pre:
            return name
    return "glibc"


def tune_glibc_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Keep freed large blocks in the heap instead of unmapping them (glibc ``mallopt``).

    Raising ``M_MMAP_THRESHOLD`` serves large tensors from the heap and raising
    ``M_TRIM_THRESHOLD`` stops returning freed memory to the OS, so a training step
    reuses already-faulted pages. Costs resident memory (peak is kept).

    Returns:
        True when applied; False when libc is not glibc or another allocator is preloaded.
    """
    if preloaded_allocator() != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # glibc caps M_MMAP_THRESHOLD at 32 MiB on 64-bit (HEAP_MAX / 2); larger values are refused.
    mmap_threshold = min(mmap_threshold, 32 << 20)
    trim_threshold = min(trim_threshold, 2**31 - 1)
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
    ok &= mallopt(_M_TOP_PAD, 64 << 20) == 1
    return bool(ok)
