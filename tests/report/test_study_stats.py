"""defian.report.study_stats: the pair's gain with its Student-t interval, the noise of one run, the single runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from defian.report import study, study_stats
from defian.train import checkpoint, loop


# --- statistics ----------------------------------------------------------------------------------------
def test_summary_is_the_student_t_interval() -> None:
    g = pd.DataFrame({"seed": [0, 1, 2], "set": "Set5", "defian_s": [30.1, 30.3, 30.5],
                      "rcan_s": [30.0, 30.1, 30.2]})
    g["gain"] = g["defian_s"] - g["rcan_s"]  # 0.1, 0.2, 0.3
    s = study_stats.summarize(g).iloc[0]
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2 dof), from printed tables
    assert s["seeds"] == 3 and s["mean gain"] == pytest.approx(0.2) and s["sd gain"] == pytest.approx(0.1)
    assert (s["ci low"], s["ci high"]) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert s["sd defian_s"] == pytest.approx(0.2) and s["sd rcan_s"] == pytest.approx(0.1)


@pytest.mark.parametrize(("low", "high", "seeds", "want"), [
    (0.01, 0.2, 3, "supported"), (-0.2, -0.01, 3, "contradicted"), (-0.1, 0.2, 3, "not resolved"),
    (0.1, 0.2, 1, "not resolved (one seed: no spread)")])
def test_verdict_needs_the_whole_interval_on_one_side(low, high, seeds, want) -> None:
    assert study_stats.verdict(pd.Series({"ci low": low, "ci high": high, "seeds": seeds})) == want


def test_p_value_is_scipys_one_sample_t_test_and_agrees_with_the_interval() -> None:
    from scipy import stats

    for d in ([0.1, 0.2, 0.05], [0.03, -0.01, 0.04], [-0.2, -0.25, -0.1, -0.3]):
        p = study_stats.t_p_value(np.array(d))
        assert p == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-12)
        if len(d) == 3:  # 2 degrees of freedom: the t distribution's CDF is 1/2 + t / (2 sqrt(2 + t^2))
            t = np.mean(d) / (np.std(d, ddof=1) / math.sqrt(3))
            assert p == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t), rel=1e-12)
        row = study_stats.t_interval(np.array(d))
        assert (p < 0.05) == (row["ci low"] > 0 or row["ci high"] < 0)  # the interval excludes 0 iff p < 5 %
    assert math.isnan(study_stats.t_p_value(np.array([0.1])))
    assert study_stats.t_p_value(np.array([0.1, 0.1, 0.1])) == 0.0  # no spread, nonzero mean
    assert study_stats.t_p_value(np.zeros(3)) == 1.0


def test_holm_is_the_step_down_bonferroni() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06 for the last
    got = study_stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02], rtol=0, atol=1e-15)
    got = study_stats.holm([0.5, float("nan"), 0.02])  # NaN is not a test: m = 2
    np.testing.assert_allclose(got, [0.5, np.nan, 0.04], rtol=0, atol=1e-15)
    assert study_stats.holm([0.6, 0.9]).tolist() == [1.0, 1.0]  # 2 * 0.6 capped at 1; the running max carries it
    assert study_stats.holm([0.04]).tolist() == [0.04]  # a family of one is unadjusted


def test_seeds_needed_inverts_the_standard_error() -> None:
    assert study_stats.seeds_needed(0.1, 0.2) == 1  # 2 * 0.1 / sqrt(1) = 0.2
    assert study_stats.seeds_needed(0.1, 0.05) == 16  # 2 * 0.1 / sqrt(16) = 0.05
    assert study_stats.seeds_needed(0.1, 0.049) == 17
    with pytest.raises(ValueError, match="positive difference"):
        study_stats.seeds_needed(0.1, 0.0)


def test_paired_gains_pair_models_by_seed(tmp_path, write_record) -> None:
    by = {j.label: j.config for j in study.jobs()}
    write_record(tmp_path, by["x2 defian_s seed 0"], {"Set5": 31.0, "Set14": 29.0}, val=(30.0, 31.0))
    write_record(tmp_path, by["x2 rcan_s seed 0"], {"Set5": 30.75, "Set14": 29.5}, val=(30.5, 30.75))
    write_record(tmp_path, by["x2 defian_s seed 1"], {"Set5": 31.5, "Set14": 29.0})
    write_record(tmp_path, by["x2 rcan_s seed 1"], {"Set5": 31.0, "Set14": 28.0})
    write_record(tmp_path, by["x2 defian_s seed 2"], {"Set5": 40.0})  # no twin at seed 2: left out
    g = study_stats.paired_gains(tmp_path)
    assert sorted(g["seed"].unique()) == [0, 1]
    got = {(r.seed, r.set): r.gain for r in g.itertuples()}
    assert got == {(0, "Set5"): 0.25, (0, "Set14"): -0.5, (1, "Set5"): 0.5, (1, "Set14"): 1.0}
    img = study_stats.image_gains(tmp_path)  # one image "a" per set in these records
    assert {(r.seed, r.set, r.image): r.gain for r in img.itertuples()} == {
        (0, "Set5", "a"): 0.25, (0, "Set14", "a"): -0.5, (1, "Set5", "a"): 0.5, (1, "Set14", "a"): 1.0}
    losses = study_stats.final_losses(tmp_path, last=6000).set_index("seed")  # every logged loss is 0.1
    assert losses.loc[0, "ratio"] == pytest.approx(1.0) and np.isnan(losses.loc[1, "defian_s"])
    gaps = study_stats.validation_gaps(tmp_path)
    assert list(gaps.index) == [500, 1000] and list(gaps["seed 0"]) == [-0.5, 0.25]
    assert gaps["seed 1"].isna().all()  # seed 1 logged no validation
    noise = study_stats.paired_noise(tmp_path)  # Set5 gains 0.25 and 0.5
    assert noise == pytest.approx(np.std([0.25, 0.5], ddof=1))
    close = study_stats.single_runs(pd.Series({"(a)": 32.0, "(b)": 32.1, "(c)": None}), tmp_path)
    assert close.startswith("2 single runs span 0.100 dB (highest (b), lowest (a))")
    assert f"2 sd = {2 * noise:.3f} dB on Set5, so these differences are not a ranking" in close
    assert study_stats.single_runs(pd.Series({"(a)": 32.0, "(b)": 32.5}), tmp_path).endswith("more than noise")
    assert study_stats.single_runs(pd.Series({"(a)": None}), tmp_path) == "no measured run"
    assert study_stats.single_runs(pd.Series({"(a)": 32.0}), tmp_path).startswith("one single run ((a)), nothing to")
    assert study_stats.single_runs(pd.Series({"(a)": 1.0}), tmp_path / "none").endswith("is not measured yet")


def test_attention_activity_rebuilds_the_initial_network_as_training_did(tmp_path, write_record) -> None:
    by = {j.label: j.config for j in study.jobs()}
    cfg = by["x2 defian_s seed 1"]
    run = write_record(tmp_path, cfg, {"Set5": 31.0})
    write_record(tmp_path, by["x2 rcan_s seed 1"], {"Set5": 31.0})
    net = loop.initial_model(cfg, torch.device("cpu"))  # the network update 0 starts from
    torch.save({"format": checkpoint.FORMAT, "update": 0, "model": net.state_dict(), "ema": None, "best": None,
                "config": cfg.to_dict(), "slim": True}, run / "last.pt")  # as published (checkpoint.slim)
    act = study_stats.pair_attention_activity(tmp_path)
    assert list(act["seed"].unique()) == [1] and len(act) == 6 and act.attrs["image"]  # 3 DeFiAMs x init/trained
    init, trained = (act[act.when == w].set_index("DeFiAM").drop(columns="when") for w in ("init", "trained"))
    pd.testing.assert_frame_equal(init, trained, rtol=1e-5)  # "trained" is the saved update-0 network
    assert ((init.decoder_active >= 0) & (init.decoder_active <= 1)).all()


def test_table_spreads_compare_single_runs_with_the_papers_columns(tmp_path, write_record) -> None:
    by = {name: j.config for j in study.jobs() for name in (j.label, *j.also)}
    write_record(tmp_path, by["Table III (a)"], {"Set5": 32.0})  # also Table IV "w/o HF"
    write_record(tmp_path, by["Table III (b)"], {"Set5": 32.1})  # also Table IV ker=(3,5,7)
    write_record(tmp_path, by["Table IV ker=(7)"], {"Set5": 31.95})
    write_record(tmp_path, by["Table III (c)"], {"Set5": 40.0}, finished=False)  # not finished: not counted
    sp = study_stats.table_spreads(tmp_path).set_index("table")
    assert list(sp.index) == ["Table III", "Table IV", "Table V"]
    assert sp.loc["Table III", ["variants", "measured"]].tolist() == [8, 2]
    assert sp.loc["Table III", "span ours"] == pytest.approx(0.1)
    assert sp.loc["Table III", "span paper"] == pytest.approx(34.12 - 33.91)  # (b) - (a) in the paper
    assert sp.loc["Table IV", "measured"] == 3 and sp.loc["Table IV", "span ours"] == pytest.approx(0.15)
    assert sp.loc["Table IV", "span paper"] == pytest.approx(34.12 - 33.80)  # (3,5,7) - (7)
    assert sp.loc["Table IV", "sd ours"] == pytest.approx(np.std([32.0, 32.1, 31.95], ddof=1))
    assert sp.loc["Table V", "variants"] == 12 and sp.loc["Table V", "measured"] == 0
    assert np.isnan(sp.loc["Table V", "span ours"])
