"""Which run records a table or figure shows, and which runs would fill its gaps.

Tables III-V (model analysis, x3) compare variants of one trunk; their run
configurations are derived from :data:`defian.report.paper_tables.TABLE_III` etc. by
:func:`variants` and matched to run records by their attention switches
(:func:`attention_key`), so a run made by hand (``defian train --switch ...``)
is found as well. Runs that differ only in ``seed`` are grouped. Every table
shows the *best available* records (:data:`RANK`, :data:`ABLATION_SOURCES`),
labelled by where they came from (:func:`run_label`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from defian.report import paper_tables
from defian.train import config, run_record
from defian.nn.model import ModelConfig, make_config

__all__ = ["ABLATION_SOURCES", "ENDEC_NAMES", "RANK", "ablation_sources", "attention_key", "best_available",
           "ensure_runs", "find_runs", "gather", "join_fields", "model_config", "paper_set5", "run_fields", "run_label",
           "schedules_for", "size_key", "split_provenance",
           "train_commands", "train_data", "variant_runs", "variants"]

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
ENDEC_NAMES = {"HGenDec": "hgendec", "ConvEnDec": "convendec", "DiEnDec": "diendec"}  # paper -> defian.nn.diendec


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


def paper_set5(which: str) -> dict[str, float]:
    """The paper's Set5 PSNR of every column of Table ``which``, labelled as :func:`variants`."""
    if which == "III":
        return {f"({r.column})": r.psnr_set5 for r in paper_tables.TABLE_III}
    if which == "IV":
        return {label: r.psnr_set5
                for label, r in zip(variants("IV"), paper_tables.TABLE_IV, strict=True)}
    out = {}
    for r in paper_tables.TABLE_V:
        if r.psnr_d0_without_mshf is not None:
            out[f"{r.endec} d=0 w/o MSHF"] = r.psnr_d0_without_mshf
        out.update({f"{r.endec} d={d}": p for d, p in r.psnr.items() if p is not None})
    return out


def attention_key(cfg: ModelConfig) -> tuple:
    """What makes two configs the same *variant*: the attention wiring, irrelevant parts dropped."""
    s = cfg.switches
    if not s.any:
        return ("none",)
    key = (s.mshf, tuple(s.kernel_sizes), s.hessian_variant if s.mshf else None, s.dac,
           (s.endec, s.half_depth) if s.diendec and s.half_depth > 0 else None)
    return key + (s.mshf_mode,) if s.mshf and s.mshf_mode != "frozen" else key  # the frozen default keeps old keys


# --- run records --------------------------------------------------------------------------------------
def train_data(run: run_record.Run) -> str:
    """The training-data label in the run's name (``embedded``, ``div2k``, ``train``...), else "?"."""
    mark = "\x00"
    prefix, _, suffix = run_record.run_name(run.config, mark).partition(mark)
    name = run.dir.name
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return name[len(prefix):len(name) - len(suffix)]
    return "?"


def find_runs(schedule: str, *, model: str | None = None, scale: int | None = None,
              root: str | Path | None = None) -> list[run_record.Run]:
    """Finished runs of a schedule (in ``runs_root(schedule)`` unless ``root``), optionally filtered."""
    match: dict[str, Any] = {"schedule": schedule}
    if scale is not None:
        match["scale"] = scale
    runs = run_record.find(root or run_record.runs_root(schedule), **match)
    runs = [r for r in runs if r.summary and r.summary.get("status") == "finished"]
    if model is not None:
        fam = model.split("_")[1]  # "s" / "l": rcan_s is defian_s with the branch off
        runs = [r for r in runs if r.config["model"].split("_")[1] == fam]
    return runs


def model_config(run: run_record.Run) -> ModelConfig:
    """The :class:`ModelConfig` a run was trained with."""
    return make_config(run.config["model"], **run.config["switches"])


def size_key(run: run_record.Run) -> tuple:
    """What two runs must share to be compared: model size and training (not the seed)."""
    c, k = model_config(run), run.config
    return (c.n_modules, c.n_blocks, c.channels, k["updates"], train_data(run), k["batch"], k["patch"], k["lr"])


