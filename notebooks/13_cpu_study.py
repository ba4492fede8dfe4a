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
# # The cpu study: the attention branch's gain, with its noise
#
# :::{admonition} In short
# :class: tip
# Two CPU cores' worth of training: DeFiAN_S against its attention-free twin at x2, and Tables III-V at x3, reduced.
# The number to remember: the attention's gain on Set5 is {glue:text}`Set5_mean_gain:+.3f` dB (95 % interval
# {glue:text}`Set5_ci_low:+.3f` to {glue:text}`Set5_ci_high:+.3f`, {glue:text}`n_seeds:d` seeds; committed cpu-study records, under any profile).
# :::
#
# The paper's trained numbers need $6\times10^5$ updates of DeFiAN on DIV2K, days of
# GPU time per model. Until someone runs them (notebook 07, then `defian book
# --profile full`), the trained numbers of this book come from a study two CPU cores
# finish in a few days of background training: the `cpu` schedule of notebook 06
# ($N$ = {glue:text}`study_modules:d` modules of $M$ = {glue:text}`study_blocks:d` RCABs,
# $C$ = {glue:text}`study_channels:d`, batch {glue:text}`study_batch:d`,
# {glue:text}`study_patch:d` x {glue:text}`study_patch:d` LR patches, {glue:text}`study_updates:,d` updates)
# on the {glue:text}`train_images:d` images of T91 + BSDS200 instead of DIV2K (all read from the schedule
# and held against every record below).
#
# It asks four questions (`defian.report.study`; what the runs show is `defian.report.study_stats`):
#
# 1. the central claim: does the detail-fidelity attention beat the same trunk
#    without it (the twin, Table III (a)) at x2, and by more than the noise of
#    training? Three seeds of each, paired by seed;
# 2. Table III at x3: the eight MSHF / DiEnDec / DAC combinations;
# 3. Table IV at x3: no Hessian filtering and the seven kernel sets;
# 4. Table V at x3: the three encoder-decoders over half depths 0-4.
#
# Items 2-4 use one seed per variant (notebooks 09, 10 and 11 show them).
#
# This page reads the committed run records in `results/runs` (under every profile:
# they are the study; nothing is trained here) and measures item 1.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data (not used: records are read)
study_schedule: str = "cpu"  # the schedule of the study's runs
runs_root: str = ""  # "" -> results/runs, the committed records

# %%
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue
from scipy import stats as sps

from defian.nn.model import make_config
from defian.report import paper_tables, study, study_stats
from defian.train import config, run_record

root = runs_root or run_record.runs_root(study_schedule)
print("profile:", profile, "| records read from:", root)


class Plain(str):
    """Glued without the quotes a string's repr has."""

    def __repr__(self) -> str:
        return str(self)

# %% [markdown]
# ## The runs
#
# The size of a run was set in notebook 06 (the FLOPs of an update against the number
# of RCABs and the patch area); what the runs actually took is measured below from
# their records.
#
# {glue:text}`runs_total` runs: the pair at {glue:text}`n_study_seeds` seeds, the
# {glue:text}`n_table_variants` distinct variants of Tables III-V (a variant that is a
# column of two tables, such as Table IV's "w/o HF" = Table III (a), is trained once;
# `also` names the other columns), and DeFiAN_S with the Hessian filter's released
# settings at the same seeds ({glue:text}`n_mshf_runs` runs, read by the deviations
# chapter, notebook 14). `defian study --run
# --worker 1/2` and `--worker 2/2` in two terminals train the missing ones
# (resumably) and evaluate each; `--publish` copies finished records here.

# %%
st = study.status(root, study_schedule)
done = st[(st["state"] == "finished") & st["evaluated"]]
short, shared = study.short_names(list(st["run"]))  # run directories cut to what differs
display(st.assign(run=short).rename(columns={"run": "run directory (short)"}))
if shared:
    print("every run directory's name also holds:", ", ".join(shared), f"(under {root})")
runs = [run_record.read(root / name) for name in done["run"]]
glue("runs_done", len(done), display=False)
glue("runs_total", len(st), display=False)
labels = [j.label for j in study.jobs(study_schedule)]
glue("n_study_seeds", len(study.SEEDS), display=False)
glue("n_table_variants", sum(label.startswith("Table") for label in labels), display=False)
glue("n_mshf_runs", sum(" mshf " in label for label in labels), display=False)
assert len(labels) == len(st) == 2 * len(study.SEEDS) + sum(label.startswith("Table") for label in labels) + sum(
    " mshf " in label for label in labels)

