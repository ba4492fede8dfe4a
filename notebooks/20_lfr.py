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
# # DeFiAN at any scale: the Laplacian frequency representation
#
# :::{admonition} In short
# :class: tip
# DeFiAN's trunk with an ASDN-style Laplacian-frequency head: one model for every scale in (1, 4]. The number to
# remember: at x2 that one model is {glue:text}`curve_gap_x2:+.2f` dB from bicubic on {glue:text}`curve_set`
# (model: {glue:text}`model_label`). At an equal budget in updates it is {glue:text}`lfr_vs_fixed`.
# :::
#
# DeFiAN is a fixed-scale network: Tables I and II train one model per factor (x2, x3,
# x4), each ending in its own pixel-shuffle upsampler. The question a reader asks next
# is whether the detail-fidelity attention can serve *every* scale with one model.
# ASDN (Shen, Wang and Zhang, arXiv:2010.02414; `shared/paper/asdn-and-related-slides.md`)
# gives a recipe that keeps the trunk and replaces the upsampler:
#
# * $L$ image reconstruction branches on one feature map, one per *level*
#   $r_l = l/(L-1) + 1$ of a Laplacian frequency representation of the scales in $(1, 2]$;
# * a scale $r$ between two levels is their interpolation,
#   $O_r = O_{r_i} + w_r P_i$ with the *phase* $P_i = O_{r_{i-1}} - O_{r_i}$,
#   $i = \lceil (r-1)(L-1) \rceil$ and $w_r = (L-1)(r_i - r)$;
# * a scale $R > 2$ is reached by running the model again on its own output,
#   $N = \lceil \log_2 R \rceil$ times, the largest ratio first.
#
# `defian.lfr` puts that head on DeFiAN's trunk (with and without its attention branch).
# This chapter shows the rules, the model, what one trained model does across scales,
# and what the reduced study (`defian.lfr.study`) measures; with the `smoke` profile it
# trains a tiny model in seconds, with `cpu` it reads the study's committed records.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
lfr_schedule: str = "smoke"  # schedule of the LFR study records read, cpu for results/runs/lfr
lfr_train: bool = True  # train a tiny LFR model in place, False to use the study records only
lfr_train_updates: int = 600  # updates of that model
lfr_eval_limit: int = 1  # images of the first test set on the curve drawn here, 0 for all of them
lfr_crop: int = 128  # HR centre crop side of those images, 0 for whole images
train_lr: float = 2e-3  # learning rate of the tiny model, constant (smoke: a few hundred updates)

# %%
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from myst_nb import glue

from defian import paths
from defian.data import testsets
from defian.lfr import (
    N_LEVELS,
    bracket,
    build_lfr_model,
    deploy,
    level_scales,
    report,
    study,
)
from defian.lfr import evaluate as lfr_eval
from defian.lfr import figures as lfr_fig
from defian.lfr import train as lfr_train_mod
from defian.nn.model import build_model
from defian.report import evaluate, figures
from defian.train import config, run_record

print("profile:", profile, "| data:", paths.data_root(data_root) or "embedded default")


class Plain(str):
    """Glued without the quotes a string's repr has."""

    def __repr__(self) -> str:
        return str(self)


# %% [markdown]
# ## The rules, exactly
#
# `defian.lfr.levels` computes the level, the weight and the deployment of a scale in
# exact arithmetic (a decimal scale such as 1.3 *is* the level 1.3, not the binary
# float an ulp above it). The slides' own example and the recursion they prescribe,
# asserted:

# %%
assert N_LEVELS == 11 and level_scales()[3] == Fraction(13, 10)  # slides: 11 levels, r_3 = 1.3
b = bracket(Fraction(127, 100))  # slides' example: r = 1.27 -> i = 3, w = 0.3, O_r = O_{r_3} + 0.3 P_3
assert (b.index, b.weight) == (3, Fraction(3, 10))
assert deploy(3).ratios == (2, Fraction(3, 2))  # R = 3: N = 2 steps, 2 first, then 1.5
assert deploy(4).ratios == (2, 2) and deploy(Fraction(7, 2)).ratios == (2, Fraction(7, 4))
assert bracket(2).index == N_LEVELS - 1 and build_lfr_model("defian_lfr_s").config.max_scale == 4  # (1, 2], (1, 4]
rows = []
for s in (1.1, 1.27, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0):
    row = {"scale": s}
    if s <= 2:
        bb = bracket(s)
        row.update(levels=f"{bb.lower}, {bb.index}" if bb.weight else f"{bb.index}", weight=round(float(bb.weight), 6))
    for rule in ("largest_first", "equal2"):
        row[rule] = " x ".join(f"{float(r):.4g}" for r in lfr_eval.DEPLOYMENTS[rule](s).ratios)
    rows.append(row)
