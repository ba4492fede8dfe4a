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
# # Tables I and II: DeFiAN against the state of the art
#
# :::{admonition} In short
# :class: tip
# Tables I-II regenerated: the paper's rows quoted, ours (shaded) measured with their provenance. The number to
# remember: in the paper's own numbers DeFiAN_S leads the best lightweight rival, CARN, by
# {glue:text}`short_carn_margin:+.2f` dB on Manga109 x2 (Table II); each of our rows names what trained it.
# :::
#
# Tables I and II of the paper compare DeFiAN_L with eight high-fidelity networks
# and DeFiAN_S with seven lightweight ones, on five test sets at x2, x3 and x4
# (Sec. IV-C). This page regenerates both tables. Each has two kinds of rows:
#
# * **quoted** rows (source `paper`): every number the paper prints, read from
#   `defian.report.paper_tables`, never rerun; bold and underline mark the best and
#   second-best of these rows per scale, recomputed from the printed numbers;
# * **our** rows (shaded, source `ours`): Bicubic, DeFiAN and its attention-free
#   twin, scored by `defian.report.evaluate` with the paper's protocol (Y channel,
#   `scale` border pixels cropped, MATLAB bicubic LR) and read back from the
#   evaluation CSVs stored with each run record. The `Provenance` column names the
#   schedule, model size, updates, training data and seeds behind each number, and
#   `Δ` is our number minus the paper's for the same method.
#
# Under the smoke profile our DeFiAN rows come from tiny networks trained for
# seconds: they prove the pipeline and say nothing about the paper's claims.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
eval_limit: int = 1  # images per test set scored, 0 for all of them
ablation_updates: int = 10  # updates of the tiny runs trained here when the smoke profile has none
bench_lr_side: int = 32  # LR side of the inference time and memory measurement
released_dir: str = ""  # folder holding the authors' DeFiAN_S_x2.pth etc.; empty: our runs fill the DeFiAN rows

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display

from defian import paths, provenance
from defian.data import testsets
from defian.report import evaluate, inference, paper_tables, table_comparison, table_runs, tables
from defian.kernels import accelerate
from defian.nn.model import build_model
from defian.runner import profiles

limit = eval_limit or None
# the introduction's counts, from the tables as printed: 8 high-fidelity and 7 lightweight rivals, 5 test sets
rivals = {t: {r.method for r in tab} - {"Bicubic", ours}
          for t, tab, ours in (("I", paper_tables.TABLE_I, "DeFiAN_L"), ("II", paper_tables.TABLE_II, "DeFiAN_S"))}
assert (len(rivals["I"]), len(rivals["II"]), len(paper_tables.SETS)) == (8, 7, 5)
present = list(testsets.find(paths.data_root(data_root)))
print("profile:", profile, "| data:", provenance.data_label(data_root))
print("test sets present:", ", ".join(present), "| images per set:", eval_limit or "all")

# %% [markdown]
# ## Our runs
#
# Our DeFiAN rows show the *best available* run records, labelled with their
# schedule: those of the most-trained schedule that has any (full, short, cpu,
# and on smoke pages smoke; `defian.report.table_runs.schedules_for`), so a committed cpu
# study appears in the smoke-built book too; scratch smoke runs never appear on
# the pages of another profile. Under smoke this page also proves the pipeline end to end: if notebook
# 06 left no smoke runs, two tiny ones (DeFiAN_S and its twin at x2) are trained
# here for a handful of updates.

# %%
twin = {"mshf": False, "diendec": False, "dac": False}
if profile == "smoke":
    table_runs.ensure_runs({"DeFiAN_S": {}, "twin": twin}, schedule="smoke", model="defian_s", scale=2,
                       updates=ablation_updates, data_root=data_root, train_missing=True)
pd.DataFrame([{"model": f"DeFiAN_{fam.upper()}", "scale": f"x{c}",
               "records from": table_comparison.best_schedule(fam, c, table_runs.schedules_for(profile))}
              for fam in ("s", "l") for c in (2, 3, 4)])

# %% [markdown]
# ## Table II: DeFiAN_S and the lightweight methods

# %%
t2 = table_comparison.table_comparison("II", profile=profile, data_root=data_root, limit=limit, released_dir=released_dir)
written = t2.save(tables.output_dir(profile))
display(t2.styled())
display(Markdown(t2.notes_markdown() + f"\n\nWritten to `{written[0].relative_to(paths.ROOT)}` and `.md`."))

# %% [markdown]
# The paper's claim for Table II (Sec. IV-C2): "with comparative space and time
# complexities, our DeFiAN_S achieves better performances than other
# state-of-the-art lightweight SR methods". In its own numbers, DeFiAN_S has the
# highest PSNR of every quoted row on every set at every scale (one tie: x4 BSD100,
# 27.58 dB like CARN):

