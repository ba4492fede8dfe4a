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
# # #Params and #FLOPs, digit by digit
#
# :::{admonition} In short
# :class: tip
# Every DeFiAN of Tables I-IV counted and set beside the printed complexity. The number to remember:
# {glue:text}`short_params_match:d` of {glue:text}`short_n_counts:d` #Params and {glue:text}`short_flops_match:d`
# of {glue:text}`short_n_counts:d` #FLOPs match to the printed digit (exact counts, any profile).
# :::
#
# The paper reports the size of every DeFiAN it trains: #Params, "the number of
# parameters in whole network", and #FLOPs, "the number of operations by
# Multi-Adds ... for processing a $480 \times 360 \times 3$ RGB image" (Sec.
# IV-A2), i.e. an LR input of $(480/s) \times (360/s)$ pixels. This page rebuilds
# every DeFiAN configuration of Tables I-IV, counts it, and prints the
# regenerated columns beside the printed ones with the difference. Counting needs
# shapes only, so every model is built on PyTorch's `meta` device: no weights are
# allocated and no arithmetic is done. No profile changes anything here: the
# numbers are exact on any machine.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)

# %%
import pandas as pd
import torch
from myst_nb import glue

from defian.nn import complexity
from defian.nn.model import build_model
from defian.report import paper_tables, table_complexity

print("profile:", profile)

# %% [markdown]
# ## The counting rules
#
# The released repository ships the counter its `main.py` runs,
# `flops_counter.py` (ptflops-like, forward hooks on `nn` modules). Reading it
# gives the rules below; `defian.nn.complexity` applies them with
# `torch.utils.flop_counter` for the convolutions (it reports $2\times$ the
# multiply-accumulates of a convolution, so we halve it; for a transposed
# convolution it counts per input pixel, as the released counter does) and
# forward hooks for the rest.
#
# | term | counted as | source |
# |---|---|---|
# | convolutions | multiply-accumulates (1x1 convs on pooled vectors included) | `torch.utils.flop_counter` / 2 |
# | MSHF | per scale 3 depthwise 3x3 convs: $3 \cdot 9 \cdot C \cdot H W$ MACs | analytic, released design |
# | biases | one addition per output element of a conv with bias (MSHF's too) | forward hooks |
# | ReLU | one operation per output element of every `nn.ReLU` call | forward hooks |
# | not counted | sigmoid, pooling and spatial means, DAC statistics, element-wise products and sums, the eigenvalue's squares and sqrt, pixel shuffle, (de)normalisation | (neither counter) |
#
# #Params counts **every** parameter, including the frozen Hessian filters in
# their released form (per scale three depthwise 3x3 convolutions with bias over
# $C$ channels, $3(9C + C)$ values). The released counter itself counts only
# parameters with `requires_grad` and would leave these out; the tables include
# them (Table IV: +19.2 K per Hessian scale for $N = 10$, $C = 64$).

# %%
terms = complexity.breakdown_preset("defian_l", 3)  # built on the meta device; counted once per page
parts = pd.Series({
    "convolution MACs (flop_counter / 2)": terms.macs, "MSHF MACs (released design)": terms.mshf_macs,
    "bias additions": terms.bias, "MSHF bias additions": terms.mshf_bias, "ReLU outputs": terms.relu,
}) / 1e9
parts["total (paper convention)"] = terms.flops("paper") / 1e9
parts["multiply-accumulates only"] = terms.flops("macs") / 1e9
parts.to_frame("DeFiAN_L x3, G").round(4)

# %%
assert round(terms.flops("paper") / 1e9, 1) == 293.2  # Table I / III, printed 293.2
assert round(terms.flops("macs") / 1e9, 1) == 292.8  # MACs alone: not the printed digit
# the prose's "+19.2 K per Hessian scale": 3 (9C + C) values per DeFiAM, N = 10, C = 64, and Table IV's step
assert 10 * 3 * (9 * 64 + 64) == 19_200 and complexity.mshf_params(64, 1) * 10 == 19_200
assert abs(paper_tables.TABLE_IV[1].params_k - paper_tables.TABLE_IV[0].params_k - 19.2) < 1e-9  # Table IV