display(pd.DataFrame(rows))

# %% [markdown]
# `largest_first` is the slides' rule; `equal2` is their Table 3 "recursive deployment"
# (two equal steps $\sqrt{R}$, even at x2), the one this chapter compares with direct
# (fixed-scale) models.
#
# ## The model
#
# `build_lfr_model("defian_lfr_s", ...)` is DeFiAN's trunk (conv, $N$ DeFiAMs, conv and
# the global feature skip) on the bicubic-upsampled input, as ASDN feeds its network,
# and the LFR head: one $1\times1$ convolution per level on the trunk's features, plus
# the upsampled input as the global skip. `rcan_lfr_s` is the same trunk without the
# attention branch. At the cpu study's size the head replaces DeFiAN's upsampler:

# %%
sw = dict(config.CPU.switches)  # the cpu study's N and M
sizes = {
    "DeFiAN_S x2 (fixed scale)": build_model("defian_s", 2, **sw),
    "DeFiAN_S x4 (fixed scale)": build_model("defian_s", 4, **sw),
    "DeFiAN-LFR (all scales)": build_lfr_model("defian_lfr_s", **sw),
    "LFR without attention": build_lfr_model("rcan_lfr_s", **sw),
}
params = {k: sum(p.numel() for p in m.parameters()) for k, m in sizes.items()}
display(pd.DataFrame({"parameters": params}))
head = sum(p.numel() for p in sizes["DeFiAN-LFR (all scales)"].head.parameters())
assert head == N_LEVELS * (32 * 3 + 3)  # 11 branches of one 1x1 convolution, C = 32 -> 3, with bias
glue("lfr_params", params["DeFiAN-LFR (all scales)"], display=False)
glue("fixed_x2_params", params["DeFiAN_S x2 (fixed scale)"], display=False)
glue("lfr_head_params", head, display=False)

# %% [markdown]
# ## One model, trained here (smoke) or read from the study (cpu)
#
# Training draws one level per batch (slides, "Training"), its LR patches made by
# MATLAB's bicubic at $1/r_l$ from HR patches of side $\lfloor p\, r_l \rfloor$, so the
# LR side is $p$ at every level (`defian.lfr.data`). Runs leave the fixed-scale runs'
# records (config, metrics, checkpoints, resume). Under `smoke` this is a tiny model
# and {glue:text}`lfr_train_updates` updates: it shows the machinery, and its numbers say nothing
# about the method.

# %%
model, model_label = None, "none"
glue("lfr_train_updates", lfr_train_updates, display=False)
if lfr_train:
    cfg = lfr_train_mod.schedule("smoke", updates=lfr_train_updates, lr=train_lr, lr_step=lfr_train_updates,
                                 log_every=50, val_every=100 * (lfr_train_updates >= 100), ckpt_every=100,
                                 data_root=data_root)
    run = lfr_train_mod.train(cfg, paths.SCRATCH_RUNS / "lfr_chapter")  # scratch under every profile
    model, info = lfr_train_mod.load_lfr_model(run.dir / "last.pt")
    model_label = f"tiny {cfg.model} ({run.summary['params']:,} parameters, {cfg.updates} updates, in place)"
    print(run.dir.name, {k: run.summary[k] for k in ("status", "updates", "final_loss", "final_val_psnr")})
else:
    st_runs = study.records([study.lfr_root(lfr_schedule)], lfr_schedule)
    first = next((r for r in st_runs if r.config.get("model") == "defian_lfr_s" and (r.summary or {}).get("status")
                  == "finished" and r.config.get("switches", {}).get("upsampling", "pre") == "pre"), None)
    if first is not None:
        model, info = lfr_train_mod.load_lfr_model(first.dir / "last.pt")
        model_label = f"{first.name} (committed record)"
print("model:", model_label)
glue("model_label", Plain(model_label), display=False)

