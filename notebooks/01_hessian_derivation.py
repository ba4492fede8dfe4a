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
# # Hessian filtering: the closed form and its kernels
#
# Section III-B of the paper replaces an eigen-solver by algebra: the largest
# eigenvalue of each pixel's $2\times 2$ Hessian (Eq. (8)) follows from its
# trace and determinant (Eqs. (10)-(11)) as the closed form of Eq. (12), and the
# three second derivatives are fixed convolutions (Eq. (9)), spread out for the
# larger scales $ker = 5, 7$ (Eqs. (14)-(17)). This page
#
# 1. derives Eqs. (10)-(12) symbolically, and proves that $\lambda_1$ is real and
#    $\lambda_1 \ge \lambda_2$;
# 2. differentiates Eq. (12) and shows where the gradient does not exist (and
#    which subgradient `defian.nn.hessian.max_eigenvalue` uses there);
# 3. prints the scaled kernels of both variants, the paper's (Eq. (16)) and
#    the released code's, and the pixel offsets they sample (Eqs. (13), (15), (17));
# 4. states what the paper-vs-code difference in $\mathbf{G}_{hv}$ changes, exactly
#    on a quadratic image and numerically on a real one.
#
# Every identity below is an `assert`: the page does not build if one fails.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile produced this page (set by the runner)
data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch
from IPython.display import Math, display

from defian import paths, provenance
from defian.data import testsets, trainset, images
from defian.nn import hessian
from defian.runner import hessian_checks

print("profile:", profile)
print("data:", provenance.data_label(data_root))

# %% [markdown]
# ## 1. Eigenvalues of the Hessian (Eqs. (8)-(12))
#
# Write $a = g_{hh}$, $b = g_{vv}$, $c = g_{hv}$ for the three filtered values at
# one pixel. The Hessian of Eq. (8) is the real symmetric matrix
# $\mathbf{H} = \begin{bmatrix} a & c \\ c & b \end{bmatrix}$; its eigenvalues are
# the roots of the characteristic polynomial $\det(\mathbf{H} - \lambda I)$.

# %%
a, b, c = sp.symbols("a b c", real=True)
lam = sp.Symbol("lambda")
H = sp.Matrix([[a, c], [c, b]])
charpoly = H.charpoly(lam).as_expr()
roots = sp.solve(charpoly, lam)
display(Math(r"\det(\mathbf{H}-\lambda I) = " + sp.latex(sp.expand(charpoly))))
for r in roots:
    display(Math(r"\lambda = " + sp.latex(r)))
assert len(roots) == 2

# %% [markdown]
# The polynomial is $\lambda^2 - \mathrm{tr}(\mathbf{H})\lambda + |\mathbf{H}|$, so
# the two roots add up to the trace (Eq. (10)) and multiply to the determinant
# (Eq. (11)), whatever their order:

# %%
lam1 = (a + b) / 2 + sp.sqrt((a - b) ** 2 + 4 * c**2) / 2  # Eq. (12)
lam2 = (a + b) / 2 - sp.sqrt((a - b) ** 2 + 4 * c**2) / 2
assert {sp.simplify(r - lam1) == 0 or sp.simplify(r - lam2) == 0 for r in roots} == {True}  # the roots are lam1, lam2
assert sp.simplify(lam1 + lam2 - H.trace()) == 0  # Eq. (10): lambda_1 + lambda_2 = g_hh + g_vv
assert sp.simplify(sp.expand(lam1 * lam2) - H.det()) == 0  # Eq. (11): lambda_1 lambda_2 = g_hh g_vv - g_hv^2
display(Math(r"\lambda_{1,2} = \frac{\mathrm{tr}\,\mathbf{H} \pm \sqrt{\Delta}}{2},\quad "
             r"\Delta = \mathrm{tr}^2\mathbf{H} - 4|\mathbf{H}| = " + sp.latex(sp.factor(H.trace() ** 2 - 4 * H.det()))))

# %% [markdown]
# **The discriminant form.** $\Delta = \mathrm{tr}^2 - 4\det$ expands to
# $(a-b)^2 + 4c^2$, a sum of squares. Hence $\Delta \ge 0$: both eigenvalues are
# real (as for any real symmetric matrix), $\lambda_1 - \lambda_2 = \sqrt{\Delta} \ge 0$,
# and Eq. (12) with the $+$ sign is the largest one. The paper writes
# $\lambda_1 > \lambda_2$; equality holds exactly when $\Delta = 0$, i.e.
# $a = b$ and $c = 0$: $\mathbf{H}$ is a multiple of the identity. Every flat
# region of an image or of a feature map is such a point ($a = b = c = 0$).

