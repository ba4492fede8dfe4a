"""Per-image scores of the released models (defian.report.zoo_scores): the book and own numbers of a
per-image loop, the SHA-256-keyed cache (a hit runs no model; a changed image is recomputed), counts.

Needs the released weights (``$DEFIAN_RELEASED`` or ``../shared/released``); the images are tiny
random ones in a temporary data root, so no benchmark data is needed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defian import paths
from defian.data import metrics, testsets
from defian.data.images import to_rgb
from defian.report import zoo_scores
from defian.zoo import RELEASED, authors_psnr_ssim, load, super_resolve


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def root(released_root: Path) -> Path:
    """The released artifacts (tests/conftest.py), under the name these tests use."""
    return released_root


def _data_root(tmp: Path, n: int = 2) -> Path:
    """``tmp/benchmark/Set5/HR`` with ``n`` smooth random 26x30 RGB images (a set the loaders find)."""
    folder = tmp / "benchmark/Set5/HR"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        coarse = rng.integers(0, 256, (7, 8, 3)).astype(np.uint8)
        Image.fromarray(coarse).resize((30, 26), Image.BICUBIC).save(folder / f"img{i}.png")
    return tmp


def test_scores_are_the_per_image_loop_and_the_cache_is_used(root, tmp_path, monkeypatch) -> None:
    data = _data_root(tmp_path / "data")
    cache = tmp_path / "cache"
    first = zoo_scores.score_images("FSRCNN", 2, "Set5", released=root, data_root=str(data), cache=cache)
    spec, model = RELEASED["FSRCNN"], load("FSRCNN", 2, root)
    for (_, r), pair in zip(first.iterrows(), testsets.load_pairs(data, "Set5", 2), strict=True):
        assert r["image"] == pair.name
        assert r["psnr_book"] == metrics.psnr(super_resolve(spec, model, pair.lr, 2), pair.hr, 2)
        assert (r["psnr_own"], r["ssim_own"]) == authors_psnr_ssim(spec, model, pair.hr, 2)
        assert r["hr_sha256"] == hashlib.sha256((data / "benchmark/Set5/HR" / f"{pair.name}.png").read_bytes()).hexdigest()
    (stored,) = cache.iterdir()
    assert stored.name.startswith("FSRCNN_x2_Set5_") and stored.name.endswith(f"_v{zoo_scores.CACHE_VERSION}.csv")

    def refuse(*a, **k):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(zoo_scores, "load", refuse)
    again = zoo_scores.score_images("FSRCNN", 2, "Set5", released=root, data_root=str(data), cache=cache)
    np.testing.assert_array_equal(again[list(zoo_scores.COLUMNS[2:])].to_numpy(), first[list(zoo_scores.COLUMNS[2:])].to_numpy())
    monkeypatch.undo()
    # a changed image is recomputed, the other one is read from the cache
    img = data / "benchmark/Set5/HR/img1.png"
    Image.fromarray(255 - np.asarray(Image.open(img))).save(img)
    calls = []
    real = zoo_scores.super_resolve
    monkeypatch.setattr(zoo_scores, "super_resolve", lambda *a: calls.append(1) or real(*a))
    third = zoo_scores.score_images("FSRCNN", 2, "Set5", released=root, data_root=str(data), cache=cache)
    assert len(calls) == 1 and third.loc[0, "psnr_book"] == first.loc[0, "psnr_book"]
    assert third.loc[1, "psnr_book"] != first.loc[1, "psnr_book"]


def test_uint8_lr_methods_score_one_image_two_ways(root, tmp_path) -> None:
    """IMDN's authors used the book's LR: own = the same SR image under float Y (y-unrounded), and a grey
    image read as RGB (GREY_AS_RGB); the book compares the grey image as grey, with rounded Y."""
    data = _data_root(tmp_path / "data", n=1)
    rgb = data / "benchmark/Set5/HR/img0.png"
    Image.fromarray(np.asarray(Image.open(rgb))[..., 1]).save(data / "benchmark/Set5/HR/img1.png")  # a grey image
    got = zoo_scores.score_images("IMDN", 2, "Set5", released=root, data_root=str(data), cache=None)
    model, y_float = load("IMDN", 2, root), metrics.PROTOCOLS["y-unrounded"]
    for i, pair in enumerate(testsets.load_pairs(data, "Set5", 2)):
        sr = super_resolve(RELEASED["IMDN"], model, pair.lr, 2)
        assert got.loc[i, "psnr_own"] == metrics.psnr(sr, to_rgb(pair.hr), 2, y_float)
        assert got.loc[i, "psnr_book"] == metrics.psnr(sr, pair.hr, 2)
    assert pair.hr.ndim == 2 and got.loc[1, "psnr_own"] > metrics.psnr(sr, pair.hr, 2, y_float)  # grey: RGB scores higher
    assert zoo_scores.own_way("IMDN").endswith("a grey image read as RGB")


def test_param_counts_and_weight_files(root) -> None:
    assert zoo_scores.param_counts(load("FSRCNN", 2, root)) == (12644, 12464)  # README; 9x9 .. kernels: 12,464
    assert [p.suffix for p in zoo_scores.weight_files("IDN", 3, root)] == [".caffemodel", ".prototxt"]
    assert zoo_scores.own_way("CARN-M") == "the book's protocol"
    with pytest.raises(ValueError, match="unknown released method 'EDSR'"):
        zoo_scores.own_way("EDSR")


def test_no_data_root_is_a_named_error(root, monkeypatch) -> None:
    monkeypatch.delenv(paths.ENV_DATA, raising=False)
    with pytest.raises(FileNotFoundError, match="needs a data root"):
        zoo_scores.score_images("FSRCNN", 2, "Set5", released=root, cache=None)


def test_cache_names_carry_the_pipeline_version(tmp_path, monkeypatch) -> None:
    """A method whose pipeline changed gets new cache files; the others keep theirs (no model is run here)."""
    name = zoo_scores._cache_file(tmp_path, "FSRCNN", 2, "Set5", "ab" * 32).name
    assert name == f"FSRCNN_x2_Set5_{'ab' * 8}_v{zoo_scores.CACHE_VERSION}.csv"
    assert zoo_scores._cache_file(tmp_path, "CoMo-S", 2, "Set5", "ab" * 32).name.endswith(
        f"_v{zoo_scores.CACHE_VERSION}p{zoo_scores.PIPELINE_VERSIONS['CoMo-S']}.csv")
    assert zoo_scores._cache_file(tmp_path, "IMDN", 3, "Set14", "cd" * 32).name.endswith("-grey-rgb.csv")
    monkeypatch.setitem(zoo_scores.PIPELINE_VERSIONS, "FSRCNN", 2)
    assert zoo_scores._cache_file(tmp_path, "FSRCNN", 2, "Set5", "ab" * 32).name != name
    assert set(zoo_scores.PIPELINE_VERSIONS) <= set(RELEASED)