# %% [markdown]
# ## PSNR against scale over (1, 4]
#
# Evaluation at a non-integer scale needs a crop rule (`defian.lfr.evaluate`): with
# $s = p/q$ in lowest terms, HR is cropped to a multiple of $p$, so that its LR
# `imresize(HR, 1/s)` has exactly $n/s$ pixels and the output exactly $n$; at integer
# scales that is the paper's mod-crop, and the numbers are the fixed-scale protocol's.
# The border crop is $\lceil s \rceil$ pixels, Y channel.

# %%
assert lfr_eval.crop_to_scale(np.zeros((100, 100)), 2.5).shape == (100, 100)  # 5/2: multiples of 5
assert lfr_eval.crop_to_scale(np.zeros((100, 100)), 3.5).shape == (98, 98)  # 7/2: multiples of 7
curve = pd.DataFrame()
if model is not None:
    present = testsets.find(paths.data_root(data_root))
    first_set = next((s for s in study.SETS if s in present), next(iter(present)))
    stored = pd.DataFrame()
    if not lfr_train:  # a committed record: its stored evaluation holds the curve (study.CURVE_SCALES, every image)
        rows = lfr_eval.read_lfr_evaluation(evaluate.evaluation_dir(first.dir))[0]
        rows = rows[(rows["set"] == first_set) & (rows["rule"] == "largest_first")
                    & rows["scale"].astype(float).isin(study.CURVE_SCALES)]
        stored = lfr_eval.per_set(rows.assign(method="LFR")) if len(rows) else stored
    if len(stored):
        scales = sorted(float(x) for x in stored["scale"])
        kw = {"sets": [first_set], "data_root": data_root or None, "limit": int(stored["images"].iloc[0]),
              "crop": 0, "with_ssim": False}
        curve_source = f"the record's stored evaluation, {int(stored['images'].iloc[0])} whole image(s)"
        curve = pd.concat([stored, lfr_eval.per_set(lfr_eval.evaluate_scales(None, scales, **kw))], ignore_index=True)
    else:  # the model trained here: scored here
        scales = [round(1 + k / 10, 1) for k in range(1, 31)]  # 1.1 .. 4.0
        kw = {"sets": [first_set], "data_root": data_root or None, "limit": lfr_eval_limit or None, "crop": lfr_crop,
              "with_ssim": False}
        curve_source = f"scored here, {lfr_eval_limit or 'all'} image(s), crop {lfr_crop or 'none'}"
        curve = pd.concat([lfr_eval.per_set(lfr_eval.evaluate_scales(model, scales, method="LFR", **kw)),
                           lfr_eval.per_set(lfr_eval.evaluate_scales(None, scales, **kw))], ignore_index=True)
    wide = curve.pivot_table(index="scale", columns="method", values="psnr")
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for m_name, style in (("LFR", "o-"), ("Bicubic", "s--")):
        ax.plot(wide.index, wide[m_name], style, ms=3, label=m_name)
    for x in (2, 4):
        ax.axvline(x, color="grey", lw=0.6)
    ax.set(xlabel="scale s", ylabel="PSNR (dB, Y)", title=f"{first_set}, {model_label}")
    ax.legend(fontsize=8)
    plt.show()
    gap = wide["LFR"] - wide["Bicubic"]
    assert len(wide) == len(scales)
    glue("curve_set", Plain(first_set), display=False)
    glue("curve_gap_x2", float(gap.loc[2.0]), display=False)
    glue("curve_gap_min", float(gap.min()), display=False)
    glue("curve_gap_max", float(gap.max()), display=False)
    display(Markdown(f"On {first_set} ({curve_source}), the model is "
                     f"{gap.loc[2.0]:+.2f} dB from bicubic at x2, between {gap.min():+.2f} and {gap.max():+.2f} dB "
                     f"over the {len(scales)} scales."))
else:
    print("no LFR model: nothing trained here and no committed LFR record")

# %% [markdown]
# ## The phases on one image
#
# At one step of ratio $r$ all eleven levels come from one feature map, so every phase
# $P_i$ can be drawn. The output is the interpolation rule applied to two of them,
# asserted against the model's own forward.

