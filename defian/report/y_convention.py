"""Were the paper's own rows and its competitors' rows scored with the same Y? (Tables I/II, IKM Table I)

Two luma conventions circulate for "PSNR/SSIM on the Y channel" (Sec. IV-A2):

* **rounded Y** (:data:`defian.data.metrics.PROTOCOLS` ``"paper"``): MATLAB's
  ``rgb2ycbcr`` on a uint8 image returns uint8, so Y is rounded to bytes. It
  reproduces the paper's Bicubic rows (``tests/data/test_metrics.py``).
* **float Y** (``"y-unrounded"``): Y of the image in floating point. RCAN's and
  RDN's MATLAB scripts (``rgb2ycbcr(im2double(img))``; yulunzhang/RCAN@a57c5ed and
  yulunzhang/RDN@4178bf4 ``*_TestCode/Evaluate_PSNR_SSIM.m``) and the DeFiAN released
  ``test.py`` (``skimage.color.rgb2ycbcr`` of the quantised SR, YuanfeiHuang/DeFiAN@299035d
  ``utils.py`` ``calc_PSNR``) compute this one; :mod:`defian.report.matlab_scores`
  shows it reproduces the RCAN authors' file to 5e-7 dB.

Rounding adds about 1/12 grey level^2 of noise to each of the two Y images, so it
lowers PSNR by about ``10 log10(1 + (1/6) / MSE)``: 0.07 dB at 38 dB, 0.25 dB at
43.6 dB (Set5's bird at x2), 0.02 dB at 32 dB. Set5 x2 means move by ~0.09 dB:
the size of the margins Tables I/II print.

:func:`convention_table` scores the released outputs (RCAN/RCAN+ and RDN/RDN+
on Set5 x2/x3/x4; DeFiAN_S x2 on Set5/Set14) under each convention of
:data:`CONVENTIONS`, against the benchmark HR under the data root (mod-cropped),
next to every printed row that names them; :func:`margin_table` recomputes the
margins the paper claims once both sides use one convention.
:func:`write_tables` writes both to ``results/released/`` (CSV + Markdown).

What the artifacts say (the numbers are in ``results/released/y_convention.md``):
the competitors' rows of Table I (RDN x2/x3/x4, RCAN x2/x4) are reproduced by
rounded Y and not by float Y; the RCAN authors' own numbers by float Y only;
DeFiAN_S's printed x2 rows are nearer float Y (PSNR and, more clearly, SSIM),
as its released ``test.py`` computes. The DeFiAN_S outputs were made by a third
party with LR generated on the fly from HR (mile-zhang/DeFiAN-Pytorch-1.7.0@4abfcc0
``main.py`` ``validation``), not from the LR PNGs the authors' ``test.py`` reads,
so a residue of a few hundredths of a dB is not a convention effect.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from defian import paths
from defian.atomic import write_atomic
from defian.report import paper_tables
from defian.report.folders import score_folder
from defian.report.matlab_scores import read_matlab_scores
from defian.report.tables import markdown_text

__all__ = ["CONVENTIONS", "IKM_TABLE_I", "OUTPUTS", "TOLERANCE_DB", "convention_table",
           "margin_table", "write_tables"]

TOLERANCE_DB = 0.01  # a printed row is "reproduced" when |measured - printed| <= this (2-decimal rows)

#: label -> (metrics protocol, replicate a grey HR image to RGB before Y)
CONVENTIONS: dict[str, tuple[str, bool]] = {
    "rounded-Y": ("paper", False),  # MATLAB rgb2ycbcr on uint8
    "float-Y": ("y-unrounded", False),  # rgb2ycbcr(im2double(.)); skimage on floats
    "float-Y-grey-rgb": ("y-unrounded", True),  # the DeFiAN released test.py: grey set_channel'ed to RGB
}

#: Released output folders (relative to the released root): label, folder pattern, sets, scales.
OUTPUTS: tuple[tuple[str, str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("RCAN", "images/rcan_official/RCAN/{set}/x{scale}", ("Set5",), (2, 3, 4)),
    ("RCAN+", "images/rcan_official/RCANplus/{set}/x{scale}", ("Set5",), (2, 3, 4)),
    ("RDN", "images/rdn_official/RDN/{set}/x{scale}", ("Set5",), (2, 3, 4)),
    ("RDN+", "images/rdn_official/RDNplus/{set}/x{scale}", ("Set5",), (2, 3, 4)),
    ("DeFiAN_S", "images/defian_s_mile-zhang/{set}/x{scale}", ("Set5", "Set14"), (2,)),
)
_MATLAB_FILE = "images/rcan_official/PSNR_SSIM_Results_BI_model.txt"
_MATLAB_NAMES = {"RCAN": "RCAN", "RCAN+": "RCANplus"}

#: The IKM paper's Table I (``../paper/ikm-follow-up.md``), the rows of the released outputs here:
#: (method, scale, set) -> (PSNR, SSIM) as printed.
IKM_TABLE_I: dict[tuple[str, int, str], tuple[float, float]] = {
    ("DeFiAN_S", 2, "Set5"): (38.03, 0.9605),
    ("DeFiAN_S", 2, "Set14"): (33.63, 0.9181),
    ("IMDN", 2, "Set5"): (38.00, 0.9605),
    ("IMDN", 2, "Set14"): (33.63, 0.9177),
}


def _printed(method: str, set_name: str, scale: int, matlab: pd.DataFrame | None) -> list[tuple[str, float, float]]:
    """Every printed (source, PSNR, SSIM) for one released output."""
    out = []
    for name, table in (("DeFiAN Table I", paper_tables.TABLE_I), ("DeFiAN Table II", paper_tables.TABLE_II)):
        try:
            r = paper_tables.row(table, method, scale)
        except KeyError:
            continue
        out.append((name, r.psnr[set_name], r.ssim[set_name]))
    if (method, scale, set_name) in IKM_TABLE_I:
        out.append(("IKM Table I", *IKM_TABLE_I[(method, scale, set_name)]))
    if matlab is not None and method in _MATLAB_NAMES:
        hit = matlab[(matlab["method"] == _MATLAB_NAMES[method]) & (matlab["set"] == set_name)
                     & (matlab["scale"] == scale)]
        if not hit.empty:
            out.append(("RCAN authors' MATLAB", float(hit["psnr"].iloc[0]), float(hit["ssim"].iloc[0])))
    return out or [("none in the sources", np.nan, np.nan)]


def convention_table(released: str | os.PathLike[str] | None = None, data_root: str | None = None,
                     conventions: dict[str, tuple[str, bool]] | None = None,
                     methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Measured (per convention) next to printed, for every released output present.

    Args:
        released: The released artifacts folder (:func:`defian.paths.released_root`).
        data_root: Data root holding the benchmark HR (None/"": ``$DEFIAN_DATA``).
        conventions: ``{label: (protocol, grey_as_rgb)}`` (default :data:`CONVENTIONS`).
        methods: Labels of :data:`OUTPUTS` to score (default: all).

    Returns:
        One row per (method, set, scale, printed source): ``method, set, scale, images, printed_in,
        printed_psnr, printed_ssim``, then per convention ``c``: ``psnr <c>``, ``ssim <c>``,
        ``Δpsnr <c>``, ``Δssim <c>`` (measured - printed), and ``reproduced_by``: the conventions within
        :data:`TOLERANCE_DB` of the printed PSNR (``"none"`` if none; ``""`` with no printed row).

    Raises:
        FileNotFoundError: no released folder, or no data root holding the sets.
    """
    root = paths.released_root(released)
    if root is None:
        raise FileNotFoundError(f"no released artifacts: set ${paths.ENV_RELEASED} or fetch them "
                                "(defian data download released)")
    conventions = CONVENTIONS if conventions is None else conventions
    matlab = read_matlab_scores(root / _MATLAB_FILE).means if (root / _MATLAB_FILE).is_file() else None
    rows = []
    for method, pattern, sets, scales in OUTPUTS:
        if methods is not None and method not in methods:
            continue
        for set_name in sets:
            for scale in scales:
                folder = root / pattern.format(set=set_name, scale=scale)
                if not folder.is_dir():
                    continue
                measured: dict[str, float] = {}
                for label, (proto, grey_rgb) in conventions.items():
                    df = score_folder(folder, set_name=set_name, scale=scale, protocol=proto, data_root=data_root,
                                      grey_as_rgb=grey_rgb)
                    measured[f"psnr {label}"], measured[f"ssim {label}"] = df["psnr"].mean(), df["ssim"].mean()
                    n = len(df)
                for source, p, s in _printed(method, set_name, scale, matlab):
                    row = {"method": method, "set": set_name, "scale": scale, "images": n, "printed_in": source,
                           "printed_psnr": p, "printed_ssim": s}
                    for label in conventions:
                        row[f"psnr {label}"] = measured[f"psnr {label}"]
                        row[f"ssim {label}"] = measured[f"ssim {label}"]
                        row[f"Δpsnr {label}"] = measured[f"psnr {label}"] - p
                        row[f"Δssim {label}"] = measured[f"ssim {label}"] - s
                    hits = [c for c in conventions if abs(row[f"Δpsnr {c}"]) <= TOLERANCE_DB]
                    row["reproduced_by"] = "" if np.isnan(p) else (", ".join(hits) or "none")
                    rows.append(row)
    return pd.DataFrame(rows)


