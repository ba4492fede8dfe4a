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
# # Training DeFiAN_S and its attention-free twin
#
# :::{admonition} In short
# :class: tip
# The paper's training schedule, and DeFiAN_S trained beside the same trunk without attention. The number to
# remember: DeFiAN_S minus its twin, final validation PSNR, {glue:text}`short_gap:+.3f` dB ({glue:text}`short_schedule`
# schedule, {glue:text}`short_profile` profile; one seed); the paper's Table III gain is {glue:text}`short_paper_gap:+.2f` dB.
# :::
#
# The paper trains every model by minimising the mean absolute error of Eq. (23),
#
# $$\mathcal{L}(\theta) = \sum_{k=1}^{K} \| \mathbf{y}^k - \mathrm{DeFiAN}(\mathbf{x}^k) \|_1 ,$$
#
# with Adam, mini-batches of $K = 16$ pairs of $48 \times 48$ LR patches, a learning
# rate of $10^{-4}$ halved every $2 \times 10^5$ updates and $6 \times 10^5$ updates in
# all (Sec. IV-B2). This page states that schedule as `defian.train.config` holds it, then
# trains the pair the book needs most, DeFiAN_S and the same trunk with the attention
# branch removed (RCAN_S, the first column of Table III), under this profile's
# schedule, and plots their training loss and validation PSNR. Both runs are saved as
# run records (`defian.train.run_record`) that later pages read.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
device: str = "auto"  # "auto" picks CUDA when present, else CPU
seed: int = 0  # seeds initial weights, patch positions and augmentation
train_schedule: str = "smoke"  # defian.train.config schedule to train: smoke, cpu, short or full
train_missing: bool = True  # train the pair (resuming or reusing a record); False: read the committed records only

# %%
import argparse
import dataclasses
import json
import re

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display

from defian import paths
from defian.nn.model import make_config
from defian.report import paper_tables, study
from defian.train import config, run_record, loop

# %% [markdown]
# ## The schedules
#
# One `TrainConfig` describes a run; the named schedules are derived from the paper's
# with `dataclasses.replace`, so the table shows only what each changes. `released` is
# the authors' code (`option.py`): learning rate $2 \times 10^{-4}$, 128-pixel HR
# patches, ImageNet normalisation and a per-epoch StepLR. It is a documented
# alternative, never mixed into the paper's schedule.

# %%
fields = ["switches", "patch", "batch", "updates", "lr", "lr_step", "lr_step_unit", "val_every"]
table = pd.DataFrame({name: {f: getattr(c, f) for f in fields} for name, c in config.SCHEDULES.items()})
table

# %% [markdown]
# The paper's numbers, as asserts (Sec. IV-A1 and IV-B2):

# %%
full = config.FULL
assert (full.batch, full.patch, full.updates) == (16, 48, 600_000)  # K = 16, 48x48 LR patches, 6e5 updates
assert (full.lr, full.lr_step, full.lr_gamma, full.betas) == (1e-4, 200_000, 0.5, (0.9, 0.999))
assert config.SHORT.updates == 50_000  # the model-analysis setting of Sec. IV-D
released = config.schedule("released", scale=2)
assert released.lr_step * released.epoch_updates == full.lr_step  # 100 epochs of 2000 updates: same halving point

# %% [markdown]
# ## Why the `cpu` schedule looks the way it does
#
# A 2-core CPU is far slower than the paper's GPU at this job. `benchmarks/bench_train.py`
# times one update (batch 16, $48 \times 48$ LR patches, forward, backward and Adam) of the
# whole DeFiAN_S ($N = 5$ modules of $M = 10$ RCABs, $C = 32$) and of its attention-free
# twin, and puts each next to a *floor*: the update's FLOPs (counted by the benchmark) at
# the machine's best dense-convolution rate, measured in the same run. Two aims were set
# for the CPU code: DeFiAN_S at most 1.10 times the twin's time, and at most 1.3 times
# the floor.
#
# What brought the update down, in the order it was done: the fused Hessian filter
# (notebook 02), channels-last weights and batches (`TrainConfig.channels_last`) and a
# leaner DAC; a C++ kernel for the Hessian filter (`defian/kernels/csrc/mshf_cpu.cpp`,
# `defian.kernels.extension`); the 1x1 convolutions on pooled statistics as matrix
# products (`defian.nn.fem.Pointwise`), the DAC's statistics of $x$ and the gated residual
# that ends every DeFiAM and every RCAB as C++ passes (`defian.nn.dac.mean_std`,
# `defian.kernels.gate`; `benchmarks/bench_gate.py` times them against the PyTorch
# expressions); two loops the compiler had left scalar, vectorised (the per-pixel sigmoid
# of the gated residual, and the first pass of the Hessian filter's backward), the
# filter's backward made to run down the rows once with its intermediate rows in small
# rings that stay in cache, and its forward to read bands of rows instead of a
# zero-padded copy of the batch; and the global average pool of every RCAB's channel
# attention and of the DAC's statistics given a backward that broadcasts its gradient
# (`defian.kernels.pooling`: PyTorch's own hands autograd an NCHW tensor to add into a
# channels-last one, a strided loop, once per RCAB). The timings of the steps before the
# records below were not kept, so this page quotes none of them.
#
# The records (`results/bench/`, one JSON line per run of the benchmark; its README says
# which commit and which machine made each file). The machine is shared and its speed
# drifts, so compare ratios within one run, not seconds across runs or machines.

