"""``defian book``: execute the notebooks under a profile and build the book.

The pipeline, for each selected notebook ``notebooks/NN_name.py``:

1. jupytext turns the py:percent source into a notebook (kernel ``python3``);
2. its ``parameters`` cell is read, and the profile's values for exactly the
   names it declares are injected by papermill, together with ``-p``
   overrides (an unknown profile, notebook or parameter is an error that lists
   the valid choices; papermill alone would only warn);
3. papermill executes it into ``_build/executing``; on success a provenance
   note (profile, parameters, data, commit, versions) is put under its title
   and the result moves atomically to ``_build/executed``. A failure names the
   notebook and the cell and stops the run; the failed notebook goes to
   ``_build/failed`` and never into the book.

Then the book is staged in ``_build/src`` (``_config.yml``, ``_toc.yml``,
``book/``, the executed notebooks, MathJax) and built by jupyter-book 1.x in
strict mode (``-W -n``) into ``_build/html``. Sources are never written.

``--records-only`` (``make publish``) runs a profile without training: every
training switch a notebook declares (:data:`TRAIN_SWITCHES`) is set to False, so
it reads the committed run records, and so is every re-measuring switch
(:data:`MEASURE_SWITCHES`: the page shows the committed results that the same page
made under the profile, and says so); a notebook that would still train (a
:data:`TRAINING_SCHEDULES` parameter set, no switch) is refused before anything runs.
It needs a data root with the benchmark sets: the records' stored evaluations are
reused only for the data they were made on (on the embedded images every record
would be scored again and its committed evaluation replaced).

``--ipynb-only`` (``make notebooks``) executes nothing: it writes each chapter as a
plain ``_build/ipynb/NN_name.ipynb`` that papermill runs on its own
(``papermill _build/ipynb/02_hessian_verification.ipynb out.ipynb -p profile cpu``):
in those copies every profile-governed parameter defaults to None and a cell after
the parameters takes it from the profile named by ``profile`` unless ``-p`` set it.

Bad input (an unknown profile, notebook or parameter, a mistyped value, a missing
folder) ends the command with one line and status 2; a failed notebook or book
build with status 1.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defian import paths, provenance
from defian.runner import profiles
from defian.atomic import write_atomic

STAGE = paths.BUILD / "src"
EXECUTING = paths.BUILD / "executing"
IPYNB = paths.BUILD / "ipynb"  # --ipynb-only: plain notebooks for papermill
FAILED = paths.BUILD / "failed"
HTML = paths.BUILD / "html"
MATHJAX = paths.CACHE / "npm" / "node_modules" / "mathjax" / "es5"
KERNEL = "python3"
#: Parameters with which a notebook trains what the run records lack; ``--records-only`` sets each to False.
TRAIN_SWITCHES = ("train_missing", "ablation_train", "lfr_train")
#: Parameters with which a notebook re-measures what a committed result already holds (notebook 16 scores
#: every released model again, the slowest page under ``cpu``); ``--records-only`` sets each to False too.
MEASURE_SWITCHES = ("released_measure",)
#: Parameters naming a schedule a notebook trains in place ("" = read records only).
TRAINING_SCHEDULES = ("train_schedule", "full_schedule")


class BookError(RuntimeError):
    """A user-facing failure of the book pipeline (printed without a traceback)."""


class BookInputError(BookError, ValueError):
    """Bad input to ``defian book``: an unknown notebook or parameter, a mistyped value (exit status 2)."""


@dataclass
class Notebook:
    """One notebook source and the parameters its ``parameters`` cell declares."""

    path: Path
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> papermill's inspection

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def number(self) -> str:
        return self.stem.split("_", 1)[0]


def discover(folder: Path | None = None) -> list[Notebook]:
    """All ``NN_name.py`` notebooks in reading order (default: ``notebooks/``)."""
    return [Notebook(p) for p in sorted((folder or paths.NOTEBOOKS).glob("[0-9][0-9]_*.py"))]


def select(notebooks: list[Notebook], only: list[str] | None) -> list[Notebook]:
    """Keep the notebooks named by ``--only`` (``03`` or ``03_blocks``)."""
    if not only:
        return notebooks
    chosen = []
    for key in only:
        hits = [nb for nb in notebooks if key in (nb.number, nb.stem, nb.path.name)]
        if not hits:
            valid = ", ".join(nb.stem for nb in notebooks)
            raise BookInputError(f"unknown notebook {key!r}; choose from: {valid}")
        chosen += [nb for nb in hits if nb not in chosen]
    return sorted(chosen, key=lambda nb: nb.stem)


def to_ipynb(nb: Notebook, out: Path) -> Path:
    """Write the jupytext notebook for ``nb`` to ``out`` and read its parameters."""
    import jupytext
    import papermill

    notebook = jupytext.read(nb.path)
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise BookError(f"{nb.path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, out, fmt="ipynb")
    nb.params = dict(papermill.inspect_notebook(str(out)))
    assigned = re.findall(r"^([A-Za-z_]\w*)\s*[:=]", "".join(tagged[0].source), flags=re.MULTILINE)
    unparsed = [name for name in assigned if name not in nb.params]
    if unparsed:  # papermill would only log a warning and never inject these
        raise BookError(f"{nb.path.name}: papermill cannot parse the parameter line(s) of {', '.join(unparsed)}; "
                        "write them as `name: type = value  # comment` (no quotes inside the comment)")
    return out


def _convert(name: str, raw: str, declared: dict[str, Any], where: str) -> Any:
    """Convert a ``-p`` string to the type the notebook declares for ``name``."""
    kind = (declared.get("inferred_type_name") or "str").lower()
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise BookInputError(f"parameter {name}={raw!r}: {where} declares it as {kind}") from None
    return raw


def parameters_for(
    nb: Notebook, profile: dict[str, Any], overrides: dict[str, str], data_root: str | None
) -> dict[str, Any]:
    """The values injected into ``nb``: profile values it declares, then overrides."""
    out = {k: v for k, v in profile.items() if k in nb.params}
    if data_root is not None and "data_root" in nb.params:
        out["data_root"] = data_root
    for name, raw in overrides.items():
        if name in nb.params:
            out[name] = _convert(name, raw, nb.params[name], nb.path.name)
    return out


def check_overrides(selected: list[Notebook], overrides: dict[str, str]) -> None:
    """Every ``-p`` name must be declared by at least one selected notebook."""
    valid = sorted({name for nb in selected for name in nb.params})
    unknown = [name for name in overrides if name not in valid]
    if unknown:
        raise BookInputError(
            f"unknown parameter(s) {', '.join(unknown)} for notebook(s) "
            f"{', '.join(nb.stem for nb in selected)}; valid names: {', '.join(valid)}"
        )


def records_only(nb: Notebook, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every training switch ``nb`` declares set to False (``--records-only``).

    Raises:
        BookError: ``nb`` would still train: it is given a training schedule and declares no switch.
    """
    switches = [name for name in TRAIN_SWITCHES if name in nb.params]
    training = [f"{name}={params[name]!r}" for name in TRAINING_SCHEDULES if params.get(name)]
    if training and not switches:
        raise BookError(f"{nb.path.name} would train ({', '.join(training)}) and declares none of "
                        f"{', '.join(TRAIN_SWITCHES)}; give it a switch that makes it read the committed run "
                        "records when False, or leave it out with --only")
    measures = [name for name in MEASURE_SWITCHES if name in nb.params]
    return {**params, **{name: False for name in switches + measures}}


