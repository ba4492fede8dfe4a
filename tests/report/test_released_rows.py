"""The released-artifacts table (defian.report.released) and its explanations (defian.report.released_findings):
printed sources, #Params matching, explanations,
the rows on a tiny subset against an independent per-image loop, and the committed
``results/released/released_rows.csv`` (every gap explained; a cheap subset regenerates it).

Tests that score images need the released artifacts (``$DEFIAN_RELEASED``, ``../shared/released`` or
the download cache) and the benchmark sets (``dev_data``); they are skipped without them, and with
``DEFIAN_RELEASED=none`` or a ``$DEFIAN_RELEASED`` that names no folder (the skip says which).
Tests of the printed rows read ``../shared/paper`` when it is there.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from defian import paths
from defian.data import metrics
from defian.data.testsets import load_pairs
from defian.report import paper_tables, released, y_convention, zoo_scores
from defian.report import released_findings as findings
from defian.zoo import RELEASED, authors_psnr_ssim, load, super_resolve

COMMITTED = paths.RESULTS / "released" / "released_rows.csv"
IKM_PAPER = paths.ROOT.parent / "shared" / "paper" / "ikm-follow-up.md"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def root(released_root: Path) -> Path:
    """The released artifacts (tests/conftest.py), under the name these tests use."""
    return released_root


def _committed() -> pd.DataFrame:
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED} not written yet (notebook 16 under the cpu profile)")
    return released.read_rows(COMMITTED)


# --- where the artifacts are ------------------------------------------------------------------------------
def test_artifacts_root_none_means_absent(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(paths.ENV_RELEASED, "none")
    assert paths.released_root() is None and paths.released_root("None") is None
    assert paths.released_root(tmp_path) == tmp_path.resolve()  # an argument comes before the variable
    monkeypatch.setenv(paths.ENV_RELEASED, str(tmp_path))
    assert paths.released_root("none") is None and paths.released_root() == tmp_path.resolve()
    monkeypatch.setenv(paths.ENV_RELEASED, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere' \(from \$DEFIAN_RELEASED\) is not a folder"):
        paths.released_root()
    with pytest.raises(FileNotFoundError, match="no released artifacts"):
        released.released_rows(released="none", data_root=str(tmp_path))


# --- printed rows ------------------------------------------------------------------------------------
def test_ikm_imdn_rows_agree_with_every_other_copy() -> None:
    for scale, (params_k, cells) in released.IKM_IMDN.items():
        assert cells["Set5"] == RELEASED["IMDN"].printed[scale]  # the registry's Set5 row
        assert params_k == round(RELEASED["IMDN"].params[scale] / 1e3, 1)  # the README's count of the file
        assert list(cells) == list(paper_tables.SETS)
    for (method, scale, set_name), printed in y_convention.IKM_TABLE_I.items():
        if method == "IMDN":
            assert released.IKM_IMDN[scale][1][set_name] == printed


def _ikm_paper_rows(method: str) -> dict[int, tuple[float, dict[str, tuple[float, float]]]]:
    """``method``'s rows of the IKM paper's Table I, read from the paper's text (x2, x3, x4 in order)."""
    if not IKM_PAPER.is_file():
        pytest.skip(f"{IKM_PAPER} absent (a clone without ../shared)")
    lines = [ln for ln in IKM_PAPER.read_text().splitlines() if re.match(rf"{re.escape(method)} \[\d+\] \|", ln)]
    out = {}
    for scale, line in zip((2, 3, 4), lines, strict=True):
        cells = [c.strip() for c in line.split("|")]
        out[scale] = (float(cells[1]), {s: tuple(float(v) for v in c.split("/"))
                                        for s, c in zip(paper_tables.SETS, cells[3:8], strict=True)})
    return out


def test_ikm_imdn_rows_are_the_papers_text() -> None:
    """IKM_IMDN as typed is the IKM paper's Table I, read from ../shared/paper (not from another typed copy)."""
    assert _ikm_paper_rows("IMDN") == released.IKM_IMDN


