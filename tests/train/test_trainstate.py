"""defian.train.trainstate: the step-halved learning rate, the EMA of the weights, what a resume must match."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from defian.train import config, trainstate


def test_lr_is_halved_every_lr_step_updates() -> None:
    """Paper IV-B2: 1e-4, halved every 2x10^5 updates (here every 3, and every 2 epochs of 3)."""
    model = torch.nn.Linear(1, 1)
    for unit, step, every in (("update", 3, 3), ("epoch", 2, 6)):
        cfg = config.schedule("full", lr_step=step, lr_step_unit=unit, epoch_updates=3)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = trainstate.scheduler(opt, cfg)
        lrs = []
        for _ in range(13):
            lrs.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        assert lrs == [1e-4 * 0.5 ** (u // every) for u in range(13)]


def test_ema_update_is_the_exponential_average() -> None:
    ema, model = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    before = [p.detach().clone() for p in ema.parameters()]
    trainstate.ema_update(ema, model, 0.9)
    for e, b, m in zip(ema.parameters(), before, model.parameters(), strict=True):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * m.detach(), rtol=0, atol=1e-7)


def test_same_run_names_every_differing_field_and_ignores_runtime_ones() -> None:
    cfg = config.schedule("smoke")
    saved = {**cfg.to_dict(), "threads": 1, "device": "cuda", "lr": 1.0, "seed": 7}
    with pytest.raises(ValueError, match=r"^'run/last.pt' belongs to a run with other settings "
                                         r"\(lr: 1.0 -> 0.001, seed: 7 -> 0\)"):
        trainstate.same_run(saved, cfg, Path("run/last.pt"))
    trainstate.same_run({**cfg.to_dict(), "threads": 2, "device": "cuda", "compile": True}, cfg, Path("x"))
    old = {k: v for k, v in cfg.to_dict().items() if k != "ema"}  # a record written before "ema" existed
    trainstate.same_run(old, cfg, Path("x"))  # reads as the default


def test_same_run_reads_a_field_added_later_as_its_default_for_any_run_config() -> None:
    """An older record without a newer field resumes (the LFR runs use the same check)."""
    from defian.lfr.train import RUNTIME_FIELDS as LFR_RUNTIME
    from defian.lfr.train import schedule as lfr_schedule

    cfg = lfr_schedule("smoke")
    older = {k: v for k, v in cfg.to_dict().items() if k != "val_scale"}  # as if val_scale came later
    trainstate.same_run(older, cfg, Path("x"), LFR_RUNTIME)
    with pytest.raises(ValueError, match=r"\(lr: 1.0 -> "):
        trainstate.same_run({**older, "lr": 1.0}, cfg, Path("x"), LFR_RUNTIME)