def _defaults(source: str, values: dict[str, str]) -> str:
    """``source`` with the default of each top-level ``name[: type] = value`` in ``values`` replaced."""
    lines, missing = source.splitlines(keepends=True), set(values)
    for node in reversed(ast.parse(source).body):
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name) or target.id not in values or value is None:
            continue
        if value.lineno != value.end_lineno:
            raise BookError(f"parameter {target.id}: a default spread over several lines cannot be replaced")
        raw = lines[value.lineno - 1].encode()  # ast offsets count UTF-8 bytes
        new = raw[:value.col_offset] + values[target.id].encode() + raw[value.end_col_offset:]
        lines[value.lineno - 1] = new.decode()
        missing.discard(target.id)
    if missing:
        raise BookError(f"parameter(s) {', '.join(sorted(missing))}: no `name: type = value` line to replace")
    return "".join(lines)


def write_executable(nb: Notebook, profile_name: str, out_dir: Path | None = None) -> Path:
    """Write ``nb`` as a plain notebook that papermill runs without ``defian book`` (``--ipynb-only``).

    The parameters cell defaults ``profile`` to ``profile_name`` and every other parameter the
    profile holds to None; the cell inserted after it (after papermill's injected cell, too) sets
    each parameter still None to the value of the profile named by ``profile``. So
    ``papermill NB.ipynb out.ipynb -p profile cpu`` runs the cpu values, and ``-p NAME VALUE``
    still overrides one of them.

    Returns:
        ``out_dir / f"{nb.stem}.ipynb"`` (default ``_build/ipynb``), written atomically.
    """
    import nbformat

    notebook = nbformat.read(to_ipynb(nb, EXECUTING / f"{nb.stem}.source.ipynb"), as_version=4)
    index = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    governed = [name for name in profiles.values(profile_name) if name in nb.params and name != "profile"]
    cell = notebook.cells[index]
    cell.source = _defaults(cell.source, {"profile": json.dumps(profile_name), **{name: "None" for name in governed}})
    apply = ["# Parameters left at None take the value of the profile named by `profile`",
             "# (defian.runner.profiles); `defian book` injects these values itself.",
             "from defian.runner import profiles as _profiles", "", "_values = _profiles.values(profile)"]
    apply += [f"{name} = _values[{name!r}] if {name} is None else {name}" for name in governed]
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell("\n".join(apply), metadata={"tags": ["profile-values"]}))
    out = (out_dir or IPYNB) / f"{nb.stem}.ipynb"
    write_atomic(out, nbformat.writes(notebook))
    return out


