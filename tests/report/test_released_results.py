"""The committed ``results/released/{matlab_agreement,y_convention,y_margins}.csv`` are what the code computes today.

Each table is recomputed from the released artifacts with the functions notebook 16 calls
(:func:`defian.report.matlab_scores.agreement`, :func:`defian.report.y_convention.convention_table`,
:func:`defian.report.y_convention.margin_table`), written the way the ``write_*`` functions write
it (``to_csv(index=False)``) and read back as the committed file is read, then compared with the
committed file: the same columns and rows in the same order, strings equal, numbers within
1e-6 (dB for PSNR; the same bound for SSIM). These are Set5 (and, for DeFiAN_S, Set14) folders:
seconds. Needs the released artifacts and the benchmark sets (``dev_data``); skipped without them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from defian import paths
from defian.report import matlab_scores, y_convention

pytestmark = pytest.mark.usefixtures("one_thread")

COMMITTED = paths.RESULTS / "released"
MATLAB_TXT = "images/rcan_official/PSNR_SSIM_Results_BI_model.txt"
ATOL = 1e-6


def _committed(name: str) -> pd.DataFrame:
    path = COMMITTED / name
    if not path.is_file():
        pytest.skip(f"{path} not written yet (notebook 16 under the cpu profile)")
    return pd.read_csv(path)


def _as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` through the CSV the write functions make (so both sides read the same way)."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def _assert_same(ours: pd.DataFrame, committed: pd.DataFrame, name: str) -> None:
    assert list(ours.columns) == list(committed.columns), name
    assert len(ours) == len(committed), f"{name}: {len(ours)} rows computed, {len(committed)} committed"
    for col in committed.columns:
        a, b = ours[col], committed[col]
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=0, atol=ATOL, equal_nan=True,
                                       err_msg=f"{name}: column {col!r}")
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), f"{name}: column {col!r}"


@pytest.fixture(scope="module")
def conventions(released_root: Path, dev_data: Path) -> pd.DataFrame:
    """convention_table as notebook 16 computes it (every output, every convention)."""
    return y_convention.convention_table(released_root, str(dev_data))


def test_matlab_agreement_csv_is_recomputed(released_root: Path) -> None:
    scores = released_root / MATLAB_TXT
    if not scores.is_file():
        pytest.skip(f"no {MATLAB_TXT} under {released_root}")
    committed = _committed("matlab_agreement.csv")
    ours = _as_written(matlab_scores.agreement(scores))
    _assert_same(ours, committed, "matlab_agreement.csv")
    # and the reference it stands on: float Y is within the file's 6 printed decimals of MATLAB's
    float_y = committed[committed["variant"] == "y-unrounded"]
    assert len(float_y) == 30 and float_y["d_psnr"].abs().max() < ATOL


def test_y_convention_csv_is_recomputed(conventions: pd.DataFrame) -> None:
    _assert_same(_as_written(conventions), _committed("y_convention.csv"), "y_convention.csv")


def test_y_margins_csv_is_recomputed(conventions: pd.DataFrame) -> None:
    ours = _as_written(y_convention.margin_table(conventions))
    _assert_same(ours, _committed("y_margins.csv"), "y_margins.csv")