# %%
disc = (a - b) ** 2 + 4 * c**2
assert sp.expand(H.trace() ** 2 - 4 * H.det() - disc) == 0  # Delta = (a - b)^2 + 4 c^2
assert disc.is_nonnegative  # a sum of squares of reals: lambda_1, lambda_2 are real
assert sp.simplify(lam1 - lam2 - sp.sqrt(disc)) == 0  # lambda_1 - lambda_2 = sqrt(Delta) >= 0
assert sp.solve([disc.subs(c, 0), c], [a, c], dict=True) == [{a: b, c: 0}]  # Delta = 0 iff a = b, c = 0

# %% [markdown]
# ## 2. The gradient of Eq. (12), and where it does not exist
#
# With $s = (a+b)/2$, $d = (a-b)/2$ and $r = \sqrt{d^2 + c^2}$, Eq. (12) reads
# $\lambda = s + r$. Its gradient is
# $\big(\tfrac12 + \tfrac{d}{2r},\ \tfrac12 - \tfrac{d}{2r},\ \tfrac{c}{r}\big)$ wherever
# $r > 0$:

# %%
grad = [sp.diff(lam1, v) for v in (a, b, c)]
d_, r_ = (a - b) / 2, sp.sqrt(((a - b) / 2) ** 2 + c**2)
ours = [sp.Rational(1, 2) + d_ / (2 * r_), sp.Rational(1, 2) - d_ / (2 * r_), c / r_]
assert all(sp.simplify(g - o) == 0 for g, o in zip(grad, ours, strict=True))  # the backward of max_eigenvalue
display(Math(r"\nabla\lambda = " + sp.latex(sp.Matrix([sp.simplify(g) for g in grad]).T)))

# %% [markdown]
# At $r = 0$ ($a = b$, $c = 0$) the gradient has no limit: along the direction
# $(d, c) = t(\cos\theta, \sin\theta)$, $t \to 0^+$, the $a$-component tends to
# $\tfrac12 + \tfrac12\cos\theta$, a different value for each $\theta$. $\lambda$ is a
# cone there. It is convex (the largest eigenvalue is a maximum of linear
# functions, $\max_{\|u\|=1} u^\top \mathbf{H} u$), so it has a subdifferential,
# the disc $\{(\tfrac12 + \tfrac{u}{2}, \tfrac12 - \tfrac{u}{2}, v) : u^2 + v^2 \le 1\}$.
# `max_eigenvalue` returns its centre $(\tfrac12, \tfrac12, 0)$: the minimum-norm
# subgradient, the mean of the gradients of $\lambda_1$ and $\lambda_2$ (the gradient of
# $\mathrm{tr}\,\mathbf{H}/2$), and the gradient averaged over all directions of approach.
# The plain formula, as the released code writes it, evaluates $\infty \cdot 0$ there:
# NaN (notebook 02 shows it, and when it happens).

# %%
t, th = sp.symbols("t theta", positive=True)
along = grad[0].subs({a: b + 2 * t * sp.cos(th), c: t * sp.sin(th)})  # d = t cos(theta), c = t sin(theta)
limit = sp.simplify(sp.limit(along, t, 0, "+"))
display(Math(r"\lim_{t\to 0^+} \partial_a\lambda = " + sp.latex(limit)))
assert sp.simplify(limit - (1 + sp.cos(th)) / 2) == 0  # depends on theta: no gradient at r = 0
x0 = torch.zeros(3, dtype=torch.float64, requires_grad=True)
hessian.max_eigenvalue(x0[0], x0[1], x0[2]).backward()
assert x0.grad.tolist() == [0.5, 0.5, 0.0]  # the minimum-norm subgradient, exactly
assert torch.isnan(torch.func.grad(lambda v: hessian.max_eigenvalue_plain(v[0], v[1], v[2]))(torch.zeros(3))).any()

# %% [markdown]
# ## 3. The kernels (Eqs. (9), (14), (16))
#
# Eq. (9) gives the $3\times3$ second differences; for $ker = 5, 7$ the paper spreads
# them "by padding the zero-vectors". Two readings exist:
#
# * **paper** (Eq. (16) as printed): $\mathbf{G}_{hh}, \mathbf{G}_{vv}$ become
#   $[1, 0, -2, 0, 1]$ (and $[1,0,0,-2,0,0,1]$), while $\mathbf{G}_{hv} = [1,0,-1]^T[1,0,-1]$
#   stays the undilated $3\times 3$ stencil at every scale;
# * **released** (the authors' `model.py`): every scale uses three $3\times 3$
#   depthwise convolutions with `dilation = padding = (ker-1)/2`, so
#   $\mathbf{G}_{hv}$ is dilated too and samples the corners $(\pm d, \pm d)$.
#
# The released checkpoints need the second; `MSHF(..., variant=...)` picks one.
# Convolution here is cross-correlation (`F.conv2d`); all three kernels are
# symmetric under a half turn, so the two agree.