# %%
def cited_margin(table, method, rival, set_name, scale):
    a, b = paper_tables.row(table, method, scale), paper_tables.row(table, rival, scale)
    return a.psnr[set_name] - b.psnr[set_name]


quoted = t2.frame[t2.frame["Source"] == "paper"]
for scale in ("x2", "x3", "x4"):
    block = quoted[quoted["Scale"] == scale].set_index("Method")
    for s in paper_tables.SETS:
        assert block.loc["DeFiAN_S", f"{s} PSNR"] >= block[f"{s} PSNR"].drop("DeFiAN_S").max(), (scale, s)
margins = pd.DataFrame({f"x{c}": [cited_margin(paper_tables.TABLE_II, "DeFiAN_S", "CARN", "Manga109", c)]
                        for c in (2, 3, 4)}, index=["DeFiAN_S − CARN, Manga109 PSNR (dB), from Table II"])
assert [round(margins[f"x{c}"].iloc[0], 2) for c in (2, 3, 4)] == [0.60, 0.26, 0.14]  # the prose below
tie = paper_tables.row(paper_tables.TABLE_II, "DeFiAN_S", 4).psnr["BSD100"]
assert tie == paper_tables.row(paper_tables.TABLE_II, "CARN", 4).psnr["BSD100"] == 27.58  # the one tie above
from myst_nb import glue  # noqa: E402  (the "In short" box under the title)

glue("short_carn_margin", float(margins["x2"].iloc[0]), display=False)
margins.round(2)

# %% [markdown]
# The text (Sec. IV-C2) states these Manga109 margins as "0.51dB, 0.23dB and 0.12dB" for x2,
# x3 and x4; the table's own numbers give the row above (0.60, 0.26, 0.14 dB). The
# table is what we compare against.
#
# ## Table I: DeFiAN_L and the high-fidelity methods

# %%
t1 = table_comparison.table_comparison("I", profile=profile, data_root=data_root, limit=limit, released_dir=released_dir)
written = t1.save(tables.output_dir(profile))
display(t1.styled())
display(Markdown(t1.notes_markdown() + f"\n\nWritten to `{written[0].relative_to(paths.ROOT)}` and `.md`."))

# %% [markdown]
# The claim for Table I (Sec. IV-C1): DeFiAN_L "achieves the highest performance",
# and on Manga109 it "advances RCAN with the improvement margins of 0.34 dB, 0.41
# dB and 0.47 dB". From the table's numbers:

# %%
quoted = t1.frame[t1.frame["Source"] == "paper"]
for scale in ("x2", "x3", "x4"):
    block = quoted[quoted["Scale"] == scale].set_index("Method")
    for s in paper_tables.SETS:
        assert block.loc["DeFiAN_L", f"{s} PSNR"] > block[f"{s} PSNR"].drop("DeFiAN_L").max(), (scale, s)
margins_l = pd.DataFrame({f"x{c}": [cited_margin(paper_tables.TABLE_I, "DeFiAN_L", "RCAN", "Manga109", c)]
                          for c in (2, 3, 4)}, index=["DeFiAN_L − RCAN, Manga109 PSNR (dB), from Table I"])
assert [round(margins_l[f"x{c}"].iloc[0], 2) for c in (2, 3, 4)] == [0.44, 0.45, 0.49]  # the prose below
margins_l.round(2)

# %% [markdown]
# DeFiAN_L is best on every set at every scale, as claimed; the Manga109 margins
# over RCAN in the table (0.44, 0.45, 0.49 dB) are larger than the text's.
#
# ## The complexity columns
#
# `defian.nn.complexity.count` counts #Params and #FLOPs (multiply-accumulates for a
# 480x360 output, Sec. IV-A2) of our DeFiAN_S and DeFiAN_L at the paper's sizes.
# They reproduce the printed columns; the one printed digit we miss (DeFiAN_L x4
# #FLOPs, 169.4 vs 169.5 G) is discussed in notebook 04.

# %%
rows = []
for fam, table in (("S", paper_tables.TABLE_II), ("L", paper_tables.TABLE_I)):
    for scale in (2, 3, 4):
        ref = paper_tables.row(table, f"DeFiAN_{fam}", scale)
        params, flops = tables.preset_complexity(f"defian_{fam.lower()}", scale)
        rows.append({"model": f"DeFiAN_{fam}", "scale": f"x{scale}", "#Params (K) paper": ref.params_k,
                     "#Params (K) ours": round(params, 1), "#FLOPs (G) paper": ref.flops_g,
                     "#FLOPs (G) ours": round(flops, 1)})
        assert round(params, 1) == ref.params_k  # exact to the printed digit
        assert abs(flops - ref.flops_g) < 0.1  # printed to 0.1 G