# %% [markdown]
# Multiply-accumulates alone give 292.8 G, not the printed 293.2 G: the bias and
# ReLU terms of the released counter are part of the paper's numbers. Counted as
# bare multiply-accumulates, none of the 22 printed #FLOPs below would be met.

# %% [markdown]
# ## Every printed #Params and #FLOPs of DeFiAN
#
# Table I (DeFiAN_L) and Table II (DeFiAN_S) at x2, x3, x4; all eight columns of
# Table III (x3, $N = 10$, $M = 20$, $C = 64$; the first column, all parts off, is
# the RCAN-style baseline `rcan_l`); all rows of Table IV (MSHF alone with each
# kernel set). Table V prints no complexity. The RCAN rows of Tables I-II belong
# to the original RCAN with residual groups, another network; they stay cited
# numbers. Params in K, FLOPs in G; "match" means the count rounds to the printed
# digit.

# %%
rows = pd.DataFrame(table_complexity.reproduce())
rows

# %%
assert len(rows) == 22 and bool(rows["params_match"].all())  # every #Params: exact to the printed 0.1 K
mismatch = rows[~rows["flops_match"]]
assert list(zip(mismatch["table"], mismatch["setting"], mismatch["scale"], strict=True)) == [("I", "DeFiAN_L", 4)]
assert round(float(mismatch["flops_ours"].iloc[0]), 1) == 169.4 and abs(float(mismatch["flops_diff"].iloc[0])) < 0.06
print(f"#Params: {int(rows['params_match'].sum())}/22 match; #FLOPs: {int(rows['flops_match'].sum())}/22 match")
l4_ours = float(mismatch["flops_ours"].iloc[0])
glue("l4_flops_ours", l4_ours, display=False)
glue("l4_gap", 169.45 - l4_ours, display=False)  # the least that would round it to the printed 169.5
glue("short_flops_match", int(rows["flops_match"].sum()), display=False)  # the "In short" box
glue("short_params_match", int(rows["params_match"].sum()), display=False)
glue("short_n_counts", len(rows), display=False)

# The prose above: counted as bare multiply-accumulates, none of the 22 printed #FLOPs is met
# (the same 22 configurations as table_complexity.reproduce, each under the "macs" convention).
t = paper_tables
cases = [(r, "defian_l", r.scale, {}) for r in t.TABLE_I if r.method == "DeFiAN_L"]
cases += [(r, "defian_s", r.scale, {}) for r in t.TABLE_II if r.method == "DeFiAN_S"]
cases += [(r, "defian_l", 3, {"mshf": r.mshf, "diendec": r.diendec, "dac": r.dac}) for r in t.TABLE_III]
cases += [(r, "defian_l", 3, ({"kernel_sizes": r.kernels} if r.kernels else {"mshf": False})
           | {"diendec": False, "dac": False}) for r in t.TABLE_IV]
assert len(cases) == 22
macs_met = sum(abs(complexity.breakdown_preset(n, sc, **sw).flops("macs") / 1e9 - r.flops_g) < 0.05
               for r, n, sc, sw in cases)
assert macs_met == 0, macs_met

# %% [markdown]
# All 22 #Params match to the printed digit, and 21 of the 22 #FLOPs. The one
# that does not is DeFiAN_L at x4: the count is {glue:text}`l4_flops_ours:.2f` G, printed 169.5 G. No
# term of the released counter closes the gap of at least {glue:text}`l4_gap:.3f` G. The nearest
# natural candidate, one operation per output element of each pixel shuffle
# (what the released counter adds for a ReLU after each shuffle, the default of
# the released upsampler class, which its Generator switches off), would give
# 169.5, but it moves the single-scale rows of Table IV from the printed 291.1 to
# 291.2:

# %%
shuffle_l4 = 64 * (240 * 180 + 480 * 360)  # x4: two shuffles, to 2h x 2w and 4h x 4w, C = 64
k3 = complexity.breakdown_preset("defian_l", 3, kernel_sizes=(3,), diendec=False, dac=False).flops()
l4 = complexity.breakdown_preset("defian_l", 4).flops()
alt = pd.DataFrame({
    "printed": [169.5, 291.1],
    "paper convention": [l4 / 1e9, k3 / 1e9],
    "+ one op per shuffle output": [(l4 + shuffle_l4) / 1e9, (k3 + 64 * 480 * 360) / 1e9],
}, index=["DeFiAN_L x4 (Table I)", "ker=(3) x3 (Table IV)"]).round(4)
alt

# %%
assert round(alt.iloc[0, 2], 1) == 169.5 and round(alt.iloc[1, 2], 1) == 291.2  # fixes one, breaks three

# %% [markdown]
# We keep the convention that reproduces the other 21 #FLOPs (and all #Params)
# and report 169.4 G as the closest value for DeFiAN_L x4. One further, invisible
# difference: the released counter adds a transposed convolution's bias as
# $C_{out} \cdot H \cdot H$ (a typo for $H \cdot W$); we count $H \cdot W$. In
# DeFiAN_L at x3 the two differ by {glue:text}`tconv_typo_m:.1f` M operations,
# {glue:text}`tconv_typo_g:.4f` G.

# %%
with torch.device("meta"):
    net_l3 = build_model("defian_l", 3)
h3, w3 = complexity.HR_SIZE[0] // 3, complexity.HR_SIZE[1] // 3  # the LR input; the DiEnDec keeps it (notebook 03)
tconv_out = sum(m.out_channels for m in net_l3.modules() if isinstance(m, torch.nn.ConvTranspose2d) and m.bias is not None)
typo_diff = tconv_out * h3 * (h3 - w3)  # released counter: C_out * H * H; ours: C_out * H * W
glue("tconv_typo_m", typo_diff / 1e6, display=False)
glue("tconv_typo_g", typo_diff / 1e9, display=False)
print(f"transposed-conv bias, released typo minus ours: {typo_diff} operations")

# %% [markdown]
# ## What the attention branch costs
#
# The attention branch (MSHF, DiEnDec, DAC) against the attention-free trunk of
# the same size, in parameters and in operations:

# %%
share = {}
for name, base in (("defian_l", "rcan_l"), ("defian_s", "rcan_s")):
    for scale in (3,):  # the ablation scale; x2 and x4 differ only in the upsampler and resolution
        full, trunk = complexity.breakdown_preset(name, scale), complexity.breakdown_preset(base, scale)
        share[f"{name} x{scale}"] = {
            "params added (K)": (full.params - trunk.params) / 1e3,
            "params added (%)": 100 * (full.params - trunk.params) / full.params,
            "FLOPs added (G)": (full.flops() - trunk.flops()) / 1e9,
            "FLOPs added (%)": 100 * (full.flops() - trunk.flops()) / full.flops(),
        }
share = pd.DataFrame(share).T.round(3)
share

# %%
assert share.loc["defian_l x3", "FLOPs added (%)"] < 1 and share.loc["defian_l x3", "params added (%)"] < 1
assert share.loc["defian_s x3", "FLOPs added (%)"] < 5 and share.loc["defian_s x3", "params added (%)"] < 5
assert share.loc["defian_s x3", "FLOPs added (%)"] > 4 and share.loc["defian_s x3", "params added (%)"] > 4
glue("l_branch_flops_g", float(share.loc["defian_l x3", "FLOPs added (G)"]), display=False)
glue("l_total_flops_g", terms.flops() / 1e9, display=False)

# %% [markdown]
# For DeFiAN_L the branch adds under 1% of the operations ({glue:text}`l_branch_flops_g:.1f` G
# of {glue:text}`l_total_flops_g:.1f` G at x3) and of the parameters; for the narrower DeFiAN_S, whose trunk shrinks with
# $C^2$ while the DiEnDec does not shrink at all, it is between 4% and 5% of both.
# Counted operations are not time: notebook 02 measures what the Hessian
# filtering costs on a CPU.
