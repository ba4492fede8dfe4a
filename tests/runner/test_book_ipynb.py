"""`defian book --ipynb-only`: plain notebooks that papermill runs on its own, and `--records-only`.

A copy must give papermill's `-p profile NAME` the values `defian book --profile NAME` injects
(checked against `book.parameters_for`, the runner's own injection), keep `-p` overrides, and
run under the papermill command line as the README shows. Only one real chapter is converted
(never executed); the end-to-end run uses a two-cell notebook.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import papermill
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from defian import paths
from defian.runner import book, profiles

HEADER = "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n#   kernelspec:\n" \
         "#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n"


@pytest.fixture()
def executing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(book, "EXECUTING", tmp_path / "executing")
    return tmp_path


def _run_parameter_cells(nb: nbformat.NotebookNode) -> dict:
    """Execute the parameters, injected-parameters and profile-values cells; return their names."""
    ns: dict = {}
    tags = [("parameters",), ("injected-parameters",), ("profile-values",)]
    for cell in nb.cells:
        if any(t in cell.metadata.get("tags", []) for group in tags for t in group):
            exec(cell.source, ns)  # noqa: S102 (the notebook's own parameter cells)
    return {k: v for k, v in ns.items() if not k.startswith("_") and k != "__builtins__"}


def test_chapter_copy_takes_the_profile_named_by_papermill(executing: Path) -> None:
    nb = book.select(book.discover(), ["02"])[0]
    out = book.write_executable(nb, "smoke", out_dir=executing / "ipynb")
    assert out == executing / "ipynb" / "02_hessian_verification.ipynb"
    copy = nbformat.read(out, as_version=4)
    nbformat.validate(copy)
    assert copy.metadata["kernelspec"]["name"] == "python3"
    assert sum("parameters" in c.metadata.get("tags", []) for c in copy.cells) == 1

    declared = papermill.inspect_notebook(str(out))
    assert set(declared) == set(nb.params)  # the same parameters as the chapter
    assert declared["profile"]["default"] == '"smoke"'
    governed = set(profiles.values("cpu")) & set(declared) - {"profile"}
    assert governed and all(declared[n]["default"] == "None" for n in governed)

    # papermill -p profile cpu -p hessian_samples 7, then the parameter cells: the runner's own values.
    copy = load_notebook_node(str(out))  # as papermill reads it (every cell gets a tags list)
    injected = parameterize_notebook(copy, {"profile": "cpu", "hessian_samples": 7})
    got = _run_parameter_cells(injected)
    want = book.parameters_for(nb, profiles.values("cpu"), {"hessian_samples": "7"}, None)
    assert got == want
    assert got["hessian_samples"] == 7 and got["hessian_bench_quick"] is False  # cpu: the full benchmark
    # no -p at all: the smoke values the runner would inject
    assert _run_parameter_cells(parameterize_notebook(copy, {})) == book.parameters_for(
        nb, profiles.values("smoke"), {}, None)


def test_papermill_command_line_runs_a_copy(executing: Path) -> None:
    papermill_cli = Path(sys.executable).with_name("papermill")
    if not papermill_cli.is_file():
        pytest.skip("no papermill command next to this interpreter")
    folder = executing / "notebooks"
    folder.mkdir()
    (folder / "00_tiny.py").write_text(HEADER + textwrap.dedent('''
        # %% tags=["parameters"]
        profile: str = "smoke"  # set by the runner
        eval_limit: int = 1  # a profile value (smoke 1, cpu 0)
        fig_crop: int = 64  # another one (smoke 64, cpu 0)
        out: str = ""  # not in any profile

        # %%
        import json, pathlib
        pathlib.Path(out).write_text(json.dumps({"profile": profile, "eval_limit": eval_limit, "fig_crop": fig_crop}))
        '''))
    nb = book.discover(folder)[0]
    copy = book.write_executable(nb, "smoke", out_dir=executing / "ipynb")
    result = executing / "values.json"
    cmd = [str(papermill_cli), str(copy), str(executing / "out.ipynb"), "-p", "profile", "cpu",
           "-p", "fig_crop", "5", "-p", "out", str(result), "--cwd", str(paths.ROOT)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    want = profiles.values("cpu")
    assert json.loads(result.read_text()) == {"profile": "cpu", "eval_limit": want["eval_limit"], "fig_crop": 5}
    assert want["eval_limit"] != profiles.values("smoke")["eval_limit"]  # the test tells the profiles apart


def test_ipynb_only_writes_copies_and_refuses_overrides(executing: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(book, "IPYNB", executing / "ipynb")
    assert book.main(["--ipynb-only", "--only", "02"]) == 0
    assert (executing / "ipynb" / "02_hessian_verification.ipynb").is_file()
    assert book.main(["--ipynb-only", "--only", "02", "-p", "seed", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "papermill -p" in err[0]


def test_records_only_turns_training_off_and_refuses_a_notebook_that_would_train(tmp_path: Path) -> None:
    folder = tmp_path / "nbs"
    folder.mkdir()
    for stem, extra in (("00_reads", 'ablation_train: bool = True  # trains missing runs\n'),
                        ("01_trains", 'train_schedule: str = "smoke"  # trains in place\n')):
        (folder / f"{stem}.py").write_text(HEADER + '\n# %% tags=["parameters"]\nprofile: str = "smoke"  # x\n'
                                           + extra + "\n# %%\nx = 1\n")
    reads, trains = book.discover(folder)
    for nb in (reads, trains):
        book.to_ipynb(nb, tmp_path / f"{nb.stem}.ipynb")
    cpu = profiles.values("cpu")
    params = book.parameters_for(reads, cpu, {"ablation_train": "true"}, None)
    assert params["ablation_train"] is True
    assert book.records_only(reads, params)["ablation_train"] is False
    with pytest.raises(book.BookError, match=r"01_trains.py would train \(train_schedule='cpu'\)"):
        book.records_only(trains, book.parameters_for(trains, cpu, {}, None))
    assert book.records_only(trains, {"profile": "cpu", "train_schedule": ""}) == {"profile": "cpu",
                                                                                  "train_schedule": ""}
    released = next(nb for nb in book.discover() if nb.stem == "16_released_artifacts")
    book.to_ipynb(released, tmp_path / "16.ipynb")  # reads its parameters cell
    assert "released_measure" in released.params  # the page that re-measures committed results
    params = book.parameters_for(released, cpu, {}, None)
    assert "released_measure" not in params  # the notebook's default (True): measured under cpu
    assert book.records_only(released, params)["released_measure"] is False  # make publish: the committed tables


def test_records_only_needs_the_benchmark_data(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(paths.ENV_DATA, raising=False)
    assert book.main(["--records-only", "--only", "02", "--no-build", "--no-execute"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--records-only needs the benchmark sets" in err[0] and "$DEFIAN_DATA" in err[0]
