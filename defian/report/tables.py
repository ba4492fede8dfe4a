"""Tables I-V of the paper, regenerated (Sec. IV-C and IV-D), beside the paper's own: what they share.

Where each cell comes from (one producer per number):

* **cited** cells (``source == "paper"``): :mod:`defian.report.paper_tables`, as printed;
* **measured** PSNR/SSIM cells (``source == "ours"``): run records (:mod:`defian.train.run_record`)
  and the evaluation CSVs :func:`defian.report.evaluate.evaluate_run` writes into them
  (``<run>/evaluation/last_paper/per_set.csv``), or the Bicubic evaluation; never typed;
* **complexity** cells: :func:`defian.nn.complexity.count` of the network in question;
* ``Δ`` = ours − paper; ``provenance`` names profile/schedule, model size, updates,
  training data and seeds of every measured number.

Which run records feed a table (Tables III-V's variants, the best available
schedule, provenance labels) is :mod:`defian.report.table_runs`; runs that differ only in
``seed`` are averaged here.

Tables are written as ``<name>.csv`` and ``<name>.md`` (atomically) to
``results/tables`` -- or, for the smoke profile, to ``_build/tables`` so a CI run
never touches the committed results.

This module holds what every table shares (where tables go, scores of runs,
the :class:`Table` object and its marks); Tables I-II are
:mod:`defian.report.table_comparison`, Tables III-V :mod:`defian.report.table_ablation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from defian import paths
from defian.data import testsets
from defian.report import evaluate
from defian.train import run_record
from defian.atomic import write_atomic
from defian.nn.model import build_model


__all__ = ["OURS_STYLE", "PAPER_PROVENANCE", "Score", "Table", "bicubic", "evaluations_dir", "limit_text",
           "mark_best", "markdown_text", "nan_if_none", "output_dir", "preset_complexity", "score_runs"]

OURS_STYLE = "background-color: #eef4fb"  # measured rows, so they never pass for cited ones
PAPER_PROVENANCE = ("quoted from the paper", "no run")  # provenance texts shown as they are

# --- where tables go ---------------------------------------------------------------------------------
def output_dir(profile: str) -> Path:
    """``_build/tables`` for smoke (never committed), ``results/tables`` otherwise."""
    return paths.outputs("tables", profile)


def evaluations_dir(profile: str) -> Path:
    """Where evaluations that belong to no run (Bicubic, released checkpoints) go."""
    return paths.outputs("evaluations", profile)


# --- scores ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Score:
    """A measured mean over seeds: PSNR (dB), SSIM, their spread, and where it came from."""

    psnr: float
    ssim: float
    psnr_std: float
    n: int
    set: str
    limit: int | None  # images per set of the evaluations used (None: every image)


def score_runs(runs: Sequence[run_record.Run], set_name: str, scale: int, *, data_root: str = "",
               limit: int | None = None, evaluate_missing: bool = True) -> Score | None:
    """Mean test score of a group of seeds from their evaluation CSVs (evaluated first when missing)."""
    got = []
    for run in runs:
        ev = None
        for lim in dict.fromkeys((None, limit)):  # a complete evaluation first, then one of the same limit
            folder = evaluate.evaluation_dir(run.dir, limit=lim)
            if ev is None and (folder / "per_set.csv").is_file():
                found = evaluate.read_evaluation(folder)
                current = found.meta.get("update") in (None, (run.summary or {}).get("updates"))
                ev = found if current and found.score(set_name, scale) is not None else None
        if ev is None and evaluate_missing and (run.dir / "last.pt").is_file():
            ev = evaluate.evaluate_run(run.dir, data_root=data_root, sets=[set_name], limit=limit)
        if ev is not None and ev.score(set_name, scale) is not None:
            got.append((ev.score(set_name, scale), ev.score(set_name, scale, "ssim"), ev.meta.get("limit")))
    if not got:
        return None
    p = np.array([g[0] for g in got])
    return Score(float(p.mean()), float(np.mean([g[1] for g in got])), float(p.std(ddof=1)) if len(p) > 1 else 0.0,
                 len(p), set_name, max((g[2] or 0 for g in got), default=0) or None)


def limit_text(limit: int | None) -> str:
    return "" if not limit else f", first {limit} image{'s' * (limit > 1)} of each set"


def bicubic(profile: str, *, data_root: str = "", scales: Sequence[int] = (2, 3, 4),
            limit: int | None = None) -> evaluate.Evaluation:
    """The Bicubic evaluation (computed once per profile, then read back)."""
    out = evaluations_dir(profile) / "bicubic_paper"
    present = list(testsets.find(paths.data_root(data_root)))
    if (out / "per_set.csv").is_file():
        ev = evaluate.read_evaluation(out)
        if ev.meta.get("limit") == limit and all(ev.score(s, c) is not None for s in present for c in scales):
            return ev
    return evaluate.evaluate(None, scales, data_root=data_root, out_dir=out, limit=limit)


def preset_complexity(model: str, scale: int, **switches: Any) -> tuple[float, float]:
    """(#Params in K, #FLOPs in G) of a preset, counted on the meta device (no weights made)."""
    from defian.nn.complexity import count

    with torch.device("meta"):
        net = build_model(model, scale, **switches)
    p, f = count(net, scale)
    return p / 1e3, f / 1e9


def nan_if_none(v: float | None) -> float:
    """A missing score as NaN (a table cell), else the float."""
    return np.nan if v is None else float(v)


# --- the table object ---------------------------------------------------------------------------------
@dataclass
class Table:
    """One regenerated table: the frame, what to mark, and notes that travel with it."""

    name: str  # file stem, e.g. "table2_lightweight"
    title: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    bold: set[tuple[int, str]] = field(default_factory=set)  # (row position, column): best
    underline: set[tuple[int, str]] = field(default_factory=set)  # second best
    ours: list[int] = field(default_factory=list)  # row positions of measured rows
    runs: dict[int, list[run_record.Run]] = field(default_factory=dict)  # row position -> its run records
    provenance: dict[str, str] = field(default_factory=dict)  # row label -> its full provenance (tables III-V)

    def complexity_mismatches(self) -> list[str]:
        """Variants whose regenerated #Params (K) / #FLOPs (G), rounded to the paper's one
        decimal, differ from the paper's printed value (rows the paper leaves blank are skipped)."""
        bad = []
        for _, row in self.frame.iterrows():
            for what in ("#Params (K)", "#FLOPs (G)"):
                printed = row.get(f"{what} paper")
                if printed is not None and not pd.isna(printed) and round(row[f"{what} regenerated"], 1) != printed:
                    bad.append(f"{row['Variant']} {what}: {row[f'{what} regenerated']:.2f} vs {printed}")
        return bad

    def _fmt(self, col: str, v: Any) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "✓" if v else "✗"
        if not isinstance(v, (float, np.floating)):
            return "" if v is None else str(v)
        if np.isnan(v):
            return "–"
        signed = "Δ" in col or "gain" in col
        digits = 4 if "SSIM" in col else 3 if (signed or "±" in col) else 2 if "PSNR" in col else 1
        return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"

    def _refs(self) -> dict[str, str]:
        """Short keys [1], [2], ... for the long provenance texts of measured rows."""
        texts = [t for t in self.frame.get("Provenance", pd.Series(dtype=object)) if t not in PAPER_PROVENANCE]
        return {t: f"[{i + 1}]" for i, t in enumerate(dict.fromkeys(texts))}

    def styled(self) -> Any:
        """pandas Styler: bold = best, underline = second best (as the paper); measured rows shaded.

        Long provenance texts are shown as keys [1], [2], ... explained by :meth:`notes_markdown`.
        """
        def css(df: pd.DataFrame) -> pd.DataFrame:
            out = pd.DataFrame("", index=df.index, columns=df.columns)
            for i, c in self.bold:
                out.iloc[i, df.columns.get_loc(c)] += "font-weight: bold;"
            for i, c in self.underline:
                out.iloc[i, df.columns.get_loc(c)] += "text-decoration: underline;"
            for i in self.ours:
                out.iloc[i, :] += OURS_STYLE + ";"
            return out

        refs = self._refs()
        fmt = {c: (lambda v, c=c: self._fmt(c, v)) for c in self.frame.columns}
        if "Provenance" in self.frame:
            fmt["Provenance"] = lambda v: refs.get(v, v)
        return (self.frame.style.apply(css, axis=None).format(fmt).hide(axis="index").set_caption(self.title)
                .set_table_styles([{"selector": "td, th", "props": "white-space: nowrap; padding: 1px 6px;"}]))

    def notes_markdown(self) -> str:
        """The notes and the provenance keys of :meth:`styled`, as Markdown."""
        lines = [f"* {n}" for n in self.notes] + [f"* {k}: {t}" for t, k in self._refs().items()]
        return "\n".join(lines)

    def markdown(self) -> str:
        """GitHub Markdown: **best**, <u>second</u>, the notes below."""
        cells = self.frame.astype(object).copy()
        for i in range(len(cells)):
            for c in cells.columns:
                text = self._fmt(c, self.frame.iloc[i][c])
                if (i, c) in self.bold:
                    text = f"**{text}**"
                elif (i, c) in self.underline:
                    text = f"<u>{text}</u>"
                cells.iloc[i, cells.columns.get_loc(c)] = text
        return markdown_text(cells, self.title, self.notes)

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``<name>.csv`` (full precision) and ``<name>.md`` atomically."""
        folder = Path(folder)
        csv = write_atomic(folder / f"{self.name}.csv", self.frame.to_csv(index=False))
        md = write_atomic(folder / f"{self.name}.md", self.markdown())
        return csv, md


def markdown_text(cells: pd.DataFrame, title: str, notes: Sequence[str]) -> str:
    """A committed table's ``.md``: the bold title, ``cells`` (already formatted text) as a GitHub
    table, and the notes as a list."""
    body = cells.to_markdown(index=False, disable_numparse=True)
    return f"**{title}**\n\n{body}\n\n" + "".join(f"- {n}\n" for n in notes)


def mark_best(frame: pd.DataFrame, columns: Iterable[str], eligible: Sequence[int], group: str | None = None
          ) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """Best and second-best (ties share a mark) per column among ``eligible`` rows, per ``group``;
    a column with fewer than two values in a group is no ranking and gets no mark."""
    bold, under = set(), set()
    groups = frame[group] if group else pd.Series(0, index=frame.index)
    for c in columns:
        for g in groups.unique():
            rows = [i for i in eligible if groups.iloc[i] == g and pd.notna(frame[c].iloc[i])]
            if len(rows) < 2:
                continue
            vals = sorted({round(float(frame[c].iloc[i]), 6) for i in rows}, reverse=True)
            for mark, v in zip((bold, under), vals[:2], strict=False):
                mark.update((i, c) for i in rows if round(float(frame[c].iloc[i]), 6) == v)
    return bold, under
