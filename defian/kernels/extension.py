"""C++ kernels for CPU tensors (``defian/csrc``), built on first use and cached.

Parts of a DeFiAM are memory-bound chains of small element-wise operations that
PyTorch runs as many passes over (B, C, H, W) tensors: the fused multi-scale
Hessian filtering (:mod:`defian.kernels.mshf`, kernel ``mshf_cpu``), and the DAC's
statistics and the gated residuals of the DeFiAM and the RCAB
(:func:`defian.nn.dac.mean_std`, :mod:`defian.kernels.gate`, kernel ``gate_cpu``). On CPU
each also runs as a C++ kernel that makes one or two passes over channels-last
tensors. The PyTorch paths stay: they are the references the kernels are tested
against (float64: ``tests/nn/test_hessian.py``, ``tests/kernels/test_gate.py``,
``tests/nn/test_dac.py``), the paths on other devices, and the fallback when a
kernel cannot be built (a warning says so). ``DEFIAN_CPP=0`` turns the kernels
off.

The build (:func:`torch.utils.cpp_extension.load`: a C++ compiler and ninja,
about a minute per kernel, once per machine and source version) goes to
PyTorch's extension cache (``$TORCH_EXTENSIONS_DIR``, default
``~/.cache/torch_extensions``); concurrent processes wait for one build, and a build
killed half-way is noticed and redone (:func:`_await_lock`). Kernels are built with
``-march=native``, so the cache key includes this CPU's instruction-set flags, and each
checkout builds its own (the key includes the source's path).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import time
import warnings
from pathlib import Path
from types import ModuleType

import torch

from defian import provenance

__all__ = ["CFLAGS", "ENV", "SOURCES", "from_rows", "kernel", "rows", "takes"]

#: Set to "0" to run the PyTorch expressions on CPU too.
ENV = "DEFIAN_CPP"
#: The kernels' sources, by name.
SOURCES = {name: Path(__file__).with_name("csrc") / f"{name}.cpp" for name in ("mshf_cpu", "gate_cpu")}
#: Compiler flags (part of the cache key). ``-fno-trapping-math`` lets GCC vectorise loops with
#: selects (the clamps of ``gate_cpu``'s exp); it changes no result, only what may raise FP exceptions.
CFLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp")


def _cpu_flags() -> str:
    """This CPU's instruction-set flags (a cached ``-march=native`` build is only reused on the same)."""
    return provenance.cpuinfo().get("flags") or platform.processor() or platform.machine()


def takes(*tensors: torch.Tensor) -> bool:
    """Whether a CPU kernel may take these tensors: all on the CPU, all float32 or all float64,
    outside autocast and outside ``torch.compile`` (which fuses the PyTorch expressions itself)."""
    first = tensors[0]
    return (
        first.device.type == "cpu"
        and first.dtype in (torch.float32, torch.float64)
        and all(t.device == first.device and t.dtype == first.dtype for t in tensors)
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


def rows(t: torch.Tensor) -> torch.Tensor:
    """A channels-last (B, C, H, W) tensor as the kernels' (B, H*W, C) rows: a view, no copy."""
    return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1, t.shape[1])


def from_rows(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`rows`: (B, H*W, C) -> (B, C, H, W) with channels-last strides, a view."""
    return t.view(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)


def kernel(name: str) -> ModuleType | None:
    """The C++ kernel ``name`` (a key of :data:`SOURCES`), or ``None`` when turned off
    (``DEFIAN_CPP=0``, read at every call) or not buildable here."""
    if name not in SOURCES:
        raise KeyError(f"no C++ kernel {name!r}; there are {sorted(SOURCES)}")
    return None if os.environ.get(ENV, "1") == "0" else _build(name)


#: A build lock older than this is taken to be left by a killed build (a build takes about a minute).
STALE_LOCK_SECONDS = 15 * 60
#: How often a process waiting for another's build looks at its lock again (seconds).
LOCK_POLL_SECONDS = 2.0


def _await_lock(module: str) -> None:
    """Return once no build of ``module`` holds its lock: wait for a live one, clear a dead one's.

    ``torch.utils.cpp_extension.load`` waits on ``<build dir>/lock`` for as long as the file
    exists, so a build killed mid-way (a stopped session, Ctrl-C, two checkouts building
    into one cache) would make every later process wait forever, even one that arrived while
    the lock was young. So the waiting happens here: while the lock exists it is looked at
    every :data:`LOCK_POLL_SECONDS`; once it has stood untouched for :data:`STALE_LOCK_SECONDS`
    it is removed together with its half-built folder (with a warning), which ``load`` then
    builds afresh.
    """
    try:  # a private helper of torch's; where it is gone, torch's own waiting stands
        from torch.utils.cpp_extension import _get_build_directory
    except ImportError:
        return
    folder = Path(_get_build_directory(module, verbose=False))
    lock = folder / "lock"
    while True:
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if age > STALE_LOCK_SECONDS:
            warnings.warn(f"defian: removing the stale build lock {lock} ({age / 60:.0f} min old, left by a killed "
                          "build) and rebuilding", RuntimeWarning, stacklevel=4)
            shutil.rmtree(folder, ignore_errors=True)
            return
        time.sleep(LOCK_POLL_SECONDS)


@functools.cache
def _build(name: str) -> ModuleType | None:
    source = SOURCES[name]
    # The source's path is in the key too: ninja rebuilds when a build file names another path, so two
    # checkouts sharing one cache folder would rebuild in turn and wait on each other's locks.
    key = (source.read_bytes() + str(source.resolve()).encode() + " ".join(CFLAGS).encode() + _cpu_flags().encode()
           + torch.__version__.encode())
    tag = hashlib.sha256(key).hexdigest()[:12]
    _await_lock(f"defian_{name}_{tag}")
    try:
        from torch.utils.cpp_extension import load

        return load(f"defian_{name}_{tag}", [str(source)], verbose=False,
                    extra_cflags=list(CFLAGS),
                    extra_ldflags=["-fopenmp"])  # OpenMP: torch's own libgomp (same soname), for at::parallel_for
    except Exception as err:  # no compiler, no ninja, a failed build: the PyTorch path gives the same numbers
        last = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        warnings.warn(f"defian: the C++ kernel {source} could not be built ({type(err).__name__}: {last}); "
                      f"using the slower PyTorch path (set {ENV}=0 to skip the attempt)", RuntimeWarning,
                      stacklevel=3)
        return None
