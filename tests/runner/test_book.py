"""The book runner: validation of profiles, notebooks and parameters; failures
that name the notebook and cell; and every notebook in the table of contents."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from defian import paths
from defian.runner import book, profiles

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""


@pytest.fixture()
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notebooks folder and build folders of the test's own."""
    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    monkeypatch.setattr(book, "EXECUTING", tmp_path / "executing")
    monkeypatch.setattr(book, "FAILED", tmp_path / "failed")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "00_ok.py").write_text(HEADER + textwrap.dedent('''
        # %% [markdown]
        # # OK

        # %% tags=["parameters"]
        profile: str = "smoke"  # set by the runner
        steps: int = 1  # a knob
        rate: float = 0.5  # another knob

        # %%
        import json, pathlib
        pathlib.Path(OUT).write_text(json.dumps({"profile": profile, "steps": steps, "rate": rate}))
        '''))
    (folder / "01_fails.py").write_text(HEADER + textwrap.dedent('''
        # %% [markdown]
        # # Fails

        # %% tags=["parameters"]
        profile: str = "smoke"  # set by the runner

        # %%
        x = 1

        # %%
        raise ValueError("the claim does not hold")
        '''))
    return folder


def _inject_out(folder: Path, out: Path) -> None:
    src = folder / "00_ok.py"
    src.write_text(src.read_text().replace("import json, pathlib", f"import json, pathlib\nOUT = {str(out)!r}"))


def test_unknown_profile_lists_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["--profile", "huge", "--no-build"]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'huge'" in err and all(n in err for n in profiles.NAMES)


def test_unknown_notebook_lists_choices(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["--notebooks", str(sandbox), "--only", "42", "--no-build"]) == 2
    err = capsys.readouterr().err
    assert "unknown notebook '42'" in err and "00_ok" in err and "01_fails" in err


def test_unknown_parameter_lists_valid_names(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["--notebooks", str(sandbox), "--only", "00", "-p", "stpes", "3", "--no-build"]) == 2
    err = capsys.readouterr().err
    assert "stpes" in err and "valid names: profile, rate, steps" in err


def test_badly_typed_parameter_is_refused(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["--notebooks", str(sandbox), "--only", "00", "-p", "steps", "three", "--no-build"]) == 2
    assert "declares it as int" in capsys.readouterr().err


def test_profile_and_overrides_are_injected_with_types(sandbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    _inject_out(sandbox, out)
    status = book.main(["--notebooks", str(sandbox), "--only", "00", "--profile", "cpu",
                        "-p", "steps", "7", "-p", "rate", "0.25", "--no-build"])
    assert status == 0
    assert json.loads(out.read_text()) == {"profile": "cpu", "steps": 7, "rate": 0.25}
    executed = json.loads((paths.EXECUTED / "00_ok.ipynb").read_text())
    provenance = executed["cells"][1]
    assert "provenance" in provenance["metadata"]["tags"]
    assert "**cpu** profile" in "".join(provenance["source"])


def test_failing_notebook_names_notebook_and_cell(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["--notebooks", str(sandbox), "--only", "01", "--no-build"]) == 1
    err = capsys.readouterr().err
    assert "01_fails.py failed in cell" in err and "ValueError: the claim does not hold" in err
    assert not (paths.EXECUTED / "01_fails.ipynb").exists()  # never passed to the book
    assert (book.FAILED / "01_fails.ipynb").exists()


def test_every_notebook_is_in_the_toc_and_back() -> None:
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text())
    in_toc = {e["file"] for e in book._toc_files(toc)}
    notebooks = {f"notebooks/{nb.stem}" for nb in book.discover()}
    assert notebooks == {f for f in in_toc if f.startswith("notebooks/")}
    for entry in in_toc - notebooks:
        assert (paths.ROOT / f"{entry}.md").is_file(), entry


def test_every_notebook_has_one_parameters_cell_with_profile(tmp_path: Path) -> None:
    for nb in book.discover():
        book.to_ipynb(nb, tmp_path / f"{nb.stem}.ipynb")
        assert "profile" in nb.params, f"{nb.path.name} does not declare the profile parameter"
        for name, spec in nb.params.items():
            assert spec["help"], f"{nb.path.name}: parameter {name} has no comment"
            if name in profiles.Profile.__dataclass_fields__:
                assert spec["inferred_type_name"] != "None", f"{nb.path.name}: {name} has no type"


def test_pages_pasting_a_notebook_left_out_by_only_build_with_a_note() -> None:
    """``--only 03``: book/intro.md and book/cpu_study.md paste notebook 13's numbers; staged without
    it, each such role becomes a note naming the notebook (a strict build would fail on it), and
    with it the page is unchanged."""
    for name in ("intro.md", "cpu_study.md"):
        text = (paths.BOOK / name).read_text()
        n_roles = text.count("/notebooks/13_cpu_study.ipynb::")
        assert n_roles > 0, name
        staged, gone = book.unglue_missing(text, {"03_blocks"})
        assert gone == {"13_cpu_study"} and "13_cpu_study.ipynb::" not in staged
        assert staged.count("*(from 13_cpu_study, not executed in this build)*") == n_roles
        assert book.unglue_missing(text, {"13_cpu_study"}) == (text, set())
