"""Evaluation of a model on the benchmark sets (Sec. IV-A2; the PSNR/SSIM columns of Tables I-V).

``evaluate`` super-resolves every image of every benchmark set present under a
data root (:func:`defian.data.testsets.find`) and scores it with the paper's
protocol (:mod:`defian.data.metrics`: Y channel, ``scale`` border pixels cropped;
LR by MATLAB bicubic). It writes, into one folder::

    per_image.csv    method, set, scale, image, psnr, ssim, lr_h, lr_w, seconds, peak_mb
    per_set.csv      method, set, scale, images, psnr, ssim, protocol, self_ensemble, tile, data
    evaluation.json  what was evaluated: checkpoint, run, update, protocol, device, data
    images/<set>/x<s>/<image>.png   (only with ``save_images``)

The SR image is rounded to bytes before scoring (the paper scores byte images,
footnote of Table I). Table rows are means of per-image scores.

Tiled inference (``tile > 0``, exact for DeFiAN's global statistics) and the
self-ensemble are :mod:`defian.report.inference`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from defian import paths, provenance
from defian.data import testsets, metrics
from defian.report import inference
from defian.atomic import write_atomic
from defian.kernels import accelerate

__all__ = ["Evaluation", "evaluate", "evaluate_run", "evaluation_dir", "integer_scale", "is_lfr_checkpoint",
           "load_model", "main", "read_evaluation"]

PER_IMAGE = ("method", "set", "scale", "image", "psnr", "ssim", "lr_h", "lr_w", "seconds", "peak_mb")
PER_SET = ("method", "set", "scale", "images", "psnr", "ssim", "protocol", "self_ensemble", "tile", "data")


# --- models --------------------------------------------------------------------------------------
def load_model(path: str | os.PathLike[str], scale: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A model from one of our training checkpoints or from an authors' released ``.pth``.

    Args:
        path: ``<run>/last.pt`` / ``best.pt`` (:mod:`defian.train.checkpoint`; its EMA weights
            when it has them, as training validated them), or a released
            ``DeFiAN_[SL]_x<s>.pth`` (loaded through :func:`defian.nn.released.from_released`).
        scale: Needed for a released file (its layout does not say it for sure).

    Returns:
        ``(model in eval mode on the CPU, info)``; ``info`` names the source, update and weights.
    """
    from defian.train import checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    obj = checkpoint.read_file(path)  # CheckpointError (a ValueError) names a truncated or corrupt file
    if isinstance(obj, dict) and obj.get("format") == checkpoint.FORMAT and "config" in obj:
        from defian.nn.model import PRESETS, build_model
        from defian.train.config import model_names

        cfg = obj["config"]
        if cfg["model"] not in PRESETS:
            model_names()  # a registered family (Part II's U-HDN) is imported before it is built
        model = accelerate(build_model(cfg["model"], cfg["scale"], **cfg["switches"]))
        weights = "ema" if obj.get("ema") is not None else "model"
        model.load_state_dict(obj[weights])
        info = {"source": "training checkpoint", "checkpoint": path.name, "update": int(obj["update"]),
                "weights": weights, "model": cfg["model"], "switches": cfg["switches"]}
        return model.eval(), info
    if scale is None:
        raise ValueError(f"{str(path)!r} is not one of our training checkpoints; for a released checkpoint "
                         "give its scale (--scale 2|3|4)")
    from defian.nn import released

    model = accelerate(released.load_released(path, scale=scale))
    info = {"source": "released checkpoint", "checkpoint": path.name, "update": None, "weights": "released",
            "model": _preset_of(model), "switches": {}, "epoch": obj.get("epoch") if isinstance(obj, dict) else None}
    return model.eval(), info


def _preset_of(model: nn.Module) -> str:
    """"defian_s", "rcan_l", ... or a description, from a model's config (else its class name)."""
    c = getattr(model, "config", None)
    if c is None:
        return type(model).__name__
    family = "defian" if c.switches.any else "rcan"
    size = {(5, 10, 32): "s", (10, 20, 64): "l"}.get((c.n_modules, c.n_blocks, c.channels))
    return f"{family}_{size}" if size else f"{family}_N{c.n_modules}M{c.n_blocks}C{c.channels}"


