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
# # Hessian filtering: numerical verification and speed
#
# :::{admonition} In short
# :class: tip
# The closed form of Eq. (12) against an eigen-solver, its gradients, Fig. 1's maps and Fig. 12's timings.
# The number to remember: over {glue:text}`short_samples:,d` random float64 matrices its largest error is
# {glue:text}`short_err_ulp:.2f` ulp of $\|\mathbf{H}\|_2$ (measured under the {glue:text}`short_profile` profile).
# :::
#
# Notebook 01 derived the closed form of Eq. (12). This page checks it as
# numbers, and makes it fast:
#
# 1. closed form vs the eigen-solver `torch.linalg.eigvalsh` per pixel, in float64,
#    on random matrices, on real images, and on crafted edge cases (equal
#    eigenvalues, negative definite, indefinite, huge, tiny), with a 50-digit
#    reference; then float32 vs float64;
# 2. gradients: `gradcheck` away from the degenerate set, a finite and correct
#    backward on it (constant image, zero features), and why the released formula
#    turns NaN in bfloat16;
# 3. Fig. 1-style maps $\bar\lambda_3, \bar\lambda_5, \bar\lambda_7$ on a real image;
# 4. Fig. 12 redone (closed form vs eigen-solvers), and the speed of our MSHF
#    against a dense convolution and against the released design, with what made
#    it fast.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
device: str = "auto"  # "auto" picks CUDA when present, else CPU (Fig. 12 also runs on CUDA then)
seed: int = 0  # seed of every random tensor on this page
hessian_samples: int = 200_000  # random 2x2 matrices checked against eigvalsh
hessian_bench_quick: bool = True  # benchmarks/bench_mshf.py --quick: a small tensor, a check only
hessian_bench_rounds: int = 2  # interleaved timing rounds, minimum taken (benchmark and Fig. 12)
hessian_fig12_max_size: int = 4  # Fig. 12 spatial sweep 1, 2, 4, ... up to this (paper: 8)
hessian_loop_max_pixels: int = 64  # per-pixel solver loop (Eq. 24) only up to C*H*W pixels

# %%

import matplotlib.pyplot as plt
import mpmath
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from myst_nb import glue

from defian import paths, provenance
from defian.data import testsets, images
from defian.kernels import accelerate
from defian.kernels import mshf as mshf_kernel
from defian.nn import hessian
from defian.nn.model import make_config
from defian.report import figures
from defian.runner import hessian_checks
from defian.train import config

bench = paths.benchmark_script("bench_mshf")  # the benchmark script: its tables are produced below
torch.manual_seed(seed)
gen = torch.Generator().manual_seed(seed)
F64, EPS64, EPS32 = torch.float64, torch.finfo(torch.float64).eps, torch.finfo(torch.float32).eps
cuda = torch.cuda.is_available() and device in ("auto", "cuda")
print("profile:", profile)
print("data:", provenance.data_label(data_root))
print("torch", torch.__version__, "| threads", torch.get_num_threads(), "| CUDA", cuda)


class Plain(str):
    """Glued without the quotes a string's repr has."""

    def __repr__(self) -> str:
        return str(self)


# %% [markdown]
# ## 1. Closed form vs eigen-solver
#
# **The metric.** A backward-stable eigen-solver returns the eigenvalues of a
# matrix within a few units of rounding of $\|\mathbf{H}\|_2 = \max(|\lambda_1|, |\lambda_2|)$;
# the error *relative to* $|\lambda_1|$ is only meaningful where $|\lambda_1|$ is not
# much smaller than $\|\mathbf{H}\|_2$. We report both: the error over
# $\|\mathbf{H}\|_2$ everywhere, and over $|\lambda_1|$ where $|\lambda_1| \ge 10^{-3}\|\mathbf{H}\|_2$.
#
# **Random matrices** (float64): entries $a, b, c$ normal, each matrix scaled by
# $10^k$, $k$ uniform in $\{-6, \dots, 6\}$.

# %%
errors = hessian_checks.eigenvalue_errors  # Eq. (12) vs eigvalsh, float64

