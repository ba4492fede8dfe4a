"""defian.report.upscale: every image layout against a per-image reference, refusals named, nothing half-written."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from defian import cli
from defian.data.images import ImageError
from defian.data.imresize import imresize
from defian.nn import released
from defian.nn.model import build_model
from defian.report import upscale
from defian.train import checkpoint
from defian.train.config import TrainConfig

TINY = {"n_modules": 2, "n_blocks": 1, "channels": 8}


def _our_checkpoint(path: Path) -> torch.nn.Module:
    """A training checkpoint (format 1) of a tiny seeded DeFiAN_S x2; returns the reference model."""
    torch.manual_seed(3)
    model = build_model("defian_s", 2, **TINY).eval()
    cfg = TrainConfig(model="defian_s", scale=2, switches=dict(TINY), schedule="smoke", updates=1)
    torch.save({"format": checkpoint.FORMAT, "update": 1, "model": model.state_dict(), "ema": None, "best": {},
                "config": cfg.to_dict()}, path)
    return model


def _reference_sr(model: torch.nn.Module, rgb: np.ndarray) -> np.ndarray:
    """The whole-image reference forward in float64 (no tiling, no accelerator), rounded as saved."""
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].double() / 255
    with torch.no_grad():
        y = model.double()(x)
    return (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _close(a: np.ndarray, b: np.ndarray) -> None:
    """uint8 images equal up to float32-vs-float64 rounding: off by at most one level, at few pixels."""
    diff = np.abs(a.astype(int) - b.astype(int))
    assert a.shape == b.shape and diff.max() <= 1 and (diff > 0).mean() < 0.01


def _png16(path: Path, arr: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (19, 23, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (13, 17), dtype=np.uint8)
    alpha = np.tile(np.linspace(0, 255, 21).round().astype(np.uint8), (11, 1))
    out = {"rgb.png": rgb, "grey.bmp": grey, "rgba.png": np.dstack([rgb[:11, :21], alpha]),
           "la.tif": np.dstack([grey[:11, :15], alpha[:, :15]])}
    paths = {}
    for name, arr in out.items():
        mode = {2: "L", 3: "RGB", 4: "RGBA"}.get(arr.shape[-1] if arr.ndim == 3 else 1, "L")
        mode = "LA" if name == "la.tif" else mode
        Image.fromarray(arr, mode).save(tmp_path / name)
        paths[name] = tmp_path / name
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=90)
    paths["photo.jpg"] = tmp_path / "photo.jpg"
    return paths


def test_every_layout_matches_the_reference(tmp_path: Path, images: dict[str, Path]) -> None:
    model = _our_checkpoint(tmp_path / "tiny.pt")
    up = upscale.load_upscaler(checkpoint=tmp_path / "tiny.pt", tile=12)  # up to four tiles per image
    written = upscale.upscale_files(list(images.values()), tmp_path / "out", up, progress=False)
    assert [p.name for p in written] == [upscale.output_name(p, 2) for p in images.values()]
    for name, path in images.items():
        src = np.asarray(Image.open(path))  # what Pillow decodes (the JPEG's own pixels)
        out = Image.open(tmp_path / "out" / upscale.output_name(path, 2))
        assert out.mode == Image.open(path).mode and out.size == (2 * src.shape[1], 2 * src.shape[0]), name
        got = np.asarray(out)
        colour = src if src.ndim == 2 else (src[..., :3] if src.shape[2] >= 3 else src[..., 0])
        if colour.ndim == 2:  # grey: through the network as replicated RGB, back to luma
            ref = np.asarray(Image.fromarray(_reference_sr(model, np.repeat(colour[..., None], 3, 2))).convert("L"))
            _close(got if got.ndim == 2 else got[..., 0], ref)
        else:
            _close(got[..., :3], _reference_sr(model, colour))
        if src.ndim == 3 and src.shape[2] in (2, 4):  # alpha: MATLAB bicubic, exactly
            np.testing.assert_array_equal(got[..., -1], imresize(np.ascontiguousarray(src[..., -1]), 2))


def test_released_checkpoint_needs_its_scale_and_loads(tmp_path: Path, images: dict[str, Path]) -> None:
    torch.manual_seed(1)
    model = build_model("defian_s", 2, n_modules=2, n_blocks=1, channels=16, normalisation="imagenet").eval()
    released.save_released(model, tmp_path / "mine.pth")
    with pytest.raises(ValueError, match="--scale"):
        upscale.load_upscaler(checkpoint=tmp_path / "mine.pth")
    up = upscale.load_upscaler(checkpoint=tmp_path / "mine.pth", scale=2, tile=0)
    rgb = np.asarray(Image.open(images["rgb.png"]))
    _close(up.run(rgb), _reference_sr(model, rgb))


def test_sixteen_bit_and_other_formats_are_refused_by_name(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5), 40000, np.uint16)).save(tmp_path / "g16.png")  # Pillow mode I;16
    _png16(tmp_path / "rgb16.png", np.full((4, 5, 3), 40000, np.uint16))  # Pillow would narrow it to RGB
    Image.fromarray(np.full((4, 5), 40000, np.uint16)).save(tmp_path / "g16.tif")
    for name in ("g16.png", "rgb16.png", "g16.tif"):
        with pytest.raises(ImageError, match=rf"{name}: 16-bit samples .* convert it to 8-bit"):
            upscale.read_image(tmp_path / name)
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "x.gif")
    with pytest.raises(ImageError, match="x.gif: GIF image; defian upscale reads PNG, JPEG, BMP, TIFF"):
        upscale.read_image(tmp_path / "x.gif")
    (tmp_path / "cut.png").write_bytes((tmp_path / "g16.png").read_bytes()[:40])
    with pytest.raises(ImageError, match="cut.png: not a readable"):
        upscale.read_image(tmp_path / "cut.png")


def test_nothing_is_written_when_one_input_is_bad(tmp_path: Path, images: dict[str, Path]) -> None:
    _our_checkpoint(tmp_path / "tiny.pt")
    up = upscale.load_upscaler(checkpoint=tmp_path / "tiny.pt")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError, match="notes.txt: not a readable PNG/JPEG/BMP/TIFF image"):
        upscale.upscale_files([images["rgb.png"], tmp_path / "notes.txt"], tmp_path / "out", up, progress=False)
    assert not (tmp_path / "out").exists()
    Image.open(images["rgb.png"]).save(tmp_path / "rgb.bmp")
    with pytest.raises(ValueError, match="would both be written as rgb_x2.png"):
        upscale.upscale_files([images["rgb.png"], tmp_path / "rgb.bmp"], tmp_path / "out", up, progress=False)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_leaves_complete_images_only(tmp_path: Path, images: dict[str, Path], monkeypatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _our_checkpoint(tmp_path / "tiny.pt")
    real = upscale.load_upscaler
    calls = []

    def interrupted(*args, **kwargs):  # the second image is interrupted half-way
        up = real(*args, **kwargs)

        def run(img: np.ndarray) -> np.ndarray:
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return up.run(img)

        return upscale.Upscaler(up.scale, run, up.name)

    monkeypatch.setattr(upscale, "load_upscaler", interrupted)
    argv = ["upscale", str(images["rgb.png"]), str(images["photo.jpg"]), "--checkpoint", str(tmp_path / "tiny.pt"),
            "-o", str(tmp_path / "out"), "--quiet"]
    assert cli.main(argv) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines() == ["defian upscale: interrupted (Ctrl-C)"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rgb_x2.png"]  # no temporary left behind
    assert Image.open(tmp_path / "out" / "rgb_x2.png").size == (46, 38)


def test_command_line_writes_png(tmp_path: Path, images: dict[str, Path], capsys) -> None:
    _our_checkpoint(tmp_path / "tiny.pt")
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "tiny.pt").rename(run / "last.pt")
    assert cli.main(["upscale", str(images["grey.bmp"]), "--run", str(run), "--tile", "0", "-o",
                     str(tmp_path / "o"), "--quiet"]) == 0
    assert Image.open(tmp_path / "o" / "grey_x2.png").size == (34, 26)
    assert "wrote 1 image(s)" in capsys.readouterr().out
