"""The probes of the gaps the released rows leave (defian.report.gap_probes) and the findings that cite them.

* the committed ``results/released/gap_probes.csv`` regenerates: RCAN's x3 probes (its released outputs,
  every variant) within 1e-6 dB, and CARN-M's x3 author's way and rounded output (one float32 model run per
  Set5 image, one thread as the committed file was made) within ``provenance.OTHER_CPU_PSNR_DB``: the file
  does not name the CPU that made it, and CARN-M's float32 scores move between two AVX512 machines;
* the claims :data:`defian.report.released_findings.FINDINGS` makes about them hold in the committed file;
* VDSR's probes use the original authors' way as :func:`defian.zoo.authors_pair` does (one image);
* every finding and book-gap text holds no numbers, only names (the module docstring's rule).

The recomputing tests need the released artifacts and the benchmark sets; they are skipped without them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from defian import paths, provenance
from defian.data import metrics, testsets
from defian.data.images import load_image, mod_crop
from defian.report import gap_probes, released_findings
from defian.zoo import RELEASED, authors_pair, load

pytestmark = pytest.mark.usefixtures("one_thread")

COMMITTED = paths.RESULTS / "released" / "gap_probes.csv"
ATOL = 1e-6
TOL = released_findings.TOLERANCE_DB


def _committed() -> pd.DataFrame:
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED} not written yet (notebook 16 under the cpu profile)")
    return gap_probes.read_probes(COMMITTED)


def _assert_rows_equal(fresh: pd.DataFrame, committed: pd.DataFrame, atol: float = ATOL) -> None:
    """Each fresh row equals the committed row of the same (method, set, scale, variant): text equal,
    numbers within ``atol``."""
    fresh = pd.read_csv(io.StringIO(fresh.to_csv(index=False)))  # as written, so both sides read alike
    keys = ["method", "set", "scale", "variant"]
    both = fresh.merge(committed, on=keys, suffixes=("", "_committed"), validate="one_to_one")
    assert len(both) == len(fresh) > 0
    for col in (c for c in gap_probes.COLUMNS if c not in keys):
        a, b = both[col], both[f"{col}_committed"]
        if pd.api.types.is_numeric_dtype(b):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=0, atol=atol, err_msg=col)
        else:
            assert a.tolist() == b.tolist(), col


def _row(frame: pd.DataFrame, method: str, scale: int, variant: str) -> pd.Series:
    hit = frame[(frame["method"] == method) & (frame["scale"] == scale) & (frame["variant"] == variant)]
    assert len(hit) == 1, (method, scale, variant)
    return hit.iloc[0]


# --- the committed file regenerates ---------------------------------------------------------------------
def test_committed_probes_regenerate_rcan(released_root: Path, dev_data: Path) -> None:
    fresh = pd.DataFrame(gap_probes.rcan_probes(released_root, str(dev_data)), columns=list(gap_probes.COLUMNS))
    assert fresh["variant"].tolist() == list(gap_probes.RCAN_VARIANTS)
    _assert_rows_equal(fresh, _committed())


def test_committed_probes_regenerate_carn_x3(released_root: Path, dev_data: Path) -> None:
    fresh = pd.DataFrame(gap_probes.carn_probes(released_root, str(dev_data), scales=[3],
                                                variants=["author's way", "rounded output"]),
                         columns=list(gap_probes.COLUMNS))
    _assert_rows_equal(fresh, _committed(), atol=provenance.OTHER_CPU_PSNR_DB)


def test_gap_probes_selects_by_method_set_and_scale(released_root: Path, dev_data: Path) -> None:
    """The released outputs' probes run whatever the selection; the models' only where chosen (smoke: none)."""
    frame = gap_probes.gap_probes(released_root, str(dev_data), methods=["SRCNN-915", "FSRCNN"], sets=["Set5"],
                                  scales=[2])
    assert set(frame["method"]) == {"RCAN"} and len(frame) == len(gap_probes.RCAN_VARIANTS)
    assert gap_probes.gap_probes(released_root, str(dev_data), methods=["CARN-M"], sets=["Set14"], outputs=[]).empty


def test_vdsr_luma_is_the_authors_pair(released_root: Path, dev_data: Path) -> None:
    """_vdsr_luma (which also keeps the unrounded output) gives authors_pair's images, on Set14's grey bridge."""
    scale = 3
    hr = mod_crop(load_image(testsets.find_set(dev_data, "Set14")[0][2]), scale)  # baboon, barbara, bridge
    assert hr.ndim == 2
    model = load("VDSR", scale, released_root)
    out, hr_y = gap_probes._vdsr_luma(model, hr, scale)
    sr, ref, protocol = authors_pair(RELEASED["VDSR"], model, hr, scale)
    assert np.array_equal(gap_probes.quantize(out), sr) and np.array_equal(hr_y, ref) and protocol == metrics.PAPER


# --- merging and writing (made-up rows) ---------------------------------------------------------------------
def _probes(variants: list[str], psnr: float = 30.0) -> pd.DataFrame:
    return pd.DataFrame([{"method": "CARN-M", "set": "Set5", "scale": 3, "variant": v, "images": 5,
                          "printed_in": "CARN paper's table", "printed_psnr": 33.99, "printed_ssim": 0.9236,
                          "psnr": psnr, "ssim": 0.9, "d_psnr": psnr - 33.99, "d_ssim": 0.9 - 0.9236}
                         for v in variants], columns=list(gap_probes.COLUMNS))


def test_merge_probes_keeps_the_committed_order_and_says_what_moved() -> None:
    saved = _probes(["a", "b", "c"])
    merged = gap_probes.merge_probes(_probes(["d", "b"], psnr=30.5), saved)
    assert merged["variant"].tolist() == ["a", "b", "c", "d"]  # the committed order, a new probe last
    assert merged["measured"].tolist() == [False, True, False, True]
    assert merged.loc[1, "psnr"] == 30.5 and merged.loc[1, "moved_psnr"] == pytest.approx(0.5)
    assert np.isnan(merged.loc[3, "moved_psnr"])  # nothing committed to compare with
    assert gap_probes.merge_probes(saved, None)["measured"].all()


def test_write_probes_goes_to_build_under_smoke_and_reads_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(paths, "BUILD", tmp_path / "_build")
    frame = gap_probes.merge_probes(_probes(["a"]), None)  # extra columns are not written
    csv, md = gap_probes.write_probes(frame, "smoke")
    assert csv.parent == md.parent == tmp_path / "_build" / "released"
    pd.testing.assert_frame_equal(gap_probes.read_probes(csv), _probes(["a"]))
    assert "| 30.000 " in md.read_text() and "| -3.990 " in md.read_text()
    _probes(["a"]).drop(columns="d_ssim").to_csv(csv, index=False)
    with pytest.raises(ValueError, match="rerun notebook 16"):
        gap_probes.read_probes(csv)


# --- what the findings say about the committed probes ------------------------------------------------------
def test_committed_probes_hold_the_rcan_x3_finding() -> None:
    t = _committed()
    rounded, floaty = _row(t, "RCAN", 3, "rounded Y"), _row(t, "RCAN", 3, "float Y")
    assert abs(rounded["d_psnr"]) <= TOL < abs(floaty["d_psnr"])  # rounded Y within the tolerance, float Y not
    assert abs(rounded["d_ssim"]) < 1e-4 < floaty["d_ssim"]  # SSIM to a unit of the last printed decimal
    for v in ("truncated Y", "rounded Y, shave scale+1"):  # slightly nearer, none within the printed rounding
        assert 0.005 < abs(_row(t, "RCAN", 3, v)["d_psnr"]) < abs(rounded["d_psnr"])
    # the table's own numbers: its rounded and float Y are y_convention's
    conv = pd.read_csv(paths.RESULTS / "released" / "y_convention.csv")
    c = conv[(conv["method"] == "RCAN") & (conv["scale"] == 3) & (conv["printed_in"] == "DeFiAN Table I")].iloc[0]
    assert rounded["psnr"] == pytest.approx(c["psnr rounded-Y"], abs=ATOL)
    assert floaty["psnr"] == pytest.approx(c["psnr float-Y"], abs=ATOL)


def test_committed_probes_hold_the_carn_m_finding() -> None:
    t = _committed()
    carn = t[t["method"] == "CARN-M"]
    assert set(carn["variant"]) == set(gap_probes.CARN_VARIANTS) and set(carn["scale"]) == {2, 3, 4}
    own = {s: _row(t, "CARN-M", s, "author's way") for s in (2, 3, 4)}
    assert abs(own[3]["d_psnr"]) <= TOL and round(own[2]["ssim"], 4) == own[2]["printed_ssim"]  # x3 row, x2 SSIM
    assert own[2]["d_psnr"] < -TOL and own[4]["d_psnr"] < -TOL  # less PSNR at x2 and x4
    for variant, rows in carn.groupby("variant"):  # no variant gives all three scales
        assert (rows["d_psnr"].abs() > TOL).any(), variant
    # the author's way is the released-rows table's (the book's protocol): the same numbers
    table = pd.read_csv(paths.RESULTS / "released" / "released_rows.csv")
    for s, r in own.items():
        row = table[(table["method"] == "CARN-M") & (table["scale"] == s) & (table["set"] == "Set5")].iloc[0]
        assert r["psnr"] == pytest.approx(row["psnr_own"], abs=ATOL) and r["ssim"] == pytest.approx(row["ssim_own"],
                                                                                                      abs=ATOL)


def test_committed_probes_hold_the_vdsr_x3_finding() -> None:
    t = _committed()
    own = _row(t, "VDSR", 3, "authors' way")
    assert own["d_psnr"] > TOL  # above the printed row
    for v in ("centre mod-crop", "bottom-right mod-crop", "shave scale+6", "unrounded luma", "grey image as RGB"):
        assert _row(t, "VDSR", 3, v)["psnr"] > own["psnr"], v  # higher still
    book = {s: _row(t, "VDSR", s, "float Y of the book's SR")["d_psnr"] for s in (2, 3, 4)}
    assert abs(book[3]) <= TOL and abs(book[2]) > TOL and abs(book[4]) > TOL  # fits x3, misses x2 and x4
    table = pd.read_csv(paths.RESULTS / "released" / "released_rows.csv")
    row = table[(table["method"] == "VDSR") & (table["scale"] == 3) & (table["set"] == "Set14")].iloc[0]
    assert own["psnr"] == pytest.approx(row["psnr_own"], abs=ATOL)


def test_findings_cite_the_probes() -> None:
    for key, fn in ((("RCAN", 3), "rcan_probes"), (("CARN-M", None), "carn_probes"), (("VDSR", 3), "vdsr_probes")):
        evidence = released_findings.FINDINGS[key].evidence
        assert "results/released/gap_probes.md" in evidence and f"defian.report.gap_probes.{fn}" in evidence
    assert "results/released/y_convention.md" in released_findings.FINDINGS[("RCAN", 3)].evidence


# --- the texts hold no numbers ---------------------------------------------------------------------------
#: Names that hold digits: a scale (x3, the x8 self-ensemble), a set, a released model's key or SRCNN's
#: variant (9-5-5) and its training set ("91 images"), a metrics convention (scale+6), a type (uint8),
#: a MATLAB function.
_NAMES = re.compile(r"x\d|Set\d+|BSD100|Urban100|Manga109|SRCNN-\d+|\d-\d-\d|scale\+\d|uint8|rgb2ycbcr")
_PHRASES = re.compile(r"\(91 images\)")


def _numbers(text: str) -> list[str]:
    """The tokens of ``text`` that hold a digit and are no name: not a file, a repository or a test (a
    ``/`` or ``::`` between names, or a file suffix), nor a dotted module, nor one of :data:`_NAMES`;
    numbers joined by ``/`` (``34.704/0.9288``) are numbers."""
    out = []
    for token in _PHRASES.sub(" ", text).split():
        token = re.sub(r"'s$", "", token.strip(",;:()'\""))  # Set14's: Set14
        if not re.search(r"\d", token) or _NAMES.fullmatch(token):
            continue
        number = re.fullmatch(r"[\d.+\-/%]+", token)  # alone or joined by "/"
        path = "/" in token or "::" in token or re.fullmatch(r"[\w.-]+\.(py|md|csv|mat|m|pth|caffemodel|prototxt|txt)",
                                                              token)
        if number or not (path or re.fullmatch(r"defian(\.\w+)+", token)):
            out.append(token)
    return out


def test_numbers_finds_numbers_not_names() -> None:
    assert _numbers("rounded Y 34.704/0.9288, x3 on Set14; shave 4 gives +0.014") == ["34.704/0.9288", "4",
                                                                                     "+0.014"]
    assert _numbers("Set5 x2 (printed 37.53) or 0.105 dB") == ["37.53", "0.105"]
    assert _numbers("nmhkahn/CARN-pytorch@13e321c; carn_m.pth; the January 2018 checkpoint") == ["2018"]
    assert _numbers("tests/zoo/test_zoo_set5_scores.py::test_set5_x2_carn_m, scale+6, 9-1-5 (91 images)") == []


def test_finding_texts_hold_no_numbers() -> None:
    texts = [(f"FINDINGS{key}.{field}", getattr(f, field)) for key, f in released_findings.FINDINGS.items()
             for field in ("psnr", "params", "evidence")]
    texts += [(f"BOOK_GAPS[{way!r}]", text) for way, text in released_findings.BOOK_GAPS.items()]
    found = {where: n for where, text in texts if (n := _numbers(text))}
    assert not found, found
