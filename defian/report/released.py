"""What the released artifacts show: every printed row they allow, re-scored, next to the printed number.

One table (:func:`released_rows`), two kinds of rows:

* **released weights** (:data:`defian.zoo.RELEASED`): each model at each of its scales on
  every benchmark set present, scored the book's way and the method's own way
  (:mod:`defian.report.zoo_scores`), next to the row printed for it -- DeFiAN's Table II
  (:mod:`defian.report.paper_tables`) where the method is there, else the IKM paper's Table I
  (IMDN, :data:`IKM_IMDN`), else the registry's printed Set5 row (CARN-M: the CARN paper) --
  and the #Params counted from the released file (all numbers, and convolution kernels only)
  next to the printed #Params;
* **released outputs** (RCAN/RCAN+/RDN/RDN+ Set5 x2/x3/x4, DeFiAN_S x2 Set5/Set14): the rows
  of :func:`defian.report.y_convention.convention_table`, the book's way being rounded Y and
  the producers' own way the Y their scripts compute
  (:data:`defian.report.released_findings.OUTPUT_WAYS`).

Each row whose measured PSNR is more than
:data:`~defian.report.released_findings.TOLERANCE_DB` from the printed one, and each printed
#Params that are not the released file's count (``params_match`` says which count they are,
searched over every released file), gets an ``explanation`` from :mod:`defian.report.released_findings`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from defian import paths
from defian.atomic import write_atomic
from defian.data import testsets
from defian.report import paper_tables, y_convention, zoo_scores
from defian.report.released_findings import OUTPUT_WAYS, TOLERANCE_DB, explain
from defian.report.tables import markdown_text
from defian.zoo import RELEASED, load

__all__ = ["COLUMNS", "IKM_IMDN", "KEYS", "REGENERATE_TOL", "artifacts_and_data", "compare_rows",
           "measured_margins", "merge_rows", "param_table", "printed_row", "read_rows", "released_rows", "write_rows"]

COLUMNS = ("method", "source", "scale", "set", "images", "printed_in", "printed_psnr", "printed_ssim", "own_way",
           "psnr_book", "ssim_book", "psnr_own", "ssim_own", "d_psnr_book", "d_psnr_own", "params_file",
           "params_kernels", "params_printed_k", "params_match", "explanation")
#: What names one row of :func:`released_rows` (a measurement and the printed source it is set beside).
KEYS = ("method", "source", "scale", "set", "printed_in")
#: (dB PSNR, SSIM): how far a re-run may move a row's means. The scores are float32 convolutions whose
#: bits change with the thread count (and the CPU; defian.report.zoo_scores); tests/report/test_released_rows.py
#: recomputes a subset of the committed rows within this tolerance.
REGENERATE_TOL = (1e-3, 2e-5)
_TEXT = ("images", "own_way", "params_file", "params_kernels", "params_match", "explanation")

# The IKM paper's Table I (../paper/ikm-follow-up.md), IMDN's rows, typed as printed: the only method of the
# zoo that DeFiAN's Table II lacks and the IKM table prints (its SRCNN/VDSR/LapSRN/IDN rows are Table II's).
# scale | #Params (K) | PSNR SSIM per set of paper_tables.SETS
_IKM_IMDN = """
x2 | 694.4 | 38.00 0.9605 | 33.63 0.9177 | 32.19 0.8996 | 32.13 0.9282 | 38.87 0.9774
x3 | 703.1 | 34.36 0.9270 | 30.32 0.8417 | 29.09 0.8046 | 28.17 0.8519 | 33.61 0.9445
x4 | 715.2 | 32.21 0.8946 | 28.58 0.7804 | 27.56 0.7352 | 26.04 0.7838 | 30.45 0.9072
"""
#: scale -> (#Params in K, {set: (PSNR, SSIM)}) of IMDN in the IKM paper's Table I.
IKM_IMDN: dict[int, tuple[float, dict[str, tuple[float, float]]]] = {
    int(cells[0][1:]): (float(cells[1]), {s: tuple(map(float, c.split())) for s, c in zip(paper_tables.SETS,
                                                                                          cells[2:], strict=True)})
    for cells in ([c.strip() for c in line.split("|")] for line in _IKM_IMDN.strip().splitlines())
}

def printed_row(method: str, scale: int, set_name: str) -> tuple[str, float, float, float]:
    """``(source, PSNR, SSIM, #Params in K)`` printed for a released model (NaN where nothing is printed)."""
    spec = RELEASED[method]
    if spec.paper_row is not None:
        r = paper_tables.row(paper_tables.TABLE_II, spec.paper_row, scale)
        return ("DeFiAN Table II", r.psnr[set_name], r.ssim[set_name],
                np.nan if r.params_k is None else r.params_k)
    if method == "IMDN":
        params_k, cells = IKM_IMDN[scale]
        return ("IKM Table I", *cells[set_name], params_k)
    if scale in spec.printed and set_name == "Set5":
        return (spec.printed_source.split(",")[0], *spec.printed[scale], np.nan)  # the registry says where exactly
    return ("none in the sources", np.nan, np.nan, np.nan)


def param_table(released: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """``method, scale, params_file, params_kernels`` of every released file (:func:`zoo_scores.param_counts`)."""
    rows = []
    for method, spec in RELEASED.items():
        for scale in spec.scales:
            n, k = zoo_scores.param_counts(load(method, scale, released))
            rows.append({"method": method, "scale": scale, "params_file": n, "params_kernels": k})
    return pd.DataFrame(rows)


def _params_match(printed_k: float, method: str, scale: int, counts: pd.DataFrame) -> str:
    """Which count of which released file the printed #Params (K, one decimal) are; "none" if no count is."""
    if np.isnan(printed_k):
        return ""
    own = (counts["method"] == method) & (counts["scale"] == scale)
    for is_own in (True, False):  # the file's own counts first, then every other released file's
        for _, c in counts[own == is_own].iterrows():
            for col, what in (("params_file", "all numbers"), ("params_kernels", "kernels only")):
                if round(c[col] / 1e3, 1) == printed_k:
                    return what if is_own else f"other file: {c['method']} x{c['scale']} {what}"
    return "none"


def _zoo_rows(methods: Sequence[str], sets: Sequence[str], scales: Sequence[int], released, data_root,
              cache, counts: pd.DataFrame) -> list[dict]:
    rows = []
    for method in methods:
        for scale in (s for s in scales if s in RELEASED[method].scales):
            c = counts[(counts["method"] == method) & (counts["scale"] == scale)].iloc[0]
            for set_name in sets:
                per = zoo_scores.score_images(method, scale, set_name, released=released, data_root=data_root,
                                              cache=cache)
                source, p, s, params_k = printed_row(method, scale, set_name)
                rows.append({"method": method, "source": "released weights", "scale": scale, "set": set_name,
                             "images": len(per), "printed_in": source, "printed_psnr": p, "printed_ssim": s,
                             "own_way": zoo_scores.own_way(method), "psnr_book": per["psnr_book"].mean(),
                             "ssim_book": per["ssim_book"].mean(), "psnr_own": per["psnr_own"].mean(),
                             "ssim_own": per["ssim_own"].mean(), "params_file": int(c["params_file"]),
                             "params_kernels": int(c["params_kernels"]), "params_printed_k": params_k,
                             "params_match": _params_match(params_k, method, scale, counts)})
    return rows


def _output_rows(table: pd.DataFrame) -> list[dict]:
    rows = []
    for _, r in table.iterrows():
        own, way = OUTPUT_WAYS[r["method"]]
        params_k = np.nan
        for t in (paper_tables.TABLE_I, paper_tables.TABLE_II):
            try:
                params_k = paper_tables.row(t, r["method"], int(r["scale"])).params_k or np.nan
            except KeyError:
                continue
        rows.append({"method": r["method"], "source": "released outputs", "scale": int(r["scale"]), "set": r["set"],
                     "images": int(r["images"]), "printed_in": r["printed_in"], "printed_psnr": r["printed_psnr"],
                     "printed_ssim": r["printed_ssim"], "own_way": way, "psnr_book": r["psnr rounded-Y"],
                     "ssim_book": r["ssim rounded-Y"], "psnr_own": r[f"psnr {own}"], "ssim_own": r[f"ssim {own}"],
                     "params_file": np.nan, "params_kernels": np.nan, "params_printed_k": params_k,
                     "params_match": ""})
    return rows


def artifacts_and_data(released: str | os.PathLike[str] | None, data_root: str | None,
                       what: str) -> tuple[Path, Path]:
    """The released artifacts folder and the data root (``None``/"": their environment variables).

    Raises:
        FileNotFoundError: either is missing; the message says which and how ``what`` gets it.
    """
    root = paths.released_root(released)
    if root is None:
        raise FileNotFoundError(f"no released artifacts: set ${paths.ENV_RELEASED} or fetch them "
                                "(defian data download released)")
    data = paths.data_root(data_root)
    if data is None:
        raise FileNotFoundError(f"{what} need the benchmark sets: data_root or ${paths.ENV_DATA}")
    return Path(root), Path(data)


def released_rows(*, released: str | os.PathLike[str] | None = None, data_root: str | None = None,
                  methods: Sequence[str] | None = None, sets: Sequence[str] | None = None,
                  scales: Sequence[int] = (2, 3, 4), outputs: Sequence[str] | None = None,
                  conventions: pd.DataFrame | None = None,
                  cache: str | os.PathLike[str] | None = zoo_scores.CACHE_DIR) -> pd.DataFrame:
    """The measured rows next to the printed ones (module docstring), with explanations.

    Args:
        released: The released artifacts folder (:func:`defian.paths.released_root`).
        data_root: The data root holding the benchmark sets (None/"": ``$DEFIAN_DATA``).
        methods: Released models to score (default: all of :data:`defian.zoo.RELEASED`).
        sets: Benchmark sets (default: every set present under the data root).
        scales: Scales (a model lacking one is skipped at it).
        outputs: Released outputs (labels of :data:`defian.report.y_convention.OUTPUTS`; default all).
        conventions: A :func:`~defian.report.y_convention.convention_table` already computed (it is
            filtered to ``outputs``, ``sets`` and ``scales``); default: computed here.
        cache: Folder of the per-image score cache (``None``: none).

    Returns:
        One row per (method, scale, set, printed source), :data:`COLUMNS`; ``d_*`` = measured - printed.

    Raises:
        FileNotFoundError: no released artifacts, or no data root.
    """
    root, data = artifacts_and_data(released, data_root, "the released rows")
    sets = list(testsets.find(data)) if sets is None else list(sets)
    methods = list(RELEASED) if methods is None else list(methods)
    outputs = [o[0] for o in y_convention.OUTPUTS] if outputs is None else list(outputs)
    rows = _zoo_rows(methods, sets, scales, root, str(data), cache, param_table(root)) if methods else []
    if outputs:
        if conventions is None:
            conventions = y_convention.convention_table(root, str(data), methods=outputs)
        keep = conventions["method"].isin(outputs) & conventions["set"].isin(sets) & conventions["scale"].isin(scales)
        rows += _output_rows(conventions[keep])
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("d_psnr_book", "d_psnr_own", "explanation")])
    frame.insert(COLUMNS.index("d_psnr_book"), "d_psnr_book", frame["psnr_book"] - frame["printed_psnr"])
    frame.insert(COLUMNS.index("d_psnr_own"), "d_psnr_own", frame["psnr_own"] - frame["printed_psnr"])
    frame["explanation"] = [explain(r) for _, r in frame.iterrows()]
    frame = frame.astype({"params_file": "Int64", "params_kernels": "Int64"})  # counts; missing for outputs
    return frame[list(COLUMNS)]


