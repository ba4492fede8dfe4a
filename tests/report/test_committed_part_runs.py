"""The committed records of Parts II and III (``results/runs/ikm``, ``results/runs/lfr``), audited as
the cpu study's are: each is a finished record of its study's ``cpu`` schedule with every process
segment timed, its per-set scores are the means of its per-image ones, and its published weights
(``last.pt``, slimmed) give back a stored per-image score when run again.

A study with no committed record yet has nothing to audit (its notebook says "pending").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from defian import paths, provenance
from defian.train import run_record

PARTS = {"ikm": paths.RUNS / "ikm", "lfr": paths.RUNS / "lfr"}
RECORDS = [(part, r) for part, root in PARTS.items() for r in run_record.find(root)]
REPRODUCE_DB = 1e-6  # PSNR of a re-run from the slim weights against the stored per-image value


def _tolerance(run: run_record.Run) -> float:
    """1e-6 dB on the CPU that scored the record; :data:`provenance.OTHER_CPU_PSNR_DB` elsewhere."""
    meta = json.loads((run.dir / "evaluation" / "last_paper" / "evaluation.json").read_text())
    scored_on = meta.get("environment", {}).get("cpu", "")
    return REPRODUCE_DB if provenance.same_cpu(scored_on) else provenance.OTHER_CPU_PSNR_DB


def _id(item: tuple[str, run_record.Run]) -> str:
    return f"{item[0]}/{item[1].name}"


def _scores(run: run_record.Run) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    folder = run.dir / "evaluation" / "last_paper"
    per_image, per_set = pd.read_csv(folder / "per_image.csv"), pd.read_csv(folder / "per_set.csv")
    keys = [k for k in ("method", "kind", "rule", "ratios", "set", "scale") if k in per_set.columns]
    return per_image, per_set, keys


@pytest.mark.parametrize("item", RECORDS, ids=_id)
def test_a_committed_record_is_finished_timed_and_its_means_are_its_images(item) -> None:
    part, run = item
    assert run.summary and run.summary["status"] == "finished", run.name
    assert run.config["schedule"] == "cpu" and run.summary["updates"] == run.config["updates"]
    segments = run.environment["segments"]
    assert segments[0]["from_update"] == 0 and segments[-1]["to_update"] == run.config["updates"]
    assert all(s["wall_s"] and s["wall_s"] > 0 for s in segments) and run.wall_s_reconstructed == 0
    per_image, per_set, keys = _scores(run)
    means = per_image.groupby(keys, sort=False)[["psnr", "ssim"]].mean().reset_index()
    merged = per_set.merge(means, on=keys, suffixes=("", "_images"), validate="one_to_one")
    assert len(merged) == len(per_set) == len(means)
    assert np.allclose(merged["psnr"], merged["psnr_images"], rtol=0, atol=1e-9)
    assert np.allclose(merged["ssim"], merged["ssim_images"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("item", RECORDS, ids=_id)
def test_the_published_weights_give_back_a_stored_score(item, dev_data: Path, one_thread) -> None:
    """The first Set5 image at x2 (an LFR model: by the slides' rule, one step; a fixed-scale run of the
    LFR study, e.g. x3 DeFiAN_S: at its own scale), PSNR only."""
    part, run = item
    per_image, _, _ = _scores(run)
    is_lfr = "rule" in per_image.columns  # the LFR study also publishes the fixed-scale runs it compares with
    scale = 2.0 if is_lfr else float(run.config["scale"])
    stored = per_image[(per_image["set"] == "Set5") & (per_image["scale"].astype(float) == scale)]
    if is_lfr:
        from defian.lfr.evaluate import evaluate_scales
        from defian.lfr.train import load_lfr_model

        stored = stored[stored["rule"] == "largest_first"].iloc[0]
        model, _ = load_lfr_model(run.dir / "last.pt")
        with torch.no_grad():
            again = evaluate_scales(model, [2.0], sets=["Set5"], data_root=str(dev_data), limit=1, with_ssim=False)
    else:
        from defian.report import evaluate

        stored = stored.iloc[0]
        model, _ = evaluate.load_model(run.dir / "last.pt")
        again = evaluate.evaluate(model, int(scale), sets=["Set5"], data_root=str(dev_data), limit=1,
                                  device="cpu").per_image
    row = again.iloc[0]
    assert row["image"] == stored["image"]
    assert abs(row["psnr"] - stored["psnr"]) <= _tolerance(run), (run.name, row["psnr"], stored["psnr"])