# %%
BENCH = paths.RESULTS / "bench"
RECORDS = {  # file stem -> what it measured (results/bench/README.md)
    "bench_train_2026-12-02": "first machine, after the C++ gates and statistics",
    "bench_train_2026-12-02_zen3": "Zen 3 (AVX2), after the vectorised loops",
    "bench_train_2026-12-02_zen4_fp32": "Zen 4 (AVX-512), after the pooling backward, fp32",
    "bench_train_2026-12-02_zen4_bf16": "Zen 4 (AVX-512), after the pooling backward, bf16 autocast",
}


def bench_frame(stem: str) -> pd.DataFrame:
    """One row per benchmark run of a record file: the ratios and rates notebook 06 reads."""
    lines = [json.loads(s) for s in (BENCH / f"{stem}.jsonl").read_text().splitlines() if s.strip()]
    return pd.DataFrame([{
        "s/update": r["defian_s"]["s_per_update"], "ratio": r["defian_over_rcan_time"],
        "floor": r["defian_s"]["ratio_to_floor"], "twin floor": r["rcan_s"]["ratio_to_floor"],
        "round floor": r["defian_s"].get("ratio_to_round_floor"), "twin round floor": r["rcan_s"].get("ratio_to_round_floor"),
        "rates": r.get("dense_conv_gflops_rounds") or r.get("dense_conv_gflops_before_after") or [r["dense_conv_gflops"]],
        "best rate": r["dense_conv_gflops"], "gflop": r["defian_s"]["flops_per_update"] / 1e9,
        "round ratios": [a / b for a, b in zip(r["defian_s"]["rounds"], r["rcan_s"]["rounds"], strict=True)],
    } for r in lines]).astype({"round floor": float, "twin round floor": float})


bench = {stem: bench_frame(stem) for stem in RECORDS}


def span(v: pd.Series, digits: int = 2) -> str:
    v = v.dropna()
    return f"{v.min():.{digits}f}-{v.max():.{digits}f} (median {v.median():.{digits}f})" if len(v) else "not recorded"


overview = pd.DataFrame({stem: {
    "what": RECORDS[stem], "runs": len(b), "DeFiAN_S s/update": span(b["s/update"]),
    "DeFiAN_S / twin": span(b["ratio"]), "runs at most 1.10": int((b["ratio"] <= 1.10).sum()),
    "DeFiAN_S / floor": span(b["floor"]), "runs at most 1.3": int((b["floor"] <= 1.3).sum()),
    "DeFiAN_S / each round's floor": span(b["round floor"]), "twin / floor": span(b["twin floor"]),
    "twin / each round's floor": span(b["twin round floor"]),
    "dense GFLOP/s (every measurement)": span(pd.Series([x for r in b["rates"] for x in r]), 0),
} for stem, b in bench.items()})
gflop_full = float(bench["bench_train_2026-12-02_zen4_fp32"]["gflop"].iloc[0])
assert all((b["gflop"] == b["gflop"].iloc[0]).all() for b in bench.values())  # one model, one count
with pd.option_context("display.max_colwidth", 60):
    display(overview)

