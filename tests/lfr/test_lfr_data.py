"""defian.lfr.data: the level per update, the HR/LR patch sizes, the pixel alignment, determinism."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defian.lfr.data import LevelPatches, hr_side, training_images
from defian.lfr.levels import N_LEVELS


def _ramp(h: int, w: int) -> np.ndarray:
    """A linear RGB ramp (uint8): what a normalised symmetric kernel reproduces exactly in the interior."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    base = 12 + 4.1 * xx + 3.3 * yy  # steep: a half-pixel shift would miss by 3.7 grey levels
    return np.clip(np.stack([base, base * 0.8 + 10, 250 - base], -1), 0, 255).round().astype(np.uint8)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for k, (h, w) in enumerate([(40, 44), (36, 50), (10, 10)]):  # the last is too small for p = 8 at r = 2
        f = tmp_path / f"im{k}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(f)
        out.append(f)
    return out


@pytest.mark.parametrize("p", [8, 12, 24, 48])
def test_hr_side_keeps_the_lr_side_at_every_level(p: int) -> None:
    for level in range(N_LEVELS):
        r = 1 + Fraction(level, N_LEVELS - 1)
        h = hr_side(p, level)
        assert h == math.floor(p * r) and math.ceil(h / r) == p  # exact: LR of imresize(HR, 1/r) is p x p
        assert math.ceil((h + 1) / r) == p + 1 or level == 0  # and H_l is the largest such side
    assert hr_side(24, 10) == 48 and hr_side(24, 0) == 24 and hr_side(24, 1) == 26  # 24 * 1.1 = 26.4


def test_batches_have_one_level_and_the_sizes_of_that_level(images: list[Path]) -> None:
    with pytest.warns(UserWarning, match="skipping .*im2.png"):
        data = LevelPatches(images, 8, seed=3)
    assert len(data) == 2
    seen = set()
    for u in range(60):
        lr, hr, level = data.batch(u, 4)
        seen.add(level)
        assert level == data.level_of(u)
        assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 3, hr_side(8, level), hr_side(8, level))
        assert 0 <= float(lr.min()) and float(lr.max()) <= 1 and lr.dtype == hr.dtype
    assert seen == set(range(N_LEVELS))  # 60 draws of 11 levels: all seen at this seed


def test_a_batch_depends_on_seed_and_update_only(images: list[Path]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = LevelPatches(images, 8, seed=1), LevelPatches(images, 8, seed=1)
    later = [b.batch(u, 3) for u in (7, 2)]  # any order of calls: the batch of update u is the same
    for (lr1, hr1, l1), (lr2, hr2, l2) in zip([a.batch(7, 3), a.batch(2, 3)], later, strict=True):
        assert l1 == l2 and np.array_equal(lr1.numpy(), lr2.numpy()) and np.array_equal(hr1.numpy(), hr2.numpy())
    with pytest.raises(ValueError, match="no training image holds a 16x16 HR patch"), pytest.warns(UserWarning):
        LevelPatches(images[2:], 8)
    with pytest.raises(ValueError, match="patch must be a positive LR side"):
        LevelPatches(images, 0)


@pytest.mark.parametrize("level", [1, 3, 5, 10])
def test_lr_pixels_sit_where_matlab_maps_them(tmp_path: Path, level: int) -> None:
    """On a linear ramp, interior LR pixel x (1-based) is the ramp at HR u = r x + (1 - r) / 2."""
    f = tmp_path / "ramp.png"
    Image.fromarray(_ramp(30, 30)).save(f)
    data = LevelPatches([f], 12, seed=0, augment=False)
    lr, hr = data.sample(0, 0, level)
    r = 1 + level / 10
    fit = hr.astype(float)
    x0 = fit[0, 0]
    dx, dy = fit[0, -1] - fit[0, 0], fit[-1, 0] - fit[0, 0]
    dx, dy = dx / (hr.shape[1] - 1), dy / (hr.shape[0] - 1)  # the patch's own slopes per channel
    u = r * np.arange(1, 13) + 0.5 * (1 - r) - 1  # 0-based HR coordinates of the LR pixel centres
    expect = x0 + dy * u[:, None, None] + dx * u[None, :, None]
    inner = slice(3, -3)  # MATLAB's mirrored border bends the ramp within 2 r pixels of the edge
    assert np.abs(lr[inner, inner] - expect[inner, inner]).max() <= 1.25  # HR and two passes rounded


def test_training_images_without_a_data_root_are_the_embedded_photographs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFIAN_DATA", raising=False)
    files, label, desc = training_images(None)
    assert label == "embedded" and len(files) == 6 and desc.startswith("embedded default")
