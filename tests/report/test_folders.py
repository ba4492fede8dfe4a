"""Scoring image folders (defian.report.folders), the RCAN authors' MATLAB scores as the external
reference (defian.report.matlab_scores) and the Y-convention table (defian.report.y_convention).

Tests on the released artifacts use ``$DEFIAN_RELEASED`` or ``<repo>/../shared/released`` and are
skipped where neither exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from defian import paths
from defian.data import metrics
from defian.data.images import load_image, mod_crop
from defian.report import folders, matlab_scores, y_convention

MATLAB_TXT = "images/rcan_official/PSNR_SSIM_Results_BI_model.txt"


def _released() -> Path | None:
    for c in (os.environ.get("DEFIAN_RELEASED", ""), str(paths.ROOT.parent / "shared" / "released")):
        if c and (Path(c) / MATLAB_TXT).is_file():
            return Path(c)
    return None


@pytest.fixture(scope="module")
def released() -> Path:
    root = _released()
    if root is None:
        pytest.skip("released artifacts absent: set DEFIAN_RELEASED to a folder holding "
                    f"{MATLAB_TXT} (or fetch them with `defian data download released`)")
    return root


def _png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _rng_img(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --- stem matching ----------------------------------------------------------------------------
@pytest.mark.parametrize("sr, key", [("baby_RCAN_x2", "baby"), ("baby_RCANplus_x2", "baby"), ("baby", "baby"),
                                     ("babyx2", "baby"), ("baby_x2_SR", "baby"), ("Baby-EDSR", "baby"),
                                     ("img_001_SRF_2_SR", "img_001"), ("img_0010_SRF_2_SR", "img_0010"),
                                     ("GOOD_KISS_Ver2_x2", "good_kiss_ver2"), ("GOOD_KISS_x2", "good_kiss"),
                                     ("babylon", None), ("bab", None)])
def test_match_stem(sr: str, key: str | None) -> None:
    keys = ["baby", "img_001", "img_0010", "good_kiss", "good_kiss_ver2"]
    assert folders.match_stem(sr, keys) == key


@pytest.mark.parametrize("hr, key", [("baby_HR_x2", "baby"), ("img_001_SRF_2_HR", "img_001"), ("baby_GT", "baby"),
                                     ("baby", "baby"), ("GOOD_KISS_Ver2", "good_kiss_ver2"), ("0801_GTmod12", "0801")])
def test_hr_key(hr: str, key: str) -> None:
    assert folders.hr_key(hr) == key


# --- scoring tiny folders -----------------------------------------------------------------------
def _pair_folders(tmp: Path, names_sr: list[str], names_hr: list[str], size: tuple[int, int] = (24, 20)) -> tuple[Path, Path]:
    for i, n in enumerate(names_hr):
        _png(tmp / "hr" / f"{n}.png", _rng_img(i, size))
    for i, n in enumerate(names_sr):
        _png(tmp / "sr" / f"{n}.png", _rng_img(100 + i, size))
    return tmp / "sr", tmp / "hr"


def test_score_folder_matches_an_independent_computation(tmp_path: Path) -> None:
    """Grey pairs: PSNR = 10 log10(255^2 / MSE) over the image less `scale` border pixels, by hand."""
    hr = {"a": _rng_img(0, (30, 26)), "b": _rng_img(1, (28, 32))}
    noise = {"a": _rng_img(2, (30, 26)) % 7, "b": _rng_img(3, (28, 32)) % 3}
    for n, img in hr.items():
        _png(tmp_path / "hr" / f"{n}_HR_x2.png", img)
        _png(tmp_path / "sr" / f"{n}_M_x2.png", np.clip(img.astype(int) + noise[n] - 3, 0, 255).astype(np.uint8))
    df = folders.score_folder(tmp_path / "sr", hr_dir=tmp_path / "hr", scale=2)
    assert list(df["image"]) == ["a", "b"] and list(df["sr_file"]) == ["a_M_x2.png", "b_M_x2.png"]
    for _, r in df.iterrows():
        sr = np.clip(hr[r["image"]].astype(int) + noise[r["image"]] - 3, 0, 255).astype(np.float64)
        mse = np.mean((sr[2:-2, 2:-2] - hr[r["image"]][2:-2, 2:-2]) ** 2)
        assert r["psnr"] == pytest.approx(10 * np.log10(255.0**2 / mse), abs=1e-10)
        assert r["protocol"] == "paper" and r["scale"] == 2


def test_benchmark_hr_is_mod_cropped(tmp_path: Path) -> None:
    """A set under a data root is mod-cropped (25x27 -> 24x26 at x2); the same HR given as a folder is not,
    and the size error says that a mod-crop would fix it."""
    hr = _rng_img(0, (25, 27, 3))
    _png(tmp_path / "root" / "benchmark" / "Set5" / "HR" / "baby.png", hr)
    _png(tmp_path / "sr" / "baby.png", mod_crop(hr, 2))
    df = folders.score_folder(tmp_path / "sr", set_name="Set5", scale=2, data_root=str(tmp_path / "root"))
    assert (df["height"][0], df["width"][0]) == (24, 26) and df["psnr"][0] == np.inf and df["ssim"][0] == 1.0
    with pytest.raises(folders.SizeMismatchError, match=r"baby.png is 24x26 .* 25x27; mod-cropping .* would fix"):
        folders.score_folder(tmp_path / "sr", hr_dir=tmp_path / "root" / "benchmark" / "Set5" / "HR", scale=2)
    df = folders.score_folder(tmp_path / "sr", hr_dir=tmp_path / "root" / "benchmark" / "Set5" / "HR", scale=2,
                              mod_crop=True)
    assert df["psnr"][0] == np.inf


def test_missing_images_are_named(tmp_path: Path) -> None:
    sr, hr = _pair_folders(tmp_path, ["a_X_x2"], ["a", "b", "c"])
    with pytest.raises(folders.MissingImagesError, match=r"2 of 3 HR images have no SR file: b.png, c.png"):
        folders.score_folder(sr, hr_dir=hr, scale=2)


def test_extra_images_are_named(tmp_path: Path) -> None:
    sr, hr = _pair_folders(tmp_path, ["a", "b", "zebra_X_x2"], ["a", "b"])
    with pytest.raises(folders.ExtraImagesError, match=r"match no HR image: zebra_X_x2.png"):
        folders.score_folder(sr, hr_dir=hr, scale=2)


def test_two_sr_files_for_one_image(tmp_path: Path) -> None:
    sr, hr = _pair_folders(tmp_path, ["a_RCAN_x2", "a_RDN_x2"], ["a"])
    with pytest.raises(folders.DuplicateImagesError, match=r"a.png <- a_RCAN_x2.png, a_RDN_x2.png"):
        folders.score_folder(sr, hr_dir=hr, scale=2)


def test_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    sr, hr = _pair_folders(tmp_path, ["a"], ["a"])
    (sr / "notes.txt").write_text("scores")
    (sr / ".DS_Store").write_bytes(b"\0")  # hidden files are ignored
    with pytest.raises(folders.NotAnImageError, match=r"not images: notes.txt"):
        folders.score_folder(sr, hr_dir=hr, scale=2)


def test_size_mismatch_a_crop_would_not_fix(tmp_path: Path) -> None:
    _png(tmp_path / "hr" / "a.png", _rng_img(0, (24, 20)))
    _png(tmp_path / "sr" / "a.png", _rng_img(1, (20, 20)))
    with pytest.raises(folders.SizeMismatchError, match=r"a.png is 20x20 \(HxW\) but its HR image a.png is 24x20; "
                                                         r"a mod-crop by 2 gives 24x20, so it would not fix it"):
        folders.score_folder(tmp_path / "sr", hr_dir=tmp_path / "hr", scale=2)


def test_a_scale_tag_that_contradicts_the_scale(tmp_path: Path) -> None:
    sr, hr = _pair_folders(tmp_path, ["a_RCAN_x3"], ["a"])
    with pytest.raises(folders.ScaleTagError, match=r"a_RCAN_x3.png: its name says x3, .* at x2"):
        folders.score_folder(sr, hr_dir=hr, scale=2)
    assert folders.score_folder(sr, hr_dir=hr, scale=3)["image"].tolist() == ["a"]


def test_exactly_one_hr_source(tmp_path: Path) -> None:
    sr, hr = _pair_folders(tmp_path, ["a"], ["a"])
    with pytest.raises(ValueError, match="exactly one of set_name"):
        folders.score_folder(sr, set_name="Set5", hr_dir=hr, scale=2)
    with pytest.raises(ValueError, match="unknown protocol 'matlab'"):
        folders.score_folder(sr, hr_dir=hr, scale=2, protocol="matlab")


# --- the MATLAB file ----------------------------------------------------------------------------
_SAMPLE = """**********************
Method_1: RCAN; Set: Set5
x2 1 baby_RCAN_x2.png: PSNR= 38.979958 SSIM= 0.968184
x2 2 bird_RCAN_x2.png: PSNR= 43.639850 SSIM= 0.990903
--------Mean--------
x2: PSNR= 41.309904 SSIM= 0.979544
"""


def test_parse_matlab_scores() -> None:
    s = matlab_scores.parse_matlab_scores(_SAMPLE)
    assert s.per_image[["file", "scale", "index"]].values.tolist() == [["baby_RCAN_x2.png", 2, 1],
                                                                         ["bird_RCAN_x2.png", 2, 2]]
    assert s.per_image["psnr"].tolist() == [38.979958, 43.639850]
    assert s.means[["method", "set", "scale", "psnr"]].values.tolist() == [["RCAN", "Set5", 2, 41.309904]]
    with pytest.raises(ValueError, match=re.escape("<text>:4: cannot parse 'x2 2 bird: PSNR=?'")):
        matlab_scores.parse_matlab_scores(_SAMPLE.replace("x2 2 bird_RCAN_x2.png: PSNR= 43.639850 SSIM= 0.990903",
                                                          "x2 2 bird: PSNR=?"))
    with pytest.raises(ValueError, match="before any 'Method_"):
        matlab_scores.parse_matlab_scores(_SAMPLE.split("\n", 2)[2])


def test_the_released_file_is_consistent(released: Path) -> None:
    """40 images (RCAN, RCAN+ at x2/x3/x4/x8), and each printed mean is the mean of its printed images."""
    s = matlab_scores.read_matlab_scores(released / MATLAB_TXT)
    assert len(s.per_image) == 40 and len(s.means) == 8
    mean = s.per_image.groupby(["method", "scale"], sort=False)[["psnr", "ssim"]].mean().reset_index()
    np.testing.assert_allclose(mean[["psnr", "ssim"]].to_numpy(), s.means[["psnr", "ssim"]].to_numpy(), atol=1e-6)


def test_float_y_reproduces_every_matlab_score(released: Path) -> None:
    """All 30 released images (RCAN, RCAN+; Set5 x2/x3/x4): float Y ('y-unrounded') reproduces the RCAN
    authors' MATLAB PSNR and SSIM to the file's printed precision (reached: 5.3e-7 dB, 5.0e-7);
    the rounded Y of 'paper' does not (more than 0.2 dB off on one image)."""
    table = matlab_scores.agreement(released / MATLAB_TXT, {"y-unrounded": metrics.PROTOCOLS["y-unrounded"]})
    assert len(table) == 30
    assert table["d_psnr"].abs().max() < 1e-6
    assert table["d_ssim"].abs().max() < 1e-6
    rounded = matlab_scores.agreement(released / MATLAB_TXT, {"paper": metrics.PAPER}).query("method == 'RCAN'")
    assert rounded["d_psnr"].abs().max() > 0.2 and (rounded["d_psnr"] < 0).all()


def test_rcan_hr_is_the_mod_cropped_benchmark(released: Path, dev_data: Path) -> None:
    """RCAN's own HR images are byte-equal to our benchmark Set5 mod-cropped by the scale."""
    for scale in (2, 3, 4):
        for f in sorted((released / "images/rcan_official/HR/Set5" / f"x{scale}").iterdir()):
            ours = mod_crop(load_image(dev_data / "benchmark/Set5/HR" / f"{folders.hr_key(f.stem)}.png"), scale)
            assert np.array_equal(load_image(f), ours), f.name


