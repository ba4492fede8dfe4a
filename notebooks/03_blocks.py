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
# # The network, block by block
#
# :::{admonition} In short
# :class: tip
# One image's features through every block of a DeFiAM, each checked against the paper. The number to
# remember: each pixel of DiEnDec's output sees a {glue:text}`short_arf:d`-pixel-wide window of the Hessian
# maps, not the {glue:text}`short_arf_paper:d` of Sec. IV-D4 (exact, any weights).
# :::
#
# DeFiAN (Fig. 2) is a head convolution, $N$ detail-fidelity attention modules
# (DeFiAM, Eq. (6)), a tail convolution with a global skip, a sub-pixel
# upsampler and an output convolution. Each DeFiAM computes
#
# $$
# \mathbf{y} = \mathbf{x} + \mathcal{F}(\mathbf{x}) \cdot
#   \mathcal{S}\big(\mathcal{A}(\mathcal{D}(\mathcal{H}(\mathcal{F}(\mathbf{x}))), \mathbf{x})\big).
# $$
#
# This page runs one real image's features through every block of the first
# DeFiAM of a DeFiAN_S ($N=5$, $M=10$, $C=32$) and checks what the paper says
# about each block: shapes, the accumulated receptive field of the dilated
# encoder-decoder (Eq. (19), Sec. IV-D4), the statistics of the distribution
# alignment cell (Eqs. (20)-(22), Fig. 14), the output of Eq. (6), and the
# parameter count of every block. The weights are **untrained** (random
# initialisation, seeded): every claim checked here is structural and holds for
# any weights; what the trained attention looks like is a matter for the
# training chapters.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
seed: int = 0  # seed of the random initialisation
blocks_crop: int = 96  # side of the LR crop whose features run through the blocks

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from myst_nb import glue

from defian import paths, provenance
from defian.data import testsets, images
from defian.nn import complexity
from defian.nn.diendec import EncoderDecoder, accumulated_receptive_fields, paper_arf
from defian.nn.model import build_model

torch.manual_seed(seed)
torch.set_grad_enabled(False)  # this page only runs forward passes
print("profile:", profile)
print("data:", provenance.data_label(data_root))

# %% [markdown]
# ## A real image and its features
#
# Set5's *butterfly* when a data root is present (sharp edges and smooth wings),
# otherwise scikit-image's *astronaut*. The LR image is the HR image downscaled
# x2 with MATLAB's bicubic (the protocol of notebook 05); the centre crop of
# `blocks_crop` pixels is normalised (mean RGB, Sec. IV-A1) and mapped by the head
# convolution to $C = 32$ channels: the input $\mathbf{x}$ of the first DeFiAM.

# %%
sets = testsets.find(paths.data_root(data_root or None))
candidates = [p for p in sets.get("Set5", []) if p.stem.startswith("butterfly")]
hr_path = candidates[0] if candidates else next(iter(sets.values()))[0]
lr = testsets.downscale(images.mod_crop(images.to_rgb(images.load_image(hr_path)), 2), 2)
top, left = (lr.shape[0] - blocks_crop) // 2, (lr.shape[1] - blocks_crop) // 2
crop = lr[max(top, 0) : max(top, 0) + blocks_crop, max(left, 0) : max(left, 0) + blocks_crop]
image = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255  # (1, 3, h, w) in [0, 1]
print("image:", hr_path.name, "LR crop", tuple(image.shape))

model = build_model("defian_s", 2).eval()
module = model.body[0]
x = model.embed(image)  # (1, C, h, w)
f = module.fem(x)  # F(x), Eq. (7)
branch = module.branch(x, f)  # H, D, A and S of Eq. (6)
y = module(x)
shapes = {"image": image, "x = head(image)": x, "F(x)  (FEM)": f,
          "[lambda_3, lambda_5, lambda_7]  (MSHF)": branch["lambdas"],
          "v  (DiEnDec)": branch["v"], "DAC(v, x)": branch["aligned"], "a = S(DAC(v, x))": branch["a"], "y  (Eq. 6)": y}
pd.DataFrame({"shape": {k: tuple(t.shape) for k, t in shapes.items()}})

# %%
h, w = image.shape[-2:]
C = model.config.channels
assert x.shape == f.shape == y.shape == branch["a"].shape == (1, C, h, w)
assert branch["lambdas"].shape == (1, 3, h, w) and branch["v"].shape == (1, 1, h, w)

