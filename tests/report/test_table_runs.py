"""defian.report.table_runs: Tables III-V's variants from the paper's tables, and which run records a page shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from defian.report import paper_tables, table_runs
from defian.train import run_record
from defian.nn.model import make_config


def test_variants_follow_the_paper_tables() -> None:
    iii = table_runs.variants("III")
    assert list(iii) == [f"({c})" for c in "abcdefgh"]
    for r in paper_tables.TABLE_III:
        assert iii[f"({r.column})"] == {"mshf": r.mshf, "diendec": r.diendec, "dac": r.dac}
    assert len(table_runs.variants("IV")) == len(paper_tables.TABLE_IV) == 8
    assert len(table_runs.variants("V")) == 1 + sum(p is not None for r in paper_tables.TABLE_V for p in r.psnr.values())


@pytest.mark.parametrize(("table", "label", "same_as"), [
    ("IV", "w/o HF", "(a)"), ("IV", "ker=(3,5,7)", "(b)"),  # Table IV's #Params/PSNR repeat Table III's
    ("V", "DiEnDec d=0 w/o MSHF", "(d)"), ("V", "DiEnDec d=0", "(f)"), ("V", "DiEnDec d=3", "(h)"),
])
def test_shared_columns_are_the_same_runs(table: str, label: str, same_as: str) -> None:
    key = table_runs.attention_key(make_config("defian_l", **table_runs.variants(table)[label]))
    assert key == table_runs.attention_key(make_config("defian_l", **table_runs.variants("III")[same_as]))


def test_scratch_smoke_runs_only_on_smoke_pages() -> None:
    assert table_runs.schedules_for("smoke") == ("full", "short", "cpu", "smoke")
    assert "smoke" not in table_runs.schedules_for("cpu")
    assert all(s != "smoke" for s, _ in table_runs.ablation_sources("full", "short", "defian_l"))


def test_gather_without_runs_lists_every_variant_and_the_command_that_makes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_record, "runs_root", lambda schedule: tmp_path / "none")
    table, runs, report = table_runs.gather("III", profile="cpu", schedule="cpu", model="defian_s")
    assert len(table) == len(paper_tables.TABLE_III) == 8
    assert report.startswith("records shown: none yet")
    commands = [line for line in report.splitlines() if line.startswith("defian train --schedule cpu")]
    assert len(commands) == 8 and all("--scale 3" in c for c in commands)
    assert not any(runs.values())


def test_paper_set5_has_the_papers_number_for_every_column() -> None:
    for which in ("III", "IV", "V"):
        assert list(table_runs.paper_set5(which)) == list(table_runs.variants(which))  # same columns, same order
    assert table_runs.paper_set5("IV")["ker=(7)"] == 33.80 and table_runs.paper_set5("V")["DiEnDec d=0 w/o MSHF"] == 33.96
    assert table_runs.paper_set5("III")["(h)"] == 34.22 and table_runs.paper_set5("V")["HGenDec d=3"] == 34.17
