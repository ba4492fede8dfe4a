"""Speed of the gate kernel (``gate_cpu``): C++ vs PyTorch expression, for its three parts.

Run ``python benchmarks/bench_gate.py`` (``--quick`` for a seconds-long check). For
the DeFiAM's gated residual (Eqs. 22 and 6, :mod:`defian.kernels.gate`), the RCAB's (Eq. 7)
and the DAC's statistics (:func:`defian.kernels.moments.mean_std`) on a DeFiAN_S feature batch
it prints the forward and the forward+backward time of the C++ kernel and of
the PyTorch expression (``DEFIAN_CPP=0``), minima over interleaved rounds, and
their ratio, plus the largest difference of the outputs. Only the ratios are
meaningful across machines. Default: two threads and wall time, as training runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mshf import CLOCKS, DEFAULT_SHAPE, _min_times  # noqa: E402

from defian.kernels import extension, gate  # noqa: E402
from defian.kernels.moments import mean_std  # noqa: E402


def _cases(shape: tuple[int, int, int, int], seed: int) -> dict[str, tuple[Callable, list[torch.Tensor]]]:
    """name -> (a function of the tensors returning one tensor, the tensors)."""
    b, c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    x, f = (torch.randn(shape, generator=g).contiguous(memory_format=torch.channels_last) for _ in range(2))
    n, s, m = torch.randn(b, 1, h, w, generator=g), torch.randn(b, c, 1, 1, generator=g), torch.randn(b, c, 1, 1)
    return {"defiam (Eqs. 22, 6)": (gate.gated_residual, [x, f, n, s, m]),
            "rcab (Eq. 7)": (gate.channel_gated_residual, [x, f, m]),
            "mean_std (Eq. 21)": (lambda t: torch.cat(mean_std(t), 1), [x])}


def rows(shape: tuple[int, int, int, int] = DEFAULT_SHAPE, rounds: int = 20, clock: str = "wall",
         seed: int = 0) -> list[dict]:
    """One row per part: kernel and expression times (ms), their ratio, the max output difference."""
    if extension.kernel("gate_cpu") is None:
        raise RuntimeError("the gate_cpu kernel is not available here (no compiler, or DEFIAN_CPP=0)")
    flag_before = os.environ.get(extension.ENV)
    out = []
    for name, (fn, tensors) in _cases(shape, seed).items():
        leaves = [t.clone().requires_grad_() for t in tensors]
        with torch.no_grad():
            weight = torch.randn_like(fn(*tensors))

        def run(flag: str, backward: bool, fn: Callable = fn, leaves: list = leaves,
                weight: torch.Tensor = weight) -> Callable[[], object]:
            def call() -> object:
                os.environ[extension.ENV] = flag
                if not backward:
                    with torch.no_grad():
                        return fn(*leaves)
                return torch.autograd.grad(fn(*leaves), leaves, weight)
            return call

        try:
            t = _min_times({"kf": run("1", False), "ef": run("0", False), "kb": run("1", True), "eb": run("0", True)},
                           rounds, clock)
            yk, ye = run("1", False)(), run("0", False)()
        finally:
            if flag_before is None:
                os.environ.pop(extension.ENV, None)
            else:
                os.environ[extension.ENV] = flag_before
        out.append({"part": name, "kernel_fwd_ms": 1e3 * t["kf"], "expression_fwd_ms": 1e3 * t["ef"],
                    "fwd_ratio": t["kf"] / t["ef"], "kernel_fwd_bwd_ms": 1e3 * t["kb"],
                    "expression_fwd_bwd_ms": 1e3 * t["eb"], "fwd_bwd_ratio": t["kb"] / t["eb"],
                    "max_abs_diff": float((yk - ye).abs().max())})
    return out


def timing_cli(description: str, argv: list[str] | None
               ) -> tuple[argparse.Namespace, tuple[int, int, int, int], int]:
    """The command line of the element-wise benchmarks (this one, bench_pool.py): --quick, --threads
    (set here), --rounds, --clock; returns the arguments, the feature shape and the rounds."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small tensor, few rounds (a check, not a measurement)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds (default 20, quick 2)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shape = (2, 32, 12, 12) if args.quick else DEFAULT_SHAPE
    return args, shape, args.rounds or (2 if args.quick else 20)


def main(argv: list[str] | None = None) -> None:
    args, shape, rounds = timing_cli(__doc__.split("\n\n")[0], argv)
    print(f"shape {shape}, {args.threads} threads, {args.clock} clock, min over {rounds} interleaved rounds")
    for r in rows(shape, rounds, args.clock):
        print(f"  {r['part']:20s} fwd {r['kernel_fwd_ms']:6.2f} / {r['expression_fwd_ms']:6.2f} ms "
              f"= {r['fwd_ratio']:.2f}   fwd+bwd {r['kernel_fwd_bwd_ms']:6.2f} / {r['expression_fwd_bwd_ms']:6.2f} ms "
              f"= {r['fwd_bwd_ratio']:.2f}   max |diff| {r['max_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