@pytest.mark.parametrize("method", ["SRCNN", "VDSR", "LapSRN", "IDN"])
def test_ikm_rows_of_table_ii_methods_are_table_ii(method) -> None:
    """Why printed_row quotes DeFiAN's Table II alone for these: the IKM table prints the same cells."""
    for scale, (params_k, cells) in _ikm_paper_rows(method).items():
        r = paper_tables.row(paper_tables.TABLE_II, method, scale)
        assert params_k == r.params_k
        assert cells == {s: (r.psnr[s], r.ssim[s]) for s in paper_tables.SETS}


def test_printed_row_sources() -> None:
    assert released.printed_row("SRCNN-955", 3, "BSD100") == ("DeFiAN Table II", 28.41, 0.7863, 8.0)
    assert released.printed_row("IMDN", 4, "Set14") == ("IKM Table I", 28.58, 0.7804, 715.2)
    source, p, s, k = released.printed_row("CARN-M", 2, "Set5")
    assert source.startswith("CARN paper") and (p, s) == (37.53, 0.9583) and np.isnan(k)
    for method, scale, set_name in (("CARN-M", 2, "Set14"), ("CoMo-S", 2, "Set5"), ("SRCNN-915", 2, "Set5")):
        assert released.printed_row(method, scale, set_name)[0] == "none in the sources"


def test_every_own_way_and_output_has_a_book_gap_note() -> None:
    for spec in RELEASED.values():
        assert (spec.authors_lr, spec.authors_y) in zoo_scores.OWN_WAYS
    book = zoo_scores.OWN_WAYS[("uint8-rgb", "rounded")]  # the book's own protocol has no book-only gap
    assert set(zoo_scores.OWN_WAYS.values()) - {book} <= set(findings.BOOK_GAPS)
    assert {way for _, way in findings.OUTPUT_WAYS.values()} <= set(findings.BOOK_GAPS)
    assert {name for name, *_ in y_convention.OUTPUTS} == set(findings.OUTPUT_WAYS)
    for own, _ in findings.OUTPUT_WAYS.values():
        assert own in y_convention.CONVENTIONS


# --- #Params and explanations on made-up rows ------------------------------------------------------------
COUNTS = pd.DataFrame([{"method": "A", "scale": 2, "params_file": 12644, "params_kernels": 12464},
                       {"method": "B", "scale": 2, "params_file": 8129, "params_kernels": 8032},
                       {"method": "B", "scale": 3, "params_file": 700049, "params_kernels": 699999}])


@pytest.mark.parametrize("printed, method, scale, match", [
    (12.6, "A", 2, "all numbers"), (12.5, "A", 2, "kernels only"), (8.0, "A", 2, "other file: B x2 kernels only"),
    (700.0, "A", 2, "other file: B x3 all numbers"), (435.3, "A", 2, "none"), (np.nan, "A", 2, "")])
def test_params_match(printed, method, scale, match) -> None:
    assert released._params_match(printed, method, scale, COUNTS) == match


def _row(**kw) -> dict:
    base = {"method": "FSRCNN", "scale": 2, "printed_psnr": 37.0, "d_psnr_book": 0.0, "d_psnr_own": 0.0,
            "own_way": zoo_scores.OWN_WAYS[("float-y", "direct")], "params_match": "all numbers"}
    return {**base, **kw}


def test_explain_rules() -> None:
    assert findings.explain(_row()) == ""  # within the tolerance, the file's count
    assert findings.explain(_row(d_psnr_book=-0.021)) == findings.BOOK_GAPS[_row()["own_way"]]
    assert findings.explain(_row(d_psnr_book=-0.05, d_psnr_own=0.03)) == findings.UNEXPLAINED  # no FSRCNN finding
    assert findings.explain(_row(method="CARN-M", scale=4, d_psnr_own=-0.1)) == findings.FINDINGS[("CARN-M", None)].psnr
    assert findings.explain(_row(method="RCAN", d_psnr_own=0.09)) == findings.FINDINGS[("RCAN", 2)].psnr
    assert findings.explain(_row(method="RCAN", scale=4, d_psnr_own=0.09)) == findings.UNEXPLAINED  # x2 only
    assert "kernels only" in findings.explain(_row(params_match="kernels only"))
    assert findings.explain(_row(method="IDN", params_match="none")) == findings.FINDINGS[("IDN", None)].params
    assert findings.explain(_row(printed_psnr=np.nan, d_psnr_own=np.nan, d_psnr_book=np.nan, params_match="")) == ""