# %%
def profile_split(stem: str) -> dict[str, tuple[float, int]]:
    """``{model: (share of the update in convolutions, their GFLOP/s)}`` of a ``bench_train.py --profile`` record."""
    pat = r"(\w+): [\d.]+ s/update \(profiled\), (\d+)% in convolutions at (\d+) GFLOP/s"
    return {m: (int(p) / 100, int(g)) for m, p, g in re.findall(pat, (BENCH / f"{stem}.txt").read_text())}


prof3, prof4 = (profile_split(f"bench_train_profile_2026-12-02_{m}") for m in ("zen3", "zen4"))
pool = {k: float(v) for k, v in re.findall(r"(float32|bfloat16)\s+spatial_mean.*= ([\d.]+)",
                                           (BENCH / "bench_pool_2026-12-02_zen4.txt").read_text())}
z3, z4, bf = (bench[f"bench_train_2026-12-02_{m}"] for m in ("zen3", "zen4_fp32", "zen4_bf16"))
rounds3, rounds4 = (pd.Series([x for r in b["round ratios"] for x in r]) for b in (z3, z4))
swing3 = max(max(r) / min(r) for r in z3["rates"] if len(r) > 2)  # within one run's rounds
fp32 = pd.concat([bench[s]["s/update"] for s in RECORDS if not s.endswith("bf16")])
# the claims below, asserted: on Zen 4 the median run meets both fp32 aims; on Zen 3 the
# ratio aim is met by the median but the floor is out of reach for the twin too; bf16 is
# faster but misses the ratio aim; the new pool is faster in both precisions
assert z4["ratio"].median() <= 1.10 and z4["floor"].median() <= 1.3
assert z3["ratio"].median() <= 1.10 and z3["twin floor"].min() > 1.3
assert bf["s/update"].max() < z4["s/update"].min() and bf["ratio"].median() > 1.10
assert set(pool) == {"float32", "bfloat16"} and max(pool.values()) < 1
display(Markdown(
    f"**Where the aims stand.** On the Zen 4 machine both fp32 aims are met by the median run: DeFiAN_S / twin "
    f"{z4['ratio'].median():.2f} against 1.10 ({int((z4['ratio'] <= 1.10).sum())} of {len(z4)} runs and "
    f"{int((rounds4 <= 1.10).sum())} of the {len(rounds4)} rounds at most 1.10), and DeFiAN_S at "
    f"{z4['floor'].median():.2f} times the floor ({z4['round floor'].median():.2f} against each round's rate) "
    f"against 1.3, but neither by a margin that one run's noise does not exceed. On the Zen 3 machine (AVX2 only) "
    f"the ratio to the twin is {z3['ratio'].median():.2f} (median run; the median of all {len(rounds3)} rounds' "
    f"ratios is {rounds3.median():.3f}, and {int((rounds3 <= 1.10).sum())} of them are at most 1.10), and the "
    f"floor is out of reach, for the twin too ({z3['twin floor'].median():.2f}): a profile there "
    f"(`benchmarks/bench_train.py --profile`) puts {prof3['rcan_s'][0]:.0%} of the twin's update in convolutions "
    f"that ran at {prof3['rcan_s'][1]} GFLOP/s against the {span(z3['best rate'], 0)} the floor takes as that "
    f"machine's best, so the gap is the machine's speed swings (its dense rate moves by up to a factor of "
    f"{swing3:.1f} within one run) plus the memory-bound passes the floor does not count (residual additions, "
    f"the RCABs' gates, ReLU backward). On Zen 4 the profile gives {prof4['rcan_s'][0]:.0%} in convolutions at "
    f"{prof4['rcan_s'][1]} GFLOP/s for the twin and {prof4['defian_s'][0]:.0%} at {prof4['defian_s'][1]} GFLOP/s "
    f"for DeFiAN_S: the attention branch's encoder-decoder, six small convolutions, is what it mostly costs; its "
    f"Hessian filter and gated residual are timed on their own by `benchmarks/bench_mshf.py` and "
    f"`benchmarks/bench_gate.py`. Under bf16 autocast the Zen 4 machine's update is "
    f"{z4['s/update'].median() / bf['s/update'].median():.1f} times faster ({span(bf['s/update'])} s for "
    f"DeFiAN_S, {len(bf)} runs), but DeFiAN_S / twin is {bf['ratio'].median():.2f}: the C++ gates and statistics "
    f"take float32 only and step aside for the PyTorch expressions, so the 1.10 aim is met in fp32 only. The "
    f"pooling backward alone (`benchmarks/bench_pool.py`, Zen 4): where the two gradients meet, the new pool takes "
    f"{pool['float32']:.2f} of the time of PyTorch's in float32 and {pool['bfloat16']:.2f} in bfloat16. An hour "
    f"buys {3600 / fp32.max():,.0f}-{3600 / fp32.min():,.0f} fp32 updates of the whole DeFiAN_S on these machines: "
    f"far too few for the comparison to mean anything."))