# --- the Y convention -----------------------------------------------------------------------------
def test_rdn_rows_are_rounded_y_and_the_matlab_rows_float_y(released: Path, dev_data: Path) -> None:
    """DeFiAN's Table I RDN rows (x2/x3/x4) are reproduced to 0.01 dB by rounded Y only; RCAN x2's
    printed row by rounded Y only, the RCAN authors' own means by float Y only."""
    conv = {k: y_convention.CONVENTIONS[k] for k in ("rounded-Y", "float-Y")}
    t = y_convention.convention_table(released, str(dev_data), conv, methods=("RDN",))
    assert t["reproduced_by"].tolist() == ["rounded-Y"] * 3
    assert (t["Δpsnr float-Y"] > 0.018).all()
    t = y_convention.convention_table(released, str(dev_data), conv, methods=("RCAN",)).query("scale == 2")
    assert dict(zip(t["printed_in"], t["reproduced_by"])) == {"DeFiAN Table I": "rounded-Y",
                                                              "RCAN authors' MATLAB": "float-Y"}


def test_margin_table_arithmetic() -> None:
    """Table I margins re-scored with the rival's float-Y PSNR; Table II/IKM with DeFiAN_S's rounded-Y."""
    rows = [{"method": m, "set": s, "scale": k, "psnr float-Y": 40.0 + k, "psnr rounded-Y": 30.0 + k}
            for m in ("RCAN", "RDN") for s in ("Set5",) for k in (2, 3, 4)]
    rows += [{"method": "DeFiAN_S", "set": s, "scale": 2, "psnr float-Y": 0.0, "psnr rounded-Y": 37.0}
             for s in ("Set5", "Set14")]
    m = y_convention.margin_table(pd.DataFrame(rows)).set_index("claim")
    first = m.iloc[0]
    assert first.name == "Table I: DeFiAN_L vs RCAN" and first["margin_printed"] == pytest.approx(38.33 - 38.18)
    assert first["margin_same_Y"] == pytest.approx(38.33 - 42.0)
    idn = m.loc["Table II: DeFiAN_S vs IDN"]
    assert (idn["rival_printed"], idn["margin_same_Y"]) == (37.83, pytest.approx(37.0 - 37.83))
    assert m.loc["Table II: DeFiAN_S vs CARN", "set"] == "Set14"