# %%
if model is not None:
    label, _, hr_img = figures.figure_image(data_root or None, 2, 48 if profile == "smoke" else 96)
    ins = lfr_fig.scale_inputs(hr_img, (1.25, 1.5, 2.0, 3.0, 4.0))
    stack = lfr_fig.level_stack(model, ins[1.25][0], 1.25)
    with torch.no_grad():
        direct = model(ins[1.25][0], 1.25)[0]
    assert torch.allclose(stack["output"], direct, atol=1e-5), "O_r = O_{r_i} + w_r P_i must be the forward"
    bb = stack["bracket"]
    energy = lfr_fig.phase_energy(stack["phases"])
    fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
    axes[0, 0].imshow(stack["x_up"].permute(1, 2, 0).clamp(0, 1).numpy())
    axes[0, 0].set_title("bicubic input", fontsize=8)
    axes[1, 0].imshow(stack["output"].permute(1, 2, 0).clamp(0, 1).numpy())
    axes[1, 0].set_title(f"O_1.25 = O_r{bb.index} + {float(bb.weight):.1f} P_{bb.index}", fontsize=8)
    lim = float(stack["phases"].abs().mean(0).max())
    for i, ax in enumerate(axes[:, 1:].ravel()):
        if i < len(stack["phases"]):
            ax.imshow(stack["phases"][i].mean(0).numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"P_{i + 1}", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"{label}: levels and phases at r = 1.25 ({model_label})", fontsize=9)
    plt.show()
    display(energy.round(2).set_index("phase").T)
    glue("phase_largest", int(energy.loc[energy["mean_abs_255"].idxmax(), "phase"]), display=False)

# %% [markdown]
# ## The attention across scales
#
# With the pre-upsampled input, the DeFiAMs see the image at the output's resolution:
# the same scene at the smallest and the largest scale is a different input to the attention. For the last
# DeFiAM of the trunk, the mean attention $\bar{a}$ at each scale (for $s > 2$ the last
# step's), its spread relative to its mean (0: a gate that is the same everywhere
# selects nothing) and the correlation between scales on one grid.

# %%
if model is not None and model.config.trunk == "defiam" and model.config.attention:
    maps = lfr_fig.attention_maps(model, ins)
    fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps), 2.8))
    for ax, (s, mp) in zip(axes, maps.items()):
        inner = figures.interior(mp)
        ax.imshow(mp, cmap="viridis", vmin=inner.min(), vmax=max(inner.max(), inner.min() + 1e-3))
        ax.set_title(f"x{s:g}: {mp.shape[0]}x{mp.shape[1]}", fontsize=8)
        ax.axis("off")
    plt.show()
    spread, agree = lfr_fig.map_spread(maps), lfr_fig.map_agreement(maps)
    display(spread.round(4))
    display(agree.round(3))
    glue("att_max_rel_sd", float(spread["rel_sd"].max()), display=False)
    constant = int((spread["rel_sd"] < 1e-6).sum())
    display(Markdown(f"{constant} of {len(spread)} maps are constant (relative sd below 1e-6); "
                     + (f"the others correlate between scales by r = {agree['r'].min():.2f} to {agree['r'].max():.2f}."
                        if agree["r"].notna().any() else "no pair of maps varies, so no correlation is defined.")))

# %% [markdown]
# ## The reduced study
#
# `defian.lfr.study` defines the runs, at the cpu study's budget by construction (the
# LFR schedule copies the fixed-scale `cpu` schedule's size, patches, batch, updates and
# learning rate): DeFiAN-LFR and its attention-free twin at three seeds, the
# post-upsampling variant, and the fixed-scale DeFiAN_S runs it is compared with (the
# cpu study's committed x2 and x3 runs, two more x3 seeds and one x4 run).

# %%
assert (config.CPU.updates, config.CPU.batch, config.CPU.patch) == (6000, 16, 24)
assert lfr_train_mod.schedule("cpu").updates == config.CPU.updates  # same budget by construction
job_labels = [j.label for j in study.jobs(lfr_schedule)]  # the prose: three seeds, two more x3 seeds, one x4 run
assert len(study.SEEDS) == 3 and sum(x.startswith("fixed x3 defian_s") for x in job_labels) == 3
assert sum(x.startswith("fixed x4") for x in job_labels) == 1
roots = [study.lfr_root(lfr_schedule), run_record.runs_root(lfr_schedule)]
status = study.status(lfr_schedule, roots)
with pd.option_context("display.max_colwidth", 90):
    display(status)