n = hessian_samples
scale = 10.0 ** torch.randint(-6, 7, (n,), generator=gen, dtype=F64)
a, b, c = (torch.randn(n, generator=gen, dtype=F64) * scale for _ in range(3))
rows = {"random float64": errors(a, b, c)}
pd.DataFrame(rows).T

# %%
assert rows["random float64"]["max err / ||H||"] <= 4 * EPS64  # a few ulps of ||H||: rounding level
assert rows["random float64"]["max err / |lam| (|lam| >= 1e-3 ||H||)"] <= 1e-12  # the target
glue("short_err_ulp", float(rows["random float64"]["max err / ||H||"] / EPS64), display=False)  # "In short" box
glue("short_samples", n, display=False)
glue("short_profile", profile, display=False)

# %% [markdown]
# **Real images.** The filtered values $(g_{hh}, g_{vv}, g_{hv})$ of the pixels, RGB
# channels and scales (the kernels of Eq. (16), the released ones) of the benchmark images (Set5 when a data root
# has it, else the embedded scikit-image photographs), in float64; at most
# `hessian_samples` pixels per scale, drawn at random (the `n` column).

# %%
present = testsets.find(paths.data_root(data_root or None))
set_name = "Set5" if "Set5" in present else next(iter(present))
print("images:", set_name, [p.name for p in present[set_name]])
test_images = {p.stem: torch.tensor(images.to_rgb(images.load_image(p)), dtype=F64).permute(2, 0, 1)[None] / 255
               for p in present[set_name]}
for ker in (3, 5, 7):
    filtered = (hessian.hessian_filter(x, ker) for x in test_images.values())
    g = [torch.cat([t.flatten() for t in ts]) for ts in zip(*filtered)]
    pick = torch.randperm(g[0].numel(), generator=gen)[:hessian_samples]  # all of them unless the profile caps it
    rows[f"{set_name}, ker={ker}"] = errors(*(t[pick] for t in g))
    assert rows[f"{set_name}, ker={ker}"]["max err / ||H||"] <= 4 * EPS64
pd.DataFrame(rows).T

# %% [markdown]
# **Edge cases**, against 50-digit arithmetic (mpmath): the errors of the closed form
# and of `eigvalsh` relative to $\|\mathbf{H}\|_2$, the closed form's relative to
# $|\lambda_1|$, and its absolute error in steps of the finest float64 spacing $2^{-1074}$.

# %%
cases = {
    "equal eigenvalues (2I)": (2, 2, 0), "zero matrix": (0, 0, 0), "nearly equal": (1, 1, 1e-9),
    "negative definite": (-5, -2, 1), "negative, equal (-3I)": (-3, -3, 0), "indefinite": (3, -4, 2),
    "indefinite, pure shear": (0, 0, 1), "huge": (1e150, -1e150, 3e149), "tiny": (1e-150, 2e-150, -1e-150),
    "subnormal": (1e-310, 0, 1e-310), "lam_1 << ||H|| (cancellation)": (-1e8, 1e-8, 0),
}
mpmath.mp.dps = 50
SUB = mpmath.mpf(2) ** -1074  # spacing of float64 subnormals: below it no result can be more exact
table = []
for name, (x, y, z) in cases.items():
    A, B, C = (mpmath.mpf(v) for v in (x, y, z))
    exact = (A + B) / 2 + mpmath.sqrt(((A - B) / 2) ** 2 + C**2)
    norm = abs((A + B) / 2) + mpmath.sqrt(((A - B) / 2) ** 2 + C**2)
    t = [torch.tensor([v], dtype=F64) for v in (x, y, z)]
    cf, ev = hessian.max_eigenvalue(*t).item(), hessian.max_eigenvalue_eigvalsh(*t).item()
    rel = lambda v, base: float(abs(mpmath.mpf(v) - exact) / base) if base else 0.0  # noqa: E731
    table.append({"case": name, "(a, b, c)": f"({x:g}, {y:g}, {z:g})", "lambda_1": float(exact),
                  "closed / ||H||": rel(cf, norm), "eigvalsh / ||H||": rel(ev, norm),
                  "closed / |lam|": rel(cf, abs(exact)), "closed, abs / 2^-1074": float(abs(cf - exact) / SUB)})
