"""Shared fixtures.

``dev_data`` is the folder of real benchmark and training images used in
development and CI: ``$DEFIAN_DATA`` when set, else ``../shared/datasets`` beside
the repository. Tests that need it are skipped on a machine that has neither.
``released_root`` is the folder of the artifacts the compared methods' authors
released (:func:`defian.paths.released_root`); tests that need it are skipped
without it. ``one_thread`` runs a test with one intra-op thread (the released
models' small convolutions are many times slower with two on a shared 2-core
machine, and no slower on a quiet one): ``pytestmark = pytest.mark.usefixtures("one_thread")``.
``write_record`` writes a synthetic run record with an evaluation, as the cpu
study's records look (tests of :mod:`defian.report.study` and :mod:`defian.report.study_stats`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from defian import paths
from defian.atomic import write_atomic
from defian.report import evaluate
from defian.train import config, run_record


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


@pytest.fixture(scope="session")
def released_root() -> Path:
    """The released artifacts' folder (``$DEFIAN_RELEASED``, ``../shared/released`` or the download cache), or skip."""
    try:
        root = paths.released_root()
    except FileNotFoundError as err:  # $DEFIAN_RELEASED names no folder
        pytest.skip(str(err))
    if root is None:
        pytest.skip(f"no released artifacts: set ${paths.ENV_RELEASED} or place them at <repo>/../shared/released")
    return root


@pytest.fixture
def one_thread():
    """One intra-op thread for the test, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_record(root: Path, cfg: config.TrainConfig, scores: dict[str, float], finished: bool = True,
                  val: tuple[float, ...] = ()) -> Path:
    """A run record of ``cfg`` under ``root``: validation PSNRs ``val`` every 500 updates (loss 0.1),
    finished unless told otherwise, and an evaluation scoring one image "a" per set of ``scores``."""
    run = root / run_record.run_name(cfg.to_dict(), "train291")
    rec = run_record.RunRecord(run)
    rec.start(cfg.to_dict(), {})
    for i, v in enumerate(val):
        rec.append(500 * (i + 1), 0.1, 1e-4, v, 10.0)
    if finished:
        rec.finish({"status": "finished", "updates": cfg.updates})
    per_set = pd.DataFrame([{"method": cfg.model, "set": s, "scale": cfg.scale, "images": 1, "psnr": p,
                             "ssim": 0.9, "protocol": "paper", "self_ensemble": False, "tile": 0, "data": "x"}
                            for s, p in scores.items()])
    out = evaluate.evaluation_dir(run)
    write_atomic(out / "per_set.csv", per_set.to_csv(index=False))
    write_atomic(out / "per_image.csv", per_set[["method", "set", "scale", "psnr", "ssim"]].assign(image="a")
                 .to_csv(index=False))
    write_atomic(out / "evaluation.json", '{"update": %d, "limit": null}' % cfg.updates)
    return run


@pytest.fixture
def write_record():
    """:func:`_write_record`: a synthetic, evaluated run record."""
    return _write_record