done = status[(status["state"] == "finished") & status["evaluated"]]
n_lfr_jobs, n_lfr_done = int((status["kind"] == "lfr").sum()), int((done["kind"] == "lfr").sum())
glue("lfr_jobs", n_lfr_jobs, display=False)
glue("lfr_done", n_lfr_done, display=False)
glue("fixed_done", int((done["kind"] == "fixed").sum()), display=False)
glue("jobs_total", len(status), display=False)
display(Markdown(f"{n_lfr_done} of {n_lfr_jobs} LFR runs and {int((done['kind'] == 'fixed').sum())} of "
                 f"{int((status['kind'] == 'fixed').sum())} fixed-scale runs of the `{lfr_schedule}` study are "
                 "finished and evaluated."))

# %% [markdown]
# What the records say, computed: DeFiAN-LFR against the fixed-scale DeFiAN_S at x2
# and x3 (unpaired, Welch's interval over seeds), the attention branch's gain inside
# the LFR model (paired by seed), and the slides' Table 3 at reduced scale.

# %%
lfr_rows, fixed_rows = report.lfr_results(lfr_schedule, roots), report.fixed_results(lfr_schedule, roots)
comparison = report.central(lfr_rows, fixed_rows)
gain = report.attention_gain(lfr_rows)
t3 = report.table3(lfr_rows, fixed_rows)
display(comparison.round(3))
display(gain.round(3))
display(t3.round(2))
if len(lfr_rows):
    sel = lfr_rows[(lfr_rows["set"] == study.SETS[0]) & (lfr_rows["rule"] == "largest_first")]
    wide = sel.pivot_table(index="scale", columns="job", values="psnr")
    ax = wide.plot(marker="o", ms=3, figsize=(7, 3.4), title=f"{study.SETS[0]}: LFR study runs")
    ax.set(ylabel="PSNR (dB, Y)")
    plt.show()

# %% [markdown]
# ## Post-upsampling: cheaper, and at what quality?
#
# ASDN runs its network on the pre-upsampled image. A post-upsampling variant (trunk at
# LR, then bicubic resampling of its features) is worth having only if it is cheaper at
# equal quality; the model's docstring gives a reason to doubt it (with $1\times1$ level
# branches its output is the bicubic upsampling of an LR image). Its cost is
# counted below (floating-point operations per image, from PyTorch's dispatcher;
# the training throughput each run recorded), its quality is the study's
# `LFR defian_lfr_s post seed 0` run against the pre-upsampled model of the same seed
# (same levels, same patches).

# %%
flops_lr = (48, 48)  # an LR image; the ratio, not the size, is the point
cost = pd.DataFrame({u: {s: report.forward_flops(build_lfr_model("defian_lfr_s", upsampling=u, **sw), s, flops_lr)
                         for s in (1.5, 2.0, 3.0, 4.0)} for u in ("pre", "post")})
cost.index.name = "scale"
cost["pre / post"] = cost["pre"] / cost["post"]
display((cost[["pre", "post"]] / 1e9).round(2).join(cost["pre / post"].round(2)).rename(
    columns={"pre": "pre (GFLOPs)", "post": "post (GFLOPs)"}))
post_vs_pre = report.upsampling(lfr_rows)
speed = report.throughput(lfr_schedule, roots)
display(post_vs_pre.round(3))
display(speed.round(1))

# %% [markdown]
# ## What the reduced study supports, and what it cannot
#
# The sentences below are computed from the records above.

# %%
lines = []
if n_lfr_done == 0:
    shown = ("the figures above show the machinery only, on the " + model_label) if model is not None else \
        "there is no model to draw"
    lines.append(f"- No LFR run of the `{lfr_schedule}` study is finished and evaluated yet, so this page makes no "
                 f"claim about the method: {shown}. `python -m defian.lfr.study --run --worker 1/2` and "
                 "`--worker 2/2` train the missing runs.")
for _, r in comparison.iterrows():
    if r["n lfr"]:
        ci = (f"95 % interval {r['ci low']:+.3f} to {r['ci high']:+.3f}" if np.isfinite(r["ci low"])
              else "no interval from one run")
        lines.append(f"- {r['set']} x{r['scale']}: LFR - fixed = {r['diff']:+.3f} dB over {r['n lfr']} and "
                     f"{r['n fixed']} runs ({ci}): 'LFR beats fixed' is {r['verdict']}.")