edge = pd.DataFrame(table).set_index("case")
edge

# %%
normal = edge.drop(index="subnormal")
assert (normal["closed / ||H||"] <= 4 * EPS64).all()  # every edge case within 4 ulps of ||H||
assert edge.loc["subnormal", "closed, abs / 2^-1074"] <= 4  # subnormals: within 4 steps of the finest spacing
assert edge.loc["equal eigenvalues (2I)", "closed / |lam|"] == 0.0  # exact where the eigenvalues coincide
assert edge.loc["huge", "closed / |lam|"] <= 4 * EPS64 and edge.loc["tiny", "closed / |lam|"] <= 4 * EPS64  # no overflow/underflow
cancel = edge.loc["lam_1 << ||H|| (cancellation)"]
assert cancel["closed / ||H||"] < EPS64  # the prose: below one ulp of ||H||, backward stable
glue("cancel_rel_err", float(cancel["closed / |lam|"]), display=False)
# the prose's overflow thresholds of the plain (a - b)^2: sqrt of the largest finite float
assert 1e154 < torch.finfo(F64).max ** 0.5 < 1e155 and 1e19 < torch.finfo(torch.float32).max ** 0.5 < 1e20

# %% [markdown]
# The closed form is exact at equal eigenvalues and keeps full relative accuracy
# at $10^{\pm150}$ (it computes $(a-b)/2$ before subtracting and $\sqrt{d^2 + c^2}$
# as `hypot`, so nothing overflows or underflows; the plain $(a-b)^2 + 4c^2$ overflows
# float64 above $\approx 10^{154}$ and float32 above $\approx 10^{19}$). Subnormal
# inputs carry fewer significant bits, so both methods are only exact to a few steps of
# the subnormal spacing there. The one case where the closed form loses *relative*
# accuracy is $\lambda_1 \ll \|\mathbf{H}\|_2$ with a negative trace: $s + r$ cancels, and
# $\lambda_1 = 10^{-8}$ next to $\lambda_2 = -10^8$ comes out with a relative error of
# {glue:text}`cancel_rel_err:.2f`. The error is still below one ulp of $\|\mathbf{H}\|_2$ (backward stable);
# `eigvalsh` returns this diagonal matrix's entries exactly. For the network this is
# harmless: the attention branch never resolves $10^{-16}$ of a feature's scale.
#
# **float32 vs float64.** The same random matrices, the closed form in float32
# (inputs rounded to float32) against float64 `eigvalsh` of the rounded inputs:

# %%
a32, b32, c32 = a.float(), b.float(), c.float()
lam32 = hessian.max_eigenvalue(a32, b32, c32).double()
ev = torch.linalg.eigvalsh(torch.stack([torch.stack([a32, c32], -1), torch.stack([c32, b32], -1)], -2).double())
err32 = ((lam32 - ev[..., -1]).abs() / ev.abs().amax(-1)).max().item()
ev32 = torch.linalg.eigvalsh(torch.stack([torch.stack([a32, c32], -1), torch.stack([c32, b32], -1)], -2))[..., -1]
err32_solver = ((ev32.double() - ev[..., -1]).abs() / ev.abs().amax(-1)).max().item()
print(f"float32 closed form: max err / ||H|| = {err32:.2e} ({err32 / EPS32:.2f} ulp); "
      f"float32 eigvalsh: {err32_solver:.2e} ({err32_solver / EPS32:.2f} ulp)")
assert err32 <= 4 * EPS32  # float32 rounding level too

# %% [markdown]
# ## 2. Gradients
#
# `gradcheck` compares the analytic backward of `max_eigenvalue` and of the fused
# `MSHF` with finite differences in float64, at random points (the degenerate set
# $a = b, c = 0$ has measure zero, so random points avoid it).