# %% [markdown]
# The setting every run was trained with: the schedule's values, which every finished record's
# `config.json` must hold, and the size of the training set its `environment.json` names (these
# are the numbers this page and the chapter *What the cpu study supports* paste).

# %%
study_cfg = config.schedule(study_schedule)
study_size = make_config(study_cfg.model, **study_cfg.switches)
setting = {"batch": study_cfg.batch, "patch": study_cfg.patch, "updates": study_cfg.updates, "lr": study_cfg.lr,
           "lr_step": study_cfg.lr_step, "lr_gamma": study_cfg.lr_gamma, "lr_step_unit": study_cfg.lr_step_unit,
           "val_every": study_cfg.val_every}
for r in runs:  # every record was made with the schedule's values (a variant changes only the attention branch)
    assert {k: r.config[k] for k in setting} == setting, (r.dir.name, r.config)
    assert {k: r.config["switches"][k] for k in study_cfg.switches} == study_cfg.switches, r.dir.name
    assert make_config(r.config["model"], **r.config["switches"]).channels == study_size.channels, r.dir.name
n_train = {int(m.group(1)) for r in runs if (m := re.search(r"(\d+) images", r.environment.get("train_data", "")))}
assert len(n_train) <= 1 and len(n_train) == bool(runs), n_train  # one training set for all runs
# the paper's side of the comparison (Sec. IV-A1, IV-B): the presets and the full schedule
assert [(c.n_modules, c.n_blocks, c.channels) for c in map(make_config, ("defian_s", "defian_l"))] == [
    (5, 10, 32), (10, 20, 64)]
assert (config.FULL.updates, config.FULL.batch, config.FULL.patch, config.FULL.lr, config.FULL.lr_step) == (
    600_000, 16, 48, 1e-4, 200_000)
assert study_cfg.lr == 2e-4  # the prose's $2\times10^{-4}$
mantissa, exponent = f"{study_cfg.lr:.0e}".split("e")  # as text, "2 × 10⁻⁴", for the chapter's table
superscript = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
glue("study_lr", Plain(f"{mantissa} × 10{str(int(exponent)).translate(superscript)}"), display=False)
for key, value in {"modules": study_size.n_modules, "blocks": study_size.n_blocks,
                   "channels": study_size.channels, "batch": study_cfg.batch, "patch": study_cfg.patch,
                   "updates": study_cfg.updates, "lr_step": study_cfg.lr_step,
                   "val_every": study_cfg.val_every}.items():
    glue(f"study_{key}", value, display=False)
glue("train_images", n_train.pop() if n_train else -1, display=False)

# %% [markdown]
# What each run cost and which code ran it. A run that was interrupted and resumed
# has one *segment* per training process (`defian.train.run_record`); its time is the
# sum of its segments. The committed records were written before segments were kept
# (format 1): they hold the commit, machine and wall time of the last process only.
# For a run that resumed, the earlier process's time is rebuilt from `metrics.csv`:
# every row logs the training throughput (`samples_per_s`) over the updates since the
# row before, so those updates took (updates x batch / samples_per_s) seconds; the sum
# leaves out validation and checkpoint writes. Where both exist, on the last process of
# every run, that sum falls short of the measured time by the `last shortfall` below.
# The earlier process's commit is lost. A run is `dirty` when a segment ran from a
# work tree with uncommitted changes, so its commit alone does not name the code that
# trained it.

# %%
times = study_stats.run_times(runs)
display(times.assign(run=study.short_names(list(times["run"]))[0]).round(3))  # names cut as above
minutes = times["minutes"]
hours = float(minutes.sum()) / 60  # hours of one core, every segment counted
per_run = hours / max(len(runs), 1)  # hours of one core per run
n_resumed = int((times["segments"] > 1).sum())
print(f"{len(done)} of {len(st)} runs finished and evaluated; their training took {hours:.1f} h of one core "
      f"({per_run * 60:.0f} min per run on average, {minutes.min():.0f}-{minutes.max():.0f} min), "
      f"{hours / 2:.1f} h on two cores (one run per core); {n_resumed} runs resumed, "
      f"{times['reconstructed minutes'].sum():.0f} min of their time rebuilt from metrics.csv")