# %%
for variant in hessian.VARIANTS:
    for ker in (3, 5, 7):
        mats = [sp.Matrix(k.to(torch.int64).tolist()) for k in hessian.hessian_kernels(ker, variant)]
        display(Math(rf"\text{{{variant}}},\ ker={ker}:\quad "
                     + r",\ ".join(rf"\mathbf{{G}}_{{{n}}} = {sp.latex(m)}" for n, m in zip(("hh", "vv", "hv"), mats))))

# %%
fig, axes = plt.subplots(2, 9, figsize=(13, 3.8))
for row, variant in enumerate(hessian.VARIANTS):
    for col, (ker, name) in enumerate((k, n) for k in (3, 5, 7) for n in ("hh", "vv", "hv")):
        kern = hessian.hessian_kernels(ker, variant)[("hh", "vv", "hv").index(name)].numpy()
        ax = axes[row, col]
        ax.imshow(kern, cmap="coolwarm", vmin=-2, vmax=2)
        for (i, j), v in np.ndenumerate(kern):
            if v:
                ax.text(j, i, f"{v:+.0f}", ha="center", va="center", fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{variant} G{ker},{name}", fontsize=8)
fig.suptitle("Scaled Hessian kernels: the paper's Eq. (16) vs the released code (G_hv differs at ker 5, 7)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Which offsets $\lambda_{ker}$ samples (Eqs. (13), (15), (17))
#
# Eq. (17) says $\lambda_5 \propto \sum_{i=-2,0,2} \nabla \mathbf{x}^i$: the scale-5
# eigenvalue reads the pixels at offsets $\{-2, 0, 2\}^2$. The union of the
# kernels' supports says which reading matches:

# %%
support = hessian_checks.kernel_support  # offsets read by the three kernels of one scale

for ker in (3, 5, 7):
    h = (ker - 1) // 2
    lattice = {(i, j) for i in (-h, 0, h) for j in (-h, 0, h)}
    print(f"ker={ker}: Eq. (17)'s set {{-{h},0,{h}}}^2; released reads {len(support(ker, 'released'))} of its",
          f"9 offsets and nothing else; paper reads also {sorted(support(ker, 'paper') - lattice)}")
    assert support(ker, "released") <= lattice  # the released kernels match Eqs. (13), (15), (17)
    if ker > 3:
        assert support(ker, "paper") - lattice == {(-1, -1), (-1, 1), (1, -1), (1, 1)}  # Eq. (16) does not

# %% [markdown]
# So the released code is the reading consistent with Eq. (17); Eq. (16) as
# printed samples the diagonal neighbours $(\pm1,\pm1)$, outside that set.
#
# ## 5. Paper vs code: what changes numerically
#
# **Exactly, on a quadratic image.** On $x(u, v) = \alpha u^2 + \beta uv + \gamma v^2$
# ($u$ horizontal, $v$ vertical) every stencil is exact: a second difference with
# spacing $\delta$ gives $2\alpha\delta^2$ and $2\gamma\delta^2$, and the corner stencil
# with spacing $\epsilon$ gives $4\beta\epsilon^2$. So each scale filters the matrix
#
# $$\mathbf{H}_{ker} = \begin{bmatrix} 2\alpha\delta^2 & 4\beta\epsilon^2 \\ 4\beta\epsilon^2 & 2\gamma\delta^2\end{bmatrix},
# \qquad \delta = \tfrac{ker-1}{2},\quad \epsilon = \begin{cases}\delta & \text{released}\\ 1 & \text{paper}\end{cases}$$
#
# Two facts follow. (i) Even at $ker = 3$ the off-diagonal is $4\beta$, not the true
# Hessian's $\beta$: $\mathbf{G}_{hv}$ of Eq. (9) is four times the central mixed
# difference. So $\lambda_3$ is the largest eigenvalue of
# $\begin{bmatrix} x_{uu} & 4x_{uv} \\ 4x_{uv} & x_{vv}\end{bmatrix}$, not of the Hessian
# (on the saddle $x = uv$: 4 instead of 1), and it is not rotation invariant. (ii) Released: $\mathbf{H}_{ker} = \delta^2 \mathbf{H}_3$, a pure
# rescaling, so $\lambda_5 = 4\lambda_3$ and $\lambda_7 = 9\lambda_3$ on any quadratic.
# Paper: the mixed term is not rescaled, so it is under-weighted by $\delta^2$ (4x at
# $ker=5$, 9x at $ker=7$) and $\lambda_{ker}$ is not a multiple of $\lambda_3$.

# %%
al, be, ga, dl, ep = sp.symbols("alpha beta gamma delta epsilon", real=True)
Hk = sp.Matrix([[2 * al * dl**2, 4 * be * ep**2], [4 * be * ep**2, 2 * ga * dl**2]])
lam_k = Hk.trace() / 2 + sp.sqrt((Hk[0, 0] - Hk[1, 1]) ** 2 + 4 * Hk[0, 1] ** 2) / 2
lam_3 = lam_k.subs({dl: 1, ep: 1})
assert sp.simplify(lam_k.subs(ep, dl) - dl**2 * lam_3) == 0  # released: lambda_ker = delta^2 lambda_3 on quadratics
display(Math(r"\lambda_{ker}^{\mathrm{paper}} = " + sp.latex(sp.simplify(lam_k.subs(ep, 1)))))

# %%
v, u = torch.meshgrid(torch.arange(40.0, dtype=torch.float64), torch.arange(40.0, dtype=torch.float64), indexing="ij")
rows = []
for name, (A, B, G) in {"x = u^2": (1, 0, 0), "x = u v (saddle)": (0, 1, 0), "x = u^2 + u v": (1, 1, 0)}.items():
    img = (A * u**2 + B * u * v + G * v**2)[None, None]
    true = torch.linalg.eigvalsh(torch.tensor([[2.0 * A, B], [B, 2.0 * G]]))[-1].item()  # the Hessian's own
    for variant in hessian.VARIANTS:
        got = hessian.MSHF(1, variant=variant).double()(img)[0, :, 20, 20]  # an interior pixel
        want = [float(lam_k.subs({al: A, be: B, ga: G, dl: k, ep: k if variant == "released" else 1})) for k in (1, 2, 3)]
        assert np.allclose(got.numpy(), want, rtol=1e-12)  # the module computes the formula above
        rows.append((name, variant, *want, true))
print(f"{'image':18} {'variant':9} {'lam_3':>7} {'lam_5':>7} {'lam_7':>7}   true Hessian's lambda_1")
for r in rows:
    print(f"{r[0]:18} {r[1]:9} {r[2]:7.3f} {r[3]:7.3f} {r[4]:7.3f}   {r[5]:.3f}")

# %% [markdown]
# **Numerically, on a real image.** The two variants agree at $ker = 3$ and differ
# at 5 and 7. Below, $\bar\lambda_{ker}$ of an RGB photograph (channel mean, as
# Eq. (18) feeds the fusion unit) for both, with the relative $L_2$ difference
# and the correlation of the maps.

# %%
present = testsets.find(paths.data_root(data_root or None))
if "Set5" in present:
    source = next(p for p in present["Set5"] if p.stem == "butterfly")
else:
    source = trainset.embedded_images("test")[0]  # scikit-image's astronaut
print("image:", source.name, "(Set5)" if "Set5" in present else "(embedded scikit-image photograph)")
rgb = torch.tensor(images.to_rgb(images.load_image(source)), dtype=torch.float64).permute(2, 0, 1)[None] / 255
maps = {variant: hessian.MSHF(3, variant=variant).double()(rgb)[0] for variant in hessian.VARIANTS}
for k, ker in enumerate((3, 5, 7)):
    p, r = maps["paper"][k], maps["released"][k]
    rel = ((p - r).norm() / r.norm()).item()
    corr = np.corrcoef(p.flatten().numpy(), r.flatten().numpy())[0, 1]
    print(f"ker={ker}: relative L2 difference {rel:.3f}, correlation {corr:.3f}")
    if ker == 3:
        assert rel == 0.0  # identical kernels at ker = 3
    else:
        assert rel > 0.01  # the variants give different maps at ker = 5, 7 (more than 1% in L2)

# %%
fig, axes = plt.subplots(2, 3, figsize=(11, 7))
for row, variant in enumerate(hessian.VARIANTS):
    for k, ker in enumerate((3, 5, 7)):
        m = maps[variant][k].numpy()
        lim = np.percentile(np.abs(m), 99)
        axes[row, k].imshow(m, cmap="gray", vmin=-lim, vmax=lim)
        axes[row, k].set_title(f"{variant}: mean lambda_{ker}")
        axes[row, k].axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Summary.** Eq. (12) is the exact largest eigenvalue of the filtered $2\times2$
# matrix; it is real, $\lambda_1 \ge \lambda_2$ with equality on the degenerate set
# $a = b, c = 0$, where Eq. (12) is not differentiable and `max_eigenvalue` uses the
# minimum-norm subgradient. The released code dilates all three kernels, which
# matches the sampling sets of Eqs. (13), (15), (17) and rescales the filtered matrix
# by $\delta^2$; Eq. (16) as printed keeps $\mathbf{G}_{hv}$ at $3\times3$, which
# under-weights the mixed derivative at larger scales. The model uses the released
# variant by default (`MSHF(variant="released")`), which its checkpoints need.