# %%
abc = [torch.randn(64, generator=gen, dtype=F64).requires_grad_() for _ in range(3)]
assert torch.autograd.gradcheck(hessian.max_eigenvalue, abc)
m = accelerate(hessian.MSHF(3).double())  # the fused MSHF (defian.kernels), as in training
m.bias.uniform_(-1 / 3, 1 / 3, generator=gen)  # the released convs' random bias, to exercise that path too
assert torch.autograd.gradcheck(m, (torch.randn(1, 3, 8, 8, generator=gen, dtype=F64, requires_grad=True),))
print("gradcheck passed: max_eigenvalue and MSHF (with and without bias paths)")

# %% [markdown]
# **On the degenerate set.** On a constant image or zero features every pixel away
# from the border has $g_{hh} = g_{vv} = g_{hv} = 0$ (with zero bias): the two
# eigenvalues coincide. Our backward is finite there and equals the minimum-norm
# subgradient (notebook 01); the released formula gives NaN. Its convolutions keep a
# random bias $U(-\tfrac13, \tfrac13)$, which on a flat region makes the
# discriminant $(b_{hh} - b_{vv})^2 + 4 b_{hv}^2 > 0$: that is why it works in float32.

# %%
ours, plain = accelerate(hessian.MSHF(8)), hessian.MSHF(8)
for name, x0 in {"constant image": torch.full((2, 8, 12, 12), 0.7), "zero features": torch.zeros(2, 8, 12, 12)}.items():
    x1, x2 = x0.clone().requires_grad_(), x0.clone().requires_grad_()
    ours(x1).sum().backward()
    plain.reference(x2, plain=True).sum().backward()
    print(f"{name}: ours finite = {x1.grad.isfinite().all().item()}, released formula NaNs = {x2.grad.isnan().sum().item()}")
    assert x1.grad.isfinite().all() and x2.grad.isnan().any()
released_bias = torch.rand(3, 3, 64, generator=gen) * 2 / 3 - 1 / 3
flat_disc = ((released_bias[:, 0] - released_bias[:, 1]) ** 2 + 4 * released_bias[:, 2] ** 2).min().item()
print(f"released random bias: smallest discriminant on a flat region over 3 scales x 64 channels = {flat_disc:.2e}")
assert flat_disc > 0

# %% [markdown]
# **bfloat16.** Under `torch.autocast(dtype=torch.bfloat16)` the released design's
# convolutions return bfloat16 (8 significant bits): the discriminant
# $(g_{hh} - g_{vv})^2 + 4 g_{hv}^2$ is then *exactly* zero at a few pixels
# ({glue:text}`bf16_zero_per_million:.2f` per million values in the batches drawn below),
# bias or not, and one NaN gradient poisons every weight at the first
# update. We draw feature batches of DeFiAN_L's width ({glue:text}`bf16_feat_shape`: a batch of
# 16 of the paper's 48 x 48 LR patches, $C = 64$ channels; unit variance, the released random biases)
# until one holds such a pixel, counting in float32 and bfloat16:

# %%
zero_discriminants = hessian_checks.zero_discriminants
feat_shape = (16, 64, 48, 48)  # (batch, C, h, w) of each drawn batch
# the prose: DeFiAN_L's width (DeFiAN_S has C = 32), the paper's batch of 16 and 48 x 48 LR patches
assert feat_shape[1] == make_config("defian_l").channels != make_config("defian_s").channels
assert (feat_shape[0], feat_shape[2]) == (config.FULL.batch, config.FULL.patch) and feat_shape[2] == feat_shape[3]
glue("bf16_feat_shape", Plain(" x ".join(map(str, feat_shape))), display=False)

assert torch.finfo(torch.bfloat16).eps == 2.0**-7  # bfloat16: 8 significant bits (7 stored + 1 implicit)
feat_gen = torch.Generator().manual_seed(seed)
bf16_hits = bf16_values = 0
for draw in range(1, 9):
    feat = torch.randn(*feat_shape, generator=feat_gen)
    zeros = {str(dt): zero_discriminants(feat, released_bias, dt) for dt in (torch.float32, torch.bfloat16)}
    bf16_hits, bf16_values = bf16_hits + int(zeros["torch.bfloat16"].sum()), bf16_values + 3 * feat.numel()
    print(f"batch {draw}: zero discriminants (3 scales x {feat.numel()} values): "
          + ", ".join(f"{k} {int(v.sum())}" for k, v in zeros.items()))
    assert zeros["torch.float32"].sum() == 0  # never in float32 with the released bias
    if zeros["torch.bfloat16"].sum() > 0:
        break