# --- evaluation ----------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Scores of one method: per image, per (set, scale), and what produced them."""

    per_image: pd.DataFrame
    per_set: pd.DataFrame
    meta: dict[str, Any]

    def score(self, set_name: str, scale: int, metric: str = "psnr") -> float | None:
        """The mean ``metric`` of one set at one scale, or None when not evaluated."""
        hit = self.per_set[(self.per_set["set"] == set_name) & (self.per_set["scale"] == scale)]
        return None if hit.empty else float(hit[metric].iloc[0])


_IDENTITY = ("method", "update", "checkpoint", "protocol", "self_ensemble", "data", "limit")


def read_evaluation(folder: str | os.PathLike[str]) -> Evaluation:
    """Read a folder written by :func:`evaluate`."""
    folder = Path(folder)
    if not (folder / "per_set.csv").is_file():
        raise FileNotFoundError(f"{str(folder)!r} holds no evaluation (per_set.csv)")
    meta = json.loads((folder / "evaluation.json").read_text()) if (folder / "evaluation.json").is_file() else {}
    return Evaluation(pd.read_csv(folder / "per_image.csv"), pd.read_csv(folder / "per_set.csv"), meta)


def _merge(old: Evaluation | None, new: Evaluation) -> Evaluation:
    """New rows replace old rows of the same (set, scale); other old rows stay if the identity matches."""
    if old is None or any(old.meta.get(k) != new.meta.get(k) for k in _IDENTITY):
        return new
    keys = set(zip(new.per_set["set"], new.per_set["scale"], strict=True))

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df[[(s, c) not in keys for s, c in zip(df["set"], df["scale"], strict=True)]]

    per_image = pd.concat([keep(old.per_image), new.per_image], ignore_index=True)
    per_set = pd.concat([keep(old.per_set), new.per_set], ignore_index=True)
    return Evaluation(per_image, per_set.sort_values(["scale", "set"], kind="stable", ignore_index=True), new.meta)


def _save_png(path: Path, img: np.ndarray) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())


def evaluate(model: nn.Module | None, scales: int | Sequence[int], *, data_root: str | None = None,
             sets: Sequence[str] | None = None, protocol: str = "paper", tile: int = 0, ensemble: bool = False,
             out_dir: str | os.PathLike[str] | None = None, save_images: bool = False, limit: int | None = None,
             device: str = "auto", method: str | None = None, meta: dict[str, Any] | None = None) -> Evaluation:
    """Score ``model`` (``None``: bicubic upscaling) on every benchmark set present.

    Args:
        model: A network mapping (1, 3, h, w) in [0, 1] to (1, 3, s h, s w), or None for Bicubic.
        scales: Upscaling factor(s); a model is scored at its own scale only.
        data_root: Data root ("" or None: ``$DEFIAN_DATA``, else the embedded test set).
        sets: Sets to score (default: every set found; an absent one is an error).
        protocol: A key of :data:`defian.data.metrics.PROTOCOLS` (``"paper"``).
        tile: LR tile side for :func:`tiled_forward`; 0 = whole image.
        ensemble: x8 self-ensemble (not the paper's protocol; labelled).
        out_dir: Folder for the CSVs/JSON (merged with an earlier evaluation of the same model).
        save_images: Also write the SR images (PNG) under ``out_dir/images``.
        limit: Only the first ``limit`` images of each set.
        device: "auto", "cpu", "cuda", ...
        method: Row label (default: the model's preset, ``+`` appended for x8; "Bicubic").
        meta: Extra facts for evaluation.json (run, update, ...).

    Returns:
        The :class:`Evaluation` (the merged one when ``out_dir`` held an earlier one).
    """
    if protocol not in metrics.PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(metrics.PROTOCOLS)}")
    proto = metrics.PROTOCOLS[protocol]
    scales = [scales] if isinstance(scales, int) else list(scales)
    if model is not None and scales != [model.scale]:
        raise ValueError(f"model is built for x{model.scale}; asked to score it at {scales}")
    if save_images and out_dir is None:
        raise ValueError("save_images needs out_dir")
    root = paths.data_root(data_root)
    present = testsets.find(root)
    names = list(present) if sets is None else list(sets)
    absent = [n for n in names if n not in present]
    if absent:
        raise FileNotFoundError(f"set(s) {absent} not found; present: {', '.join(present)}")
    dev = inference.resolve_device(device)
    label = method or ("Bicubic" if model is None else _preset_of(model))
    if ensemble and not label.endswith("+"):
        label += "+"
    if model is not None:
        model = model.to(dev).eval()
    data = "embedded test set" if root is None else "benchmarks under the data root"
    images_dir = Path(out_dir) / "images" if save_images else None
    rows, set_rows = [], []
    for name in names:
        for s in scales:
            scores = _score_set(model, root, name, s, proto, label, dev, tile, ensemble, limit, images_dir)
            rows += scores
            set_rows.append({"method": label, "set": name, "scale": s, "images": len(scores),
                             "psnr": float(np.mean([r["psnr"] for r in scores])),
                             "ssim": float(np.mean([r["ssim"] for r in scores])), "protocol": protocol,
                             "self_ensemble": ensemble, "tile": tile, "data": data})
    info = {"method": label, "protocol": protocol, "lr_method": proto.lr_method, "self_ensemble": ensemble,
            "tile": tile, "data": data, "device": str(dev), "update": None, "checkpoint": None, "limit": limit,
            "memory": "CUDA allocator peak" if dev.type == "cuda" else "sampled RSS growth (approximate)",
            "environment": provenance.environment(), **(meta or {})}
    result = Evaluation(pd.DataFrame(rows, columns=PER_IMAGE), pd.DataFrame(set_rows, columns=PER_SET), info)
    return result if out_dir is None else _write(result, Path(out_dir))