glue("minutes_per_run", per_run * 60, display=False)
glue("minutes_min", float(minutes.min()) if len(runs) else float("nan"), display=False)
glue("minutes_max", float(minutes.max()) if len(runs) else float("nan"), display=False)
glue("core_hours", hours, display=False)
glue("study_hours", hours / 2, display=False)  # two workers, one run per core
glue("runs_resumed", n_resumed, display=False)
glue("reconstructed_minutes", float(times["reconstructed minutes"].sum()), display=False)
glue("shortfall_max_pct", float(times["last shortfall"].max() * 100) if times["last shortfall"].notna().any()
     else float("nan"), display=False)
glue("runs_dirty", int((times["dirty"] == True).sum()), display=False)  # noqa: E712 (None is "unknown")
glue("runs_commit_lost", int(times["dirty"].isna().sum()), display=False)
assert (times["last shortfall"].dropna().between(0, 0.005)).all()  # the method's check: below 0.5 %

# %% [markdown]
# ## 1. DeFiAN_S against its twin, seed by seed
#
# At one seed both models draw the same patches in the same order (the sample stream
# depends only on the seed), so the difference of a pair removes that part of the
# noise; what is left is the initialisation and the path through training. Each row
# is the PSNR of the last checkpoint on the whole test set (paper protocol: Y channel,
# `scale` border pixels cropped, `defian.data.metrics`).

# %%
gains = study_stats.paired_gains(root, study_schedule)
display(gains.round(4))
summary = study_stats.summarize(gains)
display(summary.round(4))

# %% [markdown]
# The gain of each seed, and the mean with its 95 % Student-t interval (with three
# seeds the t quantile is 4.3, asserted below, so the interval is wide: that is the honest width).

# %%
assert abs(sps.t.ppf(0.975, 2) - 4.30) < 0.005  # the t quantile of 3 seeds quoted above
sets = list(summary["set"])
if sets:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(sets))
    for seed, g in gains.groupby("seed"):
        ax.plot(x + 0.06 * (seed - 1), g.set_index("set").loc[sets, "gain"], "o", alpha=0.6, label=f"seed {seed}")
    m = summary.set_index("set").loc[sets]
    ax.errorbar(x, m["mean gain"], yerr=[m["mean gain"] - m["ci low"], m["ci high"] - m["mean gain"]],
                fmt="_", color="k", ms=20, capsize=6, label="mean, 95 % interval")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xticks=x, xticklabels=sets, ylabel="PSNR gain (dB)",
           title=f"DeFiAN_S - twin, x{study.PAIR_SCALE}, {study_schedule} schedule")
    ax.legend(fontsize=8)
    plt.show()

# %% [markdown]
# A set's mean can hide a few outliers. Per image (paired, same seed): the share of
# images on which DeFiAN_S beats its twin, and the median gain.

# %%
img = study_stats.image_gains(root, study_schedule)
per_image = (img.groupby(["set", "seed"], sort=False)["gain"]
             .agg(images="count", median="median", share_better=lambda g: float((g > 0).mean())).reset_index())
display(per_image.round(3))
for s_name, g in img.groupby("set"):
    glue(f"{s_name}_share_better", float((g["gain"] > 0).mean()), display=False)
if len(img):  # the chapter: DeFiAN_S is lower "on most images" of every set
    assert (img.groupby("set")["gain"].apply(lambda g: float((g > 0).mean())) < 0.5).all()

# %% [markdown]
# The test sets are one view; the training loss is another, free of test-set noise:
# at one seed both models fit the same patches, so the mean L1 loss over the last
# {glue:text}`loss_window:,d` updates says which one got further in fitting them (ratio > 1: DeFiAN_S's
# loss is higher).

# %%
loss_window = 1000  # updates at the end of each run whose training losses are averaged
losses = study_stats.final_losses(root, study_schedule, last=loss_window)
glue("loss_window", loss_window, display=False)
display(losses.round(5))
params = {r.config["model"]: r.summary["params"]
          for pair in study_stats.pairs(root, study_schedule).values() for r in pair}
if len(params) == 2:
    print(f"parameters: DeFiAN_S {params['defian_s']:,}, twin {params['rcan_s']:,} "
          f"(+{(params['defian_s'] / params['rcan_s'] - 1) * 100:.1f} %)")
    glue("params_defian_s", params["defian_s"], display=False)
    glue("params_rcan_s", params["rcan_s"], display=False)
    glue("params_extra_pct", (params["defian_s"] / params["rcan_s"] - 1) * 100, display=False)
