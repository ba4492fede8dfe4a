"""defian evaluate / defian upscale with an any-scale (LFR) checkpoint: non-integer scales, named refusals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from defian import cli
from defian.lfr.evaluate import evaluate_scales
from defian.lfr.train import load_lfr_model, schedule, train
from defian.report import evaluate, inference, upscale

TINY = {"n_modules": 1, "n_blocks": 1, "channels": 8}


@pytest.fixture(scope="module")
def lfr_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LFR model trained for 4 updates on three random images."""
    root = tmp_path_factory.mktemp("lfr")
    rng = np.random.default_rng(0)
    (root / "data" / "train" / "T").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (30, 34, 3), dtype=np.uint8)).save(root / "data" / "train" / "T"
                                                                                / f"{k}.png")
    cfg = schedule("smoke", switches=TINY, patch=8, batch=2, updates=4, log_every=2, ckpt_every=4, val_every=0,
                   lr=1e-3, data_root=str(root / "data"), threads=1)
    return train(cfg, root / "runs").dir / "last.pt"


def test_evaluate_takes_a_non_integer_scale(lfr_checkpoint: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's per-set PSNR at x2.5 is the mean of evaluate_scales' per-image rows (embedded test images)."""
    out = tmp_path / "e"
    assert evaluate.main(["--checkpoint", str(lfr_checkpoint), "--scale", "2.5", "--limit", "1", "--out",
                          str(out)]) == 0
    got = pd.read_csv(out / "per_set.csv")
    model, _ = load_lfr_model(lfr_checkpoint)
    ref = evaluate_scales(model, [2.5], limit=1)
    assert list(got["scale"]) == [2.5] * len(got) and len(got) == ref["set"].nunique()
    assert np.allclose(got["psnr"].to_numpy(), ref.groupby("set", sort=False)["psnr"].mean().to_numpy(), atol=1e-9)
    assert "2.5" in capsys.readouterr().out


def test_upscale_takes_a_non_integer_scale(lfr_checkpoint: Path, tmp_path: Path) -> None:
    """Output size ceil(2.5 h) x ceil(2.5 w) and pixels equal to the model's own forward."""
    img = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    up = upscale.load_upscaler(checkpoint=lfr_checkpoint, scale=2.5, device="cpu")
    [path] = upscale.upscale_files([tmp_path / "a.png"], tmp_path / "o", up, progress=False)
    assert path.name == "a_x2.5.png"
    sr = np.asarray(Image.open(path))
    assert sr.shape == (math.ceil(2.5 * 9), math.ceil(2.5 * 13), 3)
    model, _ = load_lfr_model(lfr_checkpoint)
    with torch.no_grad():
        ref = inference.to_uint8(model(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255, 2.5))
    assert np.array_equal(sr, ref)


def test_refusals_are_named(lfr_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert cli.main(["upscale", str(tmp_path / "a.png"), "--checkpoint", str(lfr_checkpoint), "-o",
                     str(tmp_path / "o")]) == 2
    assert "any-scale (LFR) model: give --scale" in capsys.readouterr().err
    for scale in ("1.0", "5.0"):
        assert cli.main(["upscale", str(tmp_path / "a.png"), "--checkpoint", str(lfr_checkpoint), "--scale", scale,
                         "-o", str(tmp_path / "o")]) == 2
        assert f"scale {scale} is outside this model's range (1, 4.0]" in capsys.readouterr().err
    assert evaluate.main(["--checkpoint", str(lfr_checkpoint), "--scale", "4.5", "--limit", "1"]) == 2
    assert "scale 4.5 is outside this model's range (1, 4.0]" in capsys.readouterr().err
    assert cli.main(["evaluate", "--bicubic", "--scales", "2.5"]) == 2
    assert "scale 2.5 is not an integer: only an LFR checkpoint" in capsys.readouterr().err
