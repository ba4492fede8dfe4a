# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The full schedule: DeFiAN_S and DeFiAN_L at x2, x3 and x4
#
# :::{admonition} In short
# :class: tip
# How to train the models of Tables I-II for the paper's {glue:text}`short_full_updates:,d` updates each
# (Sec. IV-B2) on GPUs. The number to remember: {glue:text}`short_n_runs:d` of the {glue:text}`short_n_planned:d`
# runs exist on this page ({glue:text}`short_source` schedule records; smoke runs are tiny stand-ins).
# :::
#
# The models of Tables I and II were trained for $6 \times 10^5$ updates of Eq. (23)
# on DIV2K, on a 12 GB Titan X Pascal (Sec. IV-B2). This page is written to run that schedule on a GPU for the six
# models (DeFiAN_S and DeFiAN_L, x2/x3/x4), one run record each, and to compare each
# run's validation PSNR with the paper's Set5 column. Under the `smoke` profile it
# trains tiny stand-ins for {glue:text}`smoke_updates` updates (the code path, not the result);
# under `cpu` it trains nothing and shows the run records a GPU run has committed.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
device: str = "auto"  # "auto" picks CUDA when present, else CPU
seed: int = 0  # seeds initial weights, patch positions and augmentation
full_schedule: str = "smoke"  # defian.train.config schedule to train; empty: only read committed run records
full_scales: str = "2,3,4"  # comma-separated upscaling factors

# %%

import matplotlib.pyplot as plt
import pandas as pd
import torch
from myst_nb import glue

from defian import paths
from defian.report import paper_tables
from defian.train import config, run_record, loop

scales = [int(s) for s in full_scales.split(",") if s.strip()]
models = ("defian_s", "defian_l")
glue("smoke_updates", config.SMOKE.updates, display=False)
# the full schedule as the prose states it (paper Sec. IV-B2): 6e5 updates, batch 16, lr halved every 2e5
assert (config.FULL.updates, config.FULL.batch, config.FULL.lr_step, config.FULL.lr_gamma) == (600_000, 16, 200_000, 0.5)

# %% [markdown]
# ## Running it on one or several GPUs
#
# Each run is one command; on a machine with $K$ GPUs, `torchrun` starts one process
# per GPU and splits every mini-batch of 16 over them (rank $r$ takes samples
# $r, r+K, \dots$ of each batch; the gradient is the same mean over 16 samples as on
# one GPU, see `defian.train.distributed`):
#
# ```
# defian train --schedule full --model defian_l --scale 2
# torchrun --nproc_per_node=4 -m defian.train --schedule full --model defian_l --scale 2
# ```
#
# On several machines, add `--nnodes=M --node_rank=i --rdzv_backend=c10d
# --rdzv_endpoint=HOST:PORT` to the same line on each. A run that is killed (or
# runs out of its time slot) continues from its `last.pt` when the same command is
# given again, repeating the uninterrupted run update by update. On CUDA the loop
# uses channels-last tensors, cuDNN autotuning, pinned memory with non-blocking
# copies, and optionally bf16 or fp16 autocast (fp16 with a gradient scaler) and
# `torch.compile` (`--compile`). What one update costs there, before committing GPU
# hours: `python benchmarks/bench_train.py --device cuda --precision bf16` times
# DeFiAN_S against its attention-free twin at the paper's batch and patch and reports
# samples/s and each model's peak memory (`--record FILE` keeps the result with the GPU's
# name). Each run record's `summary.json` holds its samples/s and `peak_gpu_memory_bytes`.
#
# **Written for CUDA, not yet run on a GPU.** No GPU has been lent to this project's
# development, so the book has no GPU numbers yet, and these paths have been reviewed
# but never executed: the NCCL process group and DDP with `device_ids`
# (`defian.train.distributed`, `defian.train.loop`), fp16 autocast with a GradScaler,
# pinned memory with non-blocking copies, the CUDA peak memory in `summary.json`, the
# CUDA RNG state in checkpoints (`defian.train.checkpoint`) and
# `benchmarks/bench_train.py --device cuda`. What has run is the same code on CPU: DDP
# over gloo with two processes, bf16 autocast, and `torch.compile`, whose compiled update
# equals the eager one (`tests/train/test_compile.py`; all its graph breaks are in the
# Hessian filtering).

