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
# # Figures 1, 13 and 14: looking inside a trained DeFiAM
#
# :::{admonition} In short
# :class: tip
# Figs. 1, 13 and 14 redrawn from a trained checkpoint, each with the property the paper reads off it, measured.
# The number to remember: the mean attention of our DeFiAM correlates {glue:text}`short_residue_corr:+.2f` with
# the residue it should cover (Fig. 1; {glue:text}`short_checkpoint` schedule checkpoint).
# :::
#
# The paper calls its attention *interpretable* and backs the word with pictures:
# the Hessian maps and the attention of a DeFiAM (Fig. 1), the stages of DiEnDec
# (Fig. 13) and the distributions the DAC aligns (Fig. 14). This page draws all
# three from a trained checkpoint of the profile, with forward hooks
# (`defian.report.figures.capture`), and for each one measures the property the paper
# reads off its picture, so the caption can say whether *our* picture shows it.
# Fig. 10 is on the Table III page, Fig. 12 (speed of the Hessian filtering) on the
# Hessian verification page; Fig. 11 (PSNR against model size) closes this page
# when runs of several sizes exist.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
eval_limit: int = 1  # images per test set scored for Fig. 11, 0 for all of them
ablation_updates: int = 10  # updates of the tiny run trained here when the smoke profile has none
fig_crop: int = 64  # side of the LR centre crop the figures are drawn on, 0 for the whole image

# %%
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from defian import provenance
from defian.report import evaluate, figures, table_comparison, table_runs

print("profile:", profile, "| data:", provenance.data_label(data_root))

# %% [markdown]
# ## The checkpoint
#
# The best available DeFiAN_S checkpoint: from the most-trained schedule that has
# one (full, short, cpu, and on smoke pages smoke), then the run with most
# updates, first seed. Under
# smoke, a tiny one is trained here if notebook 06 left none.

# %%
if profile == "smoke":
    table_runs.ensure_runs({"DeFiAN_S": {}}, schedule="smoke", model="defian_s", scale=2, updates=ablation_updates,
                       data_root=data_root, train_missing=True)
run = table_comparison.best_run("s", table_runs.schedules_for(profile))
if run is not None:
    model, info = evaluate.load_model(run.dir / "last.pt")
    scale = model.scale
    print(f"{run.name}: update {info['update']}, weights {info['weights']}")
    print("provenance:", table_runs.run_label([run]))
    label, lr, hr = figures.figure_image(data_root, scale, fig_crop)
    print("image:", label)
else:
    model = None
    print(f"No DeFiAN_S checkpoint under profile {profile}: the figures below are skipped. "
          "Train one (notebook 06, or `defian train --schedule ...`) and rerun this page.")

# %% [markdown]
# ## Fig. 1: the Hessian maps and the attention
#
# The paper shows $\bar\lambda_3, \bar\lambda_5, \bar\lambda_7$ and $\bar{\mathbf{a}}$
# of the 5th DeFiAM of DeFiAN_S (Fig. 1's caption) on Urban100's img086 and reads: "$\lambda_3$ and
# $\lambda_7$ focus on the fine edges and coarse structures respectively", and the
# attention "covers the residues of image well". We measure the first with the
# spectral centroid (power-weighted mean spatial frequency: higher is finer) and the
# second with the correlation between $\bar{\mathbf{a}}$ and the residue
# $|Y_{HR} - Y_{bicubic}|$ averaged onto the LR grid.

# %%
if model is not None:
    fig, st = figures.fig1(model, lr)
    saved = figures.save(fig, "fig01_attention", profile)
    rec = figures.capture(model, lr, st["module"] - 1)
    corr = figures.residual_correlation(rec["a"][0].mean(0).numpy(), lr, hr, scale)
    cent = st["centroid"]
    fine = cent[min(cent)] > cent[max(cent)]
    display(Markdown(
        f"*Fig. 1 (ours): DeFiAM {st['module']} of {len(model.body)}, {label}; files "
        f"{', '.join(p.name for p in saved)}.* Spectral centroids "
        + ", ".join(f"λ{k}: {v:.3f}" for k, v in cent.items()) + " cycles/px: λ"
        + f"{min(cent)} is {'finer' if fine else 'not finer'} than λ{max(cent)}, which "
        + ("supports" if fine else "does not support") + " the paper's reading. "
        + "This ordering largely follows from the filters themselves (the larger scales use dilated stencils, "
        + "so they see coarser structure in any feature), not only from training. "
        + f"Correlation of the mean attention with the residue: {corr:+.2f}."))
