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
# # Table III and Fig. 10: what each part of the attention branch adds
#
# :::{admonition} In short
# :class: tip
# Table III switches MSHF, DiEnDec and DAC on and off. All three together add
# {glue:text}`short_t3_gain_paper:+.2f` dB over the bare trunk in the paper ((h) − (a), Set5 x3);
# in our runs ({glue:text}`short_t3_runs` schedule, see the notes) {glue:text}`short_t3_gain_ours:+.3f` dB.
# :::
#
# The paper's ablation (Sec. IV-D1, Table III) switches the three parts of the
# detail-fidelity attention on and off: the multi-scale Hessian filtering (MSHF,
# Eq. (18)), the dilated encoder-decoder (DiEnDec, Sec. III-C) and the
# distribution alignment cell (DAC, Eqs. (20)-(22)). Column (a) has none of them:
# every DeFiAM is then $\mathbf{y} = \mathbf{x} + \mathcal{F}(\mathbf{x})$, the
# RCAN-style trunk. The paper trains all eight variants of DeFiAN_L for
# $5\times10^4$ updates and scores them on Set5 at x3; Fig. 10 shows the mean
# attention $\bar{\mathbf{a}}$ of the last DeFiAM in each.
#
# This page regenerates both from the run records of the profile: the #Params and
# #FLOPs columns exactly (they need no training), the PSNR column from the test-set
# evaluation of each run's last checkpoint, side by side with the paper's.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
eval_limit: int = 1  # images per test set scored, 0 for all of them
ablation_schedule: str = "smoke"  # training schedule of the variant runs
ablation_model: str = "defian_s"  # preset whose size the variant runs take
ablation_updates: int = 10  # cut each variant run to this many updates, 0 keeps the schedule's
ablation_train: bool = True  # train missing variant runs here; False only reads run records
fig_crop: int = 64  # side of the LR centre crop Fig. 10 is drawn on, 0 for the whole image

# %%
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from defian import provenance
from defian.report import figures, paper_tables, study_stats, table_ablation, table_runs, tables
from defian.train import config

limit = eval_limit or None
print("profile:", profile, "| data:", provenance.data_label(data_root))

# %% [markdown]
# ## The eight variants and their runs
#
# `defian.report.table_runs.variants("III")` derives each column's switches from the paper's
# table (`defian.report.paper_tables.TABLE_III`); `ensure_runs` finds the finished runs of
# each variant under the profile's schedule (matching on the attention wiring, so a
# run made with `defian train --switch ...` counts too) and, where this profile
# trains, makes the missing ones (under smoke: tiny networks, a few updates). The
# table then shows the *best available* records: the paper's setting (DeFiAN_L,
# $5\times10^4$ updates) if someone ran it, else the committed cpu study, else (on
# smoke pages only) the smoke runs (`best_available`); the provenance says which.

# %%
variants, runs, report = table_runs.gather("III", profile=profile, schedule=ablation_schedule, model=ablation_model,
                                         updates=ablation_updates, data_root=data_root, train_missing=ablation_train)
print(report)
assert len(variants) == 8  # the prose's eight variants (Table III's columns)

# %% [markdown]
# ## Table III

# %%
t3 = table_ablation.table_ablation(runs, profile=profile, data_root=data_root, limit=limit)
written = t3.save(tables.output_dir(profile))
display(t3.styled())
display(Markdown(t3.notes_markdown()))

# %% [markdown]
# The complexity columns need no training: they are counted for DeFiAN_L (N=10,
# M=20, C=64) at x3 with each column's switches and equal the paper's to the
# printed digit. This also fixes the wiring of the incomplete variants (e.g. DiEnDec
# without MSHF): `defian.nn.defiam` removes exactly each part's own parameters.

# %%
assert not t3.complexity_mismatches(), t3.complexity_mismatches()  # to the printed 0.1 K / 0.1 G
print("all 8 x (#Params, #FLOPs) equal to the paper's")

# %% [markdown]
# The paper's claims for Table III: every part helps on its own, and all three
# together give the best PSNR, 0.31 dB over the trunk (a) (Table III, (h) - (a)). In its own numbers:

# %%
paper = {f"({r.column})": r.psnr_set5 for r in paper_tables.TABLE_III}
assert max(paper, key=paper.get) == "(h)"  # all three parts: best
assert all(paper[k] > paper["(a)"] for k in paper if k != "(a)")  # each part helps
print(f"paper: (h) - (a) = {paper['(h)'] - paper['(a)']:.2f} dB")
assert abs(paper["(h)"] - paper["(a)"] - 0.31) < 1e-9  # the prose's 0.31 dB (Table III)
glue("cpu_study_updates", config.CPU.updates, display=False)
ours = t3.frame.set_index("Variant")
col = next(c for c in ours.columns if c.endswith("PSNR ours"))
print("ours:", study_stats.single_runs(ours[col]))
if ours[col].notna().all():
    print(f"ours: (h) - (a) = {ours.loc['(h)', col] - ours.loc['(a)', col]:+.3f} dB; provenance:",
          t3.provenance["(h)"])
