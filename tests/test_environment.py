"""pyproject.toml and environment.yml pin the same packages at the same versions."""

from __future__ import annotations

import tomllib

import yaml

from defian import paths


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return dict(r.lower().split("==") for r in reqs)


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(r.lower().split("==") for r in pip if "==" in r)


def test_every_pin_is_exact() -> None:
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    loose = [r for r in project["dependencies"] if "==" not in r]
    assert not loose, f"unpinned dependencies in pyproject.toml: {loose}"


def test_environment_matches_pyproject() -> None:
    assert _conda_pins() == _pyproject_pins()


def test_torch_is_the_cpu_wheel_version() -> None:
    # pip on this machine takes torch 2.13.0 from disk; another version would pull a CUDA build.
    assert _pyproject_pins()["torch"] == "2.13.0"
