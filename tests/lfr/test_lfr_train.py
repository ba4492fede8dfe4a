"""defian.lfr.train: the cpu budget by construction, records, one level per update, resume, named errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from defian.lfr import data as lfr_data
from defian.lfr.train import (
    SHARED_FIELDS,
    AtScale,
    LFRTrainConfig,
    load_lfr_model,
    run_name,
    schedule,
    train,
)
from defian.train import checkpoint, config, run_record
from defian.train.loop import NonFiniteError

TINY = {"n_modules": 1, "n_blocks": 1, "channels": 8}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A data root with a small train/ folder (the 291 set's layout)."""
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "train" / "T").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (30, 34, 3), dtype=np.uint8)).save(tmp_path / "data" / "train" / "T"
                                                                                / f"{k}.png")
    return tmp_path


def _cfg(root: Path, **kw: object) -> LFRTrainConfig:
    base = {"switches": TINY, "patch": 8, "batch": 2, "updates": 8, "log_every": 2, "ckpt_every": 4, "val_every": 0,
            "lr": 1e-3, "data_root": str(root / "data"), "threads": 1}
    return schedule("smoke", **{**base, **kw})


def test_cpu_schedule_is_the_cpu_study_budget() -> None:
    lfr, fixed = schedule("cpu"), config.CPU
    both = {f.name for f in dataclasses.fields(LFRTrainConfig)} & {f.name for f in dataclasses.fields(config.TrainConfig)}
    assert both - {"model"} == set(SHARED_FIELDS)  # a budget field added to both must be shared (model differs)
    for name in SHARED_FIELDS:
        assert getattr(lfr, name) == getattr(fixed, name), name
    assert (lfr.updates, lfr.batch, lfr.patch, lfr.lr, lfr.lr_step) == (6000, 16, 24, 2e-4, 2500)  # the cpu study
    assert lfr.switches == {"n_modules": 3, "n_blocks": 5}
    assert schedule("cpu", switches={"upsampling": "post"}).switches == {"n_modules": 3, "n_blocks": 5,
                                                                          "upsampling": "post"}
    assert run_name(schedule("cpu", seed=2), "train291") == "defian_lfr_s_N3M5_pre_train291_6k_B16P24_cpu_s2"
    with pytest.raises(ValueError, match="LFRTrainConfig.model='edsr' is not valid"):
        schedule("cpu", model="edsr")
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule("fast")
    with pytest.raises(ValueError, match="unknown LFRTrainConfig field"):
        LFRTrainConfig.from_dict({"scale": 2})


def test_a_run_leaves_a_record_and_trains_only_the_levels_it_drew(root: Path) -> None:
    cfg = _cfg(root)
    run = train(cfg, root / "runs")
    assert run.summary["status"] == "finished" and run.summary["updates"] == 8
    assert [m["update"] for m in run.metrics] == [2, 4, 6, 8]
    assert run.config == cfg.to_dict() and run.name == "defian_lfr_s_N1M1C8_pre_train3_8_B2P8_smoke_s0"
    assert run.environment["segments"][0]["from_update"] == 0
    drawn = {lfr_data.draw_level(cfg.seed, u) for u in range(8)}
    assert len(drawn) < 11  # at seed 0, 8 updates leave some levels untouched
    model, info = load_lfr_model(run.dir / "last.pt")
    torch.manual_seed(cfg.seed)  # the initial weights, rebuilt as training builds them
    from defian.lfr.model import build_lfr_model

    init = build_lfr_model("defian_lfr_s", **TINY)
    for level in range(11):
        same = torch.equal(model.head.branches[level].weight, init.head.branches[level].weight)
        assert same == (level not in drawn), level  # Adam skips a branch without gradient
    assert info["update"] == 8 and isinstance(AtScale(model, 2.0)(torch.rand(1, 3, 6, 5)), torch.Tensor)


def test_an_interrupted_run_resumes_to_the_same_weights(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = train(_cfg(root), root / "a")
    original = lfr_data.LevelPatches.batch

    def dies_at_6(self: lfr_data.LevelPatches, update: int, size: int):
        if update == 5:
            raise KeyboardInterrupt  # a kill after the checkpoint of update 4
        return original(self, update, size)

    monkeypatch.setattr(lfr_data.LevelPatches, "batch", dies_at_6)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(root), root / "b")
    monkeypatch.setattr(lfr_data.LevelPatches, "batch", original)
    resumed = train(_cfg(root), root / "b")
    a, b = (checkpoint.load(r.dir / "last.pt") for r in (straight, resumed))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [m["loss"] for m in straight.metrics] == [m["loss"] for m in resumed.metrics]
    assert [s["from_update"] for s in resumed.environment["segments"]] == [0, 4]
    assert resumed.summary["resumed_from"] == 4
    with pytest.raises(ValueError, match="belongs to a run with other settings"):
        train(_cfg(root, lr=5e-4), root / "b", name=resumed.name)


def test_non_finite_loss_is_named_and_recorded(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = lfr_data.LevelPatches.batch

    def nan_at_3(self: lfr_data.LevelPatches, update: int, size: int):
        lr, hr, level = original(self, update, size)
        return (lr, hr * float("nan"), level) if update == 2 else (lr, hr, level)

    monkeypatch.setattr(lfr_data.LevelPatches, "batch", nan_at_3)
    with pytest.raises(NonFiniteError, match=r"update 3 \(level \d+\): non-finite loss"):
        train(_cfg(root), root / "runs")
    run = run_record.read(next((root / "runs").iterdir()))
    assert run.summary["status"] == "diverged"


def test_load_refuses_a_fixed_scale_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "fixed.pt"
    checkpoint.save(path, {k: None for k in checkpoint.KEYS} | {"format": checkpoint.FORMAT, "update": 0,
                                                                 "config": config.SMOKE.to_dict(), "model": {}})
    with pytest.raises(ValueError, match="not an LFR checkpoint.*defian.report.evaluate.load_model"):
        load_lfr_model(path)