def _measured(table: pd.DataFrame, method: str, set_name: str, scale: int, convention: str) -> float:
    hit = table[(table["method"] == method) & (table["set"] == set_name) & (table["scale"] == scale)]
    return float(hit[f"psnr {convention}"].iloc[0]) if not hit.empty else np.nan


def margin_table(table: pd.DataFrame) -> pd.DataFrame:
    """The Set5/Set14 margins the papers print, and the same margins with both sides on one Y.

    The paper's own rows are taken as float-Y (DeFiAN_S's released outputs reproduce its rows
    only under float-Y; the released ``test.py`` computes float Y), the competitors' rows as
    rounded-Y (RCAN's and RDN's printed rows are reproduced by rounded-Y). So:

    * DeFiAN_L (no outputs released) vs RCAN/RDN: printed DeFiAN_L - the rival re-scored float-Y;
    * DeFiAN_S vs Table II's underlined best rival and IKM Table I's IMDN: DeFiAN_S re-scored
      rounded-Y - the printed rival (assumed rounded-Y; the zoo's re-scoring of IMDN/IDN/CARN checks it).

    Args:
        table: :func:`convention_table`'s frame (conventions ``rounded-Y`` and ``float-Y``).

    Returns:
        ``claim, scale, set, ours_printed, rival, rival_printed, margin_printed, same_Y, margin_same_Y``.
    """
    rows = []
    for scale in (2, 3, 4):
        ours = paper_tables.row(paper_tables.TABLE_I, "DeFiAN_L", scale).psnr["Set5"]
        for rival in ("RCAN", "RDN"):
            printed = paper_tables.row(paper_tables.TABLE_I, rival, scale).psnr["Set5"]
            rescored = _measured(table, rival, "Set5", scale, "float-Y")
            rows.append({"claim": "Table I: DeFiAN_L vs " + rival, "scale": scale, "set": "Set5", "ours_printed": ours,
                         "rival": rival, "rival_printed": printed, "margin_printed": ours - printed,
                         "same_Y": f"float-Y: {rival} re-scored {rescored:.3f}", "margin_same_Y": ours - rescored})
    for set_name in ("Set5", "Set14"):
        ours = paper_tables.row(paper_tables.TABLE_II, "DeFiAN_S", 2).psnr[set_name]
        rescored = _measured(table, "DeFiAN_S", set_name, 2, "rounded-Y")
        best = next(r for r in paper_tables.TABLE_II if r.scale == 2 and f"{set_name}/psnr" in r.underlined)
        rivals = [("Table II", best.method, best.psnr[set_name]),
                  ("IKM Table I", "IMDN", IKM_TABLE_I[("IMDN", 2, set_name)][0])]
        for where, rival, printed in rivals:
            rows.append({"claim": f"{where}: DeFiAN_S vs {rival}", "scale": 2, "set": set_name, "ours_printed": ours,
                         "rival": rival, "rival_printed": printed, "margin_printed": ours - printed,
                         "same_Y": f"rounded-Y: DeFiAN_S re-scored {rescored:.3f}",
                         "margin_same_Y": rescored - printed})
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame, title: str, notes: list[str]) -> str:
    def fmt(col: str, v: object) -> str:
        if isinstance(v, (float, np.floating)):
            if np.isnan(v):
                return "–"
            digits = 4 if "ssim" in col else 3
            return f"{v:+.{digits}f}" if ("Δ" in col or col.startswith("margin")) else f"{v:.{digits}f}"
        return str(v)

    return markdown_text(pd.DataFrame({c: [fmt(c, v) for v in frame[c]] for c in frame.columns}), title, notes)