def test_write_tables(tmp_path: Path) -> None:
    t = pd.DataFrame([{"method": "RCAN", "set": "Set5", "scale": 2, "printed_psnr": 38.18, "psnr rounded-Y": 38.1836,
                       "Δpsnr rounded-Y": 0.0036, "ssim rounded-Y": 0.960421, "reproduced_by": "rounded-Y"}])
    m = pd.DataFrame([{"claim": "c", "margin_printed": 0.15, "margin_same_Y": 0.056}])
    written = y_convention.write_tables(t, m, tmp_path)
    assert sorted(p.name for p in written) == ["y_convention.csv", "y_convention.md", "y_margins.csv", "y_margins.md"]
    md = (tmp_path / "y_convention.md").read_text()
    assert "| 38.184 " in md and "| +0.004 " in md and "| 0.9604 " in md
    assert pd.read_csv(tmp_path / "y_convention.csv")["psnr rounded-Y"][0] == 38.1836


def test_released_root_refuses_a_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFIAN_RELEASED", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere.*from \$DEFIAN_RELEASED"):
        paths.released_root()
    monkeypatch.setenv("DEFIAN_RELEASED", str(tmp_path))
    assert paths.released_root() == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match="no released artifacts|not a folder"):
        y_convention.convention_table(tmp_path / "absent")
