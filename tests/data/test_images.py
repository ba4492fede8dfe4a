"""defian.data.images: which image files are read and how, and the LR cache."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defian.data import images
from defian.data.imresize import imresize


def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def _png16(path: Path, arr: np.ndarray, colour_type: int) -> Path:
    """A 16-bit PNG written by hand (PIL cannot write 16-bit RGB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[r].astype(">u2").tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _rand(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---- image formats --------------------------------------------------------------------------


def test_grey_rgb_opaque_alpha_palette_and_bilevel(tmp_path: Path) -> None:
    rgb, grey = _rand((6, 7, 3)), _rand((6, 7), 1)
    np.testing.assert_array_equal(images.load_image(_save(tmp_path / "rgb.png", rgb)), rgb)
    np.testing.assert_array_equal(images.load_image(_save(tmp_path / "grey.png", grey)), grey)
    rgba = np.concatenate([rgb, np.full((6, 7, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(images.load_image(_save(tmp_path / "rgba.png", rgba)), rgb)
    pal = Image.fromarray(rgb).quantize(colors=8)
    pal.save(tmp_path / "pal.png")
    np.testing.assert_array_equal(images.load_image(tmp_path / "pal.png"), np.asarray(pal.convert("RGB")))
    Image.fromarray(grey > 128).save(tmp_path / "bw.png")
    assert set(np.unique(images.load_image(tmp_path / "bw.png"))) <= {0, 255}
    np.testing.assert_array_equal(images.to_rgb(grey)[..., 2], grey)


def test_refused_formats_name_file_and_reason(tmp_path: Path) -> None:
    rgba = np.concatenate([_rand((4, 4, 3)), np.full((4, 4, 1), 100, np.uint8)], axis=2)
    with pytest.raises(images.ImageError, match=r"alpha.*refused|translucent"):
        images.load_image(_save(tmp_path / "glass.png", rgba))
    with pytest.raises(images.ImageError, match="16-bit"):
        images.load_image(_png16(tmp_path / "deep.png", np.arange(48).reshape(4, 4, 3) * 1000, 2))
    with pytest.raises(images.ImageError, match="16-bit"):
        images.load_image(_png16(tmp_path / "deepgrey.png", np.arange(16).reshape(4, 4) * 1000, 0))
    Image.fromarray(_rand((4, 4, 3))).convert("CMYK").save(tmp_path / "print.jpg")
    with pytest.raises(images.ImageError, match=r"print\.jpg.*CMYK"):
        images.load_image(tmp_path / "print.jpg")


def test_corrupt_and_truncated_files_are_named(tmp_path: Path) -> None:
    good = _save(tmp_path / "good.png", _rand((64, 64, 3)))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    for name in ("cut.png", "junk.png"):
        with pytest.raises(images.ImageError, match=name):
            images.load_image(tmp_path / name)


# ---- LR cache -------------------------------------------------------------------------------


def test_lr_cache_is_made_once_with_the_method_in_its_path(tmp_path: Path) -> None:
    hr = _rand((50, 61, 3))
    src = _save(tmp_path / "root/train/a.png", hr)
    out = images.cached_lr(src, "train/a.png", 3, tmp_path / "cache")
    assert out == tmp_path / "cache" / images.LR_METHOD / "X3" / "train" / "a.png"
    np.testing.assert_array_equal(images.load_image(out), imresize(hr[:48, :60], 1 / 3))
    stamp = out.stat().st_mtime_ns
    assert images.cached_lr(src, "train/a.png", 3, tmp_path / "cache") == out and out.stat().st_mtime_ns == stamp
    assert [p.name for p in out.parent.iterdir()] == ["a.png"]  # no temporary files left
    _save(src, _rand((80, 80, 3)))  # the HR changed size: the LR is remade
    assert images.load_image(images.cached_lr(src, "train/a.png", 3, tmp_path / "cache")).shape == (26, 26, 3)
