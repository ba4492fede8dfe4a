"""Training throughput of DeFiAN_S vs its attention-free twin (RCAN_S), and the arithmetic floor.

Measures one training update exactly as :func:`defian.train.loop.forward_backward` plus
the Adam step does it (synthetic patches: the data pipeline has its own benchmark),
for DeFiAN_S and RCAN_S in the *same* process, alternating rounds so that both
see the same machine load. Reports:

* samples/s of each, and DeFiAN_S's time per update over RCAN_S's (aim: <= 1.10);
* the step's FLOPs (``torch.utils.flop_counter``: convolutions and matmuls of the
  forward and backward pass; 1 MAC = 2 FLOPs) and the *arithmetic floor*: those
  FLOPs at this machine's dense-convolution rate, measured on a 64->64 3x3
  convolution (forward + backward) before and after the rounds, and after every
  round; ratio measured / floor (aim: <= 1.3 in fp32);
* with ``--profile``: where each model's update spends its time, convolutions
  (and their FLOP rate) against everything else;
* with ``--device cuda``: the same on a GPU (cudnn.benchmark, timed after a synchronise,
  ``--precision fp16`` with a GradScaler as ``defian train``), plus each model's peak
  memory during an update;
* with ``--allocators``: the same DeFiAN_S update under glibc's default malloc,
  glibc with :func:`defian.train.distributed.tune_glibc_malloc`, and jemalloc/tcmalloc
  via ``LD_PRELOAD`` when installed (each in a fresh subprocess).

Timings on a shared machine are noisy: DeFiAN_S / RCAN_S is the median of
per-round ratios; read ratios, not absolute numbers across runs.

Usage::

    python benchmarks/bench_train.py --quick               # DeFiAN_S x2, batch 16, 48x48, fp32
    python benchmarks/bench_train.py --precision bf16
    python benchmarks/bench_train.py --batch 8 --patch 24 --switch n_modules=2 --switch n_blocks=4
    python benchmarks/bench_train.py --quick --allocators
    python benchmarks/bench_train.py --profile
    python benchmarks/bench_train.py --device cuda --precision bf16   # on a GPU: samples/s, peak memory
    python benchmarks/bench_train.py --record results/bench/bench_train_<date>_<machine>.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from defian import provenance  # noqa: E402
from defian.train import distributed
from defian.atomic import write_atomic  # noqa: E402
from defian.train.config import parse_switch  # noqa: E402
from defian.kernels import accelerate  # noqa: E402
from defian.nn.model import build_model, to_channels_last  # noqa: E402
from defian.train.loop import AUTOCAST as AMP  # noqa: E402
from defian.train.loop import adam, forward_backward, grad_scaler  # noqa: E402

#: How :func:`measure` times, as a record line states it (change it with the method).
METHOD = ("DeFiAN_S / RCAN_S: median of per-round ratios, {rounds} rounds of {steps} update(s) each, ABBA order; "
          "floor: best dense rate before and after the rounds (ratio_to_floor) and each round's own rate "
          "(ratio_to_round_floor)")


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that the clock reads finished work (CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _update_fn(name: str, args: argparse.Namespace):  # noqa: ANN202 (a closure)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = accelerate(build_model(name, args.scale, **dict(args.switches or []))).to(device)  # as defian train
    if args.layout == "nhwc":  # as `defian train` does (TrainConfig.channels_last)
        to_channels_last(model)
    params = [p for p in model.parameters() if p.requires_grad]
    eager = model  # FLOPs are counted on the eager module (it shares the compiled one's parameters)
    if args.compile:  # as `defian train --compile` does (the first updates, the warm-up, compile)
        model = torch.compile(model)
    opt, scaler = adam(params, lr=1e-4), grad_scaler(device.type, args.precision)  # as defian.train.loop's
    p, s = args.patch, args.scale
    lr_b, hr_b = torch.rand(args.batch, 3, p, p, device=device), torch.rand(args.batch, 3, s * p, s * p, device=device)
    if args.layout == "nhwc":
        lr_b = lr_b.contiguous(memory_format=torch.channels_last)

    def update() -> None:
        forward_backward(model, opt, scaler, params, lr_b, hr_b, AMP[args.precision], 0.0)
        scaler.step(opt)  # opt.step() unless fp16
        scaler.update()

    def flops() -> int:
        with FlopCounterMode(display=False) as counter:
            forward_backward(eager, opt, scaler, params, lr_b, hr_b, AMP[args.precision], 0.0)
        return counter.get_total_flops()

    return update, flops


def _conv_step(precision: str, fmt: torch.memory_format, device: torch.device):  # noqa: ANN202 (a closure)
    """One forward + backward of a 64->64 3x3 convolution on (16, 64, 96, 96) in layout ``fmt``:
    the dense rate the floor is measured at (the better of NCHW and NHWC)."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
    conv.weight.data = conv.weight.data.contiguous(memory_format=fmt)
    x = torch.rand(16, 64, 96, 96, device=device).contiguous(memory_format=fmt).requires_grad_()

    def step() -> None:
        with torch.autocast(device.type, dtype=AMP[precision] or torch.float32, enabled=AMP[precision] is not None):
            y = conv(x)
        y.float().sum().backward()
        _sync(device)

    return step