# %% [markdown]
# ## FEM: a chain of $M$ RCABs (Eq. (7))
#
# Each RCAB is conv3x3, ReLU, conv3x3 (no bias, as in the released code) scaled by
# a channel attention (global pooling, $C \to C/16 \to C$, sigmoid) plus the
# block's input. The FEM has no residual around the chain; the DeFiAM adds
# $\mathbf{x}$ back after the attention.

# %%
rcab = module.fem.blocks[0]
n_rcab = sum(p.numel() for p in rcab.parameters())
n_fem = sum(p.numel() for p in module.fem.parameters())
print(f"RCAB parameters (C={C}): {n_rcab}; FEM (M={model.config.n_blocks}): {n_fem}")
assert n_rcab == 2 * 9 * C * C + (C * (C // 16) + C // 16) + ((C // 16) * C + C)  # exact

fig, axes = plt.subplots(1, 5, figsize=(15, 3))
axes[0].imshow(crop)
axes[0].set_title("LR crop")
for ax, k in zip(axes[1:3], (0, 1), strict=True):
    ax.imshow(x[0, k], cmap="gray")
    ax.set_title(f"x, channel {k}")
for ax, k in zip(axes[3:], (0, 1), strict=True):
    ax.imshow(f[0, k], cmap="gray")
    ax.set_title(f"F(x), channel {k}")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## MSHF: channel-averaged Hessian eigenvalue maps (Eqs. (12)-(18))
#
# $\bar\lambda_{ker}$ is the channel mean of the largest eigenvalue of every
# pixel's Hessian, from second-derivative filters dilated to the scale $ker$
# (the released design; notebooks 01-02 derive and verify it). The three maps
# form the input of the encoder-decoder.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
for ax, k, ker in zip(axes, range(3), module.mshf.kernel_sizes, strict=True):
    ax.imshow(branch["lambdas"][0, k], cmap="magma")
    ax.set_title(rf"$\bar\lambda_{ker}$")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## DiEnDec: full resolution, growing receptive field (Sec. III-C, Fig. 4)
#
# Three dilated 3x3 convolutions (dilations 1, 2, 4) widen 3 to 6, 12, 24
# channels; three dilated transposed convolutions (4, 2, 1) narrow back to 3;
# ReLU after each; a 1x1 gate gives $\mathbf{v}$ with one channel. Every stage keeps
# the full $h \times w$ resolution.

# %%
stages = module.endec.stages(branch["lambdas"])
print("stage shapes:", [tuple(s.shape[1:]) for s in stages])
assert [s.shape[1] for s in stages] == [6, 12, 24, 12, 6, 3, 1]
assert all(s.shape[-2:] == (h, w) for s in stages)
fig, axes = plt.subplots(1, 7, figsize=(17, 2.8))
names = ["enc 1", "enc 2", "enc 3", "dec 1", "dec 2", "dec 3", "v"]
for ax, s, name in zip(axes, stages, names, strict=True):
    ax.imshow(s[0].mean(0), cmap="viridis")
    ax.set_title(name)
    ax.axis("off")
plt.show()

# %% [markdown]
# The accumulated receptive field (ARF) after each layer, measured as the
# support of the response to a unit impulse (a copy with all weights 1 and no
# bias, so no ReLU cuts the support), against Eq. (19) and the numbers of Sec.
# IV-D4 ("$3 \to 7 \to 15$" for the encoder, "$9 \to 13 \to 15$" for the decoder).

# %%
probe = EncoderDecoder(3, 3, "diendec")
accumulated = accumulated_receptive_fields(probe)
decoder_alone = accumulated_receptive_fields(probe, start="decoder")
arf = pd.DataFrame({
    "paper (Fig. 4a, Sec. IV-D4)": [3, 7, 15, 9, 13, 15],
    "Eq. (19)": [paper_arf(1), paper_arf(2), paper_arf(3), None, None, None],
    "impulse response, from the DiEnDec input": accumulated,
    "impulse response, decoder on its own": [None, None, None, *decoder_alone],
}, index=["enc d=1", "enc d=2", "enc d=4", "dec d=4", "dec d=2", "dec d=1"])
arf

# %%
assert accumulated[:3] == [3, 7, 15] == [paper_arf(i) for i in (1, 2, 3)]  # encoder: exact agreement
assert decoder_alone == [9, 13, 15]  # the paper's decoder numbers: the decoder alone
assert accumulated[3:] == [23, 27, 29]  # accumulated from the input: 15 + 15 - 1 = 29
glue("short_arf", accumulated[-1], display=False)  # the "In short" box
glue("short_arf_paper", decoder_alone[-1], display=False)

# %% [markdown]
# The encoder agrees with Eq. (19) exactly. The paper's decoder numbers,
# $9 \to 13 \to 15$, are the receptive field of the decoder **on its own**
# (starting from one pixel of its input). Accumulated from the DiEnDec input, as
# the word "accumulative" suggests, they are $23 \to 27 \to 29$: every output
# pixel of $\mathbf{v}$ sees a $29 \times 29$ window of the Hessian maps, not
# $15 \times 15$.

# %% [markdown]
# ## DAC: aligning $\mathbf{v}$ to the statistics of $\mathbf{x}$ (Eqs. (20)-(22), Fig. 14)
#
# $\mathbf{v}$ is normalised over space (Eq. (20)), replicated to $C$ channels,
# and given per channel the mean $\hat\mu$ and standard deviation $\hat\sigma$
# that two small MLPs compute from $\mathbf{x}$'s channel means and deviations
# (Eqs. (21), (22)). So each output channel should have spatial mean exactly
# $\hat\mu_c$, standard deviation $|\hat\sigma_c|\sqrt{\mathrm{var}_v/(\mathrm{var}_v+\epsilon)}$
# ($\epsilon = 10^{-5}$, released code), and the spatial pattern of $\mathbf{v}$
# (correlation $\pm 1$).

# %% [markdown]
# The MLP of Eq. (21) ends in a bias-free linear layer after a ReLU with only
# $C/16$ hidden units ($C/16 = 2$ for DeFiAN_S). If all of them are inactive, $\hat\sigma = 0$
# in every channel and the attention is spatially constant, $\mathcal S(\hat\mu_c)$:
# at random initialisation this happens to some modules (in this page's network to
# {glue:text}`n_dead_modules` of the $N$). We run all
# $N$ modules, count the channels with $\hat\sigma_c = 0$, and check the
# statistics on the first module where $\hat\sigma \neq 0$.

# %%
inputs, dead, feat = [], [], x
for m in model.body:
    stats_m = m.dac.statistics(m.branch(feat, m.fem(feat))["v"], feat)
    inputs.append(feat)
    dead.append(int((stats_m["sigma_hat"].abs() <= 1e-6).sum()))
    feat = m(feat)
print("channels with sigma_hat = 0, per module:", dead)
glue("n_dead_modules", sum(d == C for d in dead), display=False)
assert C // 16 == 2  # the prose: 2 hidden units in DeFiAN_S's MLP of Eq. (21)
n_live = next(i for i, d in enumerate(dead) if d < C)
mod_live, x_live = model.body[n_live], inputs[n_live]
f_live = mod_live.fem(x_live)
br_live = mod_live.branch(x_live, f_live)
v_live, a_live = br_live["v"], br_live["a"]
print(f"DAC statistics below: module {n_live + 1}")
st = mod_live.dac.statistics(v_live, x_live)
columns = ("x_mean", "x_std", "mu_hat", "mean", "sigma_hat", "std", "std_predicted", "corr_with_v")
table = pd.DataFrame({k: st[k][0, :6].numpy() for k in columns})
table.index.name = "channel"
table.round(5)

# %%
assert mod_live.dac.eps == 1e-5  # the prose's epsilon (released code)
assert (st["mean"] - st["mu_hat"]).abs().max() < 1e-5  # float32
assert ((st["std"] - st["std_predicted"]).abs() - 1e-4 * st["std_predicted"]).max() < 1e-6  # float32
live = st["sigma_hat"].abs() > 1e-6  # channels whose sigma_hat is not 0 (see below)
assert (st["corr_with_v"][live].abs() - 1).abs().max() < 1e-4  # the spatial pattern of v, sign of sigma_hat
assert bool(((a_live > 0) & (a_live < 1)).all())  # the sigmoid gate
var_v = v_live.var().item()
print(f"var(v) = {var_v:.3g}: the eps shrinks the std by sqrt(var/(var+eps)) = {(var_v / (var_v + 1e-5)) ** 0.5:.4f}")

# %%
fig, axes = plt.subplots(2, 4, figsize=(14, 5.5))
for k in range(4):  # Fig. 14 shows the first four channels
    axes[0, k].hist(x_live[0, k].flatten().numpy(), bins=40, color="tab:blue")
    axes[0, k].set_title(f"x, channel {k}")
    axes[1, k].hist(a_live[0, k].flatten().numpy(), bins=40, color="tab:orange")
    axes[1, k].set_title(f"a, channel {k}")
fig.suptitle(f"DeFiAM {n_live + 1}: per-channel distributions of its input x and attention a (cf. Fig. 14)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The $\epsilon$ of Eq. (20) is not negligible when $\mathbf v$ varies little:
# the output's standard deviation is then visibly below $|\hat\sigma|$ (the
# factor printed above).
#
# With untrained MLPs, $\hat\mu$ and $\hat\sigma$ are random functions of
# $\mathbf{x}$'s statistics; the paper's point, that the alignment is to the
# *transformed* prior $\mathcal N(\hat\mu_r, \hat\sigma_r^2)$ and therefore not
# identical to $\mathbf{x}$'s own distribution, is visible here too.

# %% [markdown]
# ## The DeFiAM output (Eq. (6))
#
# For the first module and for the module whose DAC is live: the attention
# representation $\mathbf v$, the channel mean of the attention $\mathbf a$, and
# the update $\mathbf y - \mathbf x = \mathcal F(\mathbf x) \cdot \mathbf a$. (The
# frame around $\mathbf v$ is the zero padding of the dilated layers, which
# untrained weights do not hide.)

# %%
assert torch.allclose(y, x + f * branch["a"], atol=1e-6)  # Eq. (6), float32, module 1
y_live = mod_live(x_live)
assert torch.allclose(y_live, x_live + f_live * a_live, atol=1e-6)  # Eq. (6), module n_live
fig, axes = plt.subplots(2, 3, figsize=(10, 6.6))
titles = (r"$\mathbf{v}$", r"$\bar{\mathbf{a}}$ (channel mean)", r"$\mathbf{y}-\mathbf{x}$ (channel mean)")
for row, (label, b, dy) in enumerate((("DeFiAM 1", branch, y - x), (f"DeFiAM {n_live + 1}", br_live, y_live - x_live))):
    for ax, t, title in zip(axes[row], (b["v"][0, 0], b["a"][0].mean(0), dy[0].mean(0)), titles, strict=True):
        ax.imshow(t, cmap="viridis")
        ax.set_title(f"{label}: {title}")
        ax.axis("off")
plt.tight_layout()
plt.show()


# %% [markdown]
# ## Ablation wiring (Tables III-V)
#
# The paper does not say how the attention branch is closed when a part is
# removed. We use the simplest wiring under which each removed part removes
# exactly its own parameters, which reproduces every #Params of Tables III and
# IV (notebook 04): without MSHF, $\mathcal H$ is the identity (the three "Hessian
# maps" are the channel mean of $\mathcal F(\mathbf x)$); without DiEnDec (= half
# depth $d = 0$ of Table V), $\mathbf v$ is the mean of the three maps; without
# DAC, $\mathbf a = \mathcal S(\mathbf v)$ broadcast over channels; with all
# three off, $\mathbf a = 1$ and the network is RCAN (Fig. 10 (a)).

# %%
rows = {}
for mshf, diendec, dac in [(False, False, False), (True, False, False), (False, True, False), (False, False, True),
                           (True, True, False), (True, False, True), (False, True, True), (True, True, True)]:
    with torch.device("meta"):
        m = build_model("defian_l", 3, mshf=mshf, diendec=diendec, dac=dac)
    label = f"MSHF={'v' if mshf else 'x'} DiEnDec={'v' if diendec else 'x'} DAC={'v' if dac else 'x'}"
    rows[label] = complexity.params_by_block(m)
wiring = pd.DataFrame(rows).T
wiring["total (K)"] = wiring.sum(axis=1) / 1e3
wiring

# %% [markdown]
# ## Parameters per block
#
# For the two presets, split by the blocks of Fig. 2 (the frozen Hessian filters
# counted in the released design: per scale three depthwise 3x3 convolutions
# with bias). The totals are the #Params of Tables I and II.

# %%
per_block = {}
for name, scale in (("defian_s", 2), ("defian_l", 3)):
    with torch.device("meta"):
        per_block[f"{name} x{scale}"] = complexity.params_by_block(build_model(name, scale))
blocks = pd.DataFrame(per_block)
blocks.loc["total"] = blocks.sum()
blocks

# %%
assert blocks.loc["total", "defian_s x2"] == 1_027_610  # Table II: 1027.6 K
assert blocks.loc["total", "defian_l x3"] == 15_370_377  # Table I: 15370.4 K
share = (blocks.loc[["MSHF (all N)", "DiEnDec (all N)", "DAC (all N)"]].sum() / blocks.loc["total"]).round(4)
print("attention branch share of the parameters:", share.to_dict())