# the "In short" box: our (h) - (a), and whose runs measured it
glue("short_t3_gain_ours", float(ours.loc["(h)", col] - ours.loc["(a)", col]), display=False)
glue("short_t3_gain_paper", paper["(h)"] - paper["(a)"], display=False)
glue("short_t3_runs", table_runs.run_fields(runs.get("(h)", [])).get("schedule", "no"), display=False)

# %% [markdown]
# Our PSNR column is only as good as its provenance (the Provenance column and its
# notes). The table takes the best records there are (`defian.report.table_runs`): runs of the
# paper's setting (DeFiAN_L, `short` or `full` schedule) once someone commits them,
# then the committed runs of the cpu study (reduced DeFiAN_S, {glue:text}`cpu_study_updates` updates on
# the 291 images), under any profile, and only otherwise a profile's own runs, which
# under smoke are tiny networks trained for seconds, with an
# ordering that is noise. Even the cpu study's ordering means something only where the gaps exceed
# the spread between seeds measured in the study chapter.
#
# ## Fig. 10: the mean attention of the last DeFiAM
#
# The paper: removing MSHF leaves "more undesired discrepancies in region of
# details" ((e) → (c), (h) → (g)); removing DiEnDec makes the map "focus on the
# holistic map but not the details" ((e) → (b), (h) → (f)); removing DAC enlarges
# the gap between the distributions of $\mathbf{x}$ and $\mathbf{a}$ ((g) → (c),
# (h) → (e)); and in (a) $\bar{\mathbf{a}} = 1$. We draw $\bar{\mathbf{a}}$ (the
# channel mean of $\mathbf{a}$) of each variant's last DeFiAM, read by forward hooks
# from its trained checkpoint.

# %%
label, lr, _ = figures.figure_image(data_root, 3, fig_crop)
models = figures.checkpoint_models(runs)
stats = {}
if models:
    fig, stats = figures.fig10(models, lr)
    saved = figures.save(fig, "fig10_ablation", profile)
    print("image:", label, "| saved:", ", ".join(p.name for p in saved))
else:
    print(f"No checkpoint of any variant under profile {profile}: Fig. 10 is not drawn.")

# %%
pd.DataFrame(stats).T.rename(columns={"mean": "mean of a-bar", "std": "spatial sd of a-bar",
                                     "std_interior": f"sd without a {figures.BORDER}-px border",
                                     "centroid": "spectral centroid, interior (cycles/px)"}).round(4)

# %%
if "(a)" in stats:
    assert stats["(a)"]["std"] == 0.0  # (a): no attention branch, a-bar = 1 everywhere, as the paper says

# %% [markdown]
# What our picture supports: (a) is flat, $\bar{\mathbf{a}} = 1$, by construction,
# as the paper says. The other claims are about where the attention concentrates;
# the table above measures it: how much $\bar{\mathbf{a}}$ varies over the image
# (with and without the few border pixels that zero padding shifts) and how fine its
# structure is (the power-weighted mean spatial frequency). Each panel's colour scale
# spans the 1st-99th percentile of its interior, so a panel that looks textured may
# still vary by only a few hundredths: read the numbers. A sigmoid gate that varies
# by a few hundredths around its mean multiplies every pixel's residual by nearly the
# same factor, which a convolution in the FEM could do as well: such an attention has
# selected nothing. Under the smoke profile the networks are untrained and the maps
# say nothing about the paper's claims; the cpu-study checkpoints are the first that
# can, at their budget:

# %% tags=["hide-input"]
# every DeFiAM of every variant (not only the last): how much a-bar varies inside the image
# relative to its mean, how much v does, what fraction of the last decoder stage passes its ReLU,
# and the DAC's largest |sigma^| (Eq. 21), the gain that carries v's variation into a
activity = pd.DataFrame([{"variant": k, "DeFiAM": i + 1, **row} for k, m in models.items()
                         for i, row in enumerate(figures.attention_activity(m, lr))])
if len(activity):
    display(activity.set_index(["variant", "DeFiAM"]).round(4))
    att = activity[activity.variant != "(a)"]
    if len(att):
        top = att.loc[att.a_rel_sd.idxmax()]
        print(f"runs as in Table III's Provenance: a-bar's interior sd is at most {top.a_rel_sd:.1%} of its mean "
              f"({top.variant}, DeFiAM {top.DeFiAM}); median over all variants and modules {att.a_rel_sd.median():.2%}")
        dead = att[att.decoder_active == 0]
        print("DeFiAMs whose last decoder stage is dead inside the image (v = the gate's bias): "
              + (", ".join(f"{r.variant} #{r.DeFiAM}" for r in dead.itertuples()) or "none"))
        flat = att[att.dac_gain == 0]
        print("DeFiAMs whose DAC std MLP is dead (sigma^ = 0, a = S(mu^) constant over the image): "
              + (", ".join(f"{r.variant} #{r.DeFiAM}" for r in flat.itertuples()) or "none"))
        # book/cpu_study.md: "the x3 variants of the Fig. 10 page show both failures too", a dead last decoder
        # stage and (in another DeFiAM) a dead DAC sigma^ MLP: held whenever the drawn models are the cpu study's
        if models and all(table_runs.run_fields(runs[k]).get("schedule") == "cpu" for k in models):
            assert len(dead) > 0 and len(flat[flat.decoder_active != 0]) > 0, att
            print("both failures are present in the cpu study's x3 variants (asserted)")
