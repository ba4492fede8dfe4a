"""Where a number came from: the environment of a run and of an executed page.

:func:`environment` is stored with every run record; :func:`annotate` puts the
same facts, plus the profile and the injected parameters, at the top of every
executed notebook, so each page of the book says what produced it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from defian import paths


def git_commit() -> str:
    """The repository's HEAD commit, with ``+dirty`` when the tree has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def cpuinfo(text: str | None = None) -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` ("model name", "flags", ...), or of
    ``text`` when given; empty where there is no such file."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_model(cpuinfo_text: str | None = None) -> str:
    """The CPU as timings need it named: model, family/model numbers, cores, vector ISA.

    Machines of one cloud name ("AMD EPYC") differ by generation, and a benchmark's
    seconds only compare on the same one: e.g. ``"AMD EPYC (family 25, model 17),
    2 logical cores, ISA AVX512"``. ``cpuinfo_text`` stands for ``/proc/cpuinfo``
    (:func:`cpuinfo`; without one, the platform's processor string names the CPU).
    """
    import torch

    fields = cpuinfo(cpuinfo_text)
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{name}, {os.cpu_count()} logical cores, ISA {torch.backends.cpu.get_cpu_capability()}"


#: How far a float32 model's PSNR (dB) may move when it is rerun on another CPU than the one that
#: scored it: oneDNN's kernels and blocking follow the vector ISA and the caches, so sums run in another
#: order (seen for U-HDN between an AVX512 and an AVX2 machine, and for CARN-M between two AVX512 ones,
#: each time below this bound). On the CPU that scored it, a record reproduces to 1e-6 dB
#: (tests/report/test_committed_part_runs.py).
OTHER_CPU_PSNR_DB = 1e-4


def same_cpu(recorded: str, current: str | None = None) -> bool:
    """Whether ``recorded`` (a :func:`cpu_model` string stored with a record) names the CPU of this
    process, or ``current``: the same processor name, family and model, and vector ISA. The core count
    is left out, since the records are scored on one thread."""
    def key(description: str) -> str:
        return re.sub(r"\d+ logical cores, ", "", description).strip()
    return bool(recorded) and key(recorded) == key(current if current is not None else cpu_model())


def environment() -> dict[str, Any]:
    """Versions and device of this process (no host names, no user paths)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} logical cores, {platform.machine()})",
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def data_label(data_root: str | None) -> str:
    """A short, honest description of the data a page used."""
    try:
        root = paths.data_root(data_root)
    except FileNotFoundError as err:
        return f"missing ({err})"
    if root is None:
        return "embedded default (scikit-image's bundled photographs; no benchmark sets)"
    return f"data root {root}"


def annotate(notebook: Any, *, profile: str, parameters: dict[str, Any]) -> None:
    """Insert a provenance note as the second cell of an executed notebook (in place)."""
    import nbformat

    env = environment()
    shown = ", ".join(f"`{k}={v!r}`" for k, v in sorted(parameters.items()))
    text = "\n".join([
        ":::{admonition} How this page was produced",
        ":class: note",
        f"Executed under the **{profile}** profile on {env['utc']}: {env['device']}, "
        f"torch {env['torch']}, commit `{env['git_commit']}`.",
        f"Data: {data_label(parameters.get('data_root'))}.",
        f"Injected parameters: {shown or 'none'}.",
        "Numbers on this page come from this run; the paper's numbers are always labelled as the paper's.",
        ":::",
    ])
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["provenance"]
    notebook.cells.insert(1 if notebook.cells else 0, cell)
