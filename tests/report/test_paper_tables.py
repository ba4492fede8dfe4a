"""The paper's tables as data: transcription checks and the paper's own cross-references."""

from __future__ import annotations

import pytest

from defian.report import paper_tables as pt


def test_row_counts_and_methods() -> None:
    assert len(pt.TABLE_I) == 10 + 9 + 10  # x3 has no D-DBPN row
    assert len(pt.TABLE_II) == 3 * 9
    assert [r.method for r in pt.TABLE_II if r.scale == 2] == [
        "Bicubic", "SRCNN", "FSRCNN", "VDSR", "LapSRN", "DRRN", "IDN", "CARN", "DeFiAN_S"]
    assert pt.row(pt.TABLE_I, "RCAN", 2).ref == "21"
    with pytest.raises(KeyError, match="D-DBPN"):
        pt.row(pt.TABLE_I, "Nope", 2)


def test_bicubic_rows_are_the_same_in_both_tables() -> None:
    for s in (2, 3, 4):
        a, b = pt.row(pt.TABLE_I, "Bicubic", s), pt.row(pt.TABLE_II, "Bicubic", s)
        assert a.psnr == b.psnr and a.ssim == b.ssim and a.params_k is None and a.params_text == "-"
    assert pt.row(pt.TABLE_I, "Bicubic", 3).psnr["BSD100"] == 27.21
    assert pt.row(pt.TABLE_I, "Bicubic", 4).ssim["Manga109"] == 0.7866


def test_rcan_x3_misprint_is_kept_and_cleaned() -> None:
    r = pt.row(pt.TABLE_I, "RCAN", 3)
    assert r.params_text == "15592.4.8" and r.params_k == 15592.4 and r.flops_g == 290.8


def test_underlined_cells() -> None:
    assert pt.row(pt.TABLE_I, "RCAN", 2).underlined == frozenset(
        f"{s}/{m}" for s in pt.SETS for m in ("psnr", "ssim")) - {"Set5/ssim"}
    assert pt.row(pt.TABLE_II, "DeFiAN_S", 2).underlined == frozenset()


def test_defian_l_param_counts_differ_by_the_upsamplers() -> None:
    # x3 - x2: a 64->576 3x3 conv replaces a 64->256 one (+184.6 K); x4 adds a second 64->256 (+147.7 K)
    p = {s: pt.row(pt.TABLE_I, "DeFiAN_L", s).params_k for s in (2, 3, 4)}
    up2, up3 = (64 * 9 * 256 + 256) / 1e3, (64 * 9 * 576 + 576) / 1e3
    assert p[3] - p[2] == pytest.approx(up3 - up2, abs=0.5)
    assert p[4] - p[2] == pytest.approx(up2, abs=0.5)


def test_model_analysis_tables_agree_with_each_other() -> None:
    a = {r.column: r for r in pt.TABLE_III}
    k = {r.kernels: r for r in pt.TABLE_IV}
    # Table IV's "w/o HF" is Table III's (a) and ker=(3,5,7) is MSHF alone (b)
    assert (k[()].params_k, k[()].psnr_set5) == (a["a"].params_k, a["a"].psnr_set5) == (15233.8, 33.91)
    assert (k[(3, 5, 7)].params_k, k[(3, 5, 7)].psnr_set5) == (a["b"].params_k, a["b"].psnr_set5)
    # Table III's full model (h) is Table II/I's DeFiAN_L x3 size and Table V's DiEnDec at d = 3
    assert a["h"].params_k == pt.row(pt.TABLE_I, "DeFiAN_L", 3).params_k == 15370.4
    dien = next(r for r in pt.TABLE_V if r.endec == "DiEnDec")
    assert dien.psnr[3] == a["h"].psnr_set5 == 34.22
    assert a["h"].mshf and a["h"].diendec and a["h"].dac and not (a["a"].mshf or a["a"].diendec or a["a"].dac)


def test_text_claim_about_parameters_holds() -> None:
    # Sec. IV-C2: DeFiAN_S has "0.52M" fewer parameters than CARN (x3)
    diff = pt.row(pt.TABLE_II, "CARN", 3).params_k - pt.row(pt.TABLE_II, "DeFiAN_S", 3).params_k
    assert diff / 1e3 == pytest.approx(0.52, abs=0.005)


def test_records_are_flat() -> None:
    recs = pt.as_dicts(pt.TABLE_I)
    assert recs[0]["method"] == "Bicubic" and recs[0]["Set5_psnr"] == 33.64 and recs[0]["params_k"] is None
    assert len(recs) == len(pt.TABLE_I)