def variant_runs(runs: Sequence[run_record.Run], base: str, table: dict[str, dict[str, Any]]
                 ) -> dict[str, list[run_record.Run]]:
    """The runs of each variant (seeds together), all of one model size.

    When runs of several sizes (N, M, C, updates, data) exist, the size that covers
    most variants is used (ties: the most runs), so a table never mixes sizes.
    """
    best: dict[str, list[run_record.Run]] = {k: [] for k in table}
    for size in sorted({size_key(r) for r in runs}, key=str):
        group = [r for r in runs if size_key(r) == size]
        sw = {"n_modules": size[0], "n_blocks": size[1], "channels": size[2]}
        hit = {k: [r for r in group if attention_key(model_config(r)) == attention_key(make_config(base, **sw, **v))]
               for k, v in table.items()}
        rank = lambda d: (sum(bool(x) for x in d.values()), sum(len(x) for x in d.values()))  # noqa: E731
        if rank(hit) > rank(best):
            best = hit
    return best


def run_fields(runs: Sequence[run_record.Run]) -> dict[str, str]:
    """The parts of :func:`run_label`, by name (schedule, size, updates, batch, data, seeds); {} for no run."""
    if not runs:
        return {}
    r, c = runs[0], model_config(runs[0])
    return {"schedule": str(r.config["schedule"]), "size": f"N={c.n_modules} M={c.n_blocks} C={c.channels}",
            "updates": f"{r.config['updates']} updates", "batch": f"B{r.config['batch']} P{r.config['patch']}",
            "data": f"train data {train_data(r)}",
            "seeds": ("seeds " if len(runs) > 1 else "seed ") + ",".join(str(x.config["seed"]) for x in runs)}


def join_fields(fields: dict[str, str]) -> str:
    """``run_fields`` (or part of them) as one label: ``schedule: size, updates, ...``."""
    rest = ", ".join(v for k, v in fields.items() if k != "schedule")
    if "schedule" not in fields:
        return rest
    return f"{fields['schedule']}: {rest}" if rest else fields["schedule"]


def run_label(runs: Sequence[run_record.Run]) -> str:
    """Provenance of a group of seeds: schedule, size, updates, batch/patch, data, seeds."""
    return join_fields(run_fields(runs)) if runs else "no run"


def split_provenance(rows: Sequence[dict[str, str] | None]) -> tuple[dict[str, str], list[str]]:
    """What all rows' provenance fields share, and per row only what differs.

    ``rows``: :func:`run_fields` per table row, plus any extra fields (e.g. "images"); None or {}
    for a row without runs, which reads "no run" and does not count for what is shared. A row whose
    fields are all shared gets "".
    """
    have = [r for r in rows if r]
    keys = list(dict.fromkeys(k for r in have for k in r))
    shared = {k: have[0][k] for k in keys if all(r.get(k) == have[0].get(k) for r in have)} if have else {}
    per_row = [join_fields({k: v for k, v in r.items() if k not in shared}) if r else "no run" for r in rows]
    return shared, per_row


def ensure_runs(table: dict[str, dict[str, Any]], *, schedule: str, model: str, scale: int, updates: int = 0,
                data_root: str = "", train_missing: bool = False) -> dict[str, list[run_record.Run]]:
    """Variant runs of ``schedule``; with ``train_missing``, train the absent ones (resumable).

    ``updates > 0`` shortens the schedule (smoke: a handful of updates, no validation:
    the table's number is the test-set evaluation of the last checkpoint).
    """
    from defian.train import loop

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
        loop.train(config.schedule(schedule, **over), run_record.runs_root(schedule))
    return variant_runs(find_runs(schedule, model=model, scale=scale), model, table)


def best_available(table: dict[str, dict[str, Any]], sources: Sequence[tuple[str, str]] = ABLATION_SOURCES,
                   scale: int = 3) -> tuple[str | None, dict[str, list[run_record.Run]]]:
    """``(schedule, runs)`` of the best source of variant runs: the first of ``sources``
    ((schedule, model) pairs, best first) that covers every variant, else the one that
    covers the most (ties: the earlier). ``(None, {})`` when no source has any run.
    """
    best: tuple[str | None, dict[str, list[run_record.Run]]] = (None, {})
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
           train_missing: bool = False, scale: int = 3) -> tuple[dict[str, dict[str, Any]], dict[str, list[run_record.Run]], str]:
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
