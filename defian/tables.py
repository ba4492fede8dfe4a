"""Tables I-V of the paper, regenerated (Sec. IV-C and IV-D), beside the paper's own.

Where each cell comes from (STYLE rule 9: one producer per number):

* **cited** cells (``source == "paper"``): :mod:`defian.paper_tables`, as printed;
* **measured** PSNR/SSIM cells (``source == "ours"``): run records (:mod:`defian.runrecord`)
  and the evaluation CSVs :func:`defian.evaluate.evaluate_run` writes into them
  (``<run>/evaluation/last_paper/per_set.csv``), or the Bicubic evaluation; never typed;
* **complexity** cells: :func:`defian.complexity.count` of the network in question;
* ``Δ`` = ours − paper; ``provenance`` names profile/schedule, model size, updates,
  training data and seeds of every measured number.

Tables III-V (model analysis, x3) compare variants of one trunk; their run
configurations are derived from :data:`defian.paper_tables.TABLE_III` etc. by
:func:`variants` and matched to run records by their attention switches
(:func:`attention_key`), so a run made by hand (``defian train --switch ...``)
is found as well. Runs that differ only in ``seed`` are averaged.

Tables are written as ``<name>.csv`` and ``<name>.md`` (atomically) to
``results/tables`` -- or, for the smoke profile, to ``_build/tables`` so a CI run
never touches the committed results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from defian import benchmarks, config, evaluate, paper_tables, paths, runrecord
from defian.atomic import write_atomic
from defian.model import ModelConfig, build_model, make_config

__all__ = ["ABLATION_SOURCES", "RANK", "Score", "Table", "ablation_sources", "attention_gains", "attention_key",
           "best_available", "best_run", "best_schedule", "bicubic", "complexity", "ensure_runs", "evaluations_dir",
           "find_runs", "model_size_points", "output_dir", "run_label", "schedules_for", "score_runs",
           "table_ablation", "table_comparison", "table_endec", "table_kernels", "train_commands", "train_data",
           "underline_disagreements", "variant_runs", "variants"]

#: Schedules from the most trained to the least: tables show the first that has records ("best available").
RANK = ("full", "short", "cpu", "smoke")
#: Where Table III-V runs may come from, best first: the paper's setting (DeFiAN_L, 5x10^4 updates), then ours.
ABLATION_SOURCES = (("short", "defian_l"), ("full", "defian_l"), ("cpu", "defian_s"), ("smoke", "defian_s"))


def schedules_for(profile: str) -> tuple[str, ...]:
    """The schedules a page of ``profile`` may show: the committed ones, plus smoke's scratch runs on smoke pages."""
    return tuple(s for s in RANK if s != "smoke" or profile == "smoke")


def ablation_sources(profile: str, schedule: str, model: str) -> list[tuple[str, str]]:
    """:data:`ABLATION_SOURCES` a page of ``profile`` may show, plus the profile's own (schedule, model)."""
    allowed = schedules_for(profile)
    return [x for x in dict.fromkeys([*ABLATION_SOURCES, (schedule, model)]) if x[0] in allowed]
ENDEC_NAMES = {"HGenDec": "hgendec", "ConvEnDec": "convendec", "DiEnDec": "diendec"}  # paper -> defian.diendec
OURS_STYLE = "background-color: #eef4fb"  # measured rows, so they never pass for cited ones
PAPER_PROVENANCE = ("quoted from the paper", "no run")  # provenance texts shown as they are


# --- where tables go ---------------------------------------------------------------------------------
def output_dir(profile: str) -> Path:
    """``_build/tables`` for smoke (never committed), ``results/tables`` otherwise."""
    return paths.BUILD / "tables" if profile == "smoke" else paths.TABLES


def evaluations_dir(profile: str) -> Path:
    """Where evaluations that belong to no run (Bicubic, released checkpoints) go."""
    return paths.BUILD / "evaluations" if profile == "smoke" else paths.RESULTS / "evaluations"


