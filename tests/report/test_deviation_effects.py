"""defian.report.deviation_effects: each measurement against a hand computation or an independent library."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from skimage.color import rgb2ycbcr

from defian import paths
from defian.data import metrics
from defian.report import deviation_effects as E
from defian.train.run_record import Run


def _image(seed: int = 0, shape: tuple[int, int] = (20, 18)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_released_ssim_luma_is_skimage_on_byte_range_floats() -> None:
    # The released calc_SSIM: rgb2ycbcr of the quantised image *in [0, 255]* (floats), divided by 255.
    img = _image()
    released = rgb2ycbcr(img.astype(np.float64))[..., 0] / 255
    assert np.allclose(E.released_ssim_luma(img), released, rtol=0, atol=1e-9)
    assert np.allclose(E.released_ssim_luma(img), metrics.rgb_to_y(img, rounded=False) - 16 + 16 / 255, atol=1e-9)
    with pytest.raises(ValueError, match="uint8"):
        E.released_ssim_luma(img.astype(np.float32))


def test_ssim_conventions_agree_on_identical_images() -> None:
    img = _image(1, (30, 30))
    row = E.ssim_conventions([("same", img, img)], 2).iloc[0]
    assert row["rounded Y"] == row["float Y"] == row["released Y'"] == pytest.approx(1.0)
    assert row["released - float"] == pytest.approx(0.0, abs=1e-12)


def test_released_validation_psnr_of_a_grey_image_by_hand() -> None:
    # HR = 128 everywhere. main.py's validation maps a perfect training fit t = HR/255 to (t + 2.118) / 4.367 (R),
    # (t + 2.036) / 4.464 (G), (t + 1.804) / 4.444 (B): bytes 153, 145, 132.
    hr = np.full((16, 16, 3), 128, np.uint8)
    t = 128 / 255
    sr = [math.floor(255 * (t + m) / s + 0.5) for m, s in ((2.118, 4.367), (2.036, 4.464), (1.804, 4.444))]
    assert sr == [153, 145, 132]
    dy = (65.481 * (sr[0] - 128) + 128.553 * (sr[1] - 128) + 24.966 * (sr[2] - 128)) / 255
    assert E.released_validation_psnr(hr, 2) == pytest.approx(20 * math.log10(255 / dy), abs=1e-9)


def test_param_counts_of_defian_s_x2() -> None:
    # Printed 1027.6 K (Table II). The released counter (requires_grad only) misses the frozen MSHF:
    # 5 modules x 3 scales x 3 convs x (9 C + C), C = 32, i.e. 14.4 K.
    c = E.param_counts("defian_s", 2)
    assert c["printed"] == 1027.6 and round(c["paper rule"], 1) == 1027.6
    assert c["released counter, trainable MSHF"] == c["paper rule"]
    assert c["paper rule"] - c["released counter, frozen MSHF"] == pytest.approx(5 * 3 * 3 * (9 * 32 + 32) / 1e3)


def test_normalisation_round_trip_by_hand() -> None:
    t = E.normalisation_round_trip().set_index("channel")
    r = max(abs(((x - 0.485) / 0.229 + 2.118) / 4.367 - x) for x in (0.0, 1.0)) * 255
    assert t.loc["R", "round trip error (grey levels)"] == pytest.approx(r)
    assert t.loc["G", "input gain 1/std"] == pytest.approx(1 / 0.224)
    assert (t["round trip error (grey levels)"] < 0.5).all()  # below half a grey level: invisible after rounding


def test_adam_first_update_differs_only_through_eps() -> None:
    small = {"batch": 2, "patch": 8, "switches": {"n_modules": 1, "n_blocks": 1, "channels": 8}}
    assert E.adam_loss_reduction(eps=0.0, **small)["update relative difference"] == pytest.approx(0.0, abs=1e-12)
    out = E.adam_loss_reduction(**small)
    assert out["loss factor"] == 2 * 3 * 16 * 16 and 0 < out["update relative difference"] < 1


def test_bf16_agreement_is_close_at_init() -> None:
    out = E.bf16_agreement(patch=8, switches={"n_modules": 1, "n_blocks": 1, "channels": 8})
    assert out["gradient cosine"] > 0.99 and 0 < out["output relative difference"] < 0.05


def test_patch_sizes() -> None:
    t = E.patch_sizes().set_index("scale")
    assert t.loc[2, "paper LR patch"] == 48 and t.loc[2, "released LR patch"] == 64
    assert t.loc[4, "pixels released / paper"] == pytest.approx((32 / 48) ** 2)


def test_best_vs_last_reads_finished_runs_only() -> None:
    def run(name: str, summary: dict | None) -> Run:
        return Run(Path(name), {}, {}, [], summary)
    runs = [run("a", {"status": "finished", "best_val_psnr": 30.5, "final_val_psnr": 30.25, "best_update": 10,
                      "updates": 20}),
            run("b", None), run("c", {"status": "non-finite", "best_val_psnr": 1.0, "final_val_psnr": 0.0})]
    out = E.best_vs_last(runs)
    assert out["run"].tolist() == ["a"] and out["best - last (dB)"].tolist() == [0.25]


def test_mshf_study_is_pending_without_records(tmp_path: Path) -> None:
    out = E.mshf_study(tmp_path)
    assert out["setting"].tolist() == ["random_bias", "trainable"]
    assert out["status"].tolist() == ["pending 0/3 (defian study)"] * 2 and out["mean diff (dB)"].isna().all()


def test_mshf_study_from_the_committed_records_matches_a_hand_computation() -> None:
    """The committed MSHF runs: the paired Set5 differences recomputed from per_set.csv by hand."""
    from defian.report import study

    out = E.mshf_study().set_index("setting")
    if (out["status"] != "done").any():
        pytest.skip("the MSHF runs are not all committed")
    have = study.records_under(paths.RUNS, "cpu")
    jobs = {j.label: j for j in study.jobs("cpu")}

    def set5_x2(label: str) -> float:
        per_set = pd.read_csv(study.find_run(jobs[label], have).dir / "evaluation" / "last_paper" / "per_set.csv")  # read by hand
        row = per_set[(per_set["set"] == "Set5") & (per_set["scale"] == 2)]
        return float(row["psnr"].iloc[0])

    for mode in study.MSHF_VARIANTS:
        d = np.array([set5_x2(f"x2 defian_s mshf {mode} seed {s}") - set5_x2(f"x2 defian_s seed {s}")
                      for s in study.SEEDS])
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        r = out.loc[mode]
        assert r["seeds"] == len(d) == 3
        assert abs(r["mean diff (dB)"] - d.mean()) < 1e-9 and abs(r["ci high"] - (d.mean() + half)) < 1e-9


def test_filter_moments_of_the_stencils_and_of_polynomials() -> None:
    from defian.nn.hessian import compact_stencils

    g = compact_stencils()
    m = E.filter_moments(g)
    assert torch.equal(m, torch.tensor([[0, 0, 0, 2, 0, 0], [0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 0, 4]], dtype=torch.float64))
    # correlating a filter with the sampled polynomial c + a x + b y gives the moments' combination
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.normal(size=(3, 3)))
    o = np.array([-1.0, 0.0, 1.0])
    y, x = np.meshgrid(o, o, indexing="ij")
    for k, f in enumerate((np.ones_like(x), x, y, x * x, y * y, x * y)):
        assert abs(float(E.filter_moments(w)[k]) - float((w.numpy() * f).sum())) < 1e-12


def test_second_derivative_test_sees_a_leak_and_a_cross_term() -> None:
    from defian.nn.hessian import compact_stencils

    hh = compact_stencils()[0]
    clean = E.second_derivative_test(hh, "G_hh")
    assert float(clean["leak"]) == 0 and float(clean["cross"]) == 0 and float(clean["gain"]) == 2
    leaky = E.second_derivative_test(hh + 0.1, "G_hh")  # +0.1 on every tap: answers a constant with 0.9
    assert abs(float(leaky["leak"]) - 0.9 / 2.6) < 1e-12  # gain x^2: 2 + 0.1 * 6 taps with x^2 = 1
    crossed = E.second_derivative_test(hh + 0.5 * compact_stencils()[2], "G_hh")  # adds 2 xy
    assert float(crossed["leak"]) == 0 and abs(float(crossed["cross"]) - 1.0) < 1e-12


def test_filter_drift_of_the_committed_trainable_runs() -> None:
    """From the committed records: every filter rebuilt at update 0 is the stencil; the DeFiAM that did not move
    is one that gets no gradient (notebook 14 asserts the gradient), and the others moved."""
    drift = E.mshf_filter_drift()
    if drift.empty:
        pytest.skip("no trainable-MSHF run committed")
    assert (drift["filters"] == 3 * 32).all()  # three scales x C = 32 channels per (seed, module, stencil)
    assert drift.groupby(["seed", "module"])["moved"].nunique().eq(1).all()  # a module's stencils move together
    still = drift[~drift["moved"]]
    assert (still[["drift max", "leak max", "cross max", "bias change max"]] == 0).all().all()
    moved = drift[drift["moved"]]
    assert (moved["drift med"] > 0).all() and (moved["drift max"] < 0.5).all()