for r in losses.itertuples():
    glue(f"loss_ratio_seed{r.seed}", (r.ratio - 1) * 100, display=False)  # percent
# the scale of the study against the paper's (book/cpu_study.md, "What it cannot say")
rcabs = {name: make_config(name).n_modules * make_config(name).n_blocks for name in ("defian_s", "defian_l")}
rcabs["ours"] = study_cfg.switches["n_modules"] * study_cfg.switches["n_blocks"]
assert (rcabs["defian_s"], rcabs["defian_l"]) == (5 * 10, 10 * 20)  # Sec. IV-B1: N = 5, M = 10 and N = 10, M = 20
glue("rcabs_s", rcabs["defian_s"], display=False)
glue("rcabs_l", rcabs["defian_l"], display=False)
glue("rcabs_ours", rcabs["ours"], display=False)
glue("depth_ratio_s", rcabs["defian_s"] / rcabs["ours"], display=False)
glue("depth_ratio_l", rcabs["defian_l"] / rcabs["ours"], display=False)
glue("updates_ratio", config.FULL.updates / study_cfg.updates, display=False)
if len(losses) > 2:
    # the outlier: the seed whose DeFiAN_S does worst against its twin on Set5
    outlier = int(gains[gains["set"] == "Set5"].set_index("seed")["gain"].idxmin())
    others = [int(x) for x in losses["seed"] if x != outlier]
    off = (losses.set_index("seed")["ratio"] - 1).abs()
    # the chapter: "two seeds fit equally well" (losses within 0.5 % of the twin's) "and the
    # outlier fits worse" (more than 1 % above it)
    assert (off.loc[others] < 0.005).all() and losses.set_index("seed").loc[outlier, "ratio"] > 1.01, losses
    # the chapter: DeFiAN_S varies more from seed to seed than its twin (Set5)
    assert summary.set_index("set").loc["Set5", "sd defian_s"] > summary.set_index("set").loc["Set5", "sd rcan_s"]
    glue("outlier_seed", outlier, display=False)
    glue("other_seeds", Plain(" and ".join(map(str, others))), display=False)
else:
    outlier = None
    glue("outlier_seed", -1, display=False)
    glue("other_seeds", Plain("none"), display=False)

# %% [markdown]
# Validation PSNR during training (Set5 centre crops, every {glue:text}`study_val_every:,d` updates): how far
# the curves of one model at different seeds spread, next to how far the two models
# are apart.

# %%
pair_runs = {(r.config["model"], seed): r for seed, pair in study_stats.pairs(root, study_schedule).items() for r in pair}
if pair_runs:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for (model, seed), r in sorted(pair_runs.items()):
        ax.plot(*r.curve("val_psnr"), ("-" if model == "defian_s" else "--"),
                color=f"C{seed}", label=f"{model} seed {seed}")
    ax.set(xlabel="update", ylabel="PSNR (dB, Y)", title=r.environment.get("val_data", "validation"))
    ax.legend(fontsize=8, ncol=2)
    plt.show()

# %% [markdown]
# The difference of each pair's curves: does the gap close as training goes on?
# Single points swing widely (the largest jump between neighbouring points is printed
# below): at a learning rate of $2\times10^{-4}$ a model's PSNR on the five validation
# crops jumps between points. What matters is the trend over the last few thousand updates.

# %%
gaps = study_stats.validation_gaps(root, study_schedule)
if len(gaps):
    ax = gaps.plot(marker="o", figsize=(7, 3.2), title="validation PSNR, DeFiAN_S - twin (dB)")
    ax.axhline(0, color="grey", lw=0.8)
    plt.show()
    late = gaps.loc[gaps.index > gaps.index.max() / 2]
    print(f"mean gap over the second half of training: {late.mean().mean():+.3f} dB "
          f"({late.size} validation points, all seeds); largest jump between neighbouring points: "
          f"{gaps.diff().abs().max().max():.2f} dB")
    if outlier is not None:  # from which validation point on the outlier's DeFiAN_S stays behind its twin
        g = gaps[f"seed {outlier}"]
        ahead = g.index[g >= 0]
        behind_from = int(g.index[g.index > ahead.max()].min()) if len(ahead) else int(g.index.min())
        assert (g.loc[behind_from:] < 0).all() and behind_from <= g.index.max() / 2
        glue("outlier_behind_from", behind_from, display=False)