def _rate(step) -> float:  # noqa: ANN001
    """FLOP/s of one timed call of a :func:`_conv_step`."""
    flops = 3 * 2 * 16 * 96 * 96 * 64 * 64 * 9  # forward, grad-input, grad-weight
    t = time.perf_counter()  # the step synchronises at its end, and the last call before it did too
    step()
    return flops / (time.perf_counter() - t)


def measure(args: argparse.Namespace) -> dict:
    """Per-update times of DeFiAN_S and RCAN_S (alternating rounds) and the floor.

    DeFiAN_S / RCAN_S is the median of the per-round ratios, so a change of load between
    rounds moves numerator and denominator together; the order within a round alternates
    (DeFiAN_S first in even rounds, RCAN_S first in odd ones), so that neither model
    always runs after the other's memory traffic. The dense rate of the floor is the
    best of the convolutions before and after the rounds (``ratio_to_floor``); on a
    machine whose speed drifts, that best rate is an optimistic one that the rounds
    seldom see, so the rate is also measured after every round (the better of one NCHW
    and one NHWC convolution) and ``ratio_to_round_floor`` is the median over rounds of
    each round's time over its own floor. (The convolution's large tensors leave the next
    update a cold cache: a few milliseconds of refill in an update of seconds, shared by
    both models through the ABBA order.)
    """
    device = torch.device(args.device)
    fns = {name: _update_fn(name, args) for name in ("defian_s", "rcan_s")}
    out: dict = {"config": {k: v for k, v in vars(args).items()
                            if k not in ("allocators", "json", "record", "allocator_label")},
                 "allocator": args.allocator_label,
                 "threads": torch.get_num_threads()}
    convs = [_conv_step(args.precision, fmt, device) for fmt in (torch.contiguous_format, torch.channels_last)]
    rates = [max(_rate(step) for step in convs for _ in range(4))]  # max: a slow first (warm-up) call never wins
    for name, (update, flops) in fns.items():
        out[name] = {"flops_per_update": flops()}
        for _ in range(args.warmup):
            update()
        if device.type == "cuda":  # both models stay resident: the update's own peak is reported apart
            _sync(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            update()
            _sync(device)
            peak = torch.cuda.max_memory_allocated(device)
            out[name].update(peak_memory_bytes=peak, update_peak_memory_bytes=peak - before)
    _sync(device)
    times: dict[str, list[float]] = {n: [] for n in fns}
    round_rates: list[float] = []
    for i in range(args.rounds):
        for name in (list(fns) if i % 2 == 0 else list(fns)[::-1]):  # ABBA: neither model always goes first
            update = fns[name][0]
            t = time.perf_counter()
            for _ in range(args.steps):
                update()
            _sync(device)
            times[name].append((time.perf_counter() - t) / args.steps)
        round_rates.append(max(_rate(step) for step in convs))
    rates.append(max(_rate(step) for step in convs for _ in range(3)))
    rate = max(rates)
    out["dense_conv_gflops"] = rate / 1e9
    out["dense_conv_gflops_before_after"] = [r / 1e9 for r in rates]
    out["dense_conv_gflops_rounds"] = [r / 1e9 for r in round_rates]
    for name in fns:
        t = statistics.median(times[name])
        flops = out[name]["flops_per_update"]
        floor = flops / rate
        per_round = [ti * r / flops for ti, r in zip(times[name], round_rates, strict=True)]  # time / round floor
        out[name].update(s_per_update=t, samples_per_s=args.batch / t, floor_s=floor, ratio_to_floor=t / floor,
                         ratio_to_round_floor=statistics.median(per_round), rounds=times[name])
    out["defian_over_rcan_time"] = statistics.median(a / b for a, b in zip(times["defian_s"], times["rcan_s"]))
    out["attention_flop_share"] = 1 - out["rcan_s"]["flops_per_update"] / out["defian_s"]["flops_per_update"]
    out["attention_time_share"] = 1 - 1 / out["defian_over_rcan_time"]
    return out


def conv_split(step: Callable[[], None], steps: int) -> tuple[float, float]:
    """Seconds per call of ``step`` in total and in convolutions, from :mod:`torch.profiler`
    self times over ``steps`` calls; a convolution is every event whose name has "conv"
    (forward, both gradients, the autograd nodes around them)."""
    from torch.profiler import profile

    with profile() as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6 / steps
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key.lower()) / 1e6 / steps
    return total, conv


