"""defian.lfr.study and defian.lfr.report: the jobs, how records match them, the statistics, the post variant."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from defian.lfr import report, study
from defian.lfr.model import build_lfr_model
from defian.lfr.resample import bicubic
from defian.lfr.train import LFRTrainConfig
from defian.train import config, run_record


def test_the_jobs() -> None:
    jobs = study.jobs("cpu")
    labels = [j.label for j in jobs]
    assert len(jobs) == 17 and len(set(labels)) == 17
    lfr = [j for j in jobs if j.kind == "lfr"]
    assert [(j.config.model, j.config.seed) for j in lfr[:6]] == [(m, s) for s in (0, 1, 2)
                                                                   for m in ("defian_lfr_s", "rcan_lfr_s")]
    assert lfr[6].config.switches == {"n_modules": 3, "n_blocks": 5, "upsampling": "post"}
    assert all(j.config.updates == config.CPU.updates and j.config.patch == config.CPU.patch for j in jobs)
    fixed = {(j.config.model, j.config.scale, j.config.seed) for j in jobs if j.kind == "fixed"}
    assert fixed == {("defian_s", 2, s) for s in (0, 1, 2)} | {("rcan_s", 2, s) for s in (0, 1, 2)} | {
        ("defian_s", 3, s) for s in (0, 1, 2)} | {("defian_s", 4, 0)}
    assert study.lfr_root("cpu").parts[-3:] == ("results", "runs", "lfr")
    assert study.lfr_root("smoke").parts[-3:] == ("_build", "runs", "lfr")


def test_eval_grid_covers_the_three_questions() -> None:
    grid = study.eval_grid()
    assert len(grid) == len(set(grid)) == 26
    assert {s for st, s, r in grid if st == "Set5" and r == "largest_first"} == set(study.CURVE_SCALES)
    assert study.CURVE_SCALES[0] == 1.25 and study.CURVE_SCALES[-1] == 4.0 and len(study.CURVE_SCALES) == 12
    assert {(st, s) for st, s, r in grid if r == "equal2"} == {(st, s) for st in ("Set5", "Set14") for s in (2, 3, 4)}
    assert {s for st, s, r in grid if st == "BSD100"} == {2.0, 3.0}


def _run(tmp_path, cfg: dict) -> run_record.Run:
    d = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
    rec = run_record.RunRecord(d)
    rec.start(cfg, {"git_commit": "x"})
    rec.finish({"status": "finished", "updates": cfg["updates"]})
    return run_record.read(d)


def test_records_match_jobs_by_network_not_spelling(tmp_path) -> None:
    jobs = {j.label: j for j in study.jobs("cpu")}
    x3 = jobs["fixed x3 defian_s seed 0"].config
    spelled = dataclasses.replace(x3, switches={**x3.switches, "mshf": True, "diendec": True, "dac": True})
    other = dataclasses.replace(x3, switches={**x3.switches, "dac": False})
    runs = [_run(tmp_path, c.to_dict()) for c in (other, spelled)]
    assert study.find_run(jobs["fixed x3 defian_s seed 0"], runs) is runs[1]  # Table III (h) = DeFiAN_S
    assert study.find_run(jobs["fixed x3 defian_s seed 1"], runs) is None
    lfr = _run(tmp_path, dataclasses.replace(jobs["LFR rcan_lfr_s seed 1"].config, threads=2, progress=True).to_dict())
    assert study.find_run(jobs["LFR rcan_lfr_s seed 1"], [lfr]) is lfr  # runtime fields do not matter
    assert study.find_run(jobs["LFR defian_lfr_s seed 1"], [lfr]) is None
    assert not study.is_done(jobs["LFR rcan_lfr_s seed 1"], lfr)  # finished, but not evaluated


def test_welch_interval_matches_scipy() -> None:
    a, b = [31.2, 31.5, 31.1], [31.0, 30.7, 31.05, 30.9]
    got = report.interval(a, b)
    res = stats.ttest_ind(a, b, equal_var=False)
    lo, hi = res.confidence_interval(0.95)
    assert (got["ci low"], got["ci high"]) == pytest.approx((lo, hi), abs=1e-12)
    one = report.interval([1.0], [0.5, 0.7])
    assert one["diff"] == pytest.approx(0.4) and np.isnan(one["ci low"])


def test_central_and_attention_tables_from_synthetic_scores() -> None:
    lfr = pd.DataFrame([{"job": "j", "model": m, "upsampling": "pre", "seed": s, "set": "Set5", "scale": 2.0,
                         "rule": "largest_first", "ratios": "2", "images": 5, "psnr": v, "ssim": 0.9}
                        for m, vals in (("defian_lfr_s", (35.9, 36.0, 35.95)), ("rcan_lfr_s", (35.8, 35.8, 35.9)))
                        for s, v in enumerate(vals)])
    fixed = pd.DataFrame([{"job": "f", "model": "defian_s", "seed": s, "set": "Set5", "scale": 2, "images": 5,
                           "psnr": v, "ssim": 0.9} for s, v in enumerate((36.3, 36.25, 36.35))])
    c = report.central(lfr, fixed).iloc[0]
    assert (c["n lfr"], c["n fixed"]) == (3, 3) and c["diff"] == pytest.approx(35.95 - 36.3)
    assert c["verdict"] == "contradicted"  # the whole interval lies below zero here
    g = report.attention_gain(lfr).iloc[0]
    d = np.array([0.1, 0.2, 0.05])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert g["mean gain"] == pytest.approx(d.mean()) and g["ci low"] == pytest.approx(d.mean() - half)
    assert g["p"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue)
    t3 = report.table3(lfr, fixed).set_index("scale")
    assert t3.loc[2, "direct (fixed)"] == pytest.approx(36.3) and np.isnan(t3.loc[2, "LFR equal2"])
    assert t3.loc[3, "slides recursive"] == 34.43  # the slides' Table 3, ASDN at x3


def test_attention_family_keeps_the_stated_rows_and_adjusts_them_together() -> None:
    gain = pd.DataFrame({"set": ["Set5", "Set5", "Set14", "Set5", "Set5"], "scale": [2.0, 3.0, 2.0, 2.5, 3.0],
                         "rule": ["largest_first"] * 3 + ["largest_first", "equal2"], "seeds": [3, 3, 3, 3, 3],
                         "p": [0.01, 0.04, 0.5, 0.001, 0.001]})
    fam = report.attention_family(gain)
    assert list(zip(fam["set"], fam["scale"])) == [("Set5", 2.0), ("Set5", 3.0), ("Set14", 2.0)]  # not 2.5, not equal2
    np.testing.assert_allclose(fam["p holm"], [0.03, 0.08, 0.5])  # 3 * 0.01; 2 * 0.04; 1 * 0.5


def test_upsampling_table_pairs_post_with_pre_by_seed() -> None:
    rows = [{"job": "j", "model": "defian_lfr_s", "upsampling": u, "seed": seed, "set": "Set5", "scale": 2.0,
             "rule": "largest_first", "ratios": "2", "images": 5, "psnr": v, "ssim": 0.9}
            for u, seed, v in (("pre", 0, 34.3), ("pre", 1, 34.5), ("post", 0, 33.1))]
    t = report.upsampling(pd.DataFrame(rows)).iloc[0]
    assert (t["seeds"], t["pre"], t["post"]) == (1, 34.3, 33.1)  # seed 1 has no post run: not paired
    assert t["post - pre"] == pytest.approx(-1.2)
    assert t["sd pre"] == pytest.approx(np.std([34.3, 34.5], ddof=1))  # over every pre seed, paired or not
    assert report.upsampling(pd.DataFrame(rows[:2])).empty


def test_forward_flops_counts_two_per_multiply_add() -> None:
    class OneConv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 5, 3, padding=1)

        def forward(self, x: torch.Tensor, scale: float) -> torch.Tensor:
            return self.conv(x)

    assert report.forward_flops(OneConv(), 2.0, (7, 6)) == 2 * 3 * 5 * 9 * 7 * 6


def test_post_runs_the_trunk_at_lr_and_pre_at_the_upsampled_size() -> None:
    """What the cost table shows: post's operations hardly change with r in (1, 2] (the trunk
    sees the LR image; only the 1x1 head and the resampling grow), pre's grow with the area."""
    kw = dict(n_modules=1, n_blocks=1, channels=8)
    pre, post = (build_lfr_model("defian_lfr_s", upsampling=u, **kw) for u in ("pre", "post"))
    n = 24
    post_15, post_2 = (report.forward_flops(post, r, (n, n)) for r in (1.5, 2.0))
    pre_15, pre_2 = (report.forward_flops(pre, r, (n, n)) for r in (1.5, 2.0))
    assert post_2 / post_15 < 1.15
    area = (math.ceil(2.0 * n) / math.ceil(1.5 * n)) ** 2
    assert pre_2 / pre_15 == pytest.approx(area, rel=0.02)