lfr_sd = comparison.set_index(["set", "scale"])["sd lfr"] if len(comparison) else pd.Series(dtype=float)
family = report.attention_family(gain)
for _, r in family.iterrows():
    lines.append(f"- attention inside LFR, {r['set']} x{r['scale']:g}: {r['mean gain']:+.3f} dB over "
                 f"{r['seeds']} seed pair{'s' * (r['seeds'] != 1)}: {r['verdict']}.")
if len(family) > 1:  # one verdict per set and scale: a family of tests, judged together (Holm)
    m, k = len(family), int((family["verdict"] != "not resolved").sum())
    survivors = family[family["p holm"] < 0.05]
    held = (f"{len(survivors)} stay{'s' * (len(survivors) == 1)} outside zero, with the family's error rate at 5 %."
            if len(survivors) else "none stays outside zero: the study does not show that attention helps inside LFR.")
    lines.append(f"- Read the {m} attention lines as one family: {k} of them exclude{'s' * (k == 1)} zero at "
                 f"95 % on its own, and were the {m} tests independent, at least one would by chance "
                 f"{100 * (1 - 0.95 ** m):.0f} % of the time when the branch does nothing. After Holm's correction "
                 f"over the {m} (smallest adjusted p {family['p holm'].min():.2g}), {held}")
    same_rule = gain[(gain["rule"] == "largest_first") & (gain["seeds"] > 1)]
    for _, r in survivors.iterrows():
        others = same_rule[(same_rule["set"] == r["set"]) & (same_rule["scale"] != r["scale"])]["sd gain"]
        across = same_rule[(same_rule["scale"] == r["scale"]) & (same_rule["set"] != r["set"])]
        lines.append(f"  {r['set']} x{r['scale']:g} ({r['mean gain']:+.3f} dB, adjusted p {r['p holm']:.2g}) rests on "
                     f"a spread between seeds of {r['sd gain']:.3f} dB, against {others.min():.3f} to "
                     f"{others.max():.3f} dB at the {len(others)} other scales of {r['set']}: {r['seeds']} seeds "
                     "estimate a spread poorly, so a small one makes a small p. At the same scale the other sets "
                     "give " + ", ".join(f"{o['set']} {o['mean gain']:+.3f} dB ({o['verdict']})"
                                         for _, o in across.iterrows())
                     + (": the same verdict on every set." if (across["verdict"] == r["verdict"]).all() else
                        ": a gain on one set, not a property of the branch this study can state."))
if len(post_vs_pre):
    pp = post_vs_pre.set_index(["set", "scale"])
    sp = speed[(speed["seed"] == 0) & (speed["model"] == "defian_lfr_s")].set_index("upsampling")["samples per s"]
    faster = (f"; it trained {sp['post'] / sp['pre']:.2f} times as fast (samples per second, a shared machine)"
              if {"pre", "post"} <= set(sp.index) else "")
    x2 = pp.loc[(study.SETS[0], 2.0)] if (study.SETS[0], 2.0) in pp.index else pp.iloc[0]
    judged = pp[np.isfinite(pp["sd pre"])]
    worse = judged[judged["post - pre"] < -2 * judged["sd pre"]]
    if judged.empty:
        equal = "no seed spread yet to judge it by."
    elif worse.empty:
        equal = (f"at every one of the {len(judged)} post is less than twice the pre model's spread between seeds "
                 f"there ({judged['sd pre'].min():.3f} to {judged['sd pre'].max():.3f} dB) below pre, and above it "
                 f"at {int((judged['post - pre'] > 0).sum())}: equal quality at this budget, from one seed pair, "
                 "so the cheaper variant is the better choice here.")
    else:
        equal = (f"at {len(worse)} of the {len(judged)} post is more than twice the pre model's spread between seeds "
                 "below pre (" + ", ".join(f"{a} x{b:g}" for a, b in worse.index) + "): cheaper, not at equal "
                 "quality there.")
    lines.append(f"- post-upsampling against pre at seed 0: {cost.loc[2.0, 'pre / post']:.1f} times fewer operations "
                 f"at x2{faster}; {study.SETS[0]} x2 {x2['post - pre']:+.3f} dB, from "
                 f"{pp['post - pre'].min():+.3f} to {pp['post - pre'].max():+.3f} dB over the {len(pp)} set/scale "
                 "pairs scored; " + equal)