# %% [markdown]
# The cost of an update grows with the number of RCABs $N M$, the batch and the patch
# area. The `cpu` schedule keeps what the comparison is about, the channel width $C = 32$
# of DeFiAN_S, the batch of 16 and the attention branch in every module (MSHF, DiEnDec,
# DAC), and shrinks the rest: $N = 3$, $M = 5$ (15 RCABs instead of 50) and
# $24 \times 24$ LR patches (a quarter of the area). The learning rate starts at the
# released code's $2 \times 10^{-4}$, which converges faster in few updates, and is
# halved every 2,500 updates: the paper's shape, compressed (each of these values is asserted
# against `config.schedule("cpu")` and the presets below). Its FLOPs, counted as the
# benchmark counts them, and what its runs took in the committed cpu study:

# %% tags=["hide-input"]
bench_train = paths.benchmark_script("bench_train")
cpu_cfg = config.schedule("cpu")
# the prose above, held against the schedule and the presets: C and the batch of DeFiAN_S and the paper kept;
# N = 3, M = 5 (15 RCABs instead of DeFiAN_S's 50); 24 x 24 LR patches (a quarter of the paper's 48 x 48);
# lr 2e-4 (the released code's) halved every 2,500 updates
mc_cpu, mc_s = make_config(cpu_cfg.model, **cpu_cfg.switches), make_config("defian_s")
assert (mc_cpu.n_modules, mc_cpu.n_blocks, mc_cpu.channels, cpu_cfg.batch) == (3, 5, 32, 16)
assert mc_cpu.channels == mc_s.channels and cpu_cfg.batch == config.FULL.batch
assert (mc_cpu.n_modules * mc_cpu.n_blocks, mc_s.n_modules * mc_s.n_blocks) == (15, 50)
assert cpu_cfg.patch == 24 and (cpu_cfg.patch / config.FULL.patch) ** 2 == 1 / 4
assert cpu_cfg.lr == config.RELEASED.lr == 2e-4
assert (cpu_cfg.lr_step, cpu_cfg.lr_gamma, cpu_cfg.lr_step_unit) == (2_500, 0.5, "update")
gflop_cpu = {}
for name in study.PAIR:  # the benchmark's own count (forward, backward), at the cpu schedule's size
    args = argparse.Namespace(device="cpu", scale=2, switches=list(cpu_cfg.switches.items()), layout="nhwc",
                              compile=False, precision="fp32", batch=cpu_cfg.batch, patch=cpu_cfg.patch)
    gflop_cpu[name] = bench_train._update_fn(name, args)[1]() / 1e9
have = study.records_under(paths.RUNS, "cpu")
minutes = {j.config.model: r.wall_s / 60 for j in study.jobs("cpu")[:2] if (r := study.find_run(j, have))}
display(Markdown(
    f"{gflop_cpu['defian_s']:.1f} GFLOP per update for DeFiAN_S (twin: {gflop_cpu['rcan_s']:.1f}), "
    f"{gflop_full / gflop_cpu['defian_s']:.1f} times fewer than the whole DeFiAN_S's {gflop_full:.0f} at the "
    f"paper's patch size. "
    + (f"In the committed cpu study (one thread per run, two runs side by side; notebook 13), the pair at seed 0 "
       f"took {minutes['defian_s']:.0f} min (DeFiAN_S) and {minutes['rcan_s']:.0f} min (twin) of wall time for "
       f"{cpu_cfg.updates:,} updates (`defian.train.run_record.Run.wall_s`: every training process counted)."
       if len(minutes) == 2 else "The committed cpu study's records are not here, so its times are not shown.")))

# %% [markdown]
# Validation: the first images of Set5 (centre crops, to keep validation a small part
# of the budget), scored with the paper's protocol (Y channel, `scale` border pixels
# cropped, `defian.data.metrics.psnr`).

