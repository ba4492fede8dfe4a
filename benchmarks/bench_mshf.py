"""Speed of multi-scale Hessian filtering (Sec. III-B2; Fig. 12 of Sec. IV-D3).

Run ``python benchmarks/bench_mshf.py`` (``--quick`` for a seconds-long check).
It prints, in one run:

1. MSHF-3-5-7 (:class:`defian.nn.hessian.MSHF`, fused path) forward and
   forward+backward time as a ratio to one dense 3x3 convolution C->C on the
   same tensor (forward, resp. forward+backward with its weight gradient) and
   to the released design (nine frozen depthwise convolutions with bias, the
   plain Eq. 12 and three channel means: :func:`defian.nn.hessian.mshf_reference`
   with ``plain=True``), in float32 and under ``torch.autocast`` bfloat16
   (inputs then bfloat16, as a preceding convolution under autocast makes them);
2. the same MSHF on its chunked PyTorch path (``DEFIAN_CPP=0``), as a ratio: on CPU
   the fused path runs the C++ kernel of :mod:`defian.kernels.extension` by default;
3. the max abs difference between the fused and the reference outputs.

:func:`fig12_rows` redoes Fig. 12 (closed form vs an eigen-solver per pixel);
notebook 02 imports this file for both tables. Times are minima over rounds
that interleave the candidates; only ratios are meaningful across machines.
The default is one thread and CPU time: on cores shared with other jobs,
multi-threaded timings are dominated by OpenMP barrier waits (one per parallel
operation, and the fused MSHF issues many small ones), and vary severalfold
between runs; ``--threads 2 --clock wall`` measures that regime.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

from defian.kernels import extension
from defian.kernels import accelerate  # noqa: E402
from defian.nn.hessian import MSHF, hessian_filter, max_eigenvalue, max_eigenvalue_eigvalsh

#: The tensor of the performance target in issue 3: a DeFiAN_S feature batch.
DEFAULT_SHAPE = (16, 32, 48, 48)


#: Clocks: "cpu" is the process's CPU time (all threads; robust when other
#: jobs share the cores), "wall" the elapsed time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def _min_times(fns: dict[str, Callable[[], object]], rounds: int, clock: str = "cpu") -> dict[str, float]:
    """Minimum time (s) of each callable over ``rounds`` interleaved rounds."""
    now = CLOCKS[clock]
    for f in fns.values():  # warm-up (allocator, lazy init)
        f()
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = now()
            f()
            best[k] = min(best[k], now() - t0)
    return best


def mshf_ratio_rows(shape: tuple[int, int, int, int] = DEFAULT_SHAPE, rounds: int = 10, seed: int = 0,
                    clock: str = "cpu") -> list[dict]:
    """Times and ratios of MSHF vs a dense conv and vs the released design.

    Args:
        shape: (B, C, H, W) of the feature.
        rounds: interleaved timing rounds (minimum taken).
        seed: RNG seed of the input and of the released-style random biases.
        clock: "cpu" (process CPU time) or "wall".

    Returns:
        One dict per (precision, pass): ``precision, pass, conv_ms, mshf_ms,
        released_ms, mshf_vs_conv, mshf_vs_released, released_vs_conv, pytorch_path_ms,
        mshf_vs_pytorch_path, max_abs_diff``
        (fused output vs :func:`~defian.nn.hessian.mshf_reference` in float32 on the
        same, possibly bfloat16, input).
    """
    gen = torch.Generator().manual_seed(seed)
    B, C, H, W = shape
    x32 = torch.randn(shape, generator=gen)
    conv = torch.nn.Conv2d(C, C, 3, padding=1)
    mshf = accelerate(MSHF(C))  # the fused path, as in training
    with torch.no_grad():  # the released convs keep PyTorch's default bias init, U(-1/3, 1/3)
        mshf.bias.copy_(torch.rand(mshf.bias.shape, generator=gen) * 2 / 3 - 1 / 3)
    rows = []
    for precision in ("float32", "bf16-autocast"):
        auto = precision != "float32"
        x = x32.bfloat16() if auto else x32
        xg = x.clone().requires_grad_()

        def run(fn: Callable, inp: torch.Tensor, backward: bool, auto: bool = auto) -> Callable[[], object]:
            def call() -> object:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=auto), torch.set_grad_enabled(backward):
                    y = fn(inp)
                if backward:
                    y.float().sum().backward()
                return y
            return call

        released = lambda t: mshf.reference(t, plain=True)  # noqa: E731

        def pytorch_path(t: torch.Tensor) -> torch.Tensor:  # the fused MSHF without the C++ kernel
            before = os.environ.get(extension.ENV)
            os.environ[extension.ENV] = "0"
            try:
                return mshf(t)
            finally:
                os.environ.pop(extension.ENV) if before is None else os.environ.update({extension.ENV: before})
        for backward in (False, True):
            inp = xg if backward else x
            t = _min_times({"conv": run(conv, inp, backward), "mshf": run(mshf, inp, backward),
                            "released": run(released, inp, backward),
                            "pytorch_path": run(pytorch_path, inp, backward)}, rounds, clock)
            with torch.no_grad():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=auto):
                    fused = mshf(x)
                diff = (fused - mshf.reference(x.float())).abs().max().item()
            rows.append(dict(precision=precision, **{"pass": "fwd+bwd" if backward else "fwd"},
                             conv_ms=1e3 * t["conv"], mshf_ms=1e3 * t["mshf"], released_ms=1e3 * t["released"],
                             mshf_vs_conv=t["mshf"] / t["conv"], mshf_vs_released=t["mshf"] / t["released"],
                             released_vs_conv=t["released"] / t["conv"], pytorch_path_ms=1e3 * t["pytorch_path"],
                             mshf_vs_pytorch_path=t["mshf"] / t["pytorch_path"], max_abs_diff=diff))
    return rows


def _loop_eig(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Eq. (24): one eigen-solver call per pixel (the paper's setting, ``torch.eig`` then)."""
    out = torch.empty_like(a).reshape(-1)
    for i, (ai, bi, ci) in enumerate(zip(a.reshape(-1), b.reshape(-1), c.reshape(-1), strict=True)):
        out[i] = torch.linalg.eigvalsh(torch.stack([torch.stack([ai, ci]), torch.stack([ci, bi])]))[-1]
    return out.reshape(a.shape)