def measured_margins(frame: pd.DataFrame) -> pd.DataFrame:
    """DeFiAN_S x2 (released outputs) against every released model at x2 on the same set, both measured.

    Args:
        frame: :func:`released_rows`'s table.

    Returns:
        ``set, rival, rival_printed_in, margin_printed`` (DeFiAN_S's printed PSNR minus the rival's),
        ``margin_book`` (both under the book's protocol) and ``margin_own`` (each scored its own way).
    """
    ours = frame[(frame["method"] == "DeFiAN_S") & (frame["scale"] == 2)].drop_duplicates("set")
    rows = []
    for _, o in ours.iterrows():
        rivals = frame[(frame["source"] == "released weights") & (frame["scale"] == 2) & (frame["set"] == o["set"])]
        rows += [{"set": o["set"], "rival": r["method"], "rival_printed_in": r["printed_in"],
                  "margin_printed": o["printed_psnr"] - r["printed_psnr"], "margin_book": o["psnr_book"] - r["psnr_book"],
                  "margin_own": o["psnr_own"] - r["psnr_own"]} for _, r in rivals.iterrows()]
    return pd.DataFrame(rows, columns=["set", "rival", "rival_printed_in", "margin_printed", "margin_book",
                                       "margin_own"])


def _markdown(frame: pd.DataFrame) -> str:
    def fmt(col: str, v: object) -> str:
        if v is pd.NA:
            return "–"
        if isinstance(v, (float, np.floating)):
            if np.isnan(v):
                return "–"
            if col.startswith("params_") and col != "params_printed_k":
                return f"{v:,.0f}"
            if col.startswith("printed_"):  # as printed: 2 (PSNR) / 4 (SSIM) decimals in the papers, 6 in MATLAB's
                least = 4 if "ssim" in col else 2
                return f"{v:.{least}f}" if round(v, least) == v else f"{v:.6f}".rstrip("0")
            digits = 4 if "ssim" in col else (1 if col == "params_printed_k" else 3)
            return f"{v:+.{digits}f}" if col.startswith("d_") else f"{v:.{digits}f}"
        return f"{v:,}" if isinstance(v, (int, np.integer)) and col.startswith("params_") else str(v)

    shown = [c for c in COLUMNS if c not in ("source", "own_way")]
    cells = pd.DataFrame({c: [fmt(c, v) for v in frame[c]] for c in shown})
    notes = [("book: the book's protocol (uint8 MATLAB-bicubic LR, rounded Y, scale pixels shaved); own: the "
              "method's own evaluation (column own_way of the CSV); d = measured - printed (dB)."),
             (f"explanation: for every |d| > {TOLERANCE_DB} dB and every printed #Params that are not the file's "
              "count (defian.report.released_findings: FINDINGS, BOOK_GAPS)."),
             ("params_file / params_kernels: all numbers / convolution kernels of the released file; params_match: "
              "which count the printed #Params (K) are."),
             "Made by defian.report.released.released_rows; never typed."]
    return markdown_text(cells, "The released artifacts, re-scored, next to the printed rows", notes)


