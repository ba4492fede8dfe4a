"""defian.train.run_record segments: one entry per training process, the run's time is their sum,
format-1 records (the committed cpu study) read too, their lost time reconstructed from metrics.csv."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from defian import paths
from defian.train import config, loop, run_record

ENV = {"git_commit": "abc123def456", "utc": "2026-01-01 00:00 UTC", "device": "CPU (2 logical cores, x86_64)",
       "cpu": "test cpu", "torch": "x"}


def _format1(tmp_path: Path, resumed_from: int, rows: list[tuple[int, float]], wall_s: float,
             commit: str = "abc+dirty") -> run_record.Run:
    """A record as written before segments existed: environment.json of the last process only."""
    d = tmp_path / "old"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"batch": 16, "schedule": "cpu"}))
    (d / "environment.json").write_text(json.dumps({**ENV, "git_commit": commit}))
    lines = ["update,loss,lr,val_psnr,samples_per_s"] + [f"{u},0.1,0.0002,,{sps!r}" for u, sps in rows]
    (d / "metrics.csv").write_text("\n".join(lines) + "\n")
    (d / "summary.json").write_text(json.dumps({"format": 1, "status": "finished", "updates": rows[-1][0],
                                                "resumed_from": resumed_from, "wall_s": wall_s}))
    return run_record.read(d)


def test_metrics_wall_s_on_a_known_case() -> None:
    # 50 updates of batch 16 at 40 patches/s take 20 s; the next 50 at 80/s take 10 s
    rows = [{"update": 50, "samples_per_s": 40.0}, {"update": 100, "samples_per_s": 80.0},
            {"update": 150, "samples_per_s": 16.0}]
    assert run_record.metrics_wall_s(rows, 16, 0, 150) == pytest.approx(20 + 10 + 50)
    assert run_record.metrics_wall_s(rows, 16, 50, 100) == pytest.approx(10)  # resumed at 50
    assert run_record.metrics_wall_s(rows, 16, 100, 100) == 0


def test_dirty_flag() -> None:
    assert run_record.dirty_flag("315eeade7398+dirty") is True
    assert run_record.dirty_flag("7e5690ededf1") is False
    assert run_record.dirty_flag("unknown") is None and run_record.dirty_flag(None) is None


def test_a_resumed_record_keeps_every_segment_and_sums_their_time(tmp_path: Path) -> None:
    rec = run_record.RunRecord(tmp_path / "r")
    rec.start({"batch": 4}, ENV)
    for u in (5, 10, 15):
        rec.append(u, 0.5, 1e-3, None, 100.0)
    time.sleep(0.05)
    rec.append(20, 0.5, 1e-3, None, 100.0)  # ... then a kill: no finish; the checkpoint was at 15
    first = json.loads((rec.dir / "environment.json").read_text())["segments"]
    assert [(s["from_update"], s["to_update"]) for s in first] == [(0, 20)] and first[0]["wall_s"] >= 0.05

    again = run_record.RunRecord(tmp_path / "r")
    again.start({"batch": 4}, {**ENV, "git_commit": "fff000fff000+dirty", "utc": "2026-01-02 00:00 UTC"},
                from_update=15)
    again.truncate(15)
    for u in (20, 25):
        again.append(u, 0.5, 1e-3, None, 100.0)
    again.finish({"status": "finished", "updates": 25, "wall_s": 0.01, "resumed_from": 15})
    run = run_record.read(tmp_path / "r")
    segs = run.segments
    assert [(s["from_update"], s["to_update"]) for s in segs] == [(0, 20), (15, 25)]  # 15-20 done twice
    assert [s["git_commit"] for s in segs] == ["abc123def456", "fff000fff000+dirty"]
    assert [s["dirty"] for s in segs] == [False, True] and run.dirty is True
    assert [s["utc"] for s in segs] == ["2026-01-01 00:00 UTC", "2026-01-02 00:00 UTC"]
    assert all(s["cpu"] == "test cpu" for s in segs)
    assert run.wall_s == pytest.approx(segs[0]["wall_s"] + segs[1]["wall_s"]) and run.wall_s_reconstructed == 0
    assert run.environment["git_commit"] == "fff000fff000+dirty"  # the top level: the latest process
    assert run.summary["format"] == run_record.FORMAT == 2


def test_a_fresh_start_drops_the_segments_of_a_discarded_run(tmp_path: Path) -> None:
    rec = run_record.RunRecord(tmp_path / "r")
    rec.start({"batch": 4}, ENV)
    rec.append(5, 0.5, 1e-3, None, 100.0)
    rec.start({"batch": 4}, ENV, from_update=0)  # --restart, or a kill before the first checkpoint
    run = run_record.read(tmp_path / "r")
    assert [(s["from_update"], s["to_update"]) for s in run.segments] == [(0, 0)] and run.dirty is False


def test_format1_record_reads_with_its_lost_segment_reconstructed(tmp_path: Path) -> None:
    # resumed at 100: 50 updates at 40/s (20 s) and 50 at 80/s (10 s) before, lost; 50 at 16/s after
    run = _format1(tmp_path, 100, [(50, 40.0), (100, 80.0), (150, 16.0)], wall_s=50.2)
    segs = run.segments
    assert [(s["from_update"], s["to_update"]) for s in segs] == [(0, 100), (100, 150)]
    assert segs[0]["git_commit"] is None and segs[0]["wall_s"] is None  # lost, said so
    assert segs[1]["git_commit"] == "abc+dirty" and segs[1]["wall_s"] == 50.2
    assert run.wall_s == pytest.approx(50.2 + 30) and run.wall_s_reconstructed == pytest.approx(30)
    assert run.dirty is True  # one known segment was dirty


def test_format1_clean_but_resumed_is_unknown_and_unresumed_is_one_segment(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    resumed = _format1(tmp_path / "a", 50, [(50, 40.0), (100, 80.0)], wall_s=10.0, commit="abc")
    assert resumed.dirty is None  # the first segment's commit is lost
    (tmp_path / "b").mkdir()
    whole = _format1(tmp_path / "b", 0, [(50, 40.0), (100, 80.0)], wall_s=30.1, commit="abc")
    assert len(whole.segments) == 1 and whole.wall_s == 30.1 and whole.dirty is False


def test_resuming_a_format1_record_keeps_its_last_process_as_a_segment(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    (d / "environment.json").write_text(json.dumps(ENV))  # format 1, killed: no summary
    (d / "metrics.csv").write_text("update,loss,lr,val_psnr,samples_per_s\n5,0.5,0.001,,10.0\n10,0.5,0.001,,10.0\n")
    rec = run_record.RunRecord(d)
    rec.start({"batch": 4}, {**ENV, "git_commit": "new"}, from_update=10)
    rec.finish({"status": "finished", "updates": 12})
    segs = run_record.read(d).segments
    assert [(s["git_commit"], s["from_update"], s["to_update"], s["wall_s"]) for s in segs[:1]] == [
        ("abc123def456", 0, 10, None)]
    assert segs[1]["git_commit"] == "new" and (segs[1]["from_update"], segs[1]["to_update"]) == (10, 12)


def test_committed_runs_read_and_their_metrics_time_matches_the_measured_one() -> None:
    """The reconstruction method, checked where both exist: the last process of every committed run."""
    runs = run_record.find(paths.RUNS)
    assert runs, "no committed run records"
    for r in runs:
        last = r.segments[-1]
        assert last["wall_s"] is not None, r.name
        rebuilt = run_record.metrics_wall_s(r.metrics, r.config["batch"], last["from_update"], last["to_update"])
        short = 1 - rebuilt / last["wall_s"]  # validation and checkpoints are outside the rows' timers
        assert r.wall_s >= r.summary["wall_s"] and short >= 0, r.name
        if "segments" in r.environment:  # format 2: every segment measured (from the process's start)
            assert r.wall_s_reconstructed == 0, r.name
            continue
        assert short < 0.005, (r.name, short)  # the bound the module docstring cites
        if r.summary.get("resumed_from"):
            assert r.wall_s_reconstructed > 0 and r.segments[0]["git_commit"] is None
        else:
            assert r.wall_s == r.summary["wall_s"]


def test_the_trainer_writes_one_segment_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process stopped after its checkpoint at update 20 and resumed leaves two segments."""
    monkeypatch.setenv("DEFIAN_CPP", "0")  # the PyTorch paths: no C++ build inside this test
    cfg = dataclasses.replace(config.schedule("smoke"), updates=30, val_every=0, ckpt_every=10, log_every=5)
    step, calls = loop._step, {"n": 0}

    def stopping(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 24:  # after update 23: the last checkpoint is 20, the last row 20
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(loop, "_step", stopping)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, tmp_path, name="r")
    monkeypatch.setattr(loop, "_step", step)
    run = loop.train(cfg, tmp_path, name="r")
    segs = run.segments
    assert [(s["from_update"], s["to_update"]) for s in segs] == [(0, 20), (20, 30)]
    assert run.summary["resumed_from"] == 20 and segs[1]["wall_s"] >= run.summary["wall_s"]
    assert run.wall_s == pytest.approx(segs[0]["wall_s"] + segs[1]["wall_s"])
    assert all(s["git_commit"] == run.environment["git_commit"] for s in segs)