def _score_set(model: nn.Module | None, root: Path | None, name: str, scale: int, proto: metrics.Protocol,
               label: str, dev: torch.device, tile: int, ensemble: bool, limit: int | None,
               images_dir: Path | None) -> list[dict[str, Any]]:
    """One per-image row (:data:`PER_IMAGE`) for each image of set ``name`` at ``scale``."""
    rows = []
    for pair in testsets.load_pairs(root, name, scale, proto.lr_method, limit):
        with inference.PeakMemory(dev) as mem:
            t0 = time.perf_counter()
            if model is None:
                sr8 = testsets.upscale(pair.lr, scale, proto.lr_method)
            else:
                sr8 = inference.to_uint8(inference.super_resolve(model, pair.lr_tensor().to(dev), tile, ensemble))
            sec = time.perf_counter() - t0
        rows.append({"method": label, "set": name, "scale": scale, "image": pair.name,
                     "psnr": metrics.psnr(sr8, pair.hr, scale, proto), "ssim": metrics.ssim(sr8, pair.hr, scale, proto),
                     "lr_h": pair.lr.shape[0], "lr_w": pair.lr.shape[1], "seconds": sec, "peak_mb": mem.peak_mb})
        if images_dir is not None:
            _save_png(images_dir / name / f"x{scale}" / f"{pair.name}.png", sr8)
    return rows


def _write(result: Evaluation, out: Path) -> Evaluation:
    """Merge ``result`` with an earlier evaluation in ``out`` and write the three files atomically."""
    result = _merge(read_evaluation(out) if (out / "per_set.csv").is_file() else None, result)
    write_atomic(out / "per_image.csv", result.per_image.to_csv(index=False))
    write_atomic(out / "per_set.csv", result.per_set.to_csv(index=False))
    write_atomic(out / "evaluation.json", json.dumps(result.meta, indent=2, sort_keys=True, default=str) + "\n")
    return result


def evaluation_dir(run_dir: str | os.PathLike[str], which: str = "last", protocol: str = "paper",
                   ensemble: bool = False, limit: int | None = None) -> Path:
    """Where :func:`evaluate_run` writes: ``<run>/evaluation/<which>_<protocol>[_x8][_first<limit>]``.

    A partial evaluation (``limit``) has its own folder, so it never replaces a complete one.
    A partial evaluation of a committed record (under ``results/runs``) is a build's cache,
    not part of the record: it goes to ``_build/evaluations/runs/<run>/``, so that building
    the book never changes the committed tree.
    """
    tag = f"{which}_{protocol}{'_x8' if ensemble else ''}{f'_first{limit}' if limit else ''}"
    run_dir = Path(run_dir)
    if limit and run_dir.resolve().parent == paths.RUNS.resolve():
        return paths.BUILD / "evaluations" / "runs" / run_dir.name / tag
    return run_dir / "evaluation" / tag