def _kernel_env() -> dict[str, str]:
    """Point Jupyter at a ``python3`` kernel that runs this very interpreter."""
    spec = paths.BUILD / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(paths.BUILD / "jupyter"), os.environ.get("JUPYTER_PATH", "")])
    return dict(os.environ)


def execute(nb: Notebook, params: dict[str, Any], profile_name: str) -> Path:
    """Run one notebook with papermill; return its executed path under ``_build/executed``."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = EXECUTING / f"{nb.stem}.source.ipynb"  # written by to_ipynb()
    running = EXECUTING / f"{nb.stem}.ipynb"
    _kernel_env()
    try:
        papermill.execute_notebook(
            str(source), str(running), parameters=params, kernel_name=KERNEL,
            cwd=str(paths.ROOT), progress_bar=False, log_output=False,
        )
    except PapermillExecutionError as err:
        FAILED.mkdir(parents=True, exist_ok=True)
        shutil.move(running, FAILED / running.name)
        (paths.EXECUTED / f"{nb.stem}.ipynb").unlink(missing_ok=True)  # a stale success must not be published
        raise BookError(
            f"notebook {nb.path.name} failed in cell {err.cell_index} (execution count {err.exec_count}): "
            f"{err.ename}: {err.evalue}\n  the executed notebook is in {FAILED / running.name}"
        ) from None
    executed = nbformat.read(running, as_version=4)
    provenance.annotate(executed, profile=profile_name, parameters=params)
    paths.EXECUTED.mkdir(parents=True, exist_ok=True)
    final = paths.EXECUTED / f"{nb.stem}.ipynb"
    write_atomic(final, nbformat.writes(executed))
    running.unlink()
    return final


def _toc_files(entries: Any) -> list[dict[str, Any]]:
    """All TOC entries (dicts with a 'file' key), depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(entries, dict):
        if "file" in entries:
            found.append(entries)
        for value in entries.values():
            found += _toc_files(value)
    elif isinstance(entries, list):
        for value in entries:
            found += _toc_files(value)
    return found