# the "In short" box: how well our attention covers the residue, and whose checkpoint it is
glue("short_residue_corr", float(corr) if model is not None else float("nan"), display=False)
glue("short_checkpoint", table_runs.run_fields([run]).get("schedule", "no") if run is not None else "no", display=False)

# %% [markdown]
# ## Fig. 13: erosion and dilation in DiEnDec
#
# The paper (Sec. IV-D4): in DeFiAM 3, "the features are progressively fining with
# pixel aggregation in encoding phase and coarsening with pixel divergency in
# decoding phase": the encoder erodes, the decoder dilates. Erosion shrinks the
# active region of a feature map, dilation grows it; we measure the fraction of
# active (positive after ReLU) entries after each layer.

# %% tags=["hide-input"]
if model is not None:
    fig, st = figures.fig13(model, lr)
    saved = figures.save(fig, "fig13_diendec", profile)
    d = st["encoder"]
    enc, dec = st["support"][:d], st["support"][d:]
    erodes = all(b <= a for a, b in zip(enc, enc[1:], strict=False))
    dilates = all(b >= a for a, b in zip(dec, dec[1:], strict=False))
    display(pd.DataFrame({"stage": [f"encoder {i + 1}" for i in range(d)] + [f"decoder {i + 1}" for i in range(d)],
                          "active fraction": st["support"], "spectral centroid": st["centroid"]}).round(3))
    display(Markdown(
        f"*Fig. 13 (ours): DeFiAM {st['module']} of {len(model.body)}; {', '.join(p.name for p in saved)}.* "
        f"The active fraction {'falls' if erodes else 'does not fall monotonically'} along the encoder and "
        f"{'rises' if dilates else 'does not rise monotonically'} along the decoder: our picture "
        + ("supports" if erodes and dilates else "does not support") + " the erosion/dilation reading."))

# %% [markdown]
# ## Fig. 14: what the DAC aligns
#
# The paper (Sec. IV-D5): the distributions of the attention $\mathbf{a}$ "are
# aligned as the distributions of inputted features $\mathbf{x}$ in channel-wise and
# retain the spatial-wise characteristics of ... $\mathbf{v}$", though "not
# completely the same" as $\mathbf{x}$'s, because Eq. (21) maps $\mathbf{x}$'s mean
# and standard deviation through two small networks. Eq. (22) makes two of these
# exact, and we assert them: channel $c$ of the DAC output is $\mathbf{v}$
# standardised, times $\hat\sigma_c$, plus $\hat\mu_c$, so it has mean $\hat\mu_c$
# and correlates $\pm1$ with $\mathbf{v}$.

# %%
if model is not None:
    fig, st = figures.fig14(model, lr)
    saved = figures.save(fig, "fig14_dac", profile)
    stats = pd.DataFrame({k: v for k, v in st.items()})
    stats.index = [f"channel {i + 1}" for i in range(len(stats))]
    display(stats.head(8).round(4))
    live = stats["std_a"] > 1e-6
    assert (abs(stats.loc[live, "corr_av"].abs() - 1) < 1e-3).all()  # Eq. (22): same spatial pattern as v
    agree = float(stats[["mean_x", "mean_a"]].corr().iloc[0, 1])
    display(Markdown(
        f"*Fig. 14 (ours): {', '.join(p.name for p in saved)}.* Every channel with a non-zero spread keeps "
        f"v's spatial pattern exactly (|corr| = 1), as the paper says. Whether a's channel statistics follow "
        f"x's: the correlation across channels between their means is {agree:+.2f} "
        f"({int(live.sum())} of {len(stats)} channels have a non-zero spread)."))

# %% [markdown]
# ## Fig. 11 (bonus): PSNR against model size
#
# The paper trains DeFiAN at several $(N, M, C)$ and plots Set5 PSNR at x3 against
# #FLOPs. We draw the same from every size of full DeFiAN the profile has at x3,
# each scored on Set5 (or the set present); with fewer than two sizes there is
# nothing to plot.

# %%
for schedule in table_runs.schedules_for(profile):  # the best available schedule with two sizes or more
    points = table_comparison.model_size_points(schedule, scale=3, data_root=data_root, limit=eval_limit or None)
    if len(points) >= 2:
        fig = figures.fig11(points)
        figures.save(fig, "fig11_model_size", profile)
        print(f"schedule {schedule}:", pd.DataFrame(points).round(3).to_string(index=False))
        break
else:
    print("No schedule has full DeFiAN runs of two sizes or more at x3 trained alike: Fig. 11 is not drawn.")
