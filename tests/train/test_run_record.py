"""defian.train.run_record: names that carry settings, metrics rows that survive kills and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from defian import paths
from defian.train import config, run_record


def test_run_name_carries_the_settings() -> None:
    cfg = config.schedule("cpu", model="defian_s", scale=2).to_dict()
    assert run_record.run_name(cfg, "embedded") == "defian_s_x2_N3M5_embedded_6k_B16P24_cpu_s0"
    full = config.schedule("full", model="defian_l", scale=4, precision="bf16").to_dict()
    assert run_record.run_name(full, "div2k") == "defian_l_x4_div2k_600k_B16P48_full_s0-bf16"
    smoke = config.schedule("smoke").to_dict()
    assert run_record.run_name(smoke, "embedded") == "defian_s_x2_N1M1C8_embedded_40_B4P12_smoke_s0"


def test_runs_root_keeps_smoke_out_of_the_committed_folder() -> None:
    assert run_record.runs_root("smoke") == paths.SCRATCH_RUNS
    assert run_record.runs_root("cpu") == run_record.runs_root("full") == paths.RUNS


def test_rows_round_trip_exactly(tmp_path: Path) -> None:
    rec = run_record.RunRecord(tmp_path / "r")
    rec.start({"model": "defian_s", "scale": 2}, {"torch": "x"})
    loss = 0.1 + 0.2  # 0.30000000000000004: repr keeps every bit
    rec.append(1, loss, 1e-4, None, 12.5)
    rec.append(2, 0.25, 1e-4, 30.123456789, 13.0)
    rows = run_record.read_metrics(rec.dir)
    assert rows == [{"update": 1, "loss": loss, "lr": 1e-4, "val_psnr": None, "samples_per_s": 12.5},
                    {"update": 2, "loss": 0.25, "lr": 1e-4, "val_psnr": 30.123456789, "samples_per_s": 13.0}]


def test_half_written_row_is_ignored_and_truncate_drops_rows_after_the_checkpoint(tmp_path: Path) -> None:
    rec = run_record.RunRecord(tmp_path / "r")
    rec.start({"a": 1}, {})
    for u in range(1, 6):
        rec.append(u, 1.0 / u, 1e-4, None, 1.0)
    with open(rec.metrics_path, "a") as fh:
        fh.write("6,0.16")  # a kill in the middle of a write
    assert [r["update"] for r in run_record.read_metrics(rec.dir)] == [1, 2, 3, 4, 5]
    rec.truncate(3)
    assert [r["update"] for r in run_record.read_metrics(rec.dir)] == [1, 2, 3]
    rec.append(4, 0.5, 1e-4, None, 1.0)
    assert [r["loss"] for r in run_record.read_metrics(rec.dir)] == [1.0, 0.5, 1.0 / 3, 0.5]


def test_read_and_find(tmp_path: Path) -> None:
    for model in ("defian_s", "rcan_s"):
        rec = run_record.RunRecord(tmp_path / model)
        rec.start({"model": model, "scale": 2}, {"torch": "2.13"})
        rec.append(10, 0.5, 1e-4, 28.0, 3.0)
        rec.append(20, 0.4, 1e-4, None, 3.0)
        rec.finish({"status": "finished", "updates": 20})
    runs = run_record.find(tmp_path, model="rcan_s")
    assert [r.name for r in runs] == ["rcan_s"]
    assert runs[0].summary == {"format": run_record.FORMAT, "status": "finished", "updates": 20}
    assert runs[0].curve("val_psnr") == ([10], [28.0])
    assert runs[0].curve("loss") == ([10, 20], [0.5, 0.4])
    assert json.loads((tmp_path / "rcan_s" / "config.json").read_text()) == {"model": "rcan_s", "scale": 2}


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no config.json"):
        run_record.read(tmp_path)
    (tmp_path / "metrics.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="metrics.csv"):
        run_record.read_metrics(tmp_path)
