"""``defian upscale``: super-resolve your own images with a trained or a released DeFiAN.

``defian upscale IN [IN ...] (--checkpoint FILE | --run DIR) [--scale S] [--tile T] [--device D] -o OUT_DIR``
writes ``OUT_DIR/<stem>_x<S>.png`` for every input, each atomically.

What is read (:func:`read_image`): PNG, JPEG, BMP and TIFF (:data:`FORMATS`) with 8-bit
samples. Grey images go through the network as RGB (grey replicated, as training does)
and come back grey (ITU-R 601 luma of the result, Pillow's ``convert("L")``); an alpha
channel is not super-resolved but upscaled with MATLAB's bicubic
(:func:`defian.data.imresize.imresize`, the kernel that made the LR images) and kept;
palette images are expanded, bilevel ones become grey, CMYK and YCbCr become RGB.
16-bit and 32-bit images are refused by name: the models were trained on 8-bit images
and Pillow cannot hand over 16-bit RGB samples intact (convert first, e.g. ``v / 257``).
Output is always PNG (lossless, keeps grey and alpha).

Nothing is half-written: every input is opened and decoded, and the output folder
checked for writing, before the first image is super-resolved; each output is written
atomically (:func:`defian.atomic.write_atomic`), so Ctrl-C leaves complete images only.

The model (:func:`load_upscaler`): our training checkpoints (``<run>/last.pt``) and the
authors' released ``DeFiAN_[SL]_x<s>.pth`` (give ``--scale``), both through
:func:`defian.report.evaluate.load_model`. The forward is the exact tiled one
(:func:`defian.report.inference.tiled_forward`, equal to the whole-image forward to float
rounding), so memory is bounded by the LR feature maps, not by the upsampler's peak.

Extension point: an :class:`Upscaler` is only a scale and a function from a uint8 RGB
image to its uint8 SR image. The released models of :mod:`defian.zoo` fit it as
``Upscaler(scale, lambda img: defian.zoo.pipeline.super_resolve(spec, model, img), name)``;
a ``--model NAME`` option beside ``--checkpoint``/``--run`` in :func:`main` would build one.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from defian.atomic import write_atomic
from defian.data.images import ImageError, to_rgb
from defian.data.imresize import imresize
from defian.report import inference

__all__ = ["DEFAULT_TILE", "FORMATS", "Upscaler", "load_upscaler", "main", "output_name", "read_image",
           "upscale_array", "upscale_files"]

FORMATS = ("PNG", "JPEG", "BMP", "TIFF")  # Pillow's names of the formats read
DEFAULT_TILE = 256  # LR tile side: bounds memory on large images, costs a few % time (benchmarks/bench_upscale.py)
_EXPAND = {"P": "RGB", "PA": "RGBA", "1": "L", "CMYK": "RGB", "YCbCr": "RGB", "La": "LA", "RGBa": "RGBA"}


@dataclass(frozen=True)
class Upscaler:
    """What ``defian upscale`` runs: a scale and a map from uint8 RGB to uint8 RGB.

    Attributes:
        scale: The upscaling factor s.
        run: (h, w, 3) uint8 -> (s h, s w, 3) uint8.
        name: What was loaded, for the log line.
    """

    scale: float
    run: Callable[[np.ndarray], np.ndarray]
    name: str


def _device(name: str) -> torch.device:
    try:
        dev = inference.resolve_device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available here; choose cpu or auto")
    return dev


def load_upscaler(checkpoint: str | os.PathLike[str] | None = None, run: str | os.PathLike[str] | None = None,
                  scale: int | None = None, tile: int = DEFAULT_TILE, device: str = "auto") -> Upscaler:
    """The DeFiAN of a checkpoint file or of a run directory's ``last.pt``, as an :class:`Upscaler`.

    Args:
        checkpoint: A training checkpoint or a released ``DeFiAN_[SL]_x<s>.pth``.
        run: A run directory (its ``last.pt``); exactly one of ``checkpoint`` and ``run``.
        scale: Needed for a released file; for ours a check of the model's own scale.
        tile: LR tile side of the exact tiled forward; 0 = the whole image at once.
        device: "auto", "cpu", "cuda", "cuda:N".

    Raises:
        ValueError: Both or neither source, a bad tile or device, a scale that differs from the model's.
        FileNotFoundError / CheckpointError: No such file, or an unreadable one (named).
    """
    from defian.report.evaluate import integer_scale, is_lfr_checkpoint, load_model

    if (checkpoint is None) == (run is None):
        raise ValueError("give exactly one of --checkpoint FILE and --run DIR")
    if tile < 0:
        raise ValueError(f"--tile must be >= 0 (0: whole image), got {tile}")
    if run is not None:
        if not Path(run).is_dir():
            raise FileNotFoundError(f"run directory {str(run)!r} does not exist")
        checkpoint = Path(run) / "last.pt"
    dev = _device(device)
    if is_lfr_checkpoint(checkpoint):
        return _lfr_upscaler(checkpoint, scale, dev)
    scale = integer_scale(scale)
    model, info = load_model(checkpoint, scale)
    if scale is not None and model.scale != scale:
        raise ValueError(f"{str(checkpoint)!r} holds a x{model.scale} model; --scale {scale} was asked")
    model = model.to(dev).eval()

    def run_model(img: np.ndarray) -> np.ndarray:
        lr = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float().div_(255).to(dev)  # (1, 3, h, w)
        return inference.to_uint8(inference.super_resolve(model, lr, tile))  # (s h, s w, 3)

    return Upscaler(model.scale, run_model, f"{info['model']} x{model.scale} ({info['source']} {info['checkpoint']})")


def _lfr_upscaler(checkpoint: str | os.PathLike[str], scale: float | None, dev: torch.device) -> Upscaler:
    """An arbitrary-scale (LFR, Part III) model at ``scale``; it runs on whole images (no tiling)."""
    from defian.lfr.train import load_lfr_model

    if scale is None:
        raise ValueError(f"{str(checkpoint)!r} holds an any-scale (LFR) model: give --scale, e.g. 2.5")
    model, info = load_lfr_model(checkpoint)
    model.plan(float(scale))  # ScaleOutOfRange (a ValueError) names the range the model supports
    model = model.to(dev).eval()

    def run_model(img: np.ndarray) -> np.ndarray:
        lr = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float().div_(255).to(dev)  # (1, 3, h, w)
        with torch.no_grad():
            return inference.to_uint8(model(lr, float(scale)))  # (ceil(s h), ceil(s w), 3)

    return Upscaler(float(scale), run_model, f"{info['model']} x{scale:g} (LFR {info['checkpoint']})")


def _bits(im: Image.Image) -> int:
    """Bits per sample of an opened image (16 for 16-bit PNG/TIFF RGB, which Pillow would narrow)."""
    if im.mode in ("I", "F"):
        return 32
    rawmodes = [t.args if isinstance(t.args, str) else t.args[0] for t in im.tile if t.args]
    return 16 if im.mode.startswith("I;16") or any(";16" in str(r) for r in rawmodes) else 8


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image as uint8 (H, W) grey, (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA.

    Raises:
        FileNotFoundError: No such file.
        ImageError: Not an image, a format outside :data:`FORMATS`, 16/32-bit samples, or a
            truncated file; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image at {str(path)!r}")
    try:
        with Image.open(path) as im:
            if im.format not in FORMATS:
                raise ImageError(f"{path}: {im.format} image; defian upscale reads {', '.join(FORMATS)}")
            if _bits(im) != 8:
                raise ImageError(f"{path}: {_bits(im)}-bit samples (mode {im.mode}) refused; the models were "
                                 "trained on 8-bit images: convert it to 8-bit first (e.g. round(v / 257))")
            im.load()
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            elif im.mode in _EXPAND:
                im = im.convert(_EXPAND[im.mode])
            if im.mode not in ("L", "LA", "RGB", "RGBA"):
                raise ImageError(f"{path}: image mode {im.mode!r} is not supported")
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageError(f"{path}: not a readable {'/'.join(FORMATS)} image ({err})") from None


def upscale_array(img: np.ndarray, upscaler: Upscaler) -> np.ndarray:
    """Super-resolve an image from :func:`read_image`; grey stays grey, alpha is bicubic-upscaled.

    Returns:
        uint8 of the input's layout with s times its height and width.
    """
    colour = img if img.ndim == 2 else (img[..., :3] if img.shape[2] >= 3 else img[..., 0])  # (h, w[, 3])
    rgb = to_rgb(colour)
    sr = upscaler.run(rgb)  # (s h, s w, 3)
    if colour.ndim == 2:
        sr = np.asarray(Image.fromarray(sr, "RGB").convert("L"))
    if img.ndim == 3 and img.shape[2] in (2, 4):  # alpha: MATLAB bicubic, not the network
        alpha = imresize(np.ascontiguousarray(img[..., -1]), upscaler.scale)
        sr = np.dstack([sr, alpha])
    return sr


def output_name(path: str | os.PathLike[str], scale: float) -> str:
    """``photo.jpg`` -> ``photo_x2.png`` (``photo_x2.5.png`` at a non-integer scale)."""
    return f"{Path(path).stem}_x{scale:g}.png"


def _check_writable(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass  # PermissionError / OSError (read-only file system) before any work


def upscale_files(inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], upscaler: Upscaler,
                  progress: bool = True) -> list[Path]:
    """Super-resolve every input into ``out_dir``; everything is checked before the first image runs.

    Raises:
        ValueError: No input, or two inputs that would write the same output name.
        FileNotFoundError / ImageError: An input that is missing or not a supported image.
        OSError: ``out_dir`` cannot be created or written.
    """
    from tqdm import tqdm

    if not inputs:
        raise ValueError("no input image given")
    names: dict[str, Path] = {}
    pixels = 0
    for path in map(Path, inputs):
        h, w = read_image(path).shape[:2]  # decodes the whole file: a truncated one fails now
        pixels += h * w
        name = output_name(path, upscaler.scale)
        if name in names:
            raise ValueError(f"{names[name]} and {path} would both be written as {name}; rename one")
        names[name] = path
    out = Path(out_dir)
    _check_writable(out)
    written = []
    with tqdm(total=pixels, unit="px", unit_scale=True, disable=not progress, desc="upscale") as bar:
        for name, path in names.items():
            bar.set_postfix_str(path.name)
            img = read_image(path)
            buf = io.BytesIO()
            Image.fromarray(upscale_array(img, upscaler)).save(buf, format="PNG")
            written.append(write_atomic(out / name, buf.getvalue()))
            bar.update(img.shape[0] * img.shape[1])
    return written


def main(argv: list[str] | None = None) -> int:
    """``defian upscale IN [IN ...] (--checkpoint FILE | --run DIR) [--scale S] [--tile T] [--device D] -o OUT``."""
    ap = argparse.ArgumentParser(prog="defian upscale", description="Super-resolve images (PNG, JPEG, BMP, TIFF; "
                                 "8-bit grey, RGB, with or without alpha) with a DeFiAN; writes <stem>_x<S>.png.")
    ap.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="image files")
    what = ap.add_mutually_exclusive_group(required=True)  # the zoo's released models would add --model NAME here
    what.add_argument("--checkpoint", type=Path, help="a training checkpoint or a released DeFiAN_[SL]_x<s>.pth")
    what.add_argument("--run", type=Path, help="a run directory: its last.pt")
    ap.add_argument("--scale", type=float, help="needed for a released checkpoint (2, 3 or 4) and for an any-scale "
                    "(LFR) one (any s > 1 it supports, e.g. 2.5)")
    ap.add_argument("--tile", type=int, default=DEFAULT_TILE,
                    help=f"LR tile side of the exact tiled forward (default {DEFAULT_TILE}; 0: whole image)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    ap.add_argument("-o", "--out", type=Path, required=True, metavar="OUT_DIR", help="output folder (created)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    upscaler = load_upscaler(args.checkpoint, args.run, args.scale, args.tile, args.device)
    written = upscale_files(args.inputs, args.out, upscaler, progress=not args.quiet)
    print(f"{upscaler.name}: wrote {len(written)} image(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
