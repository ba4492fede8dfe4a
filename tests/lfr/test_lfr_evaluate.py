"""defian.lfr.evaluate: the crop rule, equality with the fixed-scale protocol, deployments, named errors."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from defian.data import metrics, testsets
from defian.data.images import mod_crop
from defian.data.imresize import imresize
from defian.lfr import evaluate as ev
from defian.lfr.levels import ScaleOutOfRange
from defian.lfr.model import build_lfr_model
from defian.nn.model import build_model
from defian.report import evaluate as fixed_evaluate

TINY = {"n_modules": 1, "n_blocks": 1, "channels": 8}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data root holding a two-image Set5 (one RGB, one grey) of smooth content."""
    yy, xx = np.mgrid[0:47, 0:53].astype(float)
    rgb = np.stack([np.sin(xx / 5) * 90 + 120, np.cos(yy / 4) * 80 + 120, (xx + yy) * 2], -1)
    (tmp_path / "Set5").mkdir()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(tmp_path / "Set5" / "a.png")
    Image.fromarray(np.clip(rgb[:42, :45, 0], 0, 255).astype(np.uint8)).save(tmp_path / "Set5" / "b.png")
    return tmp_path


@pytest.mark.parametrize(("scale", "p"), [(2, 2), (3, 3), (4, 4), (1.5, 3), (2.5, 5), (3.5, 7), (1.1, 11),
                                          (Fraction(5, 4), 5)])
def test_crop_makes_the_lr_size_exact(scale: float, p: int) -> None:
    hr = np.zeros((47, 53, 3), np.uint8)
    crop = ev.crop_to_scale(hr, scale)
    assert crop.shape[:2] == (47 // p * p, 53 // p * p)  # the largest multiples of the numerator
    lr = imresize(crop, float(1 / ev.scale_fraction(scale)))
    assert lr.shape[0] * Fraction(str(float(scale))) == crop.shape[0]  # n / s exactly, no rounding
    assert imresize(lr, float(scale)).shape == crop.shape  # and back: ceil(s n_lr) = n
    if float(scale).is_integer():
        assert crop.shape == mod_crop(hr, int(scale)).shape  # the paper's mod-crop


def test_scale_fraction_and_crop_errors() -> None:
    assert ev.scale_fraction(2.5) == Fraction(5, 2) and ev.scale_fraction(np.float64(1.1)) == Fraction(11, 10)
    with pytest.raises(ScaleOutOfRange, match="not an upscaling factor"):
        ev.scale_fraction(1.0)
    with pytest.raises(ValueError, match="multiples of 2469"):
        ev.scale_fraction(1.2345)
    with pytest.raises(ValueError, match="no crop that is a multiple of 13"):
        ev.crop_to_scale(np.zeros((12, 40)), 1.3)


def test_bicubic_equals_the_fixed_scale_protocol(data: Path) -> None:
    df = ev.evaluate_scales(None, [2, 3, 4], data_root=str(data))
    ours = ev.per_set(df).set_index("scale")
    theirs = {r["scale"]: r for r in testsets.bicubic_rows(data, ["Set5"], (2, 3, 4))}
    for s in (2, 3, 4):
        assert ours.loc[s, "psnr"] == pytest.approx(theirs[s]["psnr"], abs=1e-12)
        assert ours.loc[s, "ssim"] == pytest.approx(theirs[s]["ssim"], abs=1e-12)
    assert list(df["rule"].unique()) == ["one step"] and list(df["kind"].unique()) == ["bicubic"]


def test_a_fixed_scale_model_scores_as_defian_evaluate(data: Path) -> None:
    torch.manual_seed(0)
    model = build_model("defian_s", 2, **TINY).eval()
    ours = ev.evaluate_scales(model, [2], data_root=str(data), method="tiny")
    theirs = fixed_evaluate.evaluate(model, 2, data_root=str(data), device="cpu").per_image
    np.testing.assert_allclose(ours["psnr"].to_numpy(), theirs["psnr"].to_numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ScaleOutOfRange, match="fixed-scale x2 model cannot upscale by 3.0"):
        ev.evaluate_scales(model, [2, 3], data_root=str(data / "absent"))  # refused before any data is read


def test_lfr_rows_are_the_model_output_scored_per_image(data: Path) -> None:
    torch.manual_seed(0)
    model = build_lfr_model("defian_lfr_s", **TINY).eval()
    df = ev.evaluate_scales(model, [2.5, 3], rule="equal2", data_root=str(data), limit=1, with_ssim=False)
    assert list(df["ratios"]) == ["1.581 x 1.581", "1.732 x 1.732"] and df["ssim"].isna().all()
    hr = ev.crop_to_scale(np.asarray(Image.open(data / "Set5" / "a.png")), 2.5)  # 45 x 50
    lr = imresize(hr, 0.4)
    x = torch.from_numpy(lr.transpose(2, 0, 1).copy()).float()[None] / 255
    with torch.no_grad():
        sr = model(x, 2.5, deployment=ev.DEPLOYMENTS["equal2"](2.5))  # ceil(2.5 * 18) = 45, ceil(2.5 * 20) = 50
    sr8 = (sr[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert sr8.shape == hr.shape and df.loc[0, "psnr"] == pytest.approx(metrics.psnr(sr8, hr, math.ceil(2.5)), abs=1e-12)
    assert (df.loc[0, "lr_h"], df.loc[0, "hr_h"]) == (18, 45)
    with pytest.raises(ScaleOutOfRange, match=r"outside this model's range \(1, 4.0\]"):
        ev.evaluate_scales(model, [4.5], data_root=str(data))
    with pytest.raises(KeyError, match="unknown deployment rule"):
        ev.evaluate_scales(model, [2], rule="random", data_root=str(data))


def test_a_run_evaluation_resumes(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from defian.lfr.train import schedule
    from defian.train import checkpoint

    torch.manual_seed(0)
    model = build_lfr_model("defian_lfr_s", **TINY)
    cfg = schedule("smoke", switches=TINY)
    run = tmp_path / "run"
    run.mkdir()
    checkpoint.save(run / "last.pt", {k: None for k in checkpoint.KEYS} | {
        "format": checkpoint.FORMAT, "update": 7, "model": model.state_dict(), "config": cfg.to_dict()})
    grid = [("Set5", 2.0, "largest_first"), ("Set5", 1.5, "largest_first"), ("Set5", 3.0, "equal2")]
    first = ev.evaluate_lfr_run(run, grid[:2], data_root=str(data))
    assert sorted(first["scale"]) == [1.5, 2.0] and (first["images"] == 2).all()
    calls = []
    real = ev.evaluate_scales
    monkeypatch.setattr(ev, "evaluate_scales", lambda *a, **k: calls.append(k["rule"]) or real(*a, **k))
    both = ev.evaluate_lfr_run(run, grid, data_root=str(data))
    assert calls == ["equal2"] and len(both) == 3  # only the missing triple was computed
    per_image, _, meta = ev.read_lfr_evaluation(run / "evaluation" / "last_paper")
    assert meta["update"] == 7 and len(per_image) == 6
