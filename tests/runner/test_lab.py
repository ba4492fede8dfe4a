"""`make lab`: JupyterLab serves a py:percent chapter as a notebook and saves it back as the same .py.

The test runs the Makefile's own `lab` recipe headless (a free port on 127.0.0.1, a random
token), reads a chapter through the contents API as a notebook (jupytext's contents manager),
saves it under `_build/` through the same API and compares the text with the chapter, checks
the default-viewer setting that makes a double click open chapters as notebooks, and shuts
the server down. Skipped when JupyterLab or make is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import jupytext
import pytest

from defian import paths

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="jupyterlab is not installed"),
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

CHAPTER = "notebooks/02_hessian_verification.py"
FILTER_LINE = "#     notebook_metadata_filter: -jupytext.text_representation\n"  # jupytext.toml's, recorded on save
DEADLINE_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET", body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.loads(resp.read() or b"{}")


@pytest.fixture()
def lab(tmp_path: Path):
    """`make lab` on a free port; yields (base URL, token); shuts the server down."""
    port, token = _free_port(), secrets.token_hex(16)
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 " \
           f"--IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    # -o: never re-install the virtual environment from inside a test
    proc = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"LAB_ARGS={args}"],
                            cwd=paths.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base, start = f"http://127.0.0.1:{port}", time.monotonic()
    try:
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None:
                    pytest.fail(f"make lab exited with {proc.returncode}:\n{proc.stdout.read().decode()[-3000:]}")
                if time.monotonic() - start > DEADLINE_S / 2:
                    pytest.fail(f"JupyterLab did not answer within {DEADLINE_S / 2:.0f} s")
                time.sleep(0.25)
        yield base, token
        _api(base, token, "/api/shutdown", method="POST")
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    assert time.monotonic() - start < DEADLINE_S


def test_lab_opens_a_chapter_as_a_notebook_and_saves_it_back_as_py(lab: tuple[str, str]) -> None:
    base, token = lab
    model = _api(base, token, f"/api/contents/{CHAPTER}?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    expected = jupytext.read(paths.ROOT / CHAPTER).cells  # jupytext's reading of the same file
    assert [(c["cell_type"], c["source"]) for c in cells] == [(c.cell_type, c.source) for c in expected]
    assert sum("parameters" in c["metadata"].get("tags", []) for c in cells) == 1

    # Saving writes py:percent text equal to the chapter (outside notebooks/, so the source stays intact);
    # the only addition is the metadata filter of jupytext.toml, recorded once in the header.
    target = "_build/lab-test/02_saved.py"
    (paths.ROOT / target).parent.mkdir(parents=True, exist_ok=True)
    (paths.ROOT / target).unlink(missing_ok=True)
    _api(base, token, f"/api/contents/{target}", method="PUT",
         body={"type": "notebook", "format": "json", "content": model["content"]})
    saved = (paths.ROOT / target).read_text()
    original = (paths.ROOT / CHAPTER).read_text()
    assert saved.replace(FILTER_LINE, "") == original.replace(FILTER_LINE, "")
    assert not (paths.ROOT / target).with_suffix(".ipynb").exists()  # no paired .ipynb
    (paths.ROOT / target).unlink()
    with contextlib.suppress(OSError):
        (paths.ROOT / target).parent.rmdir()

    # A double click opens a chapter as a notebook: the default viewer `make lab` configures.
    plugin = _api(base, token, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert plugin["schema"]["properties"]["defaultViewers"]["default"]["python"] == "Jupytext Notebook"