assert zeros["torch.bfloat16"].sum() > 0  # bfloat16 hits Delta = 0 (seeded: deterministic)
glue("bf16_zero_per_million", bf16_hits / bf16_values * 1e6, display=False)

# %%
m_rel = accelerate(hessian.MSHF(64))
m_rel.bias.copy_(released_bias)
batch = feat[zeros["torch.bfloat16"] > 0]  # the samples holding such a pixel (each sample is separate)
nan_grads = {}
for name, fn in {"released formula": lambda t: m_rel.reference(t, plain=True), "ours": m_rel}.items():
    x1 = batch.bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fn(x1)
    out.float().sum().backward()
    nan_grads[name] = int(x1.grad.isnan().sum())
print("NaN input-gradient entries under bf16 autocast:", nan_grads)
assert nan_grads["released formula"] > 0 and nan_grads["ours"] == 0

# %% [markdown]
# `MSHF` computes the filtered values and the eigenvalue in float32 whatever the
# input precision (and returns float32 maps), and its backward is finite
# everywhere, so the network trains under bf16 autocast (`tests/nn/test_hessian.py`
# runs SGD steps on a flat-region input under autocast).
#
# ## 3. What the filters see (Fig. 1 style)
#
# Fig. 1 of the paper shows the channel-averaged $\bar\lambda_3, \bar\lambda_5, \bar\lambda_7$
# of a trained DeFiAM's features. On the image itself (RGB, channel mean as in Eq. (18);
# the kernels of Eq. (16)), the small scale responds to fine edges and texture, the larger ones
# to coarser structure: the same pattern, without a trained network.

# %% tags=["hide-input"]
name = "butterfly" if "butterfly" in test_images else next(iter(test_images))
img = test_images[name]
lam_maps = hessian.MSHF(3).double()(img)[0]
print(f"image: {name} ({set_name})")
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
axes[0].imshow(img[0].permute(1, 2, 0).numpy())
axes[0].set_title(f"{name} ({set_name})")
for k, ker in enumerate((3, 5, 7)):
    mp = lam_maps[k].numpy()
    lim = np.percentile(np.abs(mp), 99.5)
    axes[k + 1].imshow(mp, cmap="gray", vmin=-lim, vmax=lim)
    axes[k + 1].set_title(f"mean lambda_{ker} (Eq. 12)")
for ax in axes:
    ax.axis("off")
plt.tight_layout()
figures.save(fig, "fig01_hessian_maps", profile)  # results/figures (smoke: _build/figures)
plt.show()

# %% [markdown]
# ## 4. Speed
#
# **Fig. 12 redone.** The paper timed Hessian filtering against `torch.eig` called
# per pixel (Eq. (24)) on tensors of 1 to 64 channels at 4x4, and of 1x1 to 8x8 at 16
# channels. Here all candidates start from the same filtered maps of Eq. (9) (their cost,
# common to all, is the `filter_ms` column); they differ in how they get $\lambda_1$: the
# closed form (Eq. (12)), `torch.linalg.eigvalsh` on the whole batch of 2x2 matrices, or
# one solver call per pixel (only for the smallest inputs). Times are minima over interleaved rounds, CPU time on one thread
# (wall time with synchronisation on CUDA).

# %%
torch.set_num_threads(1)  # one thread and CPU time: stable on a shared machine (the benchmark's default)
sizes = tuple(2**i for i in range(int(np.log2(hessian_fig12_max_size)) + 1))
fig12 = {"cpu": pd.DataFrame(bench.fig12_rows(sizes=sizes, loop_max_pixels=hessian_loop_max_pixels,
                                               rounds=max(2, hessian_bench_rounds), clock="cpu"))}