if not len(gaps) or outlier is None:
    glue("outlier_behind_from", -1, display=False)

# %% [markdown]
# ## What the numbers say
#
# The verdict below is computed, not written: a gain is *supported* when the 95 %
# interval of the mean lies above zero, *contradicted* when it lies below, and
# *not resolved* otherwise. For scale: the paper's Table III puts the whole attention
# branch at +0.31 dB (Set5, x3, DeFiAN_L size, $5\times10^4$ updates on DIV2K). The
# paper has no attention-free DeFiAN_S at x2, so that is the nearest like-for-like
# number, at another scale and a much larger model.

# %%
t3 = paper_tables.TABLE_III
paper_gain = t3[-1].psnr_set5 - t3[0].psnr_set5  # (h) all parts minus (a) none, as printed
assert abs(paper_gain - 0.31) < 1e-9


lines = []
for _, row in summary.iterrows():
    s = row["set"]
    v = study_stats.verdict(row)
    lines.append(f"- **{s}**: {row['mean gain']:+.3f} dB (sd {row['sd gain']:.3f} over {row['seeds']} seeds, "
                 f"95 % interval {row['ci low']:+.3f} to {row['ci high']:+.3f}): {v}")
    for key in ("mean gain", "sd gain", "ci low", "ci high", "sd defian_s", "sd rcan_s"):
        glue(f"{s}_{key.replace(' ', '_')}", float(row[key]), display=False)
    glue(f"{s}_verdict", Plain(v), display=False)
n_seeds = int(summary["seeds"].min()) if len(summary) else 0
glue("n_gains", len(gains), display=False)
glue("n_negative", int((gains["gain"] < 0).sum()), display=False)
if len(gains):
    assert int((gains["gain"] < 0).sum()) in (0, len(gains))  # the chapter: "every pair points the same way"
    glue("gain_abs_min", float(gains["gain"].abs().min()), display=False)
    glue("gain_abs_max", float(gains["gain"].abs().max()), display=False)
else:
    for key in ("gain_abs_min", "gain_abs_max"):
        glue(key, float("nan"), display=False)
if n_seeds > 1:
    # the chapter: the interval of the mean still includes zero on every set, and even its
    # top on Set5 stays below the paper's Table III gain
    assert ((summary["ci low"] < 0) & (summary["ci high"] > 0)).all(), summary
    assert summary.set_index("set").loc["Set5", "ci high"] < paper_gain
    # the 95 % interval of an sd estimated from n values: sqrt((n-1) / chi2 quantiles), in units of the estimate
    glue("sd_ci_low_factor", float(np.sqrt((n_seeds - 1) / sps.chi2.ppf(0.975, n_seeds - 1))), display=False)
    glue("sd_ci_high_factor", float(np.sqrt((n_seeds - 1) / sps.chi2.ppf(0.025, n_seeds - 1))), display=False)
else:
    for key in ("sd_ci_low_factor", "sd_ci_high_factor"):
        glue(key, float("nan"), display=False)
print(f"{int((gains['gain'] < 0).sum())} of {len(gains)} paired gains (seeds x sets) are negative")
glue("n_seeds", n_seeds, display=False)
glue("paper_gain_t3", paper_gain, display=False)
display(Markdown("\n".join(lines) if lines else "No seed pair has been evaluated yet."))

# %% [markdown]
# ## What the noise means for Tables III-V
#
# Tables III-V are one run per variant. Two single runs of different variants differ
# by their true difference plus noise whose size the pair measures: the standard
# deviation of a paired difference across seeds (`sd gain`; unpaired runs of two
# variants share the seed, hence the patch order, so this is the right yardstick).
# A difference smaller than about twice that cannot be told from noise with one
# seed. Below: how many of the paper's own differences between neighbouring columns
# would be that small.