def _prune_toc(node: Any, keep: set[str]) -> Any:
    """Drop notebook entries that have no executed notebook (after ``--only``)."""
    if isinstance(node, list):
        kept = [_prune_toc(n, keep) for n in node]
        return [n for n in kept if n is not None]
    if isinstance(node, dict):
        if "file" in node and str(node["file"]).startswith("notebooks/") and node["file"] not in keep:
            return None
        pruned = {k: _prune_toc(v, keep) for k, v in node.items()}
        if "chapters" in pruned and not pruned["chapters"]:
            return None  # a part left with no chapter
        return pruned
    return node


#: A glue role that pastes another page's value: {glue:text}`/notebooks/13_cpu_study.ipynb::key:fmt`.
OTHER_PAGE_GLUE = re.compile(r"\{glue:[a-z]+\}`/notebooks/([0-9]{2}_[A-Za-z0-9_]+)\.ipynb::[^`]+`")


def unglue_missing(text: str, executed: set[str]) -> tuple[str, set[str]]:
    """``text`` with every glue role of a notebook not in ``executed`` (stems) replaced by a note
    naming that notebook, and the stems replaced: after ``--only`` a chapter page still builds
    strictly, and says which number this build lacks instead of failing on it."""
    gone: set[str] = set()

    def note(m: re.Match[str]) -> str:
        if m.group(1) in executed:
            return m.group(0)
        gone.add(m.group(1))
        return f"*(from {m.group(1)}, not executed in this build)*"

    return OTHER_PAGE_GLUE.sub(note, text), gone


def stage() -> Path:
    """Assemble the book sources in ``_build/src``; return that folder."""
    import yaml

    if not (MATHJAX / "tex-chtml.js").is_file():
        raise BookError(f"MathJax is missing at {MATHJAX}; run 'make mathjax' (npm install mathjax@3)")
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    shutil.copy2(paths.ROOT / "_config.yml", STAGE / "_config.yml")
    shutil.copytree(paths.BOOK, STAGE / "book", ignore=shutil.ignore_patterns("_static"))
    shutil.copytree(paths.BOOK / "_static", STAGE / "_static")  # the book's CSS (_config.yml html_css_files)
    if paths.FIGURES.is_dir():
        shutil.copytree(paths.FIGURES, STAGE / "results" / "figures")
    shutil.copytree(MATHJAX, STAGE / "_static" / "mathjax")
    (STAGE / "notebooks").mkdir()
    for ipynb in sorted(paths.EXECUTED.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(ipynb, STAGE / "notebooks" / ipynb.name)
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text())
    executed = {f"notebooks/{p.stem}" for p in (STAGE / "notebooks").glob("*.ipynb")}
    for page in sorted((STAGE / "book").glob("*.md")):
        text, gone = unglue_missing(page.read_text(), {e.removeprefix("notebooks/") for e in executed})
        if gone:
            page.write_text(text)
            print(f"defian book: {page.name} pastes numbers from {', '.join(sorted(gone))}, not executed: "
                  "shown as notes in this build")
    missing = [e["file"] for e in _toc_files(toc) if e["file"].startswith("notebooks/") and e["file"] not in executed]
    if missing:
        print(f"defian book: not yet executed, left out of this build: {', '.join(missing)}")
    (STAGE / "_toc.yml").write_text(yaml.safe_dump(_prune_toc(toc, executed), sort_keys=False))
    return STAGE