def write_tables(table: pd.DataFrame, margins: pd.DataFrame, folder: str | os.PathLike[str] | None = None
                 ) -> list[Path]:
    """Write ``y_convention.{csv,md}`` and ``y_margins.{csv,md}`` (default folder: ``results/released``)."""
    folder = Path(folder) if folder is not None else paths.RESULTS / "released"
    notes = [f"reproduced_by: conventions whose measured PSNR is within {TOLERANCE_DB} dB of the printed one.",
             ("rounded-Y = metrics protocol 'paper'; float-Y = 'y-unrounded'; float-Y-grey-rgb = 'y-unrounded' with a "
              "grey HR replicated to RGB before Y (the DeFiAN released test.py; changes Set14's bridge only)."),
             "HR: the benchmark sets under the data root, mod-cropped by the scale; scale pixels shaved.",
             "Made by defian.report.y_convention.convention_table; never typed."]
    out = [write_atomic(folder / "y_convention.csv", table.to_csv(index=False)),
           write_atomic(folder / "y_convention.md", _markdown(table, "Released outputs under each Y convention, "
                                                                     "next to the printed rows", notes))]
    m_notes = [("margin_same_Y: the margin once both rows use one Y convention (see defian.report.y_convention."
                "margin_table for which side is re-scored and what is assumed).")]
    out += [write_atomic(folder / "y_margins.csv", margins.to_csv(index=False)),
            write_atomic(folder / "y_margins.md", _markdown(margins, "Margins the papers print, and on one Y",
                                                            m_notes))]
    return out