def read_rows(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table :func:`write_rows` wrote (CSV), with the dtypes :func:`released_rows` returns.

    Raises:
        FileNotFoundError: no such file. ValueError: a file whose columns are not :data:`COLUMNS`.
    """
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(frame.columns)}, expected {list(COLUMNS)} "
                         "(written by another version? rerun notebook 16 under the cpu profile)")
    frame[["params_match", "explanation", "own_way"]] = frame[["params_match", "explanation", "own_way"]].fillna("")
    return frame.astype({"params_file": "Int64", "params_kernels": "Int64"})


def compare_rows(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """The rows both tables hold (:data:`KEYS`), each with how far its numbers moved.

    Returns:
        :data:`KEYS`, ``max_abs_d_psnr`` and ``max_abs_d_ssim`` (largest ``|new - old|`` over the
        book and own means, and the printed cells; NaN on both sides counts as equal), and
        ``same_text``: images, own way, #Params counts, ``params_match`` and ``explanation`` equal.
    """
    both = new.merge(old, on=list(KEYS), suffixes=("", "_old"))

    def moved(cols: Sequence[str]) -> np.ndarray:
        a = both[list(cols)].to_numpy(float)
        b = both[[f"{c}_old" for c in cols]].to_numpy(float)
        d = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
        return np.where(np.isnan(d), np.inf, d).max(axis=1, initial=0.0)  # NaN on one side only: moved

    def text(col: str) -> np.ndarray:  # missing (NaN, pd.NA) as ""
        return both[col].astype("string").fillna("").to_numpy(dtype=object)

    same = np.ones(len(both), bool)
    for c in _TEXT:
        same &= text(c) == text(f"{c}_old")
    return both[list(KEYS)].assign(max_abs_d_psnr=moved(["psnr_book", "psnr_own", "printed_psnr"]),
                                   max_abs_d_ssim=moved(["ssim_book", "ssim_own", "printed_ssim"]), same_text=same)


def merge_rows(measured: pd.DataFrame, saved: pd.DataFrame | None) -> pd.DataFrame:
    """The rows measured here and, for every other row of ``saved`` (the committed table), that row.

    Returns:
        :data:`COLUMNS` and ``measured`` (True where the row was measured here), in ``saved``'s
        order, with rows ``saved`` lacks at the end.
    """
    here = measured.assign(measured=True)
    if saved is None:
        return here.reset_index(drop=True)
    def key(frame: pd.DataFrame) -> list[tuple[str, ...]]:
        return [tuple(k) for k in frame[list(KEYS)].astype(str).to_numpy()]

    known = set(key(here))
    rest = saved[[k not in known for k in key(saved)]].assign(measured=False)
    order = {k: i for i, k in enumerate(key(saved))}
    frame = pd.concat([here, rest], ignore_index=True)
    rank = [order.get(k, len(order) + i) for i, k in enumerate(key(frame))]
    return frame.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def write_rows(frame: pd.DataFrame, profile: str) -> list[Path]:
    """Write ``released_rows.{csv,md}`` to ``paths.outputs("released", profile)`` (smoke: ``_build``)."""
    folder = paths.outputs("released", profile)
    return [write_atomic(folder / "released_rows.csv", frame.to_csv(index=False)),
            write_atomic(folder / "released_rows.md", _markdown(frame))]
