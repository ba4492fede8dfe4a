"""Shared fixtures.

``dev_data`` is the folder of real benchmark and training images used in
development and CI: ``$DEFIAN_DATA`` when set, else ``../shared/datasets`` beside
the repository. Tests that need it are skipped on a machine that has neither.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from defian import paths


def _dev_data() -> Path | None:
    candidates = [os.environ.get(paths.ENV_DATA, ""), str(paths.ROOT.parent / "shared" / "datasets")]
    for c in candidates:
        if c and (Path(c) / "benchmark").is_dir():
            return Path(c).resolve()
    return None


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """The real-image data root, or skip the test."""
    root = _dev_data()
    if root is None:
        pytest.skip("no data root: set DEFIAN_DATA to a folder holding benchmark/<Set>/HR")
    return root