# %%
if len(summary) and summary["seeds"].min() > 1:
    noise = float(summary.set_index("set").loc["Set5", "sd gain"]) if "Set5" in sets else float(
        summary["sd gain"].mean())
    paper_cols = {
        "Table III": [r.psnr_set5 for r in t3],
        "Table IV": [r.psnr_set5 for r in paper_tables.TABLE_IV],
        "Table V": [p for r in paper_tables.TABLE_V for p in r.psnr.values() if p is not None],
    }
    rows = []
    for name, psnrs in paper_cols.items():
        diffs = np.abs(np.subtract.outer(psnrs, psnrs)[np.triu_indices(len(psnrs), 1)])
        rows.append({"table": name, "variant pairs": len(diffs), "largest |difference| (dB)": diffs.max(),
                     f"below 2 sd = {2 * noise:.3f} dB": int((diffs < 2 * noise).sum())})
    resolvable = pd.DataFrame(rows)
    display(resolvable)
    glue("noise_2sd", 2 * noise, display=False)
    paper_max = float(resolvable["largest |difference| (dB)"].max())
    glue("paper_max_diff", paper_max, display=False)
    assert 2 * noise > paper_max  # the chapter: 2 sd is larger than every difference in Tables III-V
    t3_diffs = np.abs(np.diff(sorted(paper_cols["Table III"])))  # neighbours in the paper's ranking
    typical = float(np.median(t3_diffs))
    need = study_stats.seeds_needed(noise, typical)
    print(f"the paper's Table III variants lie a median {typical:.3f} dB apart (neighbours in its ranking); "
          f"resolving that at 2 standard errors takes {need} seeds per variant at this noise")
    glue("t3_typical_diff", typical, display=False)
    glue("seeds_needed_t3", need, display=False)
    ablation_runs = sum(1 for j in study.jobs(study_schedule) if j.config.scale == study.ABLATION_SCALE)
    cost = need * ablation_runs * per_run
    print(f"{need} seeds x {ablation_runs} variants at {per_run * 60:.0f} min each: "
          f"{cost:,.0f} h of one core")
    glue("seeds_needed_hours", cost, display=False)
    glue("ablation_runs", ablation_runs, display=False)
else:
    print("the noise is not measured until the pair has at least two seeds")
    for key in ("noise_2sd", "paper_max_diff", "t3_typical_diff", "seeds_needed_t3", "seeds_needed_hours",
                "ablation_runs"):
        glue(key, float("nan"), display=False)

# %% [markdown]
# What the single runs can show is how far apart the variants land. A table's runs
# share seed 0 (so the patch order) and differ only in the attention branch, so a
# small spread of a table's column leaves little room for either the noise of a run
# at that seed or true differences between those variants at this budget. Next to
# it, the spread of the paper's numbers over the same columns.

# %%
spreads = study_stats.table_spreads(root, study_schedule)  # on Set5, as the tables
display(spreads.round(3))
for _, row in spreads.iterrows():
    key = {"Table III": "t3", "Table IV": "t4", "Table V": "t5"}[row["table"]]
    for col in ("variants", "measured"):
        glue(f"{key}_{col}", int(row[col]), display=False)
    for col in ("span ours", "span paper"):
        glue(f"{key}_{col.replace(' ', '_')}", float(row[col]), display=False)
    glue(f"{key}_span_ratio", float(row["span ours"] / row["span paper"]), display=False)
full = spreads[spreads["measured"] == spreads["variants"]]
if len(full):  # a complete table: its variants are closer together than the paper's ...
    assert (full["span ours"] < full["span paper"]).all(), full
    one_run = 2 * study_stats.paired_noise(root, study_schedule)
    if np.isfinite(one_run):  # ... and than the noise of one run, which the chapter says
        assert (full["span ours"] < one_run).all(), (full, one_run)

# %% [markdown]
# ## What the attention selects at this budget
#
# A gain needs an attention that varies over the image: a sigmoid gate that is the
# same everywhere scales the residual of Eq. (6) by a constant, which a convolution
# of the FEM could do as well. For every DeFiAM of the pair's DeFiAN_S,
# `study_stats.pair_attention_activity` measures, at initialisation (rebuilt from the seed as
# training built it) and after training, on the figure image and without its 4-pixel
# border: how much the channel-mean gate $\bar{\mathbf{a}}$ varies relative to its
# mean; how much the encoder-decoder output $\mathbf{v}$ (Eq. 18) varies; and what
# fraction of the last decoder stage passes its ReLU. In the released design that
# stage has 3 channels and a ReLU before the $1\times1$ gate; if all three are
# negative everywhere, the gate sees zeros, $\mathbf{v}$ is its bias, and the DAC's
# normalised $\mathbf{v}$ is 0: the attention is then a per-channel constant,
# whatever the Hessian maps hold. A unit that never fires gets no gradient, so it
# cannot revive. The DAC has a second such bottleneck: its $\hat{\sigma}$ MLP of
# Eq. (21) has $C/16 = 2$ hidden ReLU units at $C = 32$; if both are dead,
# $\hat{\sigma} = 0$ and the gate is $S(\hat{\mu})$, constant over the image
# (`dac_gain`, the largest $|\hat{\sigma}|$).