if cuda:
    fig12["cuda"] = pd.DataFrame(bench.fig12_rows(sizes=sizes, loop_max_pixels=hessian_loop_max_pixels,
                                                  rounds=max(2, hessian_bench_rounds), device="cuda"))
for dev, df in fig12.items():
    print(f"--- {dev} ---")
    display(df.round(3))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for dev, df in fig12.items():
    for ax, sweep, xcol in zip(axes, ("channels at 4x4", "size at 16 ch"), ("channels", "size"), strict=True):
        part = df[df.sweep == sweep]
        for col, style in (("closed_ms", "-o"), ("eigvalsh_ms", "--s"), ("loop_ms", ":^")):
            ax.plot(part[xcol], part[col], style, label=f"{col[:-3]} ({dev})")
        ax.set(xscale="log", yscale="log", xlabel=xcol, ylabel="ms", title=f"Fig. 12 redo: {sweep}")
axes[0].legend(fontsize=8)
plt.tight_layout()
figures.save(fig, "fig12_hessian_speed", profile)
plt.show()

# %% [markdown]
# The per-pixel loop, the paper's setting, grows linearly with the pixel count and is
# {glue:text}`loop_ratio_min:.0f` to {glue:text}`loop_ratio_max:.0f` times slower than the
# closed form on the inputs it runs on here (up to `hessian_loop_max_pixels` pixels). The
# batched `eigvalsh` (the paper's `torch.eig` took one matrix per call) is not: on small
# inputs both are fast and per-call overheads decide;
# beyond, the closed form pulls ahead and the gap grows with the input (last rows),
# since it is a handful of element-wise operations, which moreover fuse with the
# filtering (below).

# %%
cpu = fig12["cpu"]
big = cpu[cpu.sweep == "size at 16 ch"].iloc[-1]
loops = cpu.dropna(subset=["loop_ms"])
print(f"largest input (16 x {big['size']} x {big['size']}): eigvalsh / closed form = {big['eigvalsh_vs_closed']:.2f}")
print(f"per-pixel loop / closed form: {loops['loop_vs_closed'].min():.1f}x to {loops['loop_vs_closed'].max():.1f}x "
      f"over {len(loops)} inputs of up to {int((loops.channels * loops['size'] ** 2).max())} pixels")
glue("loop_ratio_min", float(loops["loop_vs_closed"].min()), display=False)
glue("loop_ratio_max", float(loops["loop_vs_closed"].max()), display=False)

# %% [markdown]
# **MSHF vs a dense convolution and vs the released design.** `benchmarks/bench_mshf.py`
# (run here with the profile's settings; `--quick` under smoke) times MSHF-3-5-7
# forward and forward+backward against one dense 3x3 convolution C->C of the same
# tensor, and against the released design: nine frozen depthwise convolutions with bias,
# the plain Eq. (12) and three channel means. Default tensor: (16, 32, 48, 48).

# %%
shape = (2, 8, 16, 16) if hessian_bench_quick else bench.DEFAULT_SHAPE
speed = pd.DataFrame(bench.mshf_ratio_rows(shape, rounds=max(2, hessian_bench_rounds), seed=seed))
print(f"tensor {shape}, 1 thread, CPU time, {'--quick: a check, not a measurement' if hessian_bench_quick else 'full'}")
speed.round(3).assign(max_abs_diff=speed["max_abs_diff"].map("{:.1e}".format))

# %%
assert (speed["max_abs_diff"] <= 1e-5).all()  # fused == straightforward implementation, float32, 1e-5
assert bench.DEFAULT_SHAPE == (16, 32, 48, 48)  # the prose's default tensor
assert mshf_kernel.CHUNK_ELEMENTS == 2**17  # the prose's blocks of about 2^17 elements
fb32 = speed[(speed["precision"] == "float32") & (speed["pass"] == "fwd+bwd")].iloc[0]
glue("mshf_vs_conv_fb", float(fb32["mshf_vs_conv"]), display=False)
glue("released_vs_conv_fb", float(fb32["released_vs_conv"]), display=False)
for _, r in speed.iterrows():
    print(f"{r['precision']:>13} {r['pass']:>7}: MSHF = {r['mshf_vs_conv']:.2f} x dense conv, "
          f"{r['mshf_vs_released']:.2f} x released design, {r['mshf_vs_pytorch_path']:.2f} x its PyTorch path; "
          f"released design = {r['released_vs_conv']:.2f} x dense conv")

