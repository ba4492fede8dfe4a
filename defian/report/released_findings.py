"""Why a re-scored row differs from the printed one: the findings the released-artifacts table quotes.

:func:`explain` gives each row of :func:`defian.report.released.released_rows` its
``explanation``, from two explicit dicts:

* :data:`BOOK_GAPS`, keyed by the method's own evaluation (``own_way``): why the book's
  protocol (uint8 MATLAB-bicubic LR, Y rounded to bytes) scores lower, when the method's own
  way reproduces the printed row;
* :data:`FINDINGS`, keyed by (method, scale) or (method, None) for every scale: why the
  method's own way does *not* reproduce the printed row (more than :data:`TOLERANCE_DB`), or why
  the printed #Params are not the released file's count, with where the evidence is.

A gap with neither is :data:`UNEXPLAINED` (the tests and the notebook refuse it). The
explanations hold no numbers: the numbers are the table's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from defian.report import zoo_scores

__all__ = ["BOOK_GAPS", "FINDINGS", "OUTPUT_WAYS", "TOLERANCE_DB", "UNEXPLAINED", "Finding", "explain", "finding"]

TOLERANCE_DB = 0.02  # a gap above this (dB) is a finding, not rounding of a two-decimal row
UNEXPLAINED = "UNEXPLAINED"

#: Released outputs -> (the producers' Y convention, a key of y_convention.CONVENTIONS; its name).
OUTPUT_WAYS: dict[str, tuple[str, str]] = {
    "RCAN": ("float-Y", "outputs as released; float Y (RCAN's Evaluate_PSNR_SSIM.m)"),
    "RCAN+": ("float-Y", "outputs as released; float Y (RCAN's Evaluate_PSNR_SSIM.m)"),
    "RDN": ("float-Y", "outputs as released; float Y (RDN's Evaluate_PSNR_SSIM.m)"),
    "RDN+": ("float-Y", "outputs as released; float Y (RDN's Evaluate_PSNR_SSIM.m)"),
    "DeFiAN_S": ("float-Y-grey-rgb", "outputs as released; float Y, grey as RGB (DeFiAN's released test.py)"),
}

#: Why the book's protocol (uint8 LR, rounded Y) scores lower, when the method's own way reproduces the row.
BOOK_GAPS: dict[str, str] = {
    zoo_scores.OWN_WAYS[("float-y", "direct")]: (
        "book's protocol only: the authors downsample the HR luma in float and score the network's luma; the book "
        "makes a uint8 RGB LR image and scores the rounded Y of the rebuilt RGB image (defian.zoo.authors)"),
    zoo_scores.OWN_WAYS[("float-rgb", "float")]: (
        "book's protocol only: the authors' LR is never rounded to uint8 and their Y is float (defian.zoo.authors)"),
    zoo_scores.OWN_WAYS[("uint8-rgb", "float")]: (
        "book's protocol only: the authors score float Y, the book rounds Y to bytes (defian.zoo.authors)"),
    zoo_scores.own_way("IMDN"): (
        "book's protocol only: the authors score float Y and read a grey image (Set14's bridge) as RGB; the book "
        "rounds Y and compares a grey image as grey (defian.report.zoo_scores.GREY_AS_RGB)"),
    OUTPUT_WAYS["RCAN"][1]: ("book's protocol only: RCAN's MATLAB keeps Y float, the book rounds it to bytes; float Y "
                             "reproduces the RCAN authors' per-image scores (results/released/matlab_agreement.md)"),
    OUTPUT_WAYS["RDN"][1]: "book's protocol only: RDN's MATLAB keeps Y float, the book rounds it to bytes",
    OUTPUT_WAYS["DeFiAN_S"][1]: ("book's protocol only: DeFiAN's released test.py scores float Y (skimage "
                                 "rgb2ycbcr), the book rounds Y to bytes"),
}


@dataclass(frozen=True)
class Finding:
    """Why a row's measured PSNR or #Params differ from the printed ones, and where that is shown."""

    psnr: str = ""  # the measured PSNR, the method's own way, is off the printed one
    params: str = ""  # the printed #Params are not the released file's count
    evidence: str = ""  # files, tests, scripts


