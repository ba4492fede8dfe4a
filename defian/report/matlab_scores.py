"""The RCAN authors' MATLAB scores as an external reference for :mod:`defian.data.metrics`.

RCAN's release (github.com/yulunzhang/RCAN, ``RCAN_TestCode``) ships its Set5
outputs, the mod-cropped HR images they were scored against, and
``PSNR_SSIM_Results_BI_model.txt``: the per-image PSNR/SSIM that the authors'
``Evaluate_PSNR_SSIM.m`` printed (6 decimals). Facts read from that script
(yulunzhang/RCAN@a57c5ed ``RCAN_TestCode/Evaluate_PSNR_SSIM.m``):

* Y = ``rgb2ycbcr(im2double(img))``: MATLAB's BT.601 luma of the image scaled to
  [0, 1], kept in floating point (``single``), then multiplied by 255: the Y is
  *not* rounded to bytes;
* ``scale`` pixels are shaved at each border;
* PSNR = 10 log10(255^2 / MSE); SSIM = Wang et al.'s ``ssim_index`` (11x11
  Gaussian, sigma 1.5, K = (0.01, 0.03), L = 255, ``filter2(..., 'valid')``).

:func:`agreement` re-scores the released images under several conventions
(:data:`VARIANTS`) with :func:`defian.report.folders.score_folder` and sets each
number beside the MATLAB one; :func:`max_differences` gives the largest gap per
convention. ``y-unrounded`` is the one that reproduces the file (to its printed
precision); ``paper`` (Y rounded to uint8) is off by up to a quarter dB.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from defian import paths
from defian.atomic import write_atomic
from defian.data import metrics
from defian.report.folders import score_folder

__all__ = ["VARIANTS", "MatlabScores", "agreement", "max_differences", "parse_matlab_scores", "read_matlab_scores",
           "write_agreement"]

_HEADER = re.compile(r"^Method_(?P<k>\d+):\s*(?P<method>[^;]+?);\s*Set:\s*(?P<set>\S+)\s*$")
_IMAGE = re.compile(r"^x(?P<scale>\d+)\s+(?P<index>\d+)\s+(?P<file>\S+):\s*PSNR=\s*(?P<psnr>[-+\d.eE]+|Inf)"
                    r"\s+SSIM=\s*(?P<ssim>[-+\d.eE]+)\s*$")
_MEAN = re.compile(r"^x(?P<scale>\d+):\s*PSNR=\s*(?P<psnr>[-+\d.eE]+|Inf)\s+SSIM=\s*(?P<ssim>[-+\d.eE]+)\s*$")
_SEPARATORS = re.compile(r"^(\*+|-+Mean-+)$")

#: Conventions compared with the MATLAB file: Y rounded or not, border shaved by ``scale`` or ``scale + 6``.
VARIANTS: dict[str, metrics.Protocol] = {
    "paper": metrics.PROTOCOLS["paper"],  # rounded Y, shave scale
    "y-unrounded": metrics.PROTOCOLS["y-unrounded"],  # float Y, shave scale
    "shave-scale+6": metrics.PROTOCOLS["shave-scale+6"],  # rounded Y, shave scale + 6
    "y-unrounded, shave-scale+6": dataclasses.replace(metrics.PROTOCOLS["y-unrounded"],
                                                      name="y-unrounded, shave-scale+6", extra_shave=6),
    "rgb": metrics.PROTOCOLS["rgb"],  # all three channels
}


@dataclass
class MatlabScores:
    """The parsed file: per-image rows and the printed means.

    Attributes:
        per_image: ``method, set, scale, index, file, psnr, ssim`` (``file`` as printed, e.g. ``baby_RCAN_x2.png``).
        means: ``method, set, scale, psnr, ssim`` as printed under ``--------Mean--------``.
    """

    per_image: pd.DataFrame
    means: pd.DataFrame


def parse_matlab_scores(text: str, source: str = "<text>") -> MatlabScores:
    """Parse the output format of RCAN/RDN's ``Evaluate_PSNR_SSIM.m``.

    Blocks open with ``Method_<k>: <method>; Set: <set>``; then per scale, lines
    ``x<s> <i> <file>: PSNR= <p> SSIM= <q>``, a ``--------Mean--------`` line and
    ``x<s>: PSNR= <p> SSIM= <q>``. Lines of ``*`` separate blocks; blank lines are skipped.

    Raises:
        ValueError: a line of another form, or a score before any ``Method_`` header;
            the message gives ``source:line``.
    """
    rows, means = [], []
    method = set_name = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or _SEPARATORS.match(line):
            continue
        if m := _HEADER.match(line):
            method, set_name = m["method"].strip(), m["set"]
            continue
        m_img, m_mean = _IMAGE.match(line), _MEAN.match(line)
        if not (m_img or m_mean):
            raise ValueError(f"{source}:{n}: cannot parse {line!r} (expected 'x<s> <i> <file>: PSNR= .. SSIM= ..', "
                             "'x<s>: PSNR= .. SSIM= ..' or 'Method_<k>: <method>; Set: <set>')")
        if method is None:
            raise ValueError(f"{source}:{n}: score before any 'Method_<k>: ...; Set: ...' header")
        m = m_img or m_mean
        row = {"method": method, "set": set_name, "scale": int(m["scale"]), "psnr": float(m["psnr"]),
               "ssim": float(m["ssim"])}
        if m_img:
            rows.append({**row, "index": int(m["index"]), "file": m["file"]})
        else:
            means.append(row)
    if not rows:
        raise ValueError(f"{source}: no per-image score found")
    per_image = pd.DataFrame(rows, columns=["method", "set", "scale", "index", "file", "psnr", "ssim"])
    return MatlabScores(per_image, pd.DataFrame(means, columns=["method", "set", "scale", "psnr", "ssim"]))


def read_matlab_scores(path: str | os.PathLike[str]) -> MatlabScores:
    """:func:`parse_matlab_scores` of a file (e.g. ``rcan_official/PSNR_SSIM_Results_BI_model.txt``)."""
    path = Path(path)
    return parse_matlab_scores(path.read_text(), source=str(path))


def agreement(scores_file: str | os.PathLike[str], variants: dict[str, metrics.Protocol] | None = None,
              hr_name: str = "HR") -> pd.DataFrame:
    """Re-score the released images the MATLAB file scored, under each convention.

    The images are looked for beside the file, in RCAN's layout:
    ``<method>/<set>/x<s>/<file>`` (SR) and ``<hr_name>/<set>/x<s>/`` (HR, used as it is).
    Rows of the file whose SR folder is absent (RCAN's x8, not released) are skipped.

    Args:
        scores_file: The MATLAB output (:func:`read_matlab_scores`).
        variants: ``{label: Protocol}`` (default :data:`VARIANTS`).
        hr_name: Folder of the HR images beside the file.

    Returns:
        One row per (variant, printed image): ``variant, method, set, scale, file, psnr, ssim,
        matlab_psnr, matlab_ssim, d_psnr, d_ssim`` (``d`` = ours - MATLAB).
    """
    scores_file = Path(scores_file)
    printed = read_matlab_scores(scores_file).per_image
    base = scores_file.parent
    out = []
    for label, proto in (VARIANTS if variants is None else variants).items():
        for (method, set_name, scale), group in printed.groupby(["method", "set", "scale"], sort=False):
            sr_dir = base / method / set_name / f"x{scale}"
            if not sr_dir.is_dir():
                continue
            ours = score_folder(sr_dir, hr_dir=base / hr_name / set_name / f"x{scale}", scale=int(scale),
                                protocol=proto).set_index("sr_file")
            for _, r in group.iterrows():
                if r["file"] not in ours.index:
                    raise FileNotFoundError(f"{scores_file.name} scores {r['file']}, absent from {sr_dir}")
                p, s = ours.loc[r["file"], ["psnr", "ssim"]]
                out.append({"variant": label, "method": method, "set": set_name, "scale": int(scale),
                            "file": r["file"], "psnr": float(p), "ssim": float(s), "matlab_psnr": r["psnr"],
                            "matlab_ssim": r["ssim"], "d_psnr": float(p) - r["psnr"], "d_ssim": float(s) - r["ssim"]})
    return pd.DataFrame(out)


def max_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Largest ``|ours - MATLAB|`` per variant of an :func:`agreement` table.

    Returns:
        ``variant, images, max_abs_d_psnr, max_abs_d_ssim, mean_d_psnr``, in the table's variant order.
    """
    g = table.assign(a_psnr=table["d_psnr"].abs(), a_ssim=table["d_ssim"].abs()).groupby("variant", sort=False)
    return pd.DataFrame({"images": g.size(), "max_abs_d_psnr": g["a_psnr"].max(), "max_abs_d_ssim": g["a_ssim"].max(),
                         "mean_d_psnr": g["d_psnr"].mean()}).reset_index()


def write_agreement(table: pd.DataFrame, folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write ``matlab_agreement.csv`` (every image, every variant) and ``matlab_agreement.md`` (the
    largest differences per variant, :func:`max_differences`); default folder ``results/released``."""
    folder = Path(folder) if folder is not None else paths.RESULTS / "released"
    worst = max_differences(table)
    body = worst.to_markdown(index=False, floatfmt=("", ".0f", ".2e", ".2e", "+.2e"))
    md = ("**Our metrics against the RCAN authors' MATLAB scores (Set5 x2/x3/x4, RCAN and RCAN+)**\n\n"
          f"{body}\n\n- d = ours - MATLAB, per image; the file prints 6 decimals (rounding: 5e-7).\n"
          "- Made by defian.report.matlab_scores.agreement / max_differences; never typed.\n")
    return [write_atomic(folder / "matlab_agreement.csv", table.to_csv(index=False)),
            write_atomic(folder / "matlab_agreement.md", md)]