def fig12_rows(channels: tuple[int, ...] = (1, 4, 16, 64), sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32),
               loop_max_pixels: int = 1024, rounds: int = 5, device: str = "cpu", clock: str = "wall") -> list[dict]:
    """Fig. 12 redone: the largest eigenvalue by the closed form vs by eigen-solvers.

    All methods start from the same filtered maps of Eq. (9)
    (:func:`~defian.nn.hessian.hessian_filter`, timed on its own as ``filter_ms``);
    they differ in how they get the largest eigenvalue: Eq. (12)
    (:func:`max_eigenvalue`), ``torch.linalg.eigvalsh`` on the batch of 2x2
    matrices, or one solver call per pixel (Eq. 24; only while
    ``C*H*W <= loop_max_pixels``).

    Returns:
        One dict per input: ``sweep`` ("channels at 4x4" or "size at 16 ch"),
        ``channels, size, filter_ms, closed_ms, eigvalsh_ms, loop_ms`` (nan if
        skipped) and the ratios ``eigvalsh_vs_closed``, ``loop_vs_closed``.
    """
    inputs = [("channels at 4x4", c, 4) for c in channels] + [("size at 16 ch", 16, s) for s in sizes]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for sweep, c, s in inputs:
        x = torch.randn(1, c, s, s, device=device)
        g = hessian_filter(x)

        def timed(fn: Callable, *args: torch.Tensor) -> Callable[[], object]:
            def call() -> object:
                with torch.no_grad():
                    y = fn(*args)
                sync()
                return y
            return call

        fns = {"filter": timed(hessian_filter, x), "closed": timed(max_eigenvalue, *g),
               "eigvalsh": timed(max_eigenvalue_eigvalsh, *g)}
        if c * s * s <= loop_max_pixels:
            fns["loop"] = timed(_loop_eig, *g)
        t = _min_times(fns, rounds, clock)
        loop = t.get("loop", float("nan"))
        rows.append(dict(sweep=sweep, channels=c, size=s, filter_ms=1e3 * t["filter"], closed_ms=1e3 * t["closed"],
                         eigvalsh_ms=1e3 * t["eigvalsh"], loop_ms=1e3 * loop,
                         eigvalsh_vs_closed=t["eigvalsh"] / t["closed"], loop_vs_closed=loop / t["closed"]))
    return rows


def format_table(rows: list[dict], digits: int = 3) -> str:
    """Rows of dicts as a Markdown table."""
    keys = list(rows[0])
    fmt = lambda v: f"{v:.{digits}g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: print the MSHF ratio table (and, unless --no-fig12, Fig. 12's)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small tensor, few rounds (a check, not a measurement)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: stable on a "
                    "shared machine; 0 keeps torch's default)")
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds (default 10, quick 2)")
    ap.add_argument("--shape", type=int, nargs=4, default=None, metavar=("B", "C", "H", "W"),
                    help=f"feature shape (default {DEFAULT_SHAPE}; quick (2, 8, 16, 16))")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="cpu: process CPU time (default; "
                    "robust on a shared machine), wall: elapsed time")
    ap.add_argument("--no-fig12", action="store_true", help="skip the Fig. 12 sweep")
    args = ap.parse_args(argv)
    if args.threads < 0:
        ap.error(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = tuple(args.shape) if args.shape else ((2, 8, 16, 16) if args.quick else DEFAULT_SHAPE)
    rounds = args.rounds or (2 if args.quick else 10)
    print(f"# MSHF-3-5-7 on {shape}, {torch.get_num_threads()} thread(s), {args.clock} clock, "
          f"torch {torch.__version__}\n")
    print(format_table(mshf_ratio_rows(shape, rounds, clock=args.clock)))
    if not args.no_fig12:
        print("\n# Fig. 12: closed form vs eigen-solver per pixel\n")
        fig = fig12_rows(sizes=(1, 2, 4) if args.quick else (1, 2, 4, 8, 16, 32),
                         channels=(1, 4) if args.quick else (1, 4, 16, 64),
                         loop_max_pixels=64 if args.quick else 1024, rounds=max(1, rounds // 2), clock=args.clock)
        print(format_table(fig))


if __name__ == "__main__":
    main()