l4 = next(r for r in rows if r["model"] == "DeFiAN_L" and r["scale"] == "x4")
assert (l4["#FLOPs (G) ours"], l4["#FLOPs (G) paper"]) == (169.4, 169.5)  # the prose's one missed digit
pd.DataFrame(rows)

# %% [markdown]
# ## The Bicubic rows
#
# Our Bicubic rows must equal the paper's where the set is present: they test the
# protocol, not a network. With every image scored, they agree to 0.02 dB (the
# paper prints two decimals); under smoke only the first images are scored, so the
# check is skipped.

# %%
ours_bic = t2.frame[(t2.frame["Method"] == "Bicubic") & (t2.frame["Source"] == "ours")]
checked = []
for _, row in ours_bic.iterrows():
    ref = paper_tables.row(paper_tables.TABLE_II, "Bicubic", int(row["Scale"][1:]))
    for s in (s for s in paper_tables.SETS if s in present and limit is None):
        assert abs(row[f"{s} PSNR"] - ref.psnr[s]) < 0.02 and abs(row[f"{s} SSIM"] - ref.ssim[s]) < 0.001
        checked.append(f"{row['Scale']} {s}")
print("Bicubic rows equal to the paper's:", ", ".join(checked) if checked else
      "not checked (only part of each set scored, or no paper set present)")

# %% [markdown]
# ## What the attention branch buys here
#
# The paper's central claim is that the detail-fidelity attention improves on the
# same trunk without it. Our twin is exactly that trunk (Fig. 10 (a)); the gain
# below (dB, per set) compares the two rows of Table II trained alike (same data,
# updates and seeds). It is measured, not quoted, and its meaning depends on the
# provenance: under smoke it is noise.

# %%
gains = table_comparison.attention_gains(t2)
gains.round(3) if len(gains) else print("no DeFiAN_S / twin pair trained alike under any schedule yet")

# %% [markdown]
# ## Inference time and memory
#
# `defian.report.inference.tiled_forward` runs DeFiAN stage by stage on overlapping tiles
# and takes the global statistics (channel attention, DAC) over the whole map, so
# it returns the untiled forward exactly (the usual crop-and-stitch does not: the
# crops see other means). Its peak memory is a few LR feature maps instead of the
# upsampler's. Below: the paper-size DeFiAN_S at x4 (random weights: time and
# memory do not depend on them) on `bench_lr_side`-pixel inputs, whole and tiled.
# CPU memory is the sampled growth of the process's resident memory (approximate).
# On small inputs the tiles' halos and per-call overheads dominate, so tiling pays
# off only on large images (the cpu profile measures a 180-pixel side).

# %%
net = accelerate(build_model("defian_s", 4)).eval()  # the fused blocks, as defian evaluate runs them
side = bench_lr_side
x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    assert (inference.tiled_forward(net, x, side // 2) - net(x)).abs().max().item() < 1e-4  # float32 rounding
bench = inference.profile_inference(net, [(side, side)], tiles=(0, side // 2))
bench["peak MB per LR megapixel"] = bench["peak_mb"] / (bench["lr_h"] * bench["lr_w"] / 1e6)
assert profiles.values("cpu")["bench_lr_side"] == 180  # the prose: the cpu profile's 180-pixel side
bench.round(3)

# %% [markdown]
# Per-image time and memory of the evaluations behind our rows, against image size
# (from the `per_image.csv` files):

# %% tags=["hide-input"]
per_image = []
for i, runs in t2.runs.items():
    for limit_used in (None, limit):
        folder = evaluate.evaluation_dir(runs[0].dir, limit=limit_used)
        if (folder / "per_image.csv").is_file():
            per_image.append(evaluate.read_evaluation(folder).per_image.assign(row=t2.frame["Method"].iloc[i]))
            break
if per_image:
    df = pd.concat(per_image)
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    for name, g in df.groupby(["row", "scale"]):
        ax[0].scatter(g["lr_h"] * g["lr_w"] / 1e3, g["seconds"], s=10, label=f"{name[0]} x{name[1]}")
        ax[1].scatter(g["lr_h"] * g["lr_w"] / 1e3, g["peak_mb"], s=10)
    ax[0].set(xlabel="LR pixels (K)", ylabel="seconds")
    ax[1].set(xlabel="LR pixels (K)", ylabel="peak memory (MB)")
    ax[0].legend(fontsize=6)
    plt.tight_layout()
    plt.show()
else:
    print("no per-image evaluation behind Table II's rows")
