"""defian.report.tables: cited cells equal paper_tables, measured cells equal the run records' evaluations."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from PIL import Image

from defian.report import evaluate, paper_tables, table_ablation, table_comparison, table_runs, tables
from defian.train import run_record
from defian.atomic import write_atomic
from defian.train.config import TrainConfig

SMOKE_SIZE = {"n_modules": 1, "n_blocks": 1, "channels": 8}


def _data_root(tmp_path) -> str:
    for name in ("Set5", "Set14"):
        folder = tmp_path / "data" / "benchmark" / name / "HR"
        folder.mkdir(parents=True)
        Image.fromarray(np.full((24, 24, 3), 120, np.uint8)).save(folder / "a.png")
    return str(tmp_path / "data")


def _fake_run(root, model: str, scale: int, switches: dict, scores: dict[str, float], seed: int = 0,
              schedule: str = "smoke"):
    """A finished run record with an evaluation CSV (no checkpoint): what a committed record holds."""
    cfg = TrainConfig(model=model, scale=scale, switches={**SMOKE_SIZE, **switches}, schedule=schedule,
                      updates=40, seed=seed).to_dict()
    run = root / run_record.run_name(cfg, "embedded")
    rec = run_record.RunRecord(run)
    rec.start(cfg, {})
    rec.finish({"status": "finished", "updates": 40})
    out = evaluate.evaluation_dir(run)
    per_set = pd.DataFrame([{"method": model, "set": s, "scale": scale, "images": 1, "psnr": p, "ssim": p / 40,
                             "protocol": "paper", "self_ensemble": False, "tile": 0, "data": "x"}
                            for s, p in scores.items()])
    per_image = per_set.drop(columns=["images", "protocol", "self_ensemble", "tile", "data"]).assign(image="a")
    write_atomic(out / "per_set.csv", per_set.to_csv(index=False))
    write_atomic(out / "per_image.csv", per_image.to_csv(index=False))
    write_atomic(out / "evaluation.json", '{"update": 40, "limit": null}')
    return run


@pytest.fixture
def no_counting(monkeypatch):
    """Complexity is tested in test_complexity; here a cheap stand-in keeps the assembly fast."""
    monkeypatch.setattr(tables, "preset_complexity", lambda model, scale, **sw: (1.0, 2.0))


# --- variants (which runs: tests/report/test_table_runs.py) ---------------------------------------------------
def test_regenerated_complexity_of_table_iii_full_model() -> None:
    params, flops = tables.preset_complexity("defian_l", 3, **table_runs.variants("III")["(h)"])
    assert (round(params, 1), round(flops, 1)) == (15370.4, 293.2)  # Table III, column (h)


def test_train_data_is_read_from_the_run_name(tmp_path) -> None:
    run = run_record.read(_fake_run(tmp_path, "defian_s", 3, {}, {"Set5": 20.0}))
    assert table_runs.train_data(run) == "embedded"


# --- Table III: measured cells from run records, cited cells from paper_tables ------------------------
def test_table_iii_cells_come_from_records_and_paper(tmp_path, no_counting) -> None:
    root, runs_dir = _data_root(tmp_path), tmp_path / "runs"
    _fake_run(runs_dir, "rcan_s", 3, {}, {"Set5": 21.25})  # (a): the twin preset, found by its switches
    _fake_run(runs_dir, "defian_s", 3, {}, {"Set5": 22.0}, seed=0)  # (h), two seeds
    _fake_run(runs_dir, "defian_s", 3, {}, {"Set5": 22.5}, seed=1)
    _fake_run(runs_dir, "defian_s", 2, {}, {"Set5": 99.0})  # another scale: ignored
    found = table_runs.variant_runs(table_runs.find_runs("smoke", scale=3, root=runs_dir), "defian_s", table_runs.variants("III"))
    t = table_ablation.table_ablation(found, profile="smoke", data_root=root, evaluate_missing=False)
    f = t.frame.set_index("Variant")
    for r in paper_tables.TABLE_III:
        row = f.loc[f"({r.column})"]
        assert (row["#Params (K) paper"], row["#FLOPs (G) paper"], row["Set5 PSNR paper"]) == (
            r.params_k, r.flops_g, r.psnr_set5)
    assert f.loc["(a)", "Set5 PSNR ours"] == 21.25
    assert f.loc["(h)", "Set5 PSNR ours"] == pytest.approx(22.25, abs=1e-12)  # mean of the seeds
    assert f.loc["(h)", "± ours (seeds)"] == pytest.approx(np.std([22.0, 22.5], ddof=1), abs=1e-12)
    assert f.loc["(h)", "Δ Set5 (dB)"] == pytest.approx(22.25 - 34.22, abs=1e-12)
    assert f.loc["(h)", "gain over (a), ours (dB)"] == pytest.approx(1.0, abs=1e-12)
    assert f.loc["(h)", "gain over (a), paper (dB)"] == pytest.approx(34.22 - 33.91, abs=1e-12)
    assert np.isnan(f.loc["(b)", "Set5 PSNR ours"]) and f.loc["(b)", "Provenance"] == "no run"
    # Provenance keeps per row only what differs (the seeds); what the rows share is said once in the notes
    assert f.loc["(h)", "Provenance"] == "seeds 0,1" and f.loc["(a)", "Provenance"] == "seed 0"
    assert any("train data embedded" in n and "smoke:" in n for n in t.notes)
    assert "train data embedded" in t.provenance["(h)"] and "seeds 0,1" in t.provenance["(h)"]
    assert t.provenance["(b)"] == "no run"
    h = list(f.index).index("(h)")
    assert (h, "Set5 PSNR paper") in t.bold  # 34.22 is the paper's best
    assert not {c for _, c in t.bold | t.underline} - {"Set5 PSNR paper"}  # measured cells: no ranking claimed


def test_stand_in_set_has_no_delta(tmp_path, no_counting) -> None:
    # Without Set5 the measured column scores another set and says so; Δ to the paper stays empty.
    folder = tmp_path / "data" / "Set14"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((24, 24, 3), 9, np.uint8)).save(folder / "a.png")
    runs_dir = tmp_path / "runs"
    _fake_run(runs_dir, "rcan_s", 3, {}, {"Set14": 20.0})
    found = table_runs.variant_runs(table_runs.find_runs("smoke", root=runs_dir), "defian_s", table_runs.variants("III"))
    t = table_ablation.table_ablation(found, profile="smoke", data_root=str(tmp_path / "data"), evaluate_missing=False)
    assert t.frame["Set14 PSNR ours"].iloc[0] == 20.0 and np.isnan(t.frame["Δ Set5 (dB)"].iloc[0])
    assert any("Set5 is not under the data root" in n for n in t.notes)


def test_committed_evaluations_show_without_the_set(tmp_path, no_counting) -> None:
    """A fresh clone has no Set5: every run's committed Set5 evaluation still fills the Set5 column (with its
    Δ to the paper), nothing is evaluated, and a note says where the numbers come from."""
    folder = tmp_path / "data" / "Set14"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((24, 24, 3), 9, np.uint8)).save(folder / "a.png")
    runs_dir = tmp_path / "runs"
    _fake_run(runs_dir, "rcan_s", 3, {}, {"Set5": 21.0, "Set14": 20.0})
    _fake_run(runs_dir, "defian_s", 3, {}, {"Set5": 21.5, "Set14": 20.2})
    found = table_runs.variant_runs(table_runs.find_runs("smoke", root=runs_dir), "defian_s", table_runs.variants("III"))
    t = table_ablation.table_ablation(found, profile="smoke", data_root=str(tmp_path / "data"), evaluate_missing=False)
    f = t.frame.set_index("Variant")
    assert f.loc["(a)", "Set5 PSNR ours"] == 21.0 and f.loc["(h)", "Set5 PSNR ours"] == 21.5
    assert f.loc["(h)", "Δ Set5 (dB)"] == pytest.approx(21.5 - 34.22, abs=1e-12)
    assert f.loc["(h)", "gain over (a), ours (dB)"] == pytest.approx(0.5, abs=1e-12)
    assert any("Set5 is not under the data root: the 'ours' Set5 scores are read from the runs' committed" in n
               for n in t.notes)
    # one group without a Set5 evaluation: the whole column falls back to the stand-in set
    _fake_run(runs_dir, "defian_s", 3, {"dac": False}, {"Set14": 19.0})
    found = table_runs.variant_runs(table_runs.find_runs("smoke", root=runs_dir), "defian_s", table_runs.variants("III"))
    t = table_ablation.table_ablation(found, profile="smoke", data_root=str(tmp_path / "data"), evaluate_missing=False)
    assert "Set14 PSNR ours" in t.frame.columns and any("so no Set5 PSNR is measured" in n for n in t.notes)


def test_tables_iv_v_without_runs_show_the_paper(tmp_path, no_counting) -> None:
    root = _data_root(tmp_path)
    t4 = table_ablation.table_kernels({}, profile="cpu", data_root=root, evaluate_missing=False)
    assert list(t4.frame["Manga109 PSNR paper"]) == [r.psnr_manga109 for r in paper_tables.TABLE_IV]
    assert any("No run record" in n for n in t4.notes)
    t5 = table_ablation.table_endec({}, profile="cpu", data_root=root, evaluate_missing=False).frame.set_index("Variant")
    assert t5.loc["HGenDec d=3", "Set5 PSNR paper"] == 34.17
    assert t5.loc["DiEnDec d=0 w/o MSHF", "Set5 PSNR paper"] == 33.96


# --- Tables I/II --------------------------------------------------------------------------------------
def test_table_ii_cited_and_measured_cells(tmp_path, monkeypatch, no_counting) -> None:
    root, runs_dir = _data_root(tmp_path), tmp_path / "runs"
    monkeypatch.setattr(run_record, "runs_root", lambda schedule: runs_dir)
    monkeypatch.setattr(tables, "evaluations_dir", lambda profile: tmp_path / "evaluations")
    _fake_run(runs_dir, "defian_s", 2, {}, {"Set5": 30.5, "Set14": 28.0, "BSD100": 27.0})  # BSD100: not on disk
    _fake_run(runs_dir, "rcan_s", 2, {}, {"Set5": 30.25, "Set14": 27.5})
    t = table_comparison.table_comparison("II", profile="smoke", data_root=root, evaluate_missing=False)
    f = t.frame
    for r in paper_tables.TABLE_II:  # every cited cell is the paper's
        row = f[(f["Source"] == "paper") & (f["Method"] == r.method) & (f["Scale"] == f"x{r.scale}")].iloc[0]
        assert row["#Params (K)"] == r.params_k or (r.params_k is None and pd.isna(row["#Params (K)"]))
        for s in paper_tables.SETS:
            assert row[f"{s} PSNR"] == r.psnr[s] and row[f"{s} SSIM"] == r.ssim[s]
    ours = f[f["Method"] == "DeFiAN_S (ours, smoke)"].iloc[0]
    assert (ours["Scale"], ours["Set5 PSNR"], ours["Set14 PSNR"]) == ("x2", 30.5, 28.0)
    assert ours["Set5 SSIM"] == 30.5 / 40 and np.isnan(ours["Urban100 PSNR"])
    assert ours["BSD100 PSNR"] == 27.0  # the committed evaluation of a set the data root lacks
    paper = paper_tables.row(paper_tables.TABLE_II, "DeFiAN_S", 2).psnr
    assert paper["Set5"] == 38.03 and paper["Set14"] == 33.63
    assert ours["Δ PSNR vs paper (dB)"] == pytest.approx(
        np.mean([30.5 - 38.03, 28.0 - 33.63, 27.0 - paper["BSD100"]]), abs=1e-12)
    twin = f[f["Method"] == "DeFiAN_S without attention (ours, smoke)"].iloc[0]
    assert twin["Set5 PSNR"] == 30.25 and np.isnan(twin["Δ PSNR vs paper (dB)"])
    gains = table_comparison.attention_gains(t).set_index("Scale")
    assert gains.loc["x2", "Set5"] == pytest.approx(0.25, abs=1e-12) and gains.loc["x2", "Set14"] == 0.5
    bic = f[(f["Method"] == "Bicubic") & (f["Source"] == "ours") & (f["Scale"] == "x3")].iloc[0]
    stored = evaluate.read_evaluation(tmp_path / "evaluations" / "bicubic_paper")
    assert bic["Set5 PSNR"] == stored.score("Set5", 3)  # from the Bicubic evaluation CSV
    # marks: the paper's best (DeFiAN_S 38.03) and second best (IDN 37.83) at x2 on Set5
    paper_x2 = (f["Scale"] == "x2") & (f["Source"] == "paper")
    idx = {m: f.index[paper_x2 & (f["Method"] == m)][0] for m in ("DeFiAN_S", "IDN")}
    assert (idx["DeFiAN_S"], "Set5 PSNR") in t.bold and (idx["IDN"], "Set5 PSNR") in t.underline
    assert set(t.ours) == set(np.flatnonzero(f["Source"] == "ours"))


def test_underline_disagreements_are_reported(tmp_path, monkeypatch, no_counting) -> None:
    root = _data_root(tmp_path)
    monkeypatch.setattr(run_record, "runs_root", lambda schedule: tmp_path / "none")
    monkeypatch.setattr(tables, "evaluations_dir", lambda profile: tmp_path / "evaluations")
    t = table_comparison.table_comparison("I", profile="smoke", data_root=root, evaluate_missing=False)
    found = table_comparison.underline_disagreements(t, paper_tables.TABLE_I)
    # x2 Set5 SSIM: CSFM's 0.9605 is second to DeFiAN_L's 0.9618, but the paper underlines nothing there
    assert "x2 CSFM Set5/ssim (second best, not underlined)" in found
    assert "x2 RCAN Set5/psnr (underlined, not second best)" not in found  # 38.18 is second: agreed


def test_save_writes_csv_and_markdown(tmp_path) -> None:
    frame = pd.DataFrame({"Variant": ["x", "y", "z"], "Set5 PSNR ours": [30.0, 31.0, 29.0]})
    bold, under = tables.mark_best(frame, ["Set5 PSNR ours"], [0, 1, 2])
    t = tables.Table("t", "Title", frame, ["a note"], bold, under)
    csv, md = t.save(tmp_path)
    assert pd.read_csv(csv)["Set5 PSNR ours"].tolist() == [30.0, 31.0, 29.0]
    text = md.read_text()
    assert "**31.00**" in text and "<u>30.00</u>" in text and "- a note" in text
    assert tables.output_dir("smoke").parts[-2:] == ("_build", "tables")
    assert tables.output_dir("cpu").parts[-2:] == ("results", "tables")


def test_best_available_records_win_and_say_so(tmp_path, monkeypatch, no_counting) -> None:
    root, runs_dir = _data_root(tmp_path), tmp_path / "runs"
    monkeypatch.setattr(run_record, "runs_root", lambda schedule: runs_dir)
    monkeypatch.setattr(tables, "evaluations_dir", lambda profile: tmp_path / "evaluations")
    _fake_run(runs_dir, "defian_s", 2, {}, {"Set5": 30.0})
    _fake_run(runs_dir, "defian_s", 2, {}, {"Set5": 33.0}, schedule="cpu")  # a committed cpu-study record
    t = table_comparison.table_comparison("II", profile="smoke", data_root=root, evaluate_missing=False)
    ours = t.frame[t.frame["Method"].str.startswith("DeFiAN_S (ours")]
    assert list(ours["Method"]) == ["DeFiAN_S (ours, cpu)"] and ours["Set5 PSNR"].iloc[0] == 33.0
    assert ours["Provenance"].iloc[0].startswith("cpu: ")
    # Table III: a source covering every variant beats one covering fewer, whatever the order
    for label, sw in table_runs.variants("III").items():
        _fake_run(runs_dir, "defian_s", 3, sw, {"Set5": 20.0})
    _fake_run(runs_dir, "defian_s", 3, {}, {"Set5": 25.0}, schedule="cpu")  # only (h) under cpu
    schedule, runs = table_runs.best_available(table_runs.variants("III"))
    assert schedule == "smoke" and all(runs.values())


def test_partial_evaluation_never_replaces_a_complete_one(tmp_path) -> None:
    run = run_record.read(_fake_run(tmp_path, "defian_s", 3, {}, {"Set5": 27.5}))
    score = tables.score_runs([run], "Set5", 3, limit=1, evaluate_missing=False)
    assert score.psnr == 27.5 and score.limit is None  # the complete evaluation serves a limited request
    assert evaluate.evaluation_dir(run.dir, limit=1).name == "last_paper_first1"


def test_complexity_mismatches_flags_a_digit_off_and_skips_blank_cells() -> None:
    frame = pd.DataFrame([
        {"Variant": "(a)", "#Params (K) paper": 15233.8, "#Params (K) regenerated": 15233.827,
         "#FLOPs (G) paper": 290.8, "#FLOPs (G) regenerated": 290.79},
        {"Variant": "(b)", "#Params (K) paper": 15291.4, "#Params (K) regenerated": 15291.52,
         "#FLOPs (G) paper": 291.9, "#FLOPs (G) regenerated": 291.93},
        {"Variant": "d=4", "#Params (K) paper": np.nan, "#Params (K) regenerated": 1.0,
         "#FLOPs (G) paper": np.nan, "#FLOPs (G) regenerated": 2.0},
    ])
    bad = tables.Table("t", "t", frame).complexity_mismatches()
    assert bad == ["(b) #Params (K): 15291.52 vs 15291.4"]


def test_best_marks_need_two_values() -> None:
    f = pd.DataFrame({"x": [1.0, np.nan, np.nan], "y": [3.0, 2.0, 1.0]})
    bold, under = tables.mark_best(f, ["x", "y"], [0, 1, 2])
    assert bold == {(0, "y")} and under == {(1, "y")}  # a lone x value is no "best"