def evaluate_run(run_dir: str | os.PathLike[str], *, which: str = "last", data_root: str | None = None,
                 sets: Sequence[str] | None = None, protocol: str = "paper", ensemble: bool = False,
                 tile: int = 0, limit: int | None = None, device: str = "auto", save_images: bool = False,
                 force: bool = False) -> Evaluation:
    """Evaluate a run record's checkpoint and store the result inside the run directory.

    ``which="last"`` (default) is the final model, as the paper reports; ``best.pt``
    is chosen on the validation set (Set5 by default), itself a test set, so it is
    not used for tables. An evaluation already stored for the same checkpoint
    update and covering ``sets`` is returned without recomputing (unless ``force``).
    """
    run_dir = Path(run_dir)
    ckpt = run_dir / f"{which}.pt"
    out = evaluation_dir(run_dir, which, protocol, ensemble, limit)
    model, info = load_model(ckpt)
    if not force and (out / "per_set.csv").is_file():
        old = read_evaluation(out)
        wanted = set(sets) if sets is not None else set(testsets.find(paths.data_root(data_root)))
        done = set(old.per_set.loc[old.per_set["scale"] == model.scale, "set"])
        if old.meta.get("update") == info["update"] and old.meta.get("limit") == limit and wanted <= done:
            return old
    meta = {"run": run_dir.name, "update": info["update"], "checkpoint": ckpt.name, "weights": info["weights"],
            "switches": info["switches"], "model": info["model"]}
    return evaluate(model, model.scale, data_root=data_root, sets=sets, protocol=protocol, tile=tile,
                    ensemble=ensemble, out_dir=out, save_images=save_images, limit=limit, device=device,
                    method=info["model"] + ("+" if ensemble else ""), meta=meta)


# --- command line --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``defian evaluate (--run DIR | --checkpoint FILE [--scale S] | --bicubic | --images DIR --scale S
    (--set NAME | --hr DIR)) [options]``."""
    ap = argparse.ArgumentParser(prog="defian evaluate", description="PSNR/SSIM on the benchmark sets with the "
                                 "paper's protocol (Sec. IV-A2); writes per_image.csv, per_set.csv, evaluation.json.")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", type=Path, help="a run directory: evaluate its checkpoint into <run>/evaluation/")
    what.add_argument("--checkpoint", type=Path, help="a training checkpoint or a released DeFiAN_*.pth")
    what.add_argument("--bicubic", action="store_true", help="the Bicubic rows (x2, x3, x4 unless --scales)")
    what.add_argument("--images", type=Path, help="a folder of super-resolved images (e.g. a method's released "
                      "outputs) to score; needs --scale and --set or --hr")
    ap.add_argument("--which", default="last", choices=("last", "best"), help="with --run: which checkpoint")
    ap.add_argument("--scale", type=float, help="scale of a released checkpoint, or of the --images; any s > 1 for "
                    "an LFR checkpoint (Part III), e.g. 2.5")
    ap.add_argument("--set", dest="set_name", help="with --images: the benchmark set whose HR (mod-cropped) to use")
    ap.add_argument("--hr", type=Path, help="with --images: a folder of HR images instead of --set (taken as it is)")
    ap.add_argument("--mod-crop", action="store_true", help="with --hr: mod-crop the HR images by the scale")
    ap.add_argument("--scales", type=float, nargs="+", default=[2, 3, 4], help="with --bicubic, or an LFR checkpoint")
    ap.add_argument("--data-root", default="", help="default: $DEFIAN_DATA, else the embedded test set")
    ap.add_argument("--sets", nargs="+", help=f"subset of {', '.join(testsets.SETS)} (default: all present)")
    ap.add_argument("--protocol", default="paper", choices=sorted(metrics.PROTOCOLS))
    ap.add_argument("--tile", type=int, default=0, help="LR tile side for exact tiled inference (0: whole image)")
    ap.add_argument("--self-ensemble", action="store_true", help="x8 flips/rotations (not the paper's protocol)")
    ap.add_argument("--save-images", action="store_true", help="also write the SR images (PNG)")
    ap.add_argument("--limit", type=int, help="first N images per set")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, help="output folder (default: <run>/evaluation/... or _build/evaluations/...)")
    args = ap.parse_args(argv)
    if args.tile < 0 or (args.limit is not None and args.limit < 1):
        ap.error("--tile must be >= 0 and --limit >= 1")
    try:
        if args.checkpoint is not None and is_lfr_checkpoint(args.checkpoint):
            return _evaluate_lfr(args)
        args.scale, args.scales = integer_scale(args.scale), [integer_scale(s) for s in args.scales]
    except (FileNotFoundError, ValueError) as err:
        print(f"defian evaluate: error: {err}", file=sys.stderr)
        return 2
    common = dict(data_root=args.data_root, sets=args.sets, protocol=args.protocol, ensemble=args.self_ensemble,
                  tile=args.tile, limit=args.limit, device=args.device, save_images=args.save_images)
    if args.images is not None:
        if args.scale is None or (args.set_name is None) == (args.hr is None):
            ap.error("--images needs --scale and exactly one of --set / --hr")
        return _score_images(args)
    try:
        if args.run is not None:
            result = evaluate_run(args.run, which=args.which, force=True, **common)
        elif args.bicubic:
            out = args.out or paths.BUILD / "evaluations" / f"bicubic_{args.protocol}"
            result = evaluate(None, args.scales, out_dir=out, **common)
        else:
            model, info = load_model(args.checkpoint, args.scale)
            out = args.out or paths.BUILD / "evaluations" / args.checkpoint.stem
            result = evaluate(model, model.scale, out_dir=out, meta={k: info[k] for k in ("checkpoint", "update")},
                              **common)
    except (FileNotFoundError, ValueError, TypeError) as err:
        print(f"defian evaluate: error: {err}", file=sys.stderr)
        return 2  # bad input (defian.cli answers every command's bad input with status 2)
    cols = ["method", "set", "scale", "images", "psnr", "ssim"]
    print(result.per_set[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def integer_scale(scale: float | None) -> int | None:
    """A fixed-scale model's, Bicubic's or a folder's scale: an integer (named error otherwise)."""
    if scale is None or float(scale).is_integer():
        return None if scale is None else int(scale)
    raise ValueError(f"scale {scale:g} is not an integer: only an LFR checkpoint (Part III, defian.lfr) "
                     "upscales by a non-integer factor")


