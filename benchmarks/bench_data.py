"""Throughput of the training data pipeline (Sec. IV-A1) and of LR generation.

Run ``python benchmarks/bench_data.py`` (``--quick`` for a seconds-long check;
``--data-root DIR`` or ``$DEFIAN_DATA`` for real data, else the embedded default).
It prints:

1. samples/s of a ``DataLoader`` over :class:`defian.data.trainset.TrainSet` (x2, 48x48
   LR patches, batch 16, flips/rotations on), for 0, 1, 2, ... workers, with the
   decoded images held in memory and read from disk per sample, and the speed-up
   of each setting over the single-process in-memory loader;
2. the time :func:`defian.data.imresize.imresize` takes for one DIV2K-sized image
   (2040x1356 RGB) at 1/2, 1/3, 1/4, and what that means for the 800 DIV2K
   images (the one-off LR cache).

Times are wall-clock minima over repeats; on a shared machine compare ratios.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from defian import paths
from defian.data import trainset, images
from defian.data.imresize import imresize


def loader_rows(files: list[Path], cache: Path, workers: list[int], batches: int, batch: int = 16,
                scale: int = 2, patch: int = 48) -> list[dict]:
    """samples/s of the DataLoader for each worker count, in memory and from disk."""
    rows = []
    for in_memory in (True, False):
        ds = trainset.TrainSet(files, scale, patch, seed=0, cache_dir=cache, in_memory=in_memory)
        for w in workers:
            sampler = trainset.TrainSampler(len(ds), seed=0, total=(batches + 2) * batch)
            loader = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=w,
                                                 persistent_workers=False, prefetch_factor=4 if w else None)
            it = iter(loader)
            next(it), next(it)  # warm-up: worker start, first decodes
            t0 = time.perf_counter()
            n = sum(lr.shape[0] for lr, _ in it)
            rate = n / (time.perf_counter() - t0)
            rows.append({"images": "in memory" if in_memory else "from disk", "workers": w, "samples_per_s": rate,
                         "batches_per_s": rate / batch})
    base = rows[0]["samples_per_s"]
    for r in rows:
        r["vs_1proc_in_memory"] = r["samples_per_s"] / base
    return rows


def imresize_rows(repeats: int = 2) -> list[dict]:
    """Seconds per DIV2K-sized image for each downscaling factor."""
    img = np.random.default_rng(0).integers(0, 256, (1356, 2040, 3), dtype=np.uint8)
    rows = []
    for s in (2, 3, 4):
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            imresize(images.mod_crop(img, s), 1 / s)
            best = min(best, time.perf_counter() - t0)
        rows.append({"scale": s, "s_per_image": best, "div2k_800_min": best * 800 / 60})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few batches, workers 0 and 2 only")
    ap.add_argument("--data-root", default="", help="data root (default: $DEFIAN_DATA, else the embedded default)")
    ap.add_argument("--max-workers", type=int, default=min(8, os.cpu_count() or 1))
    args = ap.parse_args()
    root = paths.data_root(args.data_root or None)
    files = trainset.embedded_images("train") if root is None else trainset.find_training_images(root)[0]
    workers = [0, 2] if args.quick else sorted({0, 1, 2, 4, args.max_workers} & set(range(args.max_workers + 1)))
    batches = 10 if args.quick else 60
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-image skips
        cache = Path(tmp) if root is None else images.cache_root(root)
        print(f"data: {'embedded default' if root is None else root} ({len(files)} HR images); "
              f"{os.cpu_count()} CPUs; x2, 48x48 LR patches, batch 16")
        for r in loader_rows(files, cache, workers, batches):
            print(f"  {r['images']:>9}, {r['workers']} workers: {r['samples_per_s']:8.1f} samples/s "
                  f"({r['batches_per_s']:6.1f} batches/s, x{r['vs_1proc_in_memory']:.2f})")
    print("imresize, one 2040x1356 RGB image (DIV2K size):")
    for r in imresize_rows(1 if args.quick else 3):
        print(f"  1/{r['scale']}: {r['s_per_image']:.3f} s/image -> {r['div2k_800_min']:.1f} min for 800 images")


if __name__ == "__main__":
    main()