def test_post_upsampling_with_1x1_branches_is_bicubic_of_an_lr_image() -> None:
    """The study's caveat: a 1x1 convolution commutes with the resampling, so the post variant's
    output is bicubic(x + IRB(trunk(x))): it adds no detail finer than bicubic's kernel."""
    torch.manual_seed(0)
    model = build_lfr_model("defian_lfr_s", n_modules=1, n_blocks=1, channels=8, upsampling="post").double().eval()
    x = torch.rand(1, 3, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        out = model(x, 1.5)
        lr_image = x + model.head.branches[5](model.trunk(x - model.rgb_mean))  # level 5 is r = 1.5
        torch.testing.assert_close(out, bicubic(lr_image, (14, 12), 1.5), rtol=0, atol=1e-12)


def test_the_command_lists_the_status(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert study.main(["--schedule", "smoke", "--runs-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "LFR defian_lfr_s seed 0" in out and "fixed x4 defian_s seed 0" in out
    with pytest.raises(SystemExit):
        study.main(["--worker", "3/2"])
    assert isinstance(study.jobs("smoke")[0].config, LFRTrainConfig)


def test_slides_table3_is_the_slides_row() -> None:
    """report.SLIDES_TABLE3 is the "Ours" row of the slides' Table 3, read from the shared copy."""
    from defian import paths

    slides = paths.ROOT.parent / "shared" / "paper" / "asdn-and-related-slides.md"
    if not slides.is_file():
        pytest.skip(f"{slides} is not beside the checkout")
    lines = slides.read_text().splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("Table 3:"))
    ours = next(line for line in reversed(lines[:table]) if line.startswith("Ours"))
    values = [float(v) for v in ours.split()[1:]]
    assert values == [report.SLIDES_TABLE3[k][s] for k in ("direct", "recursive") for s in (2, 3, 4)]
