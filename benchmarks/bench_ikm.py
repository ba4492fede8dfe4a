"""Speed of an IKM layer against the plain convolution it modulates (IKM paper, Sec. IV-E).

Run ``python benchmarks/bench_ikm.py`` (``--quick`` for a seconds-long check).
It times forward + backward (gradients of the input and the weight) of a 3 x 3,
64 -> 64 layer on a batch of 16 48 x 48 features, for:

    plain     ``nn.Conv2d`` (no bias), the denominator of every ratio
    go        IKM with general optimisation: attention + one conv with W * mean_b(A_b)
    grouped   IKM with IsO as Algorithm 1 prints it: B stacked kernels, groups = B
    taps-1    IKM with IsO as one GEMM per tap (:mod:`defian.ikm.fast`), image by image
    taps-B    the same, each tap's GEMM batched over the whole batch
    unfold    IKM with IsO on the unfolded input (A applied to the data, then one GEMM)

(``IKMConv2d`` picks taps-1 on one thread and taps-B on several.) Every IKM case includes its attention (threshold, pooling, softmax). Each round
runs the cases in order and then in reverse (ABBA), and the ratio of a case is
its two times over the plain conv's two times in that round; the report gives
the median of the rounds' ratios, so only ratios are meaningful across machines.
``--json`` prints the result as one JSON line; ``--record FILE`` appends it, with
the commit, date, torch version and CPU, to a JSON-lines file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from defian import provenance
from defian.atomic import write_atomic
from defian.ikm.fast import tap_conv2d
from defian.ikm.operator import IKMConv2d

CASES = ("plain", "go", "grouped", "taps-1", "taps-B", "unfold")
FULL = {"batch": 16, "channels": 64, "size": 48, "kernel_size": 3}
QUICK = {"batch": 2, "channels": 8, "size": 12, "kernel_size": 3}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class _ChunkedTaps(nn.Module):
    """The taps case with ``chunk`` images per batched GEMM (:func:`tap_conv2d`)."""

    def __init__(self, layer: IKMConv2d, chunk: int) -> None:
        super().__init__()
        self.layer, self.chunk = layer, chunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tap_conv2d(x, self.layer.weight, self.layer.attention(x), None, 1, self.chunk)


def _layers(channels: int, kernel_size: int, batch: int, cases: tuple[str, ...]) -> dict[str, nn.Module]:
    """One module per case, all with the plain conv's weight."""
    plain = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False)
    out: dict[str, nn.Module] = {}
    for name in cases:
        if name == "plain":
            out[name] = plain
            continue
        optimization, method = {"go": ("go", "grouped"), "grouped": ("iso", "grouped"), "unfold": ("iso", "unfold")
                                }.get(name, ("iso", "taps"))
        layer = IKMConv2d(channels, channels, kernel_size, optimization=optimization, method=method)
        layer.weight = plain.weight
        out[name] = _ChunkedTaps(layer, 1 if name == "taps-1" else batch) if name.startswith("taps") else layer
    return out


def measure(batch: int, channels: int, size: int, kernel_size: int = 3, rounds: int = 7, clock: str = "wall",
            cases: tuple[str, ...] = CASES, seed: int = 0) -> dict:
    """Median times (ms) and median ABBA ratios to the plain conv of each case, forward + backward."""
    if "plain" not in cases:
        raise ValueError("the cases must include 'plain', the denominator of the ratios")
    torch.manual_seed(seed)
    layers = _layers(channels, kernel_size, batch, cases)
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    grad_out = torch.randn(batch, channels, size, size)
    weight = layers["plain"].weight
    now = CLOCKS[clock]

    def step(name: str) -> float:
        t0 = now()
        y = layers[name](x)
        torch.autograd.grad(y, (x, weight), grad_out)
        return now() - t0

    with torch.no_grad():
        ref = layers["grouped" if "grouped" in cases else "plain"](x)
        diffs = {n: float((layers[n](x) - ref).abs().max()) for n in cases if n not in ("plain", "go")}
    for name in cases:  # warm-up
        step(name)
    times: dict[str, list[float]] = {n: [] for n in cases}
    ratios: dict[str, list[float]] = {n: [] for n in cases}
    for _ in range(rounds):
        first = {n: step(n) for n in cases}
        second = {n: step(n) for n in reversed(cases)}
        base = first["plain"] + second["plain"]
        for n in cases:
            times[n] += [first[n], second[n]]
            ratios[n].append((first[n] + second[n]) / base)
    return {"config": {"batch": batch, "channels": channels, "size": size, "kernel_size": kernel_size,
                       "rounds": rounds, "clock": clock, "threads": torch.get_num_threads(), "pass": "fwd+bwd"},
            "ms": {n: 1e3 * statistics.median(times[n]) for n in cases},
            "ratio_to_plain": {n: statistics.median(ratios[n]) for n in cases},
            "ratio_range": {n: [min(ratios[n]), max(ratios[n])] for n in cases},
            "max_abs_diff_to_grouped": diffs}


def record(res: dict, path: Path) -> dict:
    """Append ``res`` to the JSON-lines file ``path`` (rewritten atomically) with where it came from."""
    path = Path(path)
    lines = path.read_text().splitlines() if path.is_file() else []
    env = provenance.environment()
    row = {"run": len(lines) + 1, "date": env["utc"], "commit": env["git_commit"], "machine": env["cpu"],
           "torch": env["torch"], "method": "median over rounds of ABBA ratios, forward+backward", **res}
    write_atomic(path, "\n".join([*lines, json.dumps(row)]) + "\n")
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny tensors, 2 rounds (a check, not a measurement)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    p.add_argument("--rounds", type=int, default=None, help="ABBA rounds (default 7; quick 2)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.add_argument("--record", type=Path, default=None, help="append the result to this JSON-lines file")
    args = p.parse_args(argv)
    if args.threads < 0:
        p.error(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = tuple(c for c in CASES if c in args.cases or c == "plain")
    res = measure(**(QUICK if args.quick else FULL), rounds=args.rounds or (2 if args.quick else 7),
                  clock=args.clock, cases=cases)
    if args.json:
        print(json.dumps(res))
    else:
        c = res["config"]
        print(f"# IKM {c['kernel_size']}x{c['kernel_size']} {c['channels']}->{c['channels']}, batch {c['batch']}, "
              f"{c['size']}x{c['size']}, {c['threads']} thread(s), {c['clock']} clock, {c['rounds']} ABBA rounds")
        for n in cases:
            lo, hi = res["ratio_range"][n]
            print(f"  {n:8s} {res['ms'][n]:9.1f} ms   x{res['ratio_to_plain'][n]:.2f} plain  (rounds {lo:.2f}-{hi:.2f})")
    if args.record:
        print(f"recorded as run {record(res, args.record)['run']} of {args.record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