# %% [markdown]
# **What made it fast** (details in `defian/kernels/mshf.py`):
#
# 1. *No convolutions.* The kernels of Eqs. (14)-(17) are 3- and 4-tap difference
#    stencils, so every filtered map is a sum of shifted slices of one zero-padded
#    copy of the input. $d = (g_{hh} - g_{vv})/2$ needs no centre tap (the $-2x$
#    cancels), and $\mathbf{G}_{hv} = [1,0,-1]^T[1,0,-1]$ is separable: two slice
#    subtractions.
# 2. *Average the linear part first.* Only the channel mean of $\lambda$ is used
#    (Eq. (18)), and $\mathrm{mean}_c\,(g_{hh} + g_{vv})/2$ is half the dilated Laplacian of
#    $\mathrm{mean}_c\,x$: a one-channel map. Only $\sqrt{d^2 + c^2}$ is computed per channel.
# 3. *A hand-written backward.* The filters are frozen, so only $\partial/\partial x$ is
#    needed. Every stencil is symmetric under a half turn, so its adjoint is the same
#    stencil on the zero-padded gradient: the backward writes $g\,d/r$ and $g\,c/r$ into a
#    zero-bordered buffer and gathers shifted slices, instead of replaying nine
#    convolutions' backward passes and their many element-wise ones.
# 4. *Chunked, recomputed, allocation-free.* The work runs over blocks of about $2^{17}$
#    elements whose scratch buffers are allocated once per call and reused (`out=`
#    everywhere), so they stay in cache and never fault in fresh pages. The backward
#    recomputes $d, c, r$ instead of storing them: MSHF keeps only its input for the
#    backward (the released design keeps many full-size intermediate tensors).
#
# 5. *A C++ kernel on CPU.* The same arithmetic as one loop over a channels-last feature
#    (`defian/kernels/csrc/mshf_cpu.cpp`, built on first use by `defian.kernels.extension`): every tap
#    is read from the feature itself and the channel mean is a vector reduction, so the
#    forward is one pass (over bands of rows) and so is the backward: it runs down each
#    sample's rows, keeping the last $2P + 1$ rows of its input and of $g\,d/r$, $g\,c/r$
#    in small rings that stay in the core's cache. Points 1-4 remain the PyTorch path, the
#    reference the kernel is tested against in float64, the path on GPUs and the
#    fallback without a compiler; the column `mshf_vs_pytorch_path` is the kernel's time
#    over that path's.
#
# On this page's tensor MSHF-3-5-7 costs {glue:text}`mshf_vs_conv_fb:.2f` dense
# convolutions in float32, forward+backward, and the released design
# {glue:text}`released_vs_conv_fb:.2f` (the lines above give the other rows; under smoke
# the tensor is tiny and per-call overheads dominate, the full-size tensor of profiles cpu
# and up is the measurement). Under bf16 autocast, on a CPU with oneDNN's
# bfloat16 kernels (AVX-512 and newer), the dense convolution gets markedly faster
# while MSHF deliberately stays in float32 (a second difference in bfloat16 keeps only a
# few significant bits of a smooth feature), so its ratio is higher there. On a CPU
# without them (AVX2 only; `defian.train.loop.cpu_has_bf16_kernels`) bfloat16 convolutions
# take a slow path, far slower than float32, and `defian train` warns.
#
# The ratios are taken on one thread, in CPU time. With several threads on cores that
# other jobs keep busy, every parallel operation waits at an OpenMP barrier; the fused
# path issues many more (smaller) operations than one convolution, so its ratio grows
# there (`python benchmarks/bench_mshf.py --threads 2 --clock wall` measures it), though
# it stays faster than the released design, which issues even more.
