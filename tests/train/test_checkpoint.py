"""defian.train.checkpoint: atomic writes, weights-only loading, exact RNG round trips."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from defian.train import checkpoint


def _dict(update: int, model: torch.nn.Module) -> dict:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return {"format": checkpoint.FORMAT, "update": update, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "scaler": None, "ema": None,
            "rng": checkpoint.capture_rng(), "sampler": {"position": update * 16},
            "best": {"val_psnr": 31.25, "update": 7}, "config": {"model": "defian_s", "betas": [0.9, 0.999]}}


def test_round_trip_is_exact(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    ck = _dict(12, model)
    path = checkpoint.save(tmp_path / "last.pt", ck)
    back = checkpoint.load(path)
    assert back["update"] == 12 and back["sampler"] == {"position": 192}
    assert back["best"] == {"val_psnr": 31.25, "update": 7}
    for k, v in ck["model"].items():
        assert torch.equal(back["model"][k], v)
    exp_avg = ck["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], exp_avg)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_rng_states_restore_the_same_draws() -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = checkpoint.capture_rng()
    first = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    checkpoint.restore_rng(state)
    again = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3))
    assert first[:3] == again[:3]
    assert torch.equal(first[3], again[3])


def test_rng_survives_the_file(tmp_path: Path) -> None:
    np.random.seed(5)
    np.random.randn()  # leaves a cached Gaussian: has_gauss = 1 must survive too
    ck = _dict(1, torch.nn.Linear(3, 2))
    expect = np.random.randn(4)
    checkpoint.save(tmp_path / "c.pt", ck)
    np.random.seed(0)
    checkpoint.restore_rng(checkpoint.load(tmp_path / "c.pt")["rng"])
    assert np.array_equal(np.random.randn(4), expect)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = torch.nn.Linear(3, 2)
    path = checkpoint.save(tmp_path / "last.pt", _dict(5, model))

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, _dict(6, model))
    monkeypatch.undo()
    assert checkpoint.load(path)["update"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="lacks"):
        checkpoint.save(tmp_path / "x.pt", {"format": 1})
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        checkpoint.load(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        checkpoint.load(tmp_path / "other.pt")
