"""The command ``defian evaluate --images DIR --set Set5 --scale 2`` itself (defian.report.evaluate.main).

Reference: the RCAN authors' per-image MATLAB scores of their released Set5 x2 outputs
(``images/rcan_official/PSNR_SSIM_Results_BI_model.txt`` under the released artifacts,
printed by their ``Evaluate_PSNR_SSIM.m`` to 6 decimals), parsed here with a regular
expression of this file, not with :mod:`defian.report.matlab_scores`. Their script takes Y in
floating point (``rgb2ycbcr(im2double(img))``), the book's ``y-unrounded`` protocol
(tests/report/test_folders.py::test_float_y_reproduces_every_matlab_score shows that
protocol reproduces every image to 1e-6 dB).

Needs the released artifacts and the benchmark Set5 under the data root; skipped without them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from defian.report import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")

RCAN_X2 = "images/rcan_official/RCAN/Set5/x2"
MATLAB_TXT = "images/rcan_official/PSNR_SSIM_Results_BI_model.txt"
_LINE = re.compile(r"^x2 \d+ (?P<file>\S+): PSNR= (?P<psnr>[\d.]+) SSIM= (?P<ssim>[\d.]+)$")
_MEAN_LINE = re.compile(r"^mean of (?P<n>\d+) images vs Set5 x2 \(y-unrounded\): "
                        r"PSNR (?P<psnr>[\d.]+) dB, SSIM (?P<ssim>[\d.]+)$", re.M)


@pytest.fixture
def rcan_x2(released_root: Path) -> Path:
    folder = released_root / RCAN_X2
    if not folder.is_dir() or not (released_root / MATLAB_TXT).is_file():
        pytest.skip(f"no {RCAN_X2} or {MATLAB_TXT} under {released_root}")
    return folder


def _matlab_rcan_set5_x2(path: Path) -> dict[str, tuple[float, float]]:
    """file -> (PSNR, SSIM) of the block ``Method_1: RCAN; Set: Set5``, x2 lines only."""
    scores, block = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("Method_"):
            block = line.split(":", 1)[1].strip()
        elif block == "RCAN; Set: Set5" and (m := _LINE.match(line)):
            scores[m["file"]] = (float(m["psnr"]), float(m["ssim"]))
    return scores


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = evaluate.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_images_prints_the_mean_of_the_matlab_scores(rcan_x2, released_root, dev_data, tmp_path, capsys) -> None:
    """Printed per-set PSNR (4 decimals) = mean of the 5 MATLAB per-image PSNRs to 1e-4 dB; per_image.csv
    (full precision) matches every image to 1e-6 dB / 1e-6 SSIM (the file's 6 printed decimals)."""
    matlab = _matlab_rcan_set5_x2(released_root / MATLAB_TXT)
    assert sorted(matlab) == sorted(p.name for p in rcan_x2.iterdir())  # the file scores exactly these 5
    want_psnr = sum(p for p, _ in matlab.values()) / len(matlab)
    want_ssim = sum(s for _, s in matlab.values()) / len(matlab)
    rc, out, err = _run(capsys, "--images", str(rcan_x2), "--set", "Set5", "--scale", "2",
                        "--protocol", "y-unrounded", "--data-root", str(dev_data), "--out", str(tmp_path))
    assert rc == 0, err
    m = _MEAN_LINE.search(out)
    assert m is not None, out
    assert int(m["n"]) == 5
    assert abs(float(m["psnr"]) - want_psnr) <= 1e-4
    assert abs(float(m["ssim"]) - want_ssim) <= 1e-4
    per_image = pd.read_csv(tmp_path / "per_image.csv").set_index("sr_file")
    assert sorted(per_image.index) == sorted(matlab)
    for f, (p, s) in matlab.items():
        assert abs(per_image.loc[f, "psnr"] - p) < 1e-6, f
        assert abs(per_image.loc[f, "ssim"] - s) < 1e-6, f


def test_images_wrong_scale_exits_2_naming_it(rcan_x2, dev_data, tmp_path, capsys) -> None:
    """x2 outputs scored at x3: by their names' scale tag, or (tags removed) by their size."""
    rc, out, err = _run(capsys, "--images", str(rcan_x2), "--set", "Set5", "--scale", "3",
                        "--data-root", str(dev_data))
    assert rc == 2 and out == ""
    assert re.search(r"baby_RCAN_x2\.png: its name says x2, but the folder is being scored at x3", err), err
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in rcan_x2.iterdir():
        shutil.copy(f, plain / f"{f.name.split('_')[0]}.png")  # baby_RCAN_x2.png -> baby.png
    rc, _, err = _run(capsys, "--images", str(plain), "--set", "Set5", "--scale", "3", "--data-root", str(dev_data))
    assert rc == 2
    assert "baby.png is 512x512 (HxW) but its HR image baby.png is 510x510" in err, err  # 512 // 3 * 3 = 510
    rc, _, err = _run(capsys, "--images", str(plain), "--set", "Set5", "--scale", "2.5", "--data-root", str(dev_data))
    assert rc == 2 and "2.5" in err, err


def test_images_missing_image_exits_2_naming_it(rcan_x2, dev_data, tmp_path, capsys) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in rcan_x2.iterdir():
        if not f.name.startswith("head"):
            shutil.copy(f, partial / f.name)
    rc, out, err = _run(capsys, "--images", str(partial), "--set", "Set5", "--scale", "2",
                        "--data-root", str(dev_data))
    assert rc == 2 and out == ""
    assert "1 of 5 HR images have no SR file: head.png" in err, err