def is_lfr_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a checkpoint of an arbitrary-scale (LFR) model (:mod:`defian.lfr.train`)."""
    from defian.lfr.model import PRESETS  # defian.lfr builds on this module: imported when asked
    from defian.train import checkpoint

    if not Path(path).is_file():
        return False  # load_model names the missing file
    obj = checkpoint.read_file(Path(path))
    return isinstance(obj, dict) and isinstance(obj.get("config"), dict) and obj["config"].get("model") in PRESETS


def _evaluate_lfr(args: argparse.Namespace) -> int:
    """``--checkpoint`` of an LFR model: PSNR/SSIM at ``--scale`` or each of ``--scales`` (any s > 1)."""
    from defian.lfr.evaluate import evaluate_scales, per_set
    from defian.lfr.train import load_lfr_model

    if args.protocol != "paper" or args.tile or args.self_ensemble or args.save_images:
        raise ValueError("an LFR checkpoint is scored with the paper's protocol, whole images, no self-ensemble "
                         "and no saved images (--protocol/--tile/--self-ensemble/--save-images not supported)")
    model, info = load_lfr_model(args.checkpoint)
    scales = [args.scale] if args.scale is not None else args.scales
    rows = evaluate_scales(model, scales, sets=args.sets, data_root=args.data_root or None, limit=args.limit,
                           device=str(inference.resolve_device(args.device)), method=info["model"])
    sets = per_set(rows)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out / "per_image.csv", rows.to_csv(index=False))
        write_atomic(args.out / "per_set.csv", sets.to_csv(index=False))
    cols = ["method", "set", "scale", "images", "psnr", "ssim"]
    print(sets[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _score_images(args: argparse.Namespace) -> int:
    """``--images``: score a folder of SR images (:func:`defian.report.folders.score_folder`)."""
    from defian.report import folders

    try:
        df = folders.score_folder(args.images, set_name=args.set_name, hr_dir=args.hr, scale=args.scale,
                                  protocol=args.protocol, data_root=args.data_root,
                                  mod_crop=True if args.mod_crop else None)
    except (FileNotFoundError, ValueError, TypeError) as err:  # FolderError is a ValueError
        print(f"defian evaluate: error: {err}", file=sys.stderr)
        return 2
    if args.out is not None:
        write_atomic(Path(args.out) / "per_image.csv", df.to_csv(index=False))
    against = args.set_name or str(args.hr)
    print(df[["image", "sr_file", "psnr", "ssim"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"mean of {len(df)} images vs {against} x{args.scale} ({args.protocol}): "
          f"PSNR {df['psnr'].mean():.4f} dB, SSIM {df['ssim'].mean():.4f}")
    return 0