def test_measured_margins_arithmetic() -> None:
    rows = pd.DataFrame([
        {"method": "DeFiAN_S", "source": "released outputs", "scale": 2, "set": "Set5", "printed_psnr": 38.03,
         "psnr_book": 37.95, "psnr_own": 38.04},
        {"method": "DeFiAN_S", "source": "released outputs", "scale": 2, "set": "Set5", "printed_psnr": 38.03,
         "psnr_book": 37.95, "psnr_own": 38.04},  # the same measurement under a second printed source
        {"method": "IMDN", "source": "released weights", "scale": 2, "set": "Set5", "printed_in": "IKM Table I",
         "printed_psnr": 38.00, "psnr_book": 37.91, "psnr_own": 38.00},
        {"method": "IMDN", "source": "released weights", "scale": 3, "set": "Set5", "printed_in": "IKM Table I",
         "printed_psnr": 34.36, "psnr_book": 34.32, "psnr_own": 34.36}])
    m = released.measured_margins(rows)
    assert len(m) == 1 and m.loc[0, "rival"] == "IMDN"
    np.testing.assert_allclose(m.loc[0, ["margin_printed", "margin_book", "margin_own"]].astype(float),
                               [0.03, 0.04, 0.04], atol=1e-12)


def test_write_rows_goes_to_build_under_smoke(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(paths, "BUILD", tmp_path / "_build")
    frame = pd.DataFrame([{c: v for c, v in zip(released.COLUMNS, [
        "FSRCNN", "released weights", 2, "Set5", 5, "DeFiAN Table II", 36.98, 0.9556, "w", 36.947, 0.9553, 36.997,
        0.9558, -0.033, 0.017, 12644, 12464, 12.5, "kernels only", "why"], strict=True)}])
    written = released.write_rows(frame, "smoke")
    assert [p.parent for p in written] == [tmp_path / "_build" / "released"] * 2
    md = written[1].read_text()
    assert "| 12,644 " in md and "| +0.017 " in md and "| 36.98 " in md and "| 0.9553 " in md
    pd.testing.assert_frame_equal(pd.read_csv(written[0]), frame)


# --- measured rows -----------------------------------------------------------------------------------------
def test_rows_on_one_light_method_match_an_independent_loop(root, dev_data) -> None:
    """FSRCNN, Set5 x2: the row's book/own means are the per-image loop's; its counts are the README's."""
    frame = released.released_rows(released=root, data_root=str(dev_data), methods=["FSRCNN"], sets=["Set5"],
                                   scales=[2], outputs=[], cache=None)
    assert len(frame) == 1
    r = frame.iloc[0]
    spec, model = RELEASED["FSRCNN"], load("FSRCNN", 2, root)
    book, own = [], []
    for pair in load_pairs(dev_data, "Set5", 2):
        book.append(metrics.psnr(super_resolve(spec, model, pair.lr, 2), pair.hr, 2))
        own.append(authors_psnr_ssim(spec, model, pair.hr, 2)[0])
    assert r["images"] == 5 and r["psnr_book"] == pytest.approx(np.mean(book), abs=1e-9)
    assert r["psnr_own"] == pytest.approx(np.mean(own), abs=1e-9)
    assert (r["printed_psnr"], r["params_printed_k"]) == (36.98, 12.5)  # Table II
    assert (r["params_file"], r["params_kernels"], r["params_match"]) == (12644, 12464, "kernels only")
    assert r["d_psnr_own"] == pytest.approx(r["psnr_own"] - 36.98)
    assert r["explanation"] == findings.BOOK_GAPS[zoo_scores.own_way("FSRCNN")] + (
        "; printed #Params count the convolution kernels only (no biases, PReLU slopes)")


def test_committed_csv_explains_every_gap() -> None:
    frame = _committed()
    gaps = frame[(frame["d_psnr_own"].abs() > findings.TOLERANCE_DB) | (frame["d_psnr_book"].abs() > findings.TOLERANCE_DB)]
    assert len(gaps) > 0
    assert (gaps["explanation"] != "").all()
    assert not frame["explanation"].str.contains(findings.UNEXPLAINED).any()
    for _, r in frame.iterrows():  # the dicts still give what was committed
        assert findings.explain(r) == r["explanation"], (r["method"], r["scale"], r["set"])


def test_committed_csv_regenerates_on_a_cheap_subset(root, dev_data) -> None:
    """Set5 rows recomputed here, with no cache: SRCNN-915, FSRCNN and IMDN (x2), CoMo-S (x4), RCAN's outputs (x2),
    equal to the committed ones within REGENERATE_TOL (float32 convolutions differ with the thread count and CPU)."""
    frame = _committed()
    fresh = pd.concat([
        released.released_rows(released=root, data_root=str(dev_data), methods=["SRCNN-915", "FSRCNN", "IMDN"],
                               sets=["Set5"], scales=[2], outputs=["RCAN"], cache=None),
        released.released_rows(released=root, data_root=str(dev_data), methods=["CoMo-S"], sets=["Set5"],
                               scales=[4], outputs=[], cache=None)], ignore_index=True)
    moved = released.compare_rows(fresh, frame)
    assert len(moved) == len(fresh) == 6  # SRCNN-915, FSRCNN, IMDN, CoMo-S, RCAN (Table I and the MATLAB means)
    assert (moved["max_abs_d_psnr"] <= released.REGENERATE_TOL[0]).all(), moved
    assert (moved["max_abs_d_ssim"] <= released.REGENERATE_TOL[1]).all(), moved
    assert moved["same_text"].all(), moved


# --- comparing and merging tables (made-up rows) ----------------------------------------------------------
def _table(changes: dict | None = None) -> pd.DataFrame:
    base = {c: v for c, v in zip(released.COLUMNS, [
        "FSRCNN", "released weights", 2, "Set5", 5, "DeFiAN Table II", 36.98, 0.9556, "w", 36.947, 0.9553, 36.997,
        0.9558, -0.033, 0.017, 12644, 12464, 12.5, "kernels only", "why"], strict=True)}
    other = {**base, "method": "RCAN", "source": "released outputs", "printed_in": "DeFiAN Table I",
             "params_file": pd.NA, "params_kernels": pd.NA, "params_match": "", "printed_ssim": np.nan}
    frame = pd.DataFrame([base, other], columns=list(released.COLUMNS))
    for (i, col), v in (changes or {}).items():
        frame.loc[i, col] = v
    return frame.astype({"params_file": "Int64", "params_kernels": "Int64"})


def test_compare_rows_reports_what_moved() -> None:
    old = _table()
    same = released.compare_rows(_table(), old)
    assert same[["max_abs_d_psnr", "max_abs_d_ssim"]].to_numpy().tolist() == [[0, 0], [0, 0]]  # NaN = NaN
    assert same["same_text"].all()
    moved = released.compare_rows(_table({(0, "psnr_own"): 37.0, (1, "explanation"): "other",
                                            (1, "printed_ssim"): 0.9}), old)
    assert moved.loc[0, "max_abs_d_psnr"] == pytest.approx(0.003) and moved.loc[0, "same_text"]
    assert moved.loc[1, "max_abs_d_ssim"] == np.inf and not moved.loc[1, "same_text"]  # NaN on one side only
    assert len(released.compare_rows(_table().iloc[:1], old)) == 1  # only the rows both hold


def test_merge_rows_keeps_the_committed_order_and_marks_what_was_measured() -> None:
    saved = _table()
    here = _table({(1, "psnr_book"): 1.0}).iloc[[1]]
    merged = released.merge_rows(here, saved)
    assert merged["method"].tolist() == ["FSRCNN", "RCAN"] and merged["measured"].tolist() == [False, True]
    assert merged.loc[1, "psnr_book"] == 1.0  # the measured row replaces the committed one
    new = _table({(0, "set"): "Set14"}).iloc[[0]]
    assert released.merge_rows(new, saved)["set"].tolist() == ["Set5", "Set5", "Set14"]  # a new row at the end
    assert released.merge_rows(new, None)["measured"].tolist() == [True]


def test_read_rows_round_trip_and_refuses_other_columns(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    _table().to_csv(path, index=False)
    pd.testing.assert_frame_equal(released.read_rows(path), _table())
    _table().drop(columns="explanation").to_csv(path, index=False)
    with pytest.raises(ValueError, match="rerun notebook 16 under the cpu profile"):
        released.read_rows(path)
