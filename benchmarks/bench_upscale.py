"""Peak memory of ``defian upscale`` on the CPU: DeFiAN_L x2 on a 2K image, exact tiling vs the whole image.

Run ``python benchmarks/bench_upscale.py`` (``--size 270x512`` for a quick check; ``--record FILE``
appends the result as one JSON line). The model is DeFiAN_L x2 with seeded random weights (memory
and the tiled/untiled equality do not depend on training), saved as a training checkpoint; the
image is scikit-image's astronaut resized to the LR size (default 1080x2048, DCI 2K, so the output
is 4K). Each variant runs the command's own path (:func:`defian.report.upscale.upscale_files`,
through :func:`defian.kernels.accelerate`) in a fresh process, whose peak resident set size
(``ru_maxrss``) is then the command's; the float outputs before rounding are compared (exact
tiling must equal the whole-image forward to float32 rounding, ``< 1e-4``, as notebook 08
asserts for DeFiAN_S). Reported: peak RSS of each variant, the RSS before the image was read,
their ratio, seconds, and how many output bytes differ after rounding.

``--trunk 2x2`` keeps DeFiAN_L's width (C = 64) and attention branch but only N = 2 modules of
M = 2 RCABs: under ``torch.no_grad`` one module's activations are alive at a time, so the peak
per pixel is that of the whole DeFiAN_L (only the weights, counted in the RSS before the image,
are smaller), at about a fortieth of the time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from defian import provenance  # noqa: E402
from defian.atomic import write_atomic  # noqa: E402

MODEL, SCALE = "defian_l", 2


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(checkpoint: Path, image: Path, out: Path, tile: int) -> dict:
    """One variant in this process: the command's path, the float output kept for the comparison."""
    import torch

    from defian.report import inference, upscale

    kept = {}
    to_uint8 = inference.to_uint8

    def keep(sr: torch.Tensor) -> np.ndarray:  # the float SR image just before rounding (no copy)
        kept["sr"] = sr
        return to_uint8(sr)

    inference.to_uint8 = keep
    up = upscale.load_upscaler(checkpoint=checkpoint, tile=tile, device="cpu")
    base = _rss_mb()
    t0 = time.perf_counter()
    upscale.upscale_files([image], out, up, progress=False)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    np.save(out / "sr.npy", kept["sr"][0].numpy())
    return {"tile": tile, "peak_rss_mb": round(peak, 1), "rss_before_image_mb": round(base, 1),
            "seconds": round(seconds, 2), "threads": torch.get_num_threads()}


def prepare(folder: Path, h: int, w: int, trunk: dict[str, int], seed: int = 0) -> tuple[Path, Path]:
    """A DeFiAN_L x2 training checkpoint (``trunk``: n_modules/n_blocks overrides) with seeded random
    weights, and an h x w RGB PNG."""
    import torch
    from PIL import Image
    from skimage import data

    from defian.nn.model import build_model
    from defian.train import checkpoint
    from defian.train.config import TrainConfig

    torch.manual_seed(seed)
    cfg = TrainConfig(model=MODEL, scale=SCALE, switches=dict(trunk), schedule="full")
    ckpt = folder / "defian_l_x2_random.pt"
    torch.save({"format": checkpoint.FORMAT, "update": 0, "model": build_model(MODEL, SCALE, **trunk).state_dict(),
                "ema": None, "best": {}, "config": cfg.to_dict()}, ckpt)
    image = folder / "lr.png"
    Image.fromarray(data.astronaut()).resize((w, h), Image.Resampling.BICUBIC).save(image)
    return ckpt, image


def run(h: int, w: int, tile: int, trunk: dict[str, int] | None = None) -> dict:
    """Both variants (tiled first), each in a fresh process; their comparison."""
    with tempfile.TemporaryDirectory(prefix="bench_upscale_") as tmp:
        folder = Path(tmp)
        ckpt, image = prepare(folder, h, w, trunk or {})
        rows = []
        for t in (tile, 0):
            out = folder / f"tile{t}"
            cmd = [sys.executable, __file__, "--child", str(t), str(ckpt), str(image), str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        tiled, whole = (np.load(folder / f"tile{t}" / "sr.npy") for t in (tile, 0))
        max_diff = float(np.abs(tiled - whole).max())
        from PIL import Image

        a, b = (np.asarray(Image.open(folder / f"tile{t}" / "lr_x2.png")) for t in (tile, 0))
        bytes_differ = int((a != b).sum())
    assert max_diff < 1e-4, f"tiled output differs from the whole-image output by {max_diff}"
    return {"model": MODEL, "trunk": trunk or "full", "scale": SCALE, "lr_h": h, "lr_w": w, "tiled": rows[0],
            "whole": rows[1],
            "peak_ratio_tiled_to_whole": round(rows[0]["peak_rss_mb"] / rows[1]["peak_rss_mb"], 3),
            "time_ratio_tiled_to_whole": round(rows[0]["seconds"] / rows[1]["seconds"], 3),
            "max_abs_diff_float": max_diff, "output_bytes_differing": bytes_differ, "output_bytes": a.size}


def record(res: dict, path: Path) -> dict:
    """Append ``res`` to the JSON-lines file ``path`` with its provenance (run number, date, commit, CPU)."""
    lines = path.read_text().splitlines() if path.is_file() else []
    env = provenance.environment()
    row = {"run": len(lines) + 1, "date": env["utc"], "commit": env["git_commit"], "machine": env["cpu"],
           "torch": env["torch"], **res}
    write_atomic(path, "\n".join([*lines, json.dumps(row)]) + "\n")
    return row


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        tile, ckpt, image, out = int(argv[1]), Path(argv[2]), Path(argv[3]), Path(argv[4])
        print(json.dumps(child(ckpt, image, out, tile)))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1080x2048", help="LR height x width (default 1080x2048: DCI 2K)")
    p.add_argument("--tile", type=int, default=None, help="LR tile side (default: defian upscale's)")
    p.add_argument("--trunk", default="", metavar="NxM",
                   help="N modules of M RCABs instead of DeFiAN_L's 10x20 (same width, same peak per pixel)")
    p.add_argument("--record", type=Path, help="append the result as one JSON line to this file")
    args = p.parse_args(argv)
    from defian.report.upscale import DEFAULT_TILE

    h, w = (int(v) for v in args.size.lower().split("x"))
    trunk = dict(zip(("n_modules", "n_blocks"), map(int, args.trunk.lower().split("x")), strict=True)) \
        if args.trunk else None
    res = run(h, w, DEFAULT_TILE if args.tile is None else args.tile, trunk)
    for name in ("tiled", "whole"):
        r = res[name]
        print(f"{name:5s} tile {r['tile']:4d}: peak RSS {r['peak_rss_mb']:8.1f} MB (before the image "
              f"{r['rss_before_image_mb']:.1f} MB), {r['seconds']:.1f} s, {r['threads']} threads")
    print(f"{MODEL} x{SCALE} (trunk {args.trunk or 'full'}) on {h}x{w}: peak tiled/whole "
          f"{res['peak_ratio_tiled_to_whole']:.3f}, time tiled/whole {res['time_ratio_tiled_to_whole']:.3f}; "
          f"max |tiled - whole| {res['max_abs_diff_float']:.2e}, "
          f"{res['output_bytes_differing']} of {res['output_bytes']} output bytes differ after rounding")
    if args.record:
        print(f"recorded as run {record(res, args.record)['run']} of {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