# --- variants of Tables III-V -------------------------------------------------------------------------
def variants(table: str) -> dict[str, dict[str, Any]]:
    """build_model switches of every column of Table III, IV or V, derived from paper_tables.

    Labels: III ``"(a)"``..``"(h)"``; IV ``"w/o HF"``, ``"ker=(3,5)"``...; V ``"DiEnDec d=2"``...,
    ``"DiEnDec d=0 w/o MSHF"``. Table IV's rows are MSHF-only (no DiEnDec, no DAC): that
    is what its #Params say (ker=(3,5,7) = Table III (b)); Table V's keep the DAC
    (its d=0 w/o MSHF = Table III (d), d=3 = (h)).
    """
    if table == "III":
        return {f"({r.column})": {"mshf": r.mshf, "diendec": r.diendec, "dac": r.dac} for r in paper_tables.TABLE_III}
    if table == "IV":
        out = {}
        for r in paper_tables.TABLE_IV:
            label = "w/o HF" if not r.kernels else "ker=(" + ",".join(map(str, r.kernels)) + ")"
            out[label] = ({"mshf": False, "diendec": False, "dac": False} if not r.kernels else
                          {"mshf": True, "diendec": False, "dac": False, "kernel_sizes": tuple(r.kernels)})
        return out
    if table == "V":
        out = {}
        for r in paper_tables.TABLE_V:
            if r.psnr_d0_without_mshf is not None:
                out[f"{r.endec} d=0 w/o MSHF"] = {"mshf": False, "diendec": False, "dac": True}
            for d, p in r.psnr.items():
                if p is not None:
                    out[f"{r.endec} d={d}"] = ({"mshf": True, "dac": True, "diendec": False} if d == 0 else
                                           {"mshf": True, "dac": True, "diendec": True,
                                            "endec": ENDEC_NAMES[r.endec], "half_depth": d})
        return out
    raise ValueError(f"unknown table {table!r}; choose III, IV or V")


def attention_key(cfg: ModelConfig) -> tuple:
    """What makes two configs the same *variant*: the attention wiring, irrelevant parts dropped."""
    s = cfg.switches
    if not s.any:
        return ("none",)
    return (s.mshf, tuple(s.kernel_sizes), s.hessian_variant if s.mshf else None, s.dac,
            (s.endec, s.half_depth) if s.diendec and s.half_depth > 0 else None)


# --- run records --------------------------------------------------------------------------------------
def train_data(run: runrecord.Run) -> str:
    """The training-data label in the run's name (``embedded``, ``div2k``, ``train``...), else "?"."""
    mark = "\x00"
    prefix, _, suffix = runrecord.run_name(run.config, mark).partition(mark)
    name = run.dir.name
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return name[len(prefix):len(name) - len(suffix)]
    return "?"


def find_runs(schedule: str, *, model: str | None = None, scale: int | None = None,
              root: str | Path | None = None) -> list[runrecord.Run]:
    """Finished runs of a schedule (in ``runs_root(schedule)`` unless ``root``), optionally filtered."""
    match: dict[str, Any] = {"schedule": schedule}
    if scale is not None:
        match["scale"] = scale
    runs = runrecord.find(root or runrecord.runs_root(schedule), **match)
    runs = [r for r in runs if r.summary and r.summary.get("status") == "finished"]
    if model is not None:
        fam = model.split("_")[1]  # "s" / "l": rcan_s is defian_s with the branch off
        runs = [r for r in runs if r.config["model"].split("_")[1] == fam]
    return runs


def _cfg(run: runrecord.Run) -> ModelConfig:
    return make_config(run.config["model"], **run.config["switches"])


def _size(run: runrecord.Run) -> tuple:
    """What two runs must share to be compared: model size and training (not the seed)."""
    c, k = _cfg(run), run.config
    return (c.n_modules, c.n_blocks, c.channels, k["updates"], train_data(run), k["batch"], k["patch"], k["lr"])


def variant_runs(runs: Sequence[runrecord.Run], base: str, table: dict[str, dict[str, Any]]
                 ) -> dict[str, list[runrecord.Run]]:
    """The runs of each variant (seeds together), all of one model size.

    When runs of several sizes (N, M, C, updates, data) exist, the size that covers
    most variants is used (ties: the most runs), so a table never mixes sizes.
    """
    best: dict[str, list[runrecord.Run]] = {k: [] for k in table}
    for size in sorted({_size(r) for r in runs}, key=str):
        group = [r for r in runs if _size(r) == size]
        sw = {"n_modules": size[0], "n_blocks": size[1], "channels": size[2]}
        hit = {k: [r for r in group if attention_key(_cfg(r)) == attention_key(make_config(base, **sw, **v))]
               for k, v in table.items()}
        rank = lambda d: (sum(bool(x) for x in d.values()), sum(len(x) for x in d.values()))  # noqa: E731
        if rank(hit) > rank(best):
            best = hit
    return best


