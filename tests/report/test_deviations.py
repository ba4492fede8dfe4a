"""defian.report.deviations: the table's rows name paths that exist and every effect is given."""

from __future__ import annotations

import pytest

from defian import paths
from defian.report import deviations

REQUIRED = {"mshf_params", "mshf_bias", "normalisation", "train_val", "ssim_y", "warm_start", "endec_skips", "patch",
            "precision", "loss", "checkpoint"}  # the items issue 20 asks for


def test_items_are_unique_and_cover_the_issue() -> None:
    keys = [d.key for d in deviations.ITEMS]
    assert len(keys) == len(set(keys)) and REQUIRED <= set(keys)


def test_every_tested_path_exists() -> None:
    for d in deviations.ITEMS:
        assert d.tested, d.key
        for p in d.tested:
            assert (paths.ROOT / p).is_file(), f"{d.key}: {p}"


def test_table_needs_every_effect_and_no_other() -> None:
    effects = {d.key: f"effect of {d.key}" for d in deviations.ITEMS}
    t = deviations.table(effects)
    assert list(t.columns) == ["item", "paper", "released code", "this book", "effect", "tested in"]
    assert t["effect"].tolist() == [f"effect of {d.key}" for d in deviations.ITEMS]
    with pytest.raises(KeyError, match="missing"):
        deviations.table({k: v for k, v in effects.items() if k != "loss"})
    with pytest.raises(KeyError, match="unknown"):
        deviations.table({**effects, "typo": "x"})