_Y_TABLE = "results/released/y_convention.md; tests/report/test_folders.py; defian.report.y_convention"
_PRINTED_Y = ("DeFiAN's Table I prints {m} under rounded Y: the book's protocol reproduces it from {m}'s own outputs, "
              "while {m}'s own script scores float Y; the printed margin over {m} is on two conventions")

#: (method, scale or None for every scale) -> Finding. Every gap > TOLERANCE_DB the method's own way leaves.
FINDINGS: dict[tuple[str, int | None], Finding] = {
    ("RCAN", 2): Finding(psnr=_PRINTED_Y.format(m="RCAN"), evidence=_Y_TABLE + "; results/released/y_margins.md"),
    ("RCAN", 3): Finding(psnr=("DeFiAN's Table I row is nearer rounded Y (the book's protocol) than float Y, but "
                               "within the two-decimal rounding of neither; the residue is unexplained"),
                         evidence=_Y_TABLE),
    ("RDN", None): Finding(psnr=_PRINTED_Y.format(m="RDN"), evidence=_Y_TABLE + "; results/released/y_margins.md"),
    ("DeFiAN_S", 2): Finding(
        psnr=("outputs made by a third party from the authors' checkpoint with LR generated on the fly "
              "(mile-zhang/DeFiAN-Pytorch-1.7.0 main.py), not from the LR files the authors' test.py reads; "
              "the printed rows are nearer float Y than rounded Y, and on Set14 the grey bridge image moves the "
              "mean by whether it is replicated to RGB"),
        evidence=_Y_TABLE),
    ("CARN-M", None): Finding(
        psnr=("unexplained: scored as its author says (truncated output, rounded Y, MATLAB-bicubic LR) the released "
              "model gives the CARN paper's SSIM but less PSNR; no variant tried (rounding, float Y) gives all three "
              "scales"),
        evidence="defian/zoo/carn.py; tests/zoo/test_zoo_set5_scores.py::test_set5_x2_carn_m"),
    ("VDSR", 3): Finding(
        psnr=("unexplained: the released VDSR_Official.mat (huangzehao/caffe-vdsr, a conversion 'from the official "
              "test code') scores above the printed row here, scored the original authors' way; the book's protocol "
              "only lowers a score, so no protocol difference explains a higher one"),
        evidence="defian/zoo/vdsr.py; the other VDSR rows of this table"),
    ("SRCNN-955", None): Finding(
        params=("Table II's SRCNN row prints the 9-1-5 (91 images) model's kernel count next to the 9-5-5 "
                "(ImageNet) model's PSNRs: one row, two variants"),
        evidence="params_match; defian/zoo/registry.py (SRCNN-955, SRCNN-915)"),
    ("LapSRN", None): Finding(
        params=("matches no count of a released LapSRN file (x2 or x4, with or without biases) nor of any other "
                "released file: the printed #Params come from elsewhere"),
        evidence="params_match; tests/zoo/test_zoo_released_files.py (raw counts of each file)"),
    ("IDN", None): Finding(
        params=("matches no count of the released IDN files (the same at every scale, with or without biases) nor "
                "of any other released file: the printed #Params are not the released model's"),
        evidence="params_match; tests/zoo/test_zoo_released_files.py (raw counts of each file)"),
}


def finding(method: str, scale: int) -> Finding | None:
    """The finding for (method, scale), else for (method, every scale), else None."""
    return FINDINGS.get((method, scale)) or FINDINGS.get((method, None))


def explain(row: pd.Series | dict) -> str:
    """The explanation of one row (module docstring); ``UNEXPLAINED`` where a gap has none."""
    parts = []
    f = finding(row["method"], int(row["scale"]))
    if not np.isnan(row["printed_psnr"]):
        if abs(row["d_psnr_own"]) > TOLERANCE_DB:
            parts.append(f.psnr if f is not None and f.psnr else UNEXPLAINED)
        elif abs(row["d_psnr_book"]) > TOLERANCE_DB:
            parts.append(BOOK_GAPS.get(row["own_way"], UNEXPLAINED))
    match = row.get("params_match", "")
    if match == "kernels only":
        parts.append("printed #Params count the convolution kernels only (no biases, PReLU slopes)")
    elif match not in ("", "all numbers"):
        parts.append(f.params if f is not None and f.params else UNEXPLAINED)
    return "; ".join(parts)