def run_label(runs: Sequence[runrecord.Run]) -> str:
    """Provenance of a group of seeds: schedule, size, updates, batch/patch, data, seeds."""
    if not runs:
        return "no run"
    r, c = runs[0], _cfg(runs[0])
    seeds = ("seeds " if len(runs) > 1 else "seed ") + ",".join(str(x.config["seed"]) for x in runs)
    return (f"{r.config['schedule']}: N={c.n_modules} M={c.n_blocks} C={c.channels}, {r.config['updates']} updates, "
            f"B{r.config['batch']} P{r.config['patch']}, train data {train_data(r)}, {seeds}")


def ensure_runs(table: dict[str, dict[str, Any]], *, schedule: str, model: str, scale: int, updates: int = 0,
                data_root: str = "", train_missing: bool = False) -> dict[str, list[runrecord.Run]]:
    """Variant runs of ``schedule``; with ``train_missing``, train the absent ones (resumable).

    ``updates > 0`` shortens the schedule (smoke: a handful of updates, no validation:
    the table's number is the test-set evaluation of the last checkpoint).
    """
    from defian import train

    found = variant_runs(find_runs(schedule, model=model, scale=scale), model, table)
    if not train_missing:
        return found
    base = config.schedule(schedule)
    for label, sw in table.items():
        if found[label]:
            continue
        over: dict[str, Any] = {"model": model, "scale": scale, "data_root": data_root, "progress": False,
                                "switches": {**base.switches, **sw}}
        if updates > 0:
            over.update(updates=updates, val_every=0, log_every=updates, ckpt_every=updates,
                        lr_step=max(updates, 1))
        train.train(config.schedule(schedule, **over), runrecord.runs_root(schedule))
    return variant_runs(find_runs(schedule, model=model, scale=scale), model, table)


def best_available(table: dict[str, dict[str, Any]], sources: Sequence[tuple[str, str]] = ABLATION_SOURCES,
                   scale: int = 3) -> tuple[str | None, dict[str, list[runrecord.Run]]]:
    """``(schedule, runs)`` of the best source of variant runs: the first of ``sources``
    ((schedule, model) pairs, best first) that covers every variant, else the one that
    covers the most (ties: the earlier). ``(None, {})`` when no source has any run.
    """
    best: tuple[str | None, dict[str, list[runrecord.Run]]] = (None, {})
    for schedule, model in sources:
        runs = variant_runs(find_runs(schedule, model=model, scale=scale), model, table)
        covered = sum(bool(v) for v in runs.values())
        if covered == len(table):
            return schedule, runs
        if covered > sum(bool(v) for v in best[1].values()):
            best = (schedule, runs)
    return best


def train_commands(table: dict[str, dict[str, Any]], missing: Iterable[str], *, schedule: str, model: str,
                   scale: int) -> list[str]:
    """``defian train`` command lines that make the ``missing`` variants (one per GPU, say)."""
    out = []
    for label in missing:
        sw = " ".join(f"--switch {k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
                      for k, v in table[label].items())
        out.append(f"defian train --schedule {schedule} --model {model} --scale {scale} {sw}  # {label}")
    return out


def gather(which: str, *, profile: str, schedule: str, model: str, updates: int = 0, data_root: str = "",
           train_missing: bool = False, scale: int = 3) -> tuple[dict[str, dict[str, Any]], dict[str, list[runrecord.Run]], str]:
    """Everything notebooks 09-11 need before a table: the variants of Table ``which``
    ("III", "IV", "V"), the best available runs for them, and a report of what is shown
    and which ``defian train`` commands would make the variants still missing.

    Returns:
        ``(variants, runs, report)``; ``runs`` maps each variant label to its runs.
    """
    table = variants(which)
    trained = ensure_runs(table, schedule=schedule, model=model, scale=scale, updates=updates,
                          data_root=data_root, train_missing=train_missing)
    missing = [k for k, v in trained.items() if not v]
    shown, runs = best_available(table, ablation_sources(profile, schedule, model), scale=scale)
    width = max(map(len, table)) + 1
    lines = [f"records shown: schedule {shown!r}" if shown else "records shown: none yet"]
    lines += [f"{k:{width}s} -> " + (", ".join(r.name for r in runs.get(k, [])) or "no run") for k in table]
    if missing:
        lines += ["", f"No {schedule} run yet for {', '.join(missing)}; these commands make them:"]
        lines += train_commands(table, missing, schedule=schedule, model=model, scale=scale)
    return table, runs, "\n".join(lines)


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


