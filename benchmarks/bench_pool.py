"""Speed of the global average pool's backward: :func:`defian.kernels.pooling.spatial_mean` vs ``x.mean``.

Run ``python benchmarks/bench_pool.py`` (``--quick`` for a seconds-long check). On a
DeFiAN_S feature batch (channels-last) it times the forward and backward of the part
of an RCAB's channel attention where the pool's gradient meets the feature's other
gradient, ``r * sigmoid(pool(r) * w)``, with each pool, in float32 and in bfloat16:
minima over interleaved rounds, their ratio, and whether the two gradients are equal
(they must be, bit for bit). Only the ratios are meaningful across machines.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gate import timing_cli  # noqa: E402
from bench_mshf import DEFAULT_SHAPE, _min_times  # noqa: E402

from defian.kernels.pooling import spatial_mean  # noqa: E402

POOLS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "spatial_mean": spatial_mean, "x.mean": lambda x: x.mean(dim=(2, 3), keepdim=True)}


def rows(shape: tuple[int, int, int, int] = DEFAULT_SHAPE, rounds: int = 20, clock: str = "wall",
         seed: int = 0) -> list[dict]:
    """One row per dtype: forward+backward ms with each pool, their ratio, whether the gradients agree."""
    out = []
    for dtype in (torch.float32, torch.bfloat16):
        g = torch.Generator().manual_seed(seed)
        r = torch.randn(shape, generator=g).to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
        w = torch.randn(shape[0], shape[1], 1, 1, generator=g).to(dtype)
        weight = torch.randn(shape, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)

        def run(pool: Callable, r: torch.Tensor = r, w: torch.Tensor = w, weight: torch.Tensor = weight
                ) -> Callable[[], torch.Tensor]:
            return lambda: torch.autograd.grad(r * torch.sigmoid(pool(r) * w), r, weight)[0]

        t = _min_times({name: run(pool) for name, pool in POOLS.items()}, rounds, clock)
        grads = [run(pool)() for pool in POOLS.values()]
        out.append({"dtype": str(dtype).removeprefix("torch."), "spatial_mean_ms": 1e3 * t["spatial_mean"],
                    "mean_ms": 1e3 * t["x.mean"], "ratio": t["spatial_mean"] / t["x.mean"],
                    "equal_gradients": bool(torch.equal(*grads))})
    return out


def main(argv: list[str] | None = None) -> None:
    args, shape, rounds = timing_cli(__doc__.split("\n\n")[0], argv)
    print(f"shape {shape}, {args.threads} threads, {args.clock} clock, min over {rounds} interleaved rounds; "
          "r * sigmoid(pool(r) * w), forward + backward")
    for r in rows(shape, rounds, args.clock):
        print(f"  {r['dtype']:9s} spatial_mean {r['spatial_mean_ms']:6.3f} ms / x.mean {r['mean_ms']:6.3f} ms "
              f"= {r['ratio']:.2f}   gradients equal: {r['equal_gradients']}")


if __name__ == "__main__":
    main()