else:
    lines.append("- The post-upsampling run is not finished and evaluated yet: its cost is counted above, its "
                 "quality is not measured.")
t3i = t3.set_index("scale")
if len(t3i) and np.isfinite(t3i["recursive - direct"]).all():
    ours = t3i["recursive - direct"]
    theirs = t3i["slides recursive"] - t3i["slides direct"]
    same = bool((ours < 0).all() and (np.diff(ours.abs()) < 0).all())
    n4 = int(t3i.loc[4, "fixed runs"])
    lines.append(
        f"- The slides' Table 3 at reduced scale ({study.SETS[0]}, recursion in two equal steps): the LFR model minus "
        "the direct fixed-scale DeFiAN_S is " + ", ".join(f"{v:+.2f}" for v in ours) + " dB at "
        + ", ".join(f"x{k}" for k in ours.index) + " (the slides' ASDN: " + ", ".join(f"{v:+.2f}" for v in theirs)
        + " dB). " + ("Worse, and less so as the scale grows, as the slides say; " if same else
                      "Not the slides' pattern (worse, and less so as the scale grows); ")
        + f"but {(ours / theirs).min():.1f} to {(ours / theirs).max():.0f} times their gap at the same scale, "
        "and the direct model "
        "here is another network trained at its one scale on every update (the slides' is ASDN trained at "
        "that scale), so the gap holds the shared budget's cost as well as the recursion's. The x4 direct "
        f"column is {n4} run{'s' * (n4 != 1)}.")
for _, r in gain.iterrows():
    key = (r["set"], int(r["scale"])) if float(r["scale"]).is_integer() else None
    if r["seeds"] == 1 and r["rule"] == "largest_first" and key in lfr_sd.index and np.isfinite(lfr_sd[key]):
        lines.append(f"- attention inside LFR with one seed pair, {key[0]} x{key[1]}: {r['mean gain']:+.3f} dB, "
                     f"against a spread of {lfr_sd[key]:.3f} dB between DeFiAN-LFR seeds: "
                     + ("within twice that spread, so no ranking." if abs(r["mean gain"]) < 2 * lfr_sd[key] else
                        "beyond twice that spread, but from one pair."))
lines.append(f"- What it cannot say at any number of seeds: the study is {config.CPU.updates:,} updates of a small "
             "trunk on the cpu study's training set, not the paper's or ASDN's schedules; the budget is equal in "
             f"updates, so the LFR model trains each of its {N_LEVELS} levels on about "
             f"{config.CPU.updates // N_LEVELS:,} batches (the fixed x2 model: all {config.CPU.updates:,} at x2), "
             "and the gap measures one model for all scales at that budget, not the head's ceiling; scales above 2 "
             "are reached "
             "by recursion from a model "
             "trained on (1, 2] only, so a gap at x3 and x4 mixes the head's cost with the recursion's; the "
             "fixed-scale and LFR runs see different patches, so their comparison is unpaired and needs more "
             "seeds than the attention comparison to resolve the same difference.")
display(Markdown("\n".join(lines)))
glue("lfr_verdicts", Plain("; ".join(comparison["verdict"])) if len(comparison) else Plain("none"), display=False)
at_x2 = comparison[(comparison["set"] == study.SETS[0]) & (comparison["scale"] == 2)]
head = at_x2.iloc[0] if len(at_x2) else None
glue("lfr_vs_fixed", Plain(
    f"{head['diff']:+.2f} dB against the fixed-scale DeFiAN_S at x2 on {study.SETS[0]} ({head['n lfr']} and "
    f"{head['n fixed']} runs of the `{lfr_schedule}` study, 'LFR beats fixed' {head['verdict']})" if head is not None
    else f"no comparison with the fixed-scale models under this profile (no `{lfr_schedule}` study records)"),
    display=False)

# %% [markdown]
# ## Provenance
#
# The rules and the model are `defian.lfr` (levels, head, model, resample); training is
# `defian.lfr.train` with `defian.lfr.data`; evaluation `defian.lfr.evaluate`; the study
# `defian.lfr.study` and `defian.lfr.report`. Under `smoke` every trained number on this
# page comes from the tiny model trained above; under `cpu` from the records in
# `results/runs/lfr` and the cpu study's `results/runs`.