def score_runs(runs: Sequence[runrecord.Run], set_name: str, scale: int, *, data_root: str = "",
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


def _limit_text(limit: int | None) -> str:
    return "" if not limit else f", first {limit} image{'s' * (limit > 1)} of each set"


def bicubic(profile: str, *, data_root: str = "", scales: Sequence[int] = (2, 3, 4),
            limit: int | None = None) -> evaluate.Evaluation:
    """The Bicubic evaluation (computed once per profile, then read back)."""
    out = evaluations_dir(profile) / "bicubic_paper"
    present = list(benchmarks.find(paths.data_root(data_root)))
    if (out / "per_set.csv").is_file():
        ev = evaluate.read_evaluation(out)
        if ev.meta.get("limit") == limit and all(ev.score(s, c) is not None for s in present for c in scales):
            return ev
    return evaluate.evaluate(None, scales, data_root=data_root, out_dir=out, limit=limit)


def complexity(model: str, scale: int, **switches: Any) -> tuple[float, float]:
    """(#Params in K, #FLOPs in G) of a preset, counted on the meta device (no weights made)."""
    from defian.complexity import count

    with torch.device("meta"):
        net = build_model(model, scale, **switches)
    p, f = count(net, scale)
    return p / 1e3, f / 1e9


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
    runs: dict[int, list[runrecord.Run]] = field(default_factory=dict)  # row position -> its run records

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
        body = cells.to_markdown(index=False, disable_numparse=True)
        return f"**{self.title}**\n\n{body}\n\n" + "".join(f"- {n}\n" for n in self.notes)

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``<name>.csv`` (full precision) and ``<name>.md`` atomically."""
        folder = Path(folder)
        csv = write_atomic(folder / f"{self.name}.csv", self.frame.to_csv(index=False))
        md = write_atomic(folder / f"{self.name}.md", self.markdown())
        return csv, md


def _mark(frame: pd.DataFrame, columns: Iterable[str], eligible: Sequence[int], group: str | None = None
          ) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """Best and second-best (ties share a mark) per column among ``eligible`` rows, per ``group``."""
    bold, under = set(), set()
    groups = frame[group] if group else pd.Series(0, index=frame.index)
    for c in columns:
        for g in groups.unique():
            rows = [i for i in eligible if groups.iloc[i] == g and pd.notna(frame[c].iloc[i])]
            vals = sorted({round(float(frame[c].iloc[i]), 6) for i in rows}, reverse=True)
            for mark, v in zip((bold, under), vals[:2], strict=False):
                mark.update((i, c) for i in rows if round(float(frame[c].iloc[i]), 6) == v)
    return bold, under


# --- Tables I and II ----------------------------------------------------------------------------------
def _method_runs(schedule: str, fam: str, scale: int, attention: bool, like: Sequence[runrecord.Run] = ()
                 ) -> list[runrecord.Run]:
    """The seeds of the best-trained DeFiAN (or twin) of one size family at one scale.

    With ``like`` (the DeFiAN's runs), only runs trained exactly like them (size,
    updates, batch, patch, data) qualify: a twin row compares like with like or is absent.
    """
    key = attention_key(make_config(f"{'defian' if attention else 'rcan'}_{fam}"))
    runs = [r for r in find_runs(schedule, model=f"defian_{fam}", scale=scale) if attention_key(_cfg(r)) == key]
    if like:
        runs = [r for r in runs if _size(r) == _size(like[0])]
    if not runs:
        return []
    size = max({_size(r) for r in runs}, key=lambda z: (z[3], sum(_size(r) == z for r in runs), str(z)))
    return [r for r in runs if _size(r) == size]


def best_schedule(fam: str, scale: int, schedules: Sequence[str] = RANK) -> str | None:
    """The most-trained schedule (first of ``schedules``) with a finished DeFiAN run of ``fam`` at ``scale``."""
    return next((s for s in schedules if _method_runs(s, fam, scale, True)), None)


def table_comparison(which: str, *, profile: str, schedules: Sequence[str] | None = None, data_root: str = "",
                     limit: int | None = None, released_dir: str = "", evaluate_missing: bool = True) -> Table:
    """Table I (``which="I"``: DeFiAN_L) or II (``"II"``: DeFiAN_S), cited rows plus ours.

    Our rows per scale: Bicubic; DeFiAN (a released checkpoint ``DeFiAN_[SL]_x<s>.pth``
    in ``released_dir`` when there is one) and the best available runs: those of the
    first of ``schedules`` that has any (default :func:`schedules_for` the profile:
    full, short, cpu, and smoke on smoke pages), labelled with it;
    and the attention-free twin trained alike (bonus). PSNR/SSIM come from evaluation
    CSVs only.
    """
    cited = {"I": paper_tables.TABLE_I, "II": paper_tables.TABLE_II}[which]
    fam = {"I": "l", "II": "s"}[which]
    schedules = tuple(schedules) if schedules is not None else schedules_for(profile)
    present = list(benchmarks.find(paths.data_root(data_root)))
    sets = list(paper_tables.SETS) + [s for s in present if s not in paper_tables.SETS]
    bic = bicubic(profile, data_root=data_root, limit=limit)
    rows: list[dict[str, Any]] = []
    used_runs: dict[int, list[runrecord.Run]] = {}

    def add(scale: int, method: str, source: str, pk: float | None, fg: float | None, score: Any, prov: str,
            ref: paper_tables.ComparisonRow | None = None) -> None:
        row = {"Scale": f"x{scale}", "Method": method, "Source": source, "#Params (K)": pk, "#FLOPs (G)": fg}
        for s in sets:
            row[f"{s} PSNR"], row[f"{s} SSIM"] = score(s, "psnr"), score(s, "ssim")
        deltas = [row[f"{s} PSNR"] - ref.psnr[s] for s in paper_tables.SETS
                  if ref is not None and source == "ours" and row[f"{s} PSNR"] is not None
                  and not np.isnan(row[f"{s} PSNR"])]
        row["Δ PSNR vs paper (dB)"] = float(np.mean(deltas)) if deltas else np.nan
        row["Provenance"] = prov
        rows.append(row)

    lim = _limit_text(limit)
    for scale in (2, 3, 4):
        for r in (x for x in cited if x.scale == scale):
            add(scale, r.method, "paper", r.params_k, r.flops_g,
                lambda s, m, r=r: (r.psnr if m == "psnr" else r.ssim).get(s, np.nan), "quoted from the paper")
        paper_ours = paper_tables.row(cited, f"DeFiAN_{fam.upper()}", scale)
        add(scale, "Bicubic", "ours", None, None, lambda s, m, sc=scale: _nan(bic.score(s, sc, m)),
            f"{profile}: MATLAB bicubic, protocol paper{lim}", paper_tables.row(cited, "Bicubic", scale))
        released = Path(released_dir) / f"DeFiAN_{fam.upper()}_x{scale}.pth" if released_dir else None
        if released is not None and released.is_file():
            model, _ = evaluate.load_model(released, scale)
            ev = evaluate.evaluate(model, scale, data_root=data_root, limit=limit, method=f"DeFiAN_{fam.upper()}",
                                   out_dir=evaluations_dir(profile) / f"released_{released.stem}_paper")
            pk, fg = _count(model, scale)
            add(scale, f"DeFiAN_{fam.upper()} (released weights)", "ours", pk, fg,
                lambda s, m, ev=ev, sc=scale: _nan(ev.score(s, sc, m)), f"authors' checkpoint {released.name}{lim}",
                paper_ours)
        schedule = best_schedule(fam, scale, schedules)
        defian_runs = _method_runs(schedule, fam, scale, True) if schedule else []
        for attention in (True, False):
            runs = defian_runs if attention else _method_runs(schedule, fam, scale, False, defian_runs)
            if not runs:
                continue
            scores = {s: score_runs(runs, s, scale, data_root=data_root, limit=limit,
                                    evaluate_missing=evaluate_missing) for s in present}
            used = max((x.limit or 0 for x in scores.values() if x is not None), default=0) or None
            name = f"DeFiAN_{fam.upper()}" if attention else f"DeFiAN_{fam.upper()} without attention"
            pk, fg = complexity(runs[0].config["model"], scale, **runs[0].config["switches"])
            used_runs[len(rows)] = runs
            add(scale, f"{name} (ours, {schedule})", "ours", pk, fg,
                lambda s, m, sc=scores: _nan(getattr(sc.get(s), m, None)), run_label(runs) + _limit_text(used),
                paper_ours if attention else None)
    frame = pd.DataFrame(rows)
    missing = [f"x{c}" for c in (2, 3, 4) if best_schedule(fam, c, schedules) is None]
    paper_rows = [i for i in range(len(frame)) if frame["Source"].iloc[i] == "paper"]
    metric_cols = [c for c in frame.columns if c.endswith(("PSNR", "SSIM")) and c.split()[0] in paper_tables.SETS]
    bold, under = _mark(frame, metric_cols, paper_rows, "Scale")
    title = {"I": "Table I: DeFiAN_L vs high-fidelity methods", "II": "Table II: DeFiAN_S vs lightweight methods"}
    t = Table(f"table{'1' if which == 'I' else '2'}", title[which] + f" (regenerated under profile {profile})",
              frame, bold=bold, underline=under, ours=[i for i in range(len(frame)) if i not in paper_rows],
              runs=used_runs)
    t.notes += [
        "Rows with source 'paper' are quoted from the paper, not rerun; bold/underline mark the best/second-best "
        "of those rows per scale, recomputed from the printed numbers (ties share a mark).",
        "Shaded rows are ours: PSNR/SSIM on the Y channel with the paper's protocol (defian.metrics), read from "
        "evaluation CSVs; Δ = ours − the paper's row of the same method, averaged over the sets we scored.",
        "The paper's RCAN row is the original RCAN (residual groups); our 'without attention' row is DeFiAN's "
        "own trunk with the attention branch off (Fig. 10 (a)), trained exactly like our DeFiAN row: a different "
        "network from the paper's RCAN.",
    ]
    if missing:
        t.notes.append(f"No finished DeFiAN_{fam.upper()} run (schedules {', '.join(schedules)}) at "
                       f"{', '.join(missing)}: those scales show the paper's rows and our Bicubic only.")
    disagree = underline_disagreements(t, cited)
    if disagree:
        t.notes.append("Cells where the paper's underline differs from its own second-best number: "
                       + ", ".join(disagree) + ".")
    return t


def attention_gains(table: Table) -> pd.DataFrame:
    """PSNR of each "DeFiAN (ours, ...)" row minus its "without attention" twin, per scale and set."""
    f, out = table.frame, []
    for i, twin in enumerate(f["Method"]):
        if " without attention (ours, " not in twin:
            continue
        name = twin.replace(" without attention", "")
        j = next(k for k in range(len(f)) if f["Method"].iloc[k] == name and f["Scale"].iloc[k] == f["Scale"].iloc[i])
        gains = {c.replace(" PSNR", ""): f[c].iloc[j] - f[c].iloc[i] for c in f.columns
                 if c.endswith(" PSNR") and pd.notna(f[c].iloc[i])}
        out.append({"Scale": f["Scale"].iloc[i], "Method": name, **gains, "Provenance": f["Provenance"].iloc[j]})
    return pd.DataFrame(out)


def _nan(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _count(model: torch.nn.Module, scale: int) -> tuple[float, float]:
    from defian.complexity import count

    p, f = count(model, scale)
    return p / 1e3, f / 1e9


def underline_disagreements(table: Table, cited: Sequence[paper_tables.ComparisonRow]) -> list[str]:
    """Cells (``x2 CSFM Set5/ssim (...)``) where the paper's underline and its own second-best number differ."""
    f, out = table.frame, []
    for r in cited:
        i = next(i for i in range(len(f)) if f["Source"].iloc[i] == "paper" and f["Method"].iloc[i] == r.method
                 and f["Scale"].iloc[i] == f"x{r.scale}")
        for s in paper_tables.SETS:
            for m in ("psnr", "ssim"):
                second = (i, f"{s} {m.upper()}") in table.underline
                if second != (f"{s}/{m}" in r.underlined):
                    why = "second best, not underlined" if second else "underlined, not second best"
                    out.append(f"x{r.scale} {r.method} {s}/{m} ({why})")
    return out


# --- Tables III, IV and V -----------------------------------------------------------------------------
_Spec = tuple[str, dict[str, Any], tuple[float, float] | None, dict[str, float | None], dict[str, Any]]


def _variant_table(name: str, title: str, spec: list[_Spec], runs: dict[str, list[runrecord.Run]], *,
                   sets: Sequence[str], baseline: str, profile: str, data_root: str, limit: int | None,
                   evaluate_missing: bool) -> Table:
    """Shared body of Tables III-V. ``spec``: (label, leading columns, the paper's (#Params K,
    #FLOPs G) or None, the paper's PSNR per set, build_model switches).

    ``sets`` are the paper's columns; each is scored on that set when present, else
    on the first set present (a stand-in named in the column), never compared with Δ.
    """
    present = list(benchmarks.find(paths.data_root(data_root)))
    measured = {s: (s if s in present else present[0]) for s in sets}
    rows, used = [], {}
    for label, lead, cited, paper, sw in spec:
        row: dict[str, Any] = {"Variant": label, **lead}
        if cited is not None:
            row["#Params (K) paper"], row["#FLOPs (G) paper"] = cited
        # counted for the paper's model size (Sec. IV-D: N=10, M=20, C=64), whatever size was trained
        row["#Params (K) regenerated"], row["#FLOPs (G) regenerated"] = complexity("defian_l", 3, **sw)
        group = runs.get(label, [])
        for s in sets:
            sc = score_runs(group, measured[s], 3, data_root=data_root, limit=limit,
                            evaluate_missing=evaluate_missing) if group else None
            if sc is not None and sc.limit:
                used[label] = max(used.get(label, 0), sc.limit)
            row[f"{s} PSNR paper"] = _nan(paper.get(s))
            row[f"{measured[s]} PSNR ours"] = _nan(sc.psnr if sc else None)
            if s == sets[0]:
                row["± ours (seeds)"] = sc.psnr_std if sc and sc.n > 1 else np.nan
            row[f"Δ {s} (dB)"] = row[f"{s} PSNR ours"] - row[f"{s} PSNR paper"] if measured[s] == s else np.nan
        row["Provenance"] = run_label(group) + _limit_text(used.get(label))
        rows.append(row)
    frame = pd.DataFrame(rows)
    base = frame.index[frame["Variant"] == baseline][0]
    first = sets[0]
    for who, col in (("paper", f"{first} PSNR paper"), ("ours", f"{measured[first]} PSNR ours")):
        frame[f"gain over {baseline}, {who} (dB)"] = frame[col] - frame[col].iloc[base]
    cols = [c for c in frame.columns if "PSNR" in c]
    bold, under = _mark(frame, cols, list(range(len(frame))))
    t = Table(name, f"{title} (regenerated under profile {profile})", frame, bold=bold, underline=under)
    t.notes.append("'paper' columns are quoted from the paper (DeFiAN_L size, 5x10^4 updates on DIV2K); "
                   "'regenerated' complexity columns are counted by defian.complexity for that size; "
                   "'ours' PSNR columns are test-set evaluations of the runs named in Provenance.")
    for s in sets:
        if measured[s] != s:
            t.notes.append(f"{s} is not under the data root: column '{measured[s]} PSNR ours' scores the "
                           f"{measured[s]} set instead; Δ to the paper is left empty.")
    if not any(runs.get(label) for label, *_ in spec):
        t.notes.append("No run record of these variants exists for this profile yet: only the paper's columns and "
                       "the exact complexity columns are shown.")
    return t


def table_ablation(runs: dict[str, list[runrecord.Run]], *, profile: str, data_root: str = "",
                   limit: int | None = None, evaluate_missing: bool = True) -> Table:
    """Table III: MSHF / DiEnDec / DAC on or off, x3, Set5. ``runs``: :func:`ensure_runs` of ``variants("III")``."""
    sw = variants("III")
    spec: list[_Spec] = [(f"({r.column})", {"MSHF": r.mshf, "DiEnDec": r.diendec, "DAC": r.dac},
                          (r.params_k, r.flops_g), {"Set5": r.psnr_set5}, sw[f"({r.column})"])
                         for r in paper_tables.TABLE_III]
    return _variant_table("table3_ablation", "Table III: ablation of DeFiAM, x3", spec, runs, sets=["Set5"],
                          baseline="(a)", profile=profile, data_root=data_root, limit=limit,
                          evaluate_missing=evaluate_missing)


def table_kernels(runs: dict[str, list[runrecord.Run]], *, profile: str, data_root: str = "",
                  limit: int | None = None, evaluate_missing: bool = True) -> Table:
    """Table IV: MSHF kernel sets (MSHF only), x3, Set5 and Manga109."""
    sw = variants("IV")
    spec: list[_Spec] = [(label, {}, (r.params_k, r.flops_g), {"Set5": r.psnr_set5, "Manga109": r.psnr_manga109},
                          sw[label]) for r, label in zip(paper_tables.TABLE_IV, sw, strict=True)]
    return _variant_table("table4_kernels", "Table IV: kernel sets of MSHF, x3", spec, runs,
                          sets=["Set5", "Manga109"], baseline="w/o HF", profile=profile, data_root=data_root,
                          limit=limit, evaluate_missing=evaluate_missing)


def table_endec(runs: dict[str, list[runrecord.Run]], *, profile: str, data_root: str = "",
                limit: int | None = None, evaluate_missing: bool = True) -> Table:
    """Table V: encoder-decoder types and half depth d, x3, Set5."""
    spec: list[_Spec] = []
    for label, sw in variants("V").items():
        kind, d = re.match(r"(\w+) d=(\d)", label).groups()  # type: ignore[union-attr]
        r = next(x for x in paper_tables.TABLE_V if x.endec == kind)
        paper = r.psnr_d0_without_mshf if "w/o MSHF" in label else r.psnr[int(d)]
        spec.append((label, {"Type": kind, "d": int(d), "MSHF": bool(sw["mshf"])}, None, {"Set5": paper}, sw))
    return _variant_table("table5_endec", "Table V: encoder-decoders, x3", spec, runs, sets=["Set5"],
                          baseline="DiEnDec d=0 w/o MSHF", profile=profile, data_root=data_root, limit=limit,
                          evaluate_missing=evaluate_missing)


# --- runs the figures are drawn from -------------------------------------------------------------------
def best_run(fam: str = "s", schedules: Sequence[str] = RANK) -> runrecord.Run | None:
    """A full DeFiAN run with a ``last.pt``: the first schedule that has one, then most updates, first seed."""
    for schedule in schedules:
        groups = [g for g in (_method_runs(schedule, fam, s, True) for s in (2, 3, 4)) if g]
        groups = [g for g in ([r for r in g if (r.dir / "last.pt").is_file()] for g in groups) if g]
        if groups:
            return max(groups, key=lambda g: g[0].config["updates"])[0]
    return None


def model_size_points(schedule: str, *, scale: int = 3, data_root: str = "", limit: int | None = None
                      ) -> list[dict[str, Any]]:
    """Fig. 11's points: one per model size (N, M, C) of full DeFiAN runs trained alike, at ``scale``.

    Scored on Set5, or on the first set present (named in each point's ``set``).
    """
    full = attention_key(make_config("defian_s"))
    groups: dict[tuple, list[runrecord.Run]] = {}
    for r in find_runs(schedule, scale=scale):
        if attention_key(_cfg(r)) == full:
            groups.setdefault(_size(r), []).append(r)
    # sizes differ in (N, M, C) only: keep the training (updates, data, batch, patch, lr) most sizes share
    trainings = [size[3:] for size in groups]
    if trainings:
        common = max(set(trainings), key=trainings.count)
        groups = {size: g for size, g in groups.items() if size[3:] == common}
    present = list(benchmarks.find(paths.data_root(data_root)))
    set_name = "Set5" if "Set5" in present else present[0]
    points = []
    for size, group in sorted(groups.items(), key=str):
        sc = score_runs(group, set_name, scale, data_root=data_root, limit=limit)
        if sc is not None:
            flops = complexity(group[0].config["model"], scale, **group[0].config["switches"])[1]
            points.append({"flops_g": flops, "psnr": sc.psnr, "set": set_name,
                           "label": f"N{size[0]}M{size[1]}C{size[2]}, {size[3]} upd"})
    return points