def build() -> Path:
    """Build the staged book strictly into ``_build/html``."""
    src = stage()
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(src),
           "--path-output", str(paths.ROOT), "--warningiserror", "--nitpick", "--quiet"]
    result = subprocess.run(cmd, cwd=paths.ROOT)
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {result.returncode}): {' '.join(cmd)}")
    return HTML


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="defian book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="smoke", help=f"one of {', '.join(profiles.NAMES)} (default smoke)")
    parser.add_argument("--only", action="append", metavar="NN", help="run only this notebook (repeatable): 03 or 03_blocks")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a notebook parameter (repeatable)")
    parser.add_argument("--data-root", help="folder with DIV2K and/or benchmark/<Set>/HR (default: $DEFIAN_DATA, else the embedded data)")
    parser.add_argument("--no-build", action="store_true", help="execute only; do not build the HTML")
    parser.add_argument("--no-execute", action="store_true", help="build from the notebooks executed before")
    parser.add_argument("--list", action="store_true", help="list the notebooks and their parameters, then stop")
    parser.add_argument("--records-only", action="store_true",
                        help="train nothing: every training switch off, the committed run records read (make publish)")
    parser.add_argument("--ipynb-only", action="store_true",
                        help="write plain notebooks for papermill into _build/ipynb/, then stop (make notebooks)")
    parser.add_argument("--notebooks", type=Path, help=argparse.SUPPRESS)  # another source folder (tests)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``defian book``; returns the exit status."""
    args = _parse(argv)
    try:
        profile = profiles.values(args.profile)
        root = paths.data_root(args.data_root)  # fails early on a folder that does not exist
        if args.records_only and root is None and not args.ipynb_only:
            raise BookInputError(
                "--records-only needs the benchmark sets the committed run records were scored on "
                f"(--data-root DIR or ${paths.ENV_DATA}, with benchmark/<Set>/HR): on the embedded images the "
                "pages would score the records again and replace their evaluations in results/runs")
        selected = select(discover(args.notebooks), args.only)
        if not selected:
            raise BookInputError(f"no notebooks found in {args.notebooks or paths.NOTEBOOKS}")
        for nb in selected:
            to_ipynb(nb, EXECUTING / f"{nb.stem}.source.ipynb")
        overrides = dict(args.parameter)
        check_overrides(selected, overrides)
        if args.list:
            for nb in selected:
                print(f"{nb.stem}: " + ", ".join(f"{k} ({v['inferred_type_name']})" for k, v in nb.params.items()))
            return 0
        if args.ipynb_only:
            if overrides:
                raise BookInputError("-p has no effect with --ipynb-only; give papermill -p NAME VALUE instead")
            for nb in selected:
                print(f"[{nb.stem}] {write_executable(nb, args.profile)}")
            return 0
        plans = {nb.stem: parameters_for(nb, profile, overrides, args.data_root) for nb in selected}
        if args.records_only:  # before anything runs: a refusal must not come after an hour of notebooks
            plans = {nb.stem: records_only(nb, plans[nb.stem]) for nb in selected}
        timings: dict[str, float] = {}
        if not args.no_execute:
            for nb in selected:
                params = plans[nb.stem]
                start = time.perf_counter()
                print(f"[{nb.stem}] executing under profile {args.profile} ...", flush=True)
                execute(nb, params, args.profile)
                timings[nb.stem] = round(time.perf_counter() - start, 1)
                print(f"[{nb.stem}] done in {timings[nb.stem]:.1f} s", flush=True)
            paths.EXECUTED.mkdir(parents=True, exist_ok=True)
            (paths.EXECUTED / "timings.json").write_text(json.dumps(timings, indent=1))
        if not args.no_build:
            html = build()
            print(f"defian book: built {html / 'index.html'}")
    except (ValueError, OSError) as err:  # bad input (BookInputError included): one line, status 2
        print(f"defian book: {err}", file=sys.stderr)
        return 2
    except BookError as err:  # a notebook or the book build failed
        print(f"defian book: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
