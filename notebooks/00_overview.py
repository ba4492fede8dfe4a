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
# # DeFiAN at a glance
#
# :::{admonition} In short
# :class: tip
# What the paper claims and how this book is built. The number to remember: the attention branch,
# {glue:text}`short_branch_flops_pct:.1f` % of DeFiAN_L's FLOPs, adds {glue:text}`short_t3_gain:+.2f` dB
# over the same trunk on Set5 x3 (paper, Table III).
# :::
#
# *Interpretable Detail-Fidelity Attention Network for Single Image
# Super-Resolution* {cite:p}`huang2021defian` adds an **attention branch** to an
# RCAN-style trunk {cite:p}`zhang2018rcan`. Each of its $N$ modules (DeFiAM,
# Eq. (6)) computes
#
# $$
# \mathbf{y} = \mathbf{x} + \mathcal{F}(\mathbf{x}) \cdot
#   \mathcal{S}\big(\mathcal{A}(\mathcal{D}(\mathcal{H}(\mathcal{F}(\mathbf{x}))), \mathbf{x})\big),
# $$
#
# where $\mathcal{F}$ is a chain of $M$ residual channel-attention blocks,
# $\mathcal{H}$ is the **multi-scale Hessian filtering** (the largest eigenvalue
# of each pixel's $2\times 2$ Hessian, in closed form, Eq. (12), at three
# scales), $\mathcal{D}$ a **dilated encoder-decoder** and $\mathcal{A}$ a
# **distribution alignment cell**. The paper claims that this branch, about 1% of
# the network's multiply-accumulates, buys 0.3 dB over RCAN on Set5 at x3
# (Table III) and state-of-the-art results for its size (Tables I and II).
#
# This page proves the pipeline: it was made from `notebooks/00_overview.py` by
# jupytext, executed by papermill with the parameters of a profile, and rendered
# by jupyter-book. The box under the title says which profile and data.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data

# %%
import pandas as pd

from defian import provenance
from defian.runner import profiles

print("profile:", profile)
print("data:", provenance.data_label(data_root))

# %%
# The introduction's two numbers, from Table III as printed (column (a) is the trunk, i.e. RCAN; (h) the full DeFiAM).
from defian.report import paper_tables

t3 = {r.column: r for r in paper_tables.TABLE_III}
assert abs(t3["h"].psnr_set5 - t3["a"].psnr_set5 - 0.31) < 1e-9  # the prose's "0.3 dB over RCAN" (Table III)
assert 0.005 < (t3["h"].flops_g - t3["a"].flops_g) / t3["h"].flops_g < 0.015  # "about 1%" of the FLOPs (Table III)
from myst_nb import glue  # noqa: E402  (the "In short" box under the title)

glue("short_t3_gain", t3["h"].psnr_set5 - t3["a"].psnr_set5, display=False)
glue("short_branch_flops_pct", 100 * (t3["h"].flops_g - t3["a"].flops_g) / t3["h"].flops_g, display=False)

# %% [markdown]
# ## The profiles
#
# Every knob that differs between a CI run and the paper's schedule lives in
# `defian/runner/profiles.py`, once. The runner injects into each notebook exactly the
# values it declares in its `parameters` cell.

# %%
table = pd.DataFrame({name: profiles.values(name) for name in profiles.NAMES})
table

# %%
# The runner injected this page's profile: the parameter equals the profile's own name.
assert profiles.values(profile)["profile"] == profile, "runner and profile disagree"

# %% [markdown]
# ## The claims in numbers (quoted from the paper)
#
# The paper's own rows for DeFiAN_L (Table I), DeFiAN_S (Table II) and the
# strongest competitor of each, read from `defian/report/paper_tables.py` (typed as
# printed; nothing on this page is measured). Later chapters regenerate them.

# %%
from defian.report import paper_tables

rows = []
for table, ours, rival in ((paper_tables.TABLE_I, "DeFiAN_L", "RCAN"), (paper_tables.TABLE_II, "DeFiAN_S", "CARN")):
    for scale in (2, 3, 4):
        for method in (rival, ours):
            r = paper_tables.row(table, method, scale)
            rows.append({"table": r.table, "scale": f"x{scale}", "method": method,
                         "#Params (K)": r.params_k, "#FLOPs (G)": r.flops_g,
                         **{f"{s} PSNR": r.psnr[s] for s in paper_tables.SETS}})
claims = pd.DataFrame(rows)
claims

# %%
# The headline claim: at every scale DeFiAN beats the strongest rival on every set (paper's numbers).
for (table, scale), group in claims.groupby(["table", "scale"]):
    rival, ours = group.iloc[0], group.iloc[1]
    gaps = [ours[f"{s} PSNR"] - rival[f"{s} PSNR"] for s in paper_tables.SETS]
    assert min(gaps) >= 0, (table, scale, gaps)
    print(f"Table {table} {scale}: {ours['method']} - {rival['method']} = "
          + ", ".join(f"{s} {g:+.2f}" for s, g in zip(paper_tables.SETS, gaps)) + " dB")

# %% [markdown]
# ## The chapters
#
# | notebooks | what they do |
# |---|---|
# | 01-02 | derive the closed form of the Hessian's largest eigenvalue (Eqs. (8)-(18)) and verify it numerically; make it fast |
# | 03-04 | build every block of the network; reproduce the complexity columns of Tables I-IV |
# | 05 | the degradation and metric protocol; regenerate the Bicubic rows of Tables I-II |
# | 06-07 | train the smoke, cpu, short and full schedules |
# | 08-12 | regenerate Tables I-V and Figures 1, 10, 13 and 14 from run records |
#
# ## How to run them
#
# ```bash
# make book                                     # every notebook under the smoke profile, then the HTML
# make test                                     # the test suite, the book and a browser test of the site
# .venv/bin/defian book --profile cpu           # another profile
# .venv/bin/defian book --only 02 --list           # one notebook's parameters
# .venv/bin/defian book --only 03 -p blocks_crop 64 # one notebook, one parameter overridden
# .venv/bin/defian book --data-root /data/sr    # DIV2K and benchmark/<Set>/HR under /data/sr
# ```
