"""Tables III, IV and V (Sec. IV-D): the attention branch's ablations, measured next to printed.

Which run fills each column is :mod:`defian.report.table_runs`; cells follow
:mod:`defian.report.tables`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from defian import paths
from defian.data import testsets
from defian.report import paper_tables, table_runs
from defian.train import run_record

from defian.report import tables

__all__ = ["table_ablation", "table_endec", "table_kernels"]


# --- Tables III, IV and V -----------------------------------------------------------------------------
_Spec = tuple[str, dict[str, Any], tuple[float, float] | None, dict[str, float | None], dict[str, Any]]


def _variant_table(name: str, title: str, spec: list[_Spec], runs: dict[str, list[run_record.Run]], *,
                   sets: Sequence[str], baseline: str, profile: str, data_root: str, limit: int | None,
                   evaluate_missing: bool) -> tables.Table:
    """Shared body of Tables III-V. ``spec``: (label, leading columns, the paper's (#Params K,
    #FLOPs G) or None, the paper's PSNR per set, build_model switches).

    ``sets`` are the paper's columns; each is scored on that set when present or when
    every run group has a committed evaluation of it (``results/runs``: a fresh clone
    without the benchmark sets still shows the study's numbers), else on the first set
    present (a stand-in named in the column), never compared with Δ.
    """
    present = list(testsets.find(paths.data_root(data_root)))
    groups = {label: runs[label] for label, *_ in spec if runs.get(label)}
    # sets missing here: the runs' committed complete evaluations of them, read once
    committed = {s: {label: tables.score_runs(g, s, 3, evaluate_missing=False) for label, g in groups.items()}
                 for s in sets if s not in present}
    recorded = {s for s, by in committed.items() if by and None not in by.values()}
    measured = {s: (s if s in present or s in recorded else present[0]) for s in sets}
    rows, used, prov = [], {}, []
    for label, lead, cited, paper, sw in spec:
        row: dict[str, Any] = {"Variant": label, **lead}
        if cited is not None:
            row["#Params (K) paper"], row["#FLOPs (G) paper"] = cited
        # counted for the paper's model size (Sec. IV-D: N=10, M=20, C=64), whatever size was trained
        row["#Params (K) regenerated"], row["#FLOPs (G) regenerated"] = tables.preset_complexity("defian_l", 3, **sw)
        group = runs.get(label, [])
        for s in sets:
            if s in recorded:
                sc = committed[s].get(label)  # None for a variant without runs
            else:
                sc = tables.score_runs(group, measured[s], 3, data_root=data_root, limit=limit,
                                evaluate_missing=evaluate_missing) if group else None
            if sc is not None and sc.limit:
                used[label] = max(used.get(label, 0), sc.limit)
            row[f"{s} PSNR paper"] = tables.nan_if_none(paper.get(s))
            row[f"{measured[s]} PSNR ours"] = tables.nan_if_none(sc.psnr if sc else None)
            if s == sets[0]:
                row["± ours (seeds)"] = sc.psnr_std if sc and sc.n > 1 else np.nan
            row[f"Δ {s} (dB)"] = row[f"{s} PSNR ours"] - row[f"{s} PSNR paper"] if measured[s] == s else np.nan
        images = tables.limit_text(used.get(label)).removeprefix(", ")
        prov.append({**table_runs.run_fields(group), **({"images": images} if images else {})} if group else None)
        rows.append(row)
    # Provenance: what every row shares goes once into the notes, each row keeps only what differs
    shared, per_row = table_runs.split_provenance(prov)
    full = {r["Variant"]: table_runs.join_fields(f) if f else "no run" for r, f in zip(rows, prov, strict=True)}
    for row, text in zip(rows, per_row, strict=True):
        row["Provenance"] = text
    frame = pd.DataFrame(rows)
    dropped = bool(shared) and not any(per_row)
    if dropped:
        frame = frame.drop(columns="Provenance")
    base = frame.index[frame["Variant"] == baseline][0]
    first = sets[0]
    for who, col in (("paper", f"{first} PSNR paper"), ("ours", f"{measured[first]} PSNR ours")):
        frame[f"gain over {baseline}, {who} (dB)"] = frame[col] - frame[col].iloc[base]
    # best/second marks on the paper's columns only, as Tables I-II: measured columns of a few runs
    # differ by less than a run's noise (notebook 13), so a mark there would claim a ranking
    cols = [c for c in frame.columns if c.endswith("PSNR paper")]
    bold, under = tables.mark_best(frame, cols, list(range(len(frame))))
    t = tables.Table(name, f"{title} (regenerated under profile {profile})", frame, bold=bold, underline=under,
                     provenance=full)
    t.notes.append("'paper' columns are quoted from the paper (DeFiAN_L size, 5x10^4 updates on DIV2K); "
                   "'regenerated' complexity columns are counted by defian.nn.complexity for that size; "
                   "'ours' PSNR columns are test-set evaluations of the runs named below.")
    if shared:
        t.notes.append(f"Runs of every row with runs: {table_runs.join_fields(shared)}"
                       + (" (no Provenance column: nothing differs between the rows)." if dropped else
                          "; the Provenance column gives only what differs per row ('no run': none yet)."))
    t.notes.append("Bold and underline mark the paper's best and second best; the 'ours' columns are not marked, "
                   "since their differences are not shown to exceed the runs' noise.")
    for s in sets:
        if s in recorded:
            t.notes.append(f"{s} is not under the data root: the 'ours' {s} scores are read from the runs' committed "
                           "evaluations in results/runs (of the whole set unless the provenance names a first few images).")
        elif measured[s] != s:
            t.notes.append(f"{s} is not under the data root, so no {s} PSNR is measured: the measured column "
                           f"is '{measured[s]} PSNR ours' and 'Δ {s}' is left empty.")
    if not any(runs.get(label) for label, *_ in spec):
        t.notes.append("No run record of these variants exists for this profile yet: only the paper's columns and "
                       "the exact complexity columns are shown.")
    return t


def table_ablation(runs: dict[str, list[run_record.Run]], *, profile: str, data_root: str = "",
                   limit: int | None = None, evaluate_missing: bool = True) -> tables.Table:
    """Table III: MSHF / DiEnDec / DAC on or off, x3, Set5. ``runs``: :func:`defian.report.table_runs.ensure_runs` of ``variants("III")``."""
    sw = table_runs.variants("III")
    spec: list[_Spec] = [(f"({r.column})", {"MSHF": r.mshf, "DiEnDec": r.diendec, "DAC": r.dac},
                          (r.params_k, r.flops_g), {"Set5": r.psnr_set5}, sw[f"({r.column})"])
                         for r in paper_tables.TABLE_III]
    return _variant_table("table3_ablation", "Table III: ablation of DeFiAM, x3", spec, runs, sets=["Set5"],
                          baseline="(a)", profile=profile, data_root=data_root, limit=limit,
                          evaluate_missing=evaluate_missing)


def table_kernels(runs: dict[str, list[run_record.Run]], *, profile: str, data_root: str = "",
                  limit: int | None = None, evaluate_missing: bool = True) -> tables.Table:
    """Table IV: MSHF kernel sets (MSHF only), x3, Set5 and Manga109."""
    sw = table_runs.variants("IV")
    spec: list[_Spec] = [(label, {}, (r.params_k, r.flops_g), {"Set5": r.psnr_set5, "Manga109": r.psnr_manga109},
                          sw[label]) for r, label in zip(paper_tables.TABLE_IV, sw, strict=True)]
    return _variant_table("table4_kernels", "Table IV: kernel sets of MSHF, x3", spec, runs,
                          sets=["Set5", "Manga109"], baseline="w/o HF", profile=profile, data_root=data_root,
                          limit=limit, evaluate_missing=evaluate_missing)


def table_endec(runs: dict[str, list[run_record.Run]], *, profile: str, data_root: str = "",
                limit: int | None = None, evaluate_missing: bool = True) -> tables.Table:
    """Table V: encoder-decoder types and half depth d, x3, Set5."""
    spec: list[_Spec] = []
    paper = table_runs.paper_set5("V")
    for label, sw in table_runs.variants("V").items():
        kind, d = re.match(r"(\w+) d=(\d)", label).groups()  # type: ignore[union-attr]
        lead = {"Type": kind, "d": int(d), "MSHF": bool(sw["mshf"])}
        spec.append((label, lead, None, {"Set5": paper[label]}, sw))
    return _variant_table("table5_endec", "Table V: encoder-decoders, x3", spec, runs, sets=["Set5"],
                          baseline="DiEnDec d=0 w/o MSHF", profile=profile, data_root=data_root, limit=limit,
                          evaluate_missing=evaluate_missing)