# %%
if full_schedule in ("short", "full"):
    assert torch.cuda.is_available(), (
        f"the {full_schedule} schedule trains 6 models for {config.SCHEDULES[full_schedule].updates:,} updates "
        "each: run it on a GPU (set full_schedule='' to only read committed run records)")
root = run_record.runs_root(profile)
runs = {}
if full_schedule:
    for model in models:
        for scale in scales:
            cfg = config.schedule(full_schedule, model=model, scale=scale, data_root=data_root, device=device,
                                  seed=seed, progress=False)
            runs[model, scale] = loop.train(cfg, root)
else:
    for model in models:
        for scale in scales:
            found = run_record.find(paths.RUNS, model=model, scale=scale, schedule="full")
            if found and found[0].summary is not None:
                runs[model, scale] = found[0]
print(f"{len(runs)} run records ({full_schedule or 'committed full-schedule records'})")
glue("short_n_runs", len(runs), display=False)  # the "In short" box
glue("short_n_planned", len(models) * len(scales), display=False)
glue("short_full_updates", config.FULL.updates, display=False)
glue("short_source", full_schedule or "committed full", display=False)
for (model, scale), run in runs.items():
    print(f"  {model} x{scale}: trained on {run.environment['train_data']}; validated on {run.environment['val_data']}")

# %% [markdown]
# ## Training curves
#
# One panel per model; the learning rate halves every $2 \times 10^5$ updates under
# the full schedule, which shows as steps in the loss.

# %% tags=["hide-input"]
if runs:
    fig, axes = plt.subplots(1, len(models), figsize=(11, 4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for scale in scales:
            if (model, scale) in runs:
                ax.plot(*runs[model, scale].curve("loss"), label=f"x{scale}")
        ax.set(xlabel="update", ylabel="L1 loss, Eq. (23)", yscale="log", title=model)
        ax.legend()
    plt.show()
else:
    print("No run records yet: train them on a GPU under the full profile (see above).")

# %% [markdown]
# ## Against the paper
#
# The paper's numbers are Set5 PSNR on the Y channel (Tables I and II). Ours are the
# run's final validation PSNR on the validation data named in the table (whole Set5
# images under the full schedule), with the profile next to them. Only a `full` run
# trained on DIV2K and validated on whole Set5 images is comparable with the paper's
# column; only that one is asserted against it.

# %%
rows = []
for (model, scale), run in runs.items():
    table = paper_tables.TABLE_I if model == "defian_l" else paper_tables.TABLE_II
    paper = paper_tables.row(table, {"defian_s": "DeFiAN_S", "defian_l": "DeFiAN_L"}[model], scale)
    rows.append({
        "model": model, "scale": scale, "schedule": run.config["schedule"], "updates": run.summary["updates"],
        "validation data": run.environment["val_data"], "val PSNR (ours)": run.summary["final_val_psnr"],
        "Set5 PSNR (paper)": paper.psnr["Set5"], "samples/s": run.summary["samples_per_s"],
        "device": run.environment["device"], "profile": profile,
    })
results = pd.DataFrame(rows)
results

# %%
for (model, scale), run in runs.items():
    assert run.summary["status"] == "finished", (model, scale)
    assert run.summary["final_loss"] < run.metrics[0]["loss"], (model, scale)  # the loss fell
    if run.config["schedule"] == "full" and run.environment["val_data"] == "Set5 (5 images)" and "div2k" in run.name:
        paper = paper_tables.row(paper_tables.TABLE_I if model == "defian_l" else paper_tables.TABLE_II,
                                 {"defian_s": "DeFiAN_S", "defian_l": "DeFiAN_L"}[model], scale)
        assert abs(run.summary["final_val_psnr"] - paper.psnr["Set5"]) <= 0.15, (model, scale)  # within 0.15 dB