def profile_split(args: argparse.Namespace) -> dict:
    """Where one update's time goes, per model: :func:`conv_split` over ``args.steps``
    updates after the warm-up, and the step's FLOPs (almost all of them convolutions')
    over the convolutions' time."""
    out = {}
    for name in ("defian_s", "rcan_s"):
        update, flops = _update_fn(name, args)
        n = flops()
        for _ in range(max(1, args.warmup)):
            update()
        total, conv = conv_split(update, args.steps)
        out[name] = {"s_per_update": total, "conv_share": conv / total, "conv_gflops": n / conv / 1e9}
    return out


def allocators(argv: list[str]) -> list[dict]:
    """Re-run this benchmark in subprocesses under each available allocator."""
    libdir = Path("/usr/lib/x86_64-linux-gnu")
    variants = [("glibc", {"DEFIAN_BENCH_MALLOPT": "0"}), ("glibc+mallopt", {"DEFIAN_BENCH_MALLOPT": "1"})]
    for name, lib in (("jemalloc", "libjemalloc.so.2"), ("tcmalloc", "libtcmalloc_minimal.so.4")):
        if (libdir / lib).is_file():
            variants.append((name, {"LD_PRELOAD": str(libdir / lib), "DEFIAN_BENCH_MALLOPT": "0"}))
    rows = []
    for name, env in variants:
        cmd = [sys.executable, __file__, *[a for a in argv if a != "--allocators"], "--json", "-"]
        done = subprocess.run(cmd, env={**os.environ, **env, "DEFIAN_BENCH_ALLOCATOR": name},
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def record(res: dict, path: Path) -> dict:
    """Append ``res`` to the JSON-lines file ``path`` (atomically: the file is rewritten), with
    where it came from: run number in the file, UTC date, commit, timing method, CPU."""
    path = Path(path)
    lines = path.read_text().splitlines() if path.is_file() else []
    cfg, env = res["config"], provenance.environment()
    machine = env["cpu"] if torch.device(cfg["device"]).type == "cpu" else f"{env['device']} (CUDA {env['cuda']}); host {env['cpu']}"
    row = {"run": len(lines) + 1, "date": env["utc"], "commit": env["git_commit"],
           "method": METHOD.format(rounds=cfg["rounds"], steps=cfg["steps"]), "machine": machine,
           "torch": env["torch"], **res}
    write_atomic(path, "\n".join([*lines, json.dumps(row)]) + "\n")
    return row


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 warm-up update and 2 rounds of 1 update each")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)  # paper IV-B2
    p.add_argument("--patch", type=int, default=48)  # paper IV-A1
    p.add_argument("--switch", dest="switches", action="append", type=parse_switch, metavar="KEY=VALUE")
    p.add_argument("--precision", choices=sorted(AMP), default="fp32", help="fp16: CUDA only")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:k] (a GPU: samples/s and peak memory)")
    p.add_argument("--layout", choices=("nhwc", "nchw"), default="nhwc",
                   help="memory format of weights and batches (defian train: nhwc unless --no-channels-last)")
    p.add_argument("--compile", action="store_true", help="torch.compile both models (defian train --compile)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=1, help="updates per model per timed round")
    p.add_argument("--allocators", action="store_true", help="compare malloc implementations (subprocesses)")
    p.add_argument("--profile", action="store_true",
                   help="instead of the rounds: each model's share of time in convolutions, and their FLOP rate")
    p.add_argument("--json", default=None, help="write the result as JSON to this file ('-': stdout)")
    p.add_argument("--record", type=Path, default=None,
                   help="append the result, with commit, date and CPU, as one line to this JSON-lines file")
    args = p.parse_args(argv)
    if args.quick:
        args.warmup, args.rounds, args.steps = 1, 2, 1
    try:
        device = torch.device(args.device)
    except RuntimeError:
        p.error(f"--device {args.device!r} is not a device: cpu or cuda[:k]")
    if args.precision == "fp16" and device.type != "cuda":
        p.error("--precision fp16 needs --device cuda (a GradScaler); use bf16 on CPU")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            p.error(f"--device {args.device}: CUDA is not available here")
        torch.backends.cudnn.benchmark = True  # as defian.train.loop on CUDA
    if args.profile and device.type != "cpu":
        p.error("--profile splits CPU time; on a GPU use torch.profiler's CUDA activities instead")
    if args.record and (args.allocators or args.profile):
        p.error("--record keeps the rounds' result; it does not apply to --allocators or --profile")
    if args.allocators:
        for r in allocators(argv):
            d = r["defian_s"]
            print(f"{r['allocator']:>14}: DeFiAN_S {d['samples_per_s']:7.2f} samples/s "
                  f"({d['s_per_update']:.3f} s/update), RCAN_S {r['rcan_s']['samples_per_s']:7.2f} samples/s")
        return 0
    args.allocator_label = os.environ.get("DEFIAN_BENCH_ALLOCATOR", distributed.preloaded_allocator())
    if os.environ.get("DEFIAN_BENCH_MALLOPT", "1") == "1" and distributed.tune_glibc_malloc():
        args.allocator_label = "glibc+mallopt"
    if args.profile:
        for name, r in profile_split(args).items():
            print(f"{name:>8}: {r['s_per_update']:.3f} s/update (profiled), {100 * r['conv_share']:.0f}% in "
                  f"convolutions at {r['conv_gflops']:.0f} GFLOP/s, {100 * (1 - r['conv_share']):.0f}% elsewhere")
        return 0
    res = measure(args)
    if args.json == "-":
        print(json.dumps(res))
        return 0
    if args.json:
        write_atomic(args.json, json.dumps(res, indent=2))
    if args.record:
        print(f"recorded as run {record(res, args.record)['run']} of {args.record}")
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{res['threads']} threads, allocator {res['allocator']}")
    print(f"x{args.scale}, batch {args.batch}, {args.patch}x{args.patch} LR, {args.precision}, {args.layout}"
          f"{', compiled' if args.compile else ''}, {where}; dense conv {res['dense_conv_gflops']:.0f} GFLOP/s")
    for name in ("defian_s", "rcan_s"):
        r = res[name]
        print(f"  {name:>8}: {r['samples_per_s']:7.2f} samples/s, {r['s_per_update']:.3f} s/update, "
              f"{r['flops_per_update'] / 1e9:.1f} GFLOP/update, floor {r['floor_s']:.3f} s, "
              f"x{r['ratio_to_floor']:.2f} the floor (x{r['ratio_to_round_floor']:.2f} each round's floor)"
              + (f", peak memory {r['peak_memory_bytes'] / 2**30:.2f} GiB ({r['update_peak_memory_bytes'] / 2**30:.2f}"
                 " GiB above the resident models)" if "peak_memory_bytes" in r else ""))
    print(f"  DeFiAN_S / RCAN_S time per update: {res['defian_over_rcan_time']:.2f} (aim <= 1.10); attention "
          f"branch: {100 * res['attention_flop_share']:.1f}% of FLOPs, {100 * res['attention_time_share']:.1f}% of time")
    print("  (shared machine: timings are noisy; compare ratios within one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
