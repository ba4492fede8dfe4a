"""defian.report.evaluate: the evaluation files, the Bicubic rows, checkpoints, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from defian import paths
from defian.data import testsets, metrics
from defian.report import evaluate, paper_tables
from defian.train import checkpoint, run_record
from defian.train.config import TrainConfig
from defian.kernels import accelerate
from defian.nn.model import build_model

TINY = {"n_modules": 2, "n_blocks": 2, "channels": 8}


def _tiny(scale: int, **switches: object) -> nn.Module:
    torch.manual_seed(0)
    return build_model("defian_s", scale, **{**TINY, **switches}).double().eval()


# --- evaluation files ------------------------------------------------------------------------------
def _data_root(tmp_path, n=2) -> str:
    rng = np.random.default_rng(0)
    for name in ("Set5", "Set14"):
        folder = tmp_path / "data" / "benchmark" / name / "HR"
        folder.mkdir(parents=True)
        for i in range(n):
            yy, xx = np.mgrid[0:37, 0:50]
            img = (127 + 60 * np.sin(xx / (3 + i)) * np.cos(yy / 4))[..., None] + rng.integers(-20, 20, (37, 50, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return str(tmp_path / "data")


def test_evaluate_scores_each_image_with_the_protocol(tmp_path) -> None:
    root = _data_root(tmp_path)
    model = build_model("defian_s", 2, **TINY).eval()
    ev = evaluate.evaluate(model, 2, data_root=root, out_dir=tmp_path / "ev", save_images=True)
    assert list(ev.per_set["set"]) == ["Set5", "Set14"] and set(ev.per_set["images"]) == {2}
    for pair in testsets.load_pairs(root, "Set14", 2):
        with torch.no_grad():
            sr = model(pair.lr_tensor())
        sr8 = np.clip(np.floor(sr[0].permute(1, 2, 0).numpy() * 255 + 0.5), 0, 255).astype(np.uint8)
        got = ev.per_image[(ev.per_image["set"] == "Set14") & (ev.per_image["image"] == pair.name)]
        assert got["psnr"].item() == pytest.approx(metrics.psnr(sr8, pair.hr, 2), abs=1e-9)
        assert got["ssim"].item() == pytest.approx(metrics.ssim(sr8, pair.hr, 2), abs=1e-9)
        saved = np.asarray(Image.open(tmp_path / "ev" / "images" / "Set14" / "x2" / f"{pair.name}.png"))
        assert np.abs(saved.astype(int) - sr8.astype(int)).max() <= 1  # same bytes up to float rounding
    means = ev.per_image.groupby("set")["psnr"].mean()
    assert ev.score("Set5", 2) == pytest.approx(means["Set5"], abs=1e-12)
    back = evaluate.read_evaluation(tmp_path / "ev")
    pd.testing.assert_frame_equal(back.per_set, ev.per_set, check_exact=False, rtol=1e-12)
    assert back.meta["protocol"] == "paper" and back.meta["self_ensemble"] is False


def test_evaluate_merges_sets_and_discards_another_model(tmp_path) -> None:
    root = _data_root(tmp_path)
    out = tmp_path / "ev"
    evaluate.evaluate(None, 2, data_root=root, sets=["Set5"], out_dir=out)
    ev = evaluate.evaluate(None, 2, data_root=root, sets=["Set14"], out_dir=out)
    assert sorted(ev.per_set["set"]) == ["Set14", "Set5"] and len(ev.per_image) == 4
    ev = evaluate.evaluate(None, 2, data_root=root, sets=["Set14"], out_dir=out, meta={"update": 5})
    assert list(ev.per_set["set"]) == ["Set14"]  # another identity: the old rows are dropped


def test_self_ensemble_rows_are_labelled(tmp_path) -> None:
    root = _data_root(tmp_path, n=1)
    model = build_model("defian_s", 2, n_modules=1, n_blocks=1, channels=4)
    ev = evaluate.evaluate(model, 2, data_root=root, sets=["Set5"], ensemble=True, limit=1)
    assert ev.per_set["method"].iloc[0].endswith("+") and bool(ev.per_set["self_ensemble"].iloc[0])


def test_bicubic_rows_match_the_paper(dev_data) -> None:
    ev = evaluate.evaluate(None, (2, 3, 4), data_root=str(dev_data), sets=["Set5"])
    for scale in (2, 3, 4):
        ref = paper_tables.row(paper_tables.TABLE_I, "Bicubic", scale)
        assert abs(ev.score("Set5", scale) - ref.psnr["Set5"]) < 0.02  # paper prints 2 decimals
        assert abs(ev.score("Set5", scale, "ssim") - ref.ssim["Set5"]) < 0.001


def test_errors_name_the_problem(tmp_path) -> None:
    root = _data_root(tmp_path, n=1)
    with pytest.raises(FileNotFoundError, match="Urban100"):
        evaluate.evaluate(None, 2, data_root=root, sets=["Urban100"])
    with pytest.raises(ValueError, match="x2"):
        evaluate.evaluate(build_model("defian_s", 2, **TINY), 3, data_root=root)
    with pytest.raises(ValueError, match="protocol"):
        evaluate.evaluate(None, 2, data_root=root, protocol="nope")


# --- checkpoints and run records -------------------------------------------------------------------
def _fake_run(tmp_path, update: int = 7):
    cfg = TrainConfig(model="defian_s", scale=2, switches=dict(TINY), schedule="smoke", updates=update)
    run = tmp_path / "runs" / run_record.run_name(cfg.to_dict(), "embedded")
    rec = run_record.RunRecord(run)
    rec.start(cfg.to_dict(), {"device": "cpu"})
    rec.append(update, 0.1, 1e-3, None, 10.0)
    rec.finish({"status": "finished", "updates": update})
    torch.manual_seed(3)
    model = build_model("defian_s", 2, **TINY)
    checkpoint.save(run / "last.pt", {"format": checkpoint.FORMAT, "update": update, "model": model.state_dict(),
                                      "optimizer": {}, "scheduler": {}, "scaler": None, "ema": None, "rng": {},
                                      "sampler": {}, "best": {}, "config": cfg.to_dict()})
    return run, model


def test_load_model_restores_the_trained_network(tmp_path) -> None:
    run, model = _fake_run(tmp_path)
    loaded, info = evaluate.load_model(run / "last.pt")
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(loaded(x), accelerate(model).eval()(x))  # as training ran it (defian.kernels)
    assert info["update"] == 7 and info["weights"] == "model"
    with pytest.raises(ValueError, match="--scale"):
        torch.save({"epoch": 1, "state_dict": {}}, tmp_path / "other.pth")
        evaluate.load_model(tmp_path / "other.pth")


def test_evaluate_run_writes_into_the_run_and_reuses_it(tmp_path, monkeypatch) -> None:
    root = _data_root(tmp_path, n=1)
    run, _ = _fake_run(tmp_path)
    ev = evaluate.evaluate_run(run, data_root=root)
    folder = evaluate.evaluation_dir(run)
    assert folder == run / "evaluation" / "last_paper" and (folder / "per_set.csv").is_file()
    assert json.loads((folder / "evaluation.json").read_text())["run"] == run.name
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("should reuse the stored evaluation"))
    again = evaluate.evaluate_run(run, data_root=root)
    assert again.score("Set5", 2) == pytest.approx(ev.score("Set5", 2), abs=1e-12)


def test_partial_evaluations_of_committed_records_stay_out_of_the_record(tmp_path, monkeypatch) -> None:
    """A book build that scores a committed run on a first few images caches that under _build: the
    committed tree (results/runs) only ever gains complete evaluations."""
    monkeypatch.setattr(paths, "RUNS", tmp_path / "results" / "runs")
    monkeypatch.setattr(paths, "BUILD", tmp_path / "_build")
    committed = paths.RUNS / "defian_s_x2_cpu_s0"
    assert evaluate.evaluation_dir(committed) == committed / "evaluation" / "last_paper"
    assert evaluate.evaluation_dir(committed, limit=1) == tmp_path / "_build/evaluations/runs/defian_s_x2_cpu_s0/last_paper_first1"
    scratch = tmp_path / "_build" / "runs" / "defian_s_x2_smoke_s0"  # a run of the build itself: its own folder
    assert evaluate.evaluation_dir(scratch, limit=1) == scratch / "evaluation" / "last_paper_first1"
    root = _data_root(tmp_path, n=2)
    run, _ = _fake_run(tmp_path / "results")  # results/runs/<run>
    evaluate.evaluate_run(run, data_root=root, limit=1)
    assert not (run / "evaluation").exists()
    assert (evaluate.evaluation_dir(run, limit=1) / "per_set.csv").is_file()


def test_cli(tmp_path, capsys) -> None:
    root = _data_root(tmp_path, n=1)
    assert evaluate.main(["--bicubic", "--scales", "2", "--data-root", root, "--out", str(tmp_path / "b")]) == 0
    assert "Bicubic" in capsys.readouterr().out and (tmp_path / "b" / "per_set.csv").is_file()
    assert evaluate.main(["--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
