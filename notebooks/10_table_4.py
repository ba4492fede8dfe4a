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
# # Table IV: which Hessian scales matter
#
# :::{admonition} In short
# :class: tip
# Table IV trains MSHF with every subset of the scales 3, 5, 7. All three scales add
# {glue:text}`short_t4_gain_paper:+.2f` dB over no Hessian filtering in the paper (Set5 x3);
# in our runs ({glue:text}`short_t4_runs` schedule, see the notes) {glue:text}`short_t4_gain_ours:+.3f` dB.
# :::
#
# MSHF filters each feature with scaled Hessians $\mathcal{H}_{ker}$, $ker \in
# \{3, 5, 7\}$ (Eqs. (14)-(17)), and fuses the channel-averaged eigenvalue maps
# $[\bar\lambda_3, \bar\lambda_5, \bar\lambda_7]$ (Eq. (18)). Table IV (Sec.
# IV-D3) trains DeFiAN_L with every non-empty subset of the three scales, and
# without Hessian filtering, for $5\times10^4$ updates, and scores Set5 and
# Manga109 at x3.
#
# Its #Params say what the variants are: "w/o HF" has exactly the trunk's count
# (Table III (a)) and `ker=(3,5,7)` exactly Table III's MSHF-only column (b); each
# scale adds $N \cdot 3(9C + C) = 19.2$ K. So Table IV's networks have MSHF but no
# DiEnDec and no DAC; `defian.report.table_runs.variants("IV")` builds them that way, and the
# two shared columns reuse Table III's runs.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
eval_limit: int = 1  # images per test set scored, 0 for all of them
ablation_schedule: str = "smoke"  # training schedule of the variant runs
ablation_model: str = "defian_s"  # preset whose size the variant runs take
ablation_updates: int = 10  # cut each variant run to this many updates, 0 keeps the schedule's
ablation_train: bool = True  # train missing variant runs here; False only reads run records

# %%
from IPython.display import Markdown, display
from myst_nb import glue

from defian import paths, provenance
from defian.data import testsets
from defian.report import paper_tables, study_stats, table_ablation, table_runs, tables

limit = eval_limit or None
present = list(testsets.find(paths.data_root(data_root)))
print("profile:", profile, "| data:", provenance.data_label(data_root), "| sets:", ", ".join(present))

# %% [markdown]
# ## The runs

# %%
variants, runs, report = table_runs.gather("IV", profile=profile, schedule=ablation_schedule, model=ablation_model,
                                         updates=ablation_updates, data_root=data_root, train_missing=ablation_train)
print(report)

# %% [markdown]
# ## Table IV

# %%
t4 = table_ablation.table_kernels(runs, profile=profile, data_root=data_root, limit=limit)
written = t4.save(tables.output_dir(profile))
display(t4.styled())
display(Markdown(t4.notes_markdown()))

# %% [markdown]
# The complexity columns are exact (counted for DeFiAN_L at x3), which confirms the
# reading above: MSHF-only networks, 19.2 K parameters and
# {glue:text}`flops_per_scale_g:.1f` G FLOPs per scale.

# %%
assert not t4.complexity_mismatches(), t4.complexity_mismatches()  # to the printed 0.1 K / 0.1 G
p = t4.frame.set_index("Variant")["#Params (K) regenerated"]
assert abs((p["ker=(3)"] - p["w/o HF"]) - 19.2) < 1e-9  # N * 3 * (9C + C) with N = 10, C = 64
fl = t4.frame.set_index("Variant")["#FLOPs (G) regenerated"]
glue("flops_per_scale_g", float((fl["ker=(3,5,7)"] - fl["w/o HF"]) / 3), display=False)  # mean over the 3 scales
print("all 8 x (#Params, #FLOPs) equal to the paper's")

# %% [markdown]
# The paper's claims (Sec. IV-D3): MSHF improves Set5 by 0.21 dB, and "a single
# scaled Hessian filtering (e.g., ker=(3)) works better than the one without any
# Hessian filtering, but worse than ... ker=(3, 5) and ... ker=(3, 5, 7) which
# performs best". In the paper's own numbers that chain holds; two orderings the
# text does not mention do not: ker=(7) alone is *worse* than no Hessian filtering,
# and the two-scale (5, 7) is worse than the single scale (3).

# %%
paper = {label: r for label, r in zip(variants, paper_tables.TABLE_IV, strict=True)}
set5 = {k: r.psnr_set5 for k, r in paper.items()}
assert abs((set5["ker=(3,5,7)"] - set5["w/o HF"]) - 0.21) < 1e-9  # "0.21dB gains on Set5"
assert set5["w/o HF"] < set5["ker=(3)"] < set5["ker=(3,5)"] < set5["ker=(3,5,7)"]  # the text's chain
assert max(set5, key=set5.get) == "ker=(3,5,7)"
assert max(paper, key=lambda k: paper[k].psnr_manga109) == "ker=(3,5,7)"
assert set5["ker=(7)"] < set5["w/o HF"] and set5["ker=(5,7)"] < set5["ker=(3)"]  # the exceptions
print({k: v for k, v in sorted(set5.items(), key=lambda kv: kv[1])})

# %% [markdown]
# Our columns, where runs exist, come from the profile named in each row's
# provenance; Manga109 is rarely present, and a stand-in set is named in its
# column when it is not. Under smoke the networks are tiny and briefly trained: the
# ordering of our column is not evidence for or against the paper.

# %%
ours = t4.frame.set_index("Variant")
col = next(c for c in ours.columns if c.endswith("PSNR ours"))
print("ours:", study_stats.single_runs(ours[col]))
if ours[col].notna().all():
    print(f"ours: (3,5,7) - w/o HF = {ours.loc['ker=(3,5,7)', col] - ours.loc['w/o HF', col]:+.3f} dB; provenance:",
          t4.provenance["ker=(3,5,7)"])
# the "In short" box: what MSHF at all three scales adds, ours and the paper's, and whose runs measured it
glue("short_t4_gain_ours", float(ours.loc["ker=(3,5,7)", col] - ours.loc["w/o HF", col]), display=False)
glue("short_t4_gain_paper", set5["ker=(3,5,7)"] - set5["w/o HF"], display=False)
glue("short_t4_runs", table_runs.run_fields(runs.get("ker=(3,5,7)", [])).get("schedule", "no"), display=False)