# %%
cfg = config.schedule(train_schedule, data_root=data_root, device=device, seed=seed, progress=False)
if train_schedule in ("short", "full"):
    assert torch.cuda.is_available(), f"the {train_schedule} schedule ({cfg.updates:,} updates) needs a GPU"
pd.Series({f.name: str(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}, name=train_schedule).to_frame()

# %% [markdown]
# ## Training
#
# `loop.train` resumes a run from its `last.pt` when one exists (a killed run
# continues update by update as if never stopped: `tests/train/test_loop.py` kills one
# with SIGKILL and compares) and returns a finished run's record without retraining.

# %%
root = run_record.runs_root(profile)


def committed(model: str) -> run_record.Run:
    """The one finished record of ``model`` under this schedule (``train_missing=False``: no training)."""
    found = run_record.find(root, model=model, scale=cfg.scale, schedule=cfg.schedule, seed=seed,
                            updates=cfg.updates, switches=cfg.switches)
    assert len(found) == 1, f"{len(found)} records of {model} ({cfg.schedule}, seed {seed}) under {root}"
    return found[0]


runs = {model: loop.train(dataclasses.replace(cfg, model=model), root) if train_missing else committed(model)
        for model in ("defian_s", "rcan_s")}
env = runs["defian_s"].environment
print(f"training data: {env['train_data']}\nvalidation data: {env['val_data']}")
for model, run in runs.items():
    print(f"{model}: {run.dir.relative_to(root.parent.parent)}")

# %% [markdown]
# Both runs saw exactly the same patches in the same order (the sample stream depends
# only on the seed), so the curves differ only by the model.

# %%
fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(11, 4))
for model, run in runs.items():
    ax_loss.plot(*run.curve("loss"), label=model)
    ax_psnr.plot(*run.curve("val_psnr"), marker="o", label=model)
ax_loss.set(xlabel="update", ylabel="L1 loss, Eq. (23)", yscale="log", title=f"training loss ({train_schedule})")
ax_psnr.set(xlabel="update", ylabel="PSNR (dB, Y)", title=f"validation: {env['val_data']}, x{cfg.scale}")
ax_loss.legend()
ax_psnr.legend()
plt.show()

# %% [markdown]
# ## What the runs show
#
# Training works when the loss falls: the last logged loss must be below the first
# one for both models. The PSNR gap between DeFiAN_S and RCAN_S is this run's
# measurement; the paper's nearest number is Table III, where the full attention
# branch adds 0.31 dB (33.91 -> 34.22 dB, Set5 x3, DeFiAN_L size, $5 \times 10^4$
# updates). A `smoke` run's gap means nothing; a single `cpu` run's is indicative
# only: the cpu study (notebook 13) repeats the pair at three seeds and measures
# how far apart two seeds of one model land.

# %%
summary = pd.DataFrame({
    model: {
        "params": run.summary["params"],
        "first loss": run.metrics[0]["loss"],
        "final loss": run.summary["final_loss"],
        "best val PSNR (dB)": run.summary["best_val_psnr"],
        "final val PSNR (dB)": run.summary["final_val_psnr"],
        "samples/s": run.summary["samples_per_s"],
    }
    for model, run in runs.items()
}).T
summary["schedule"], summary["profile"] = train_schedule, profile
summary

# %%
for model, run in runs.items():
    assert run.summary["status"] == "finished" and run.summary["updates"] == cfg.updates, model
    assert run.summary["final_loss"] < run.metrics[0]["loss"], model  # the loss fell (strictly)
gap = runs["defian_s"].summary["final_val_psnr"] - runs["rcan_s"].summary["final_val_psnr"]
t3 = paper_tables.TABLE_III
paper_gap = t3[-1].psnr_set5 - t3[0].psnr_set5  # column (h) all modules minus column (a) none
assert abs(paper_gap - 0.31) < 1e-9  # 34.22 - 33.91 dB as printed
print(f"DeFiAN_S - RCAN_S, final validation PSNR: {gap:+.3f} dB ({train_schedule} schedule, profile {profile}, "
      f"{env['val_data']}, x{cfg.scale}); paper Table III (x3, DeFiAN_L size, 5e4 updates): {paper_gap:+.2f} dB")
from myst_nb import glue  # noqa: E402  (the "In short" box under the title)

glue("short_gap", gap, display=False)
glue("short_paper_gap", paper_gap, display=False)
glue("short_schedule", train_schedule, display=False)
glue("short_profile", profile, display=False)