# %%
act = study_stats.pair_attention_activity(root, study_schedule, data_root)
if len(act):
    print("image:", act.attrs["image"])
    display(act.pivot_table(index=["seed", "DeFiAM"], columns="when",
                            values=["a_rel_sd", "v_sd", "decoder_active", "dac_gain"]).round(4))
    trained, init = (act[act.when == w].set_index(["seed", "DeFiAM"]) for w in ("trained", "init"))
    dead = trained.decoder_active == 0
    dead_at_init = int((dead & (init.decoder_active == 0)).sum())
    glue("att_modules", len(trained), display=False)
    glue("att_dead_trained", int(dead.sum()), display=False)
    glue("att_dead_at_init", dead_at_init, display=False)
    glue("att_max_rel_sd", float(trained.a_rel_sd.max()), display=False)
    glue("att_median_rel_sd", float(trained.a_rel_sd.median()), display=False)
    glue("att_image", Plain(act.attrs["image"]), display=False)
    glue("att_dac_dead", int(((trained.dac_gain == 0) & ~dead).sum()), display=False)  # not counted above
    # the DeFiAMs with neither failure (last decoder stage live, DAC sigma^ MLP live): the chapter says they
    # too vary little (asserted: below a tenth of the mean)
    alive = ~dead & (trained.dac_gain != 0)
    glue("att_alive", int(alive.sum()), display=False)
    glue("att_alive_max_rel_sd", float(trained.a_rel_sd[alive].max()) if alive.any() else float("nan"), display=False)
    assert not alive.any() or trained.a_rel_sd[alive].max() < 0.1, trained[alive]  # Set5's or the embedded image
    # live fractions at initialisation: each of the three units on or off over nearly the whole
    # image puts the fraction near a multiple of 1/3 (the chapter's reading). Tolerance 0.1: the
    # three units together then stray from all-or-nothing by at most 0.3 of one unit's image
    # (fractions spread at random would stray up to 1/6; the embedded smoke image gives ~0.05)
    third = float((init.decoder_active - (3 * init.decoder_active).round() / 3).abs().max())
    assert third < 0.1, init.decoder_active
    glue("att_init_third_dist", third, display=False)
    glue("att_init_fractions", Plain(", ".join(f"{v:.3f}" for v in sorted(init.decoder_active))), display=False)
    print(f"{int(dead.sum())} of {len(trained)} DeFiAMs end with a dead last decoder stage "
          f"({dead_at_init} of them dead at initialisation); "
          f"a-bar varies by at most {trained.a_rel_sd.max():.1%} of its mean (median {trained.a_rel_sd.median():.2%})")
else:
    for key in ("att_modules", "att_dead_trained", "att_dead_at_init", "att_dac_dead", "att_alive"):
        glue(key, 0, display=False)
    for key in ("att_max_rel_sd", "att_median_rel_sd", "att_init_third_dist", "att_alive_max_rel_sd"):
        glue(key, float("nan"), display=False)
    glue("att_init_fractions", Plain("none"), display=False)
    glue("att_image", Plain("no image"), display=False)

# %% [markdown]
# ## Provenance
#
# Every number on this page is read from `results/runs/*/evaluation/last_paper/`
# (written by `defian evaluate --run`) of runs made with the `cpu` schedule (each value read from
# the schedule and asserted against every record above): model
# size $N$ = {glue:text}`study_modules:d`, $M$ = {glue:text}`study_blocks:d`, $C$ = {glue:text}`study_channels:d`
# (the paper's DeFiAN_S is $N=5$, $M=10$; DeFiAN_L $N=10$, $M=20$, $C=64$; Sec. IV-B1, asserted against
# the presets above), {glue:text}`study_updates:,d` updates of batch {glue:text}`study_batch:d` on
# {glue:text}`study_patch:d` x {glue:text}`study_patch:d` LR patches
# (the paper: $6\times10^5$ of $48\times48$, Sec. IV-A1 and IV-B2), learning rate {glue:text}`study_lr`
# halved every {glue:text}`study_lr_step:,d` updates, training data T91 + BSDS200
# ({glue:text}`train_images:d` images; the paper: DIV2K, 800, Sec. IV-A1). None of it is the paper's
# setting. The chapter *What the cpu study supports* states what follows from it.
