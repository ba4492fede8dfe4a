"""defian.train.config: the paper's schedule, schedules derived by replace, the CLI built from the fields."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from defian.train import config


def _changed(a: config.TrainConfig, b: config.TrainConfig) -> set[str]:
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}


def test_short_is_full_with_fewer_updates() -> None:
    """Sec. IV-D: the same optimisation, 5x10^4 updates (validation/checkpoint spacing follows)."""
    assert _changed(config.FULL, config.SHORT) == {"schedule", "updates", "val_every", "ckpt_every"}


def test_released_recipe_differs_only_where_the_code_does() -> None:
    rel = config.schedule("released", scale=2)
    assert _changed(config.FULL, rel) == {"schedule", "lr", "patch", "lr_step_unit", "lr_step", "switches", "seed"}
    assert [config.schedule("released", scale=s).patch * s for s in (2, 3, 4)] == [128, 126, 128]


def test_cli_flags_override_the_schedule() -> None:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    args = parser.parse_args(["--schedule", "cpu", "--model", "rcan_s", "--lr", "3e-4", "--switch", "n_blocks=2",
                              "--switch", "normalisation=imagenet", "--no-augment", "--betas", "0.8", "0.99"])
    cfg = config.from_arguments(args)
    assert (cfg.schedule, cfg.model, cfg.lr, cfg.augment, cfg.betas) == ("cpu", "rcan_s", 3e-4, False, (0.8, 0.99))
    assert cfg.switches == {"n_modules": 3, "n_blocks": 2, "normalisation": "imagenet"}  # merged into cpu's
    assert _changed(config.CPU, cfg) == {"model", "lr", "augment", "betas", "switches"}


def test_dict_round_trip() -> None:
    for cfg in config.SCHEDULES.values():
        assert config.TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['learning_rate'\]"):
        config.TrainConfig.from_dict({"learning_rate": 1e-4})


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match="TrainConfig.scale=5"):
        config.TrainConfig(scale=5)
    with pytest.raises(ValueError, match=r"TrainConfig.ckpt_every=150 is not valid \(must be a multiple of log_every=100\)"):
        config.TrainConfig(log_every=100, ckpt_every=150)
    with pytest.raises(ValueError, match=r"TrainConfig.val_every=-5 is not valid \(must be >= 0\)"):
        config.TrainConfig(log_every=5, val_every=-5)  # a multiple of log_every, still not valid
    with pytest.raises(ValueError, match="unknown schedule 'fast'"):
        config.schedule("fast")
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        config.parse_switch("n_blocks")


def test_every_field_says_where_its_default_comes_from() -> None:
    """STYLE: defaults carry their source; the same comments are the CLI's help text."""
    comments = config.field_comments()
    assert set(comments) == {f.name for f in dataclasses.fields(config.TrainConfig)}
    assert "paper IV-B2" in comments["lr"] and "released code" in comments["lr"]
