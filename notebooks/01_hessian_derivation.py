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
# :::{admonition} In short
# :class: tip
# Eq. (12) is the exact largest eigenvalue, and Eq. (16)'s kernels are the released dilated convolutions,
# all proved by `assert`. The number to remember: on the saddle $x = uv$ the scale-3 filter gives
# $\lambda_3 =$ {glue:text}`short_saddle_lam3:.0f` where the true Hessian's is {glue:text}`short_saddle_true:.0f` (part 5 below).
# :::
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
# 3. builds the scaled kernels of Eq. (16) entry by entry, zero vectors included,
#    and shows they are the released code's dilated convolutions, tap for tap;
# 4. checks the pixel offsets they sample against Eqs. (13), (15), (17);
# 5. says what the scaled filters compute, exactly, on a quadratic image.
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
import torch.nn.functional as F
from IPython.display import Math, display
from myst_nb import glue

from defian import provenance
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
# Eq. (9) gives the $3\times3$ second differences. For $ker = 5, 7$ the paper builds
# the scaled filters "by padding the zero-vectors": Eq. (16) reads
#
# $$\mathbf{G}_{5,hh} = [1, 0, -2, 0, 1],\quad \mathbf{G}_{5,vv} = \mathbf{G}_{5,hh}^T,\quad
# \mathbf{G}_{5,hv} = [1, \{\mathbf{0}\}, -1]^T [1, \{\mathbf{0}\}, -1],$$
#
# "where $\{\mathbf{0}\}$ represents a 3-dimension zero vector". So
# $\mathbf{G}_{5,hv}$ is the outer product of $[1, 0, 0, 0, -1]$ with itself, and at
# $ker = 7$ the zero vector has 5 entries. (In a text copy of the paper the bold
# zero vector is easily lost, and Eq. (16) then looks like an undilated $3\times3$
# $\mathbf{G}_{hv}$; the sentence after the equation rules that reading out.) Every
# kernel is therefore the $3\times3$ stencil of Eq. (9) with its taps moved to the
# offsets $\{-\delta, 0, \delta\}$, $\delta = (ker-1)/2$: exactly what the released
# code's depthwise $3\times3$ convolutions with `dilation = padding = (ker-1)/2`
# compute. The paper and the released code are one reading; `hessian.hessian_kernels`
# builds it, and below it is checked against Eq. (16) written out entry by entry.
# Convolution here is cross-correlation (`F.conv2d`); all three kernels are
# symmetric under a half turn, so the two agree.

# %%
for ker in (3, 5, 7):
    zero = [0] * (ker - 2)  # Eq. (16)'s {0}: 3 entries at ker = 5, 5 at ker = 7 (none at ker = 3, Eq. (14))
    hv_printed = sp.Matrix([1, *zero, -1]) * sp.Matrix([[1, *zero, -1]])  # [1, {0}, -1]^T [1, {0}, -1]
    mats = [sp.Matrix(k.to(torch.int64).tolist()) for k in hessian.hessian_kernels(ker)]
    assert mats[2] == hv_printed  # G_hv of Eqs. (9), (14), (16) as printed
    hh_row = [0] * ker
    hh_row[0], hh_row[(ker - 1) // 2], hh_row[-1] = 1, -2, 1  # [1, 0, -2, 0, 1] at ker = 5
    assert list(mats[0].row((ker - 1) // 2)) == hh_row and mats[1] == mats[0].T
    display(Math(rf"ker={ker}:\quad "
                 + r",\ ".join(rf"\mathbf{{G}}_{{{n}}} = {sp.latex(m)}" for n, m in zip(("hh", "vv", "hv"), mats))))

# %% [markdown]
# The same kernels as the released layout computes them: a $3\times3$ depthwise
# convolution with dilation and padding $\delta$ on a random image, against the
# $ker \times ker$ kernel of Eq. (16) (float64, bit for bit):

# %%
x_rand = torch.randn(1, 1, 23, 19, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
taps = hessian.compact_stencils()
for ker in (3, 5, 7):
    delta = (ker - 1) // 2
    for j, full in enumerate(hessian.hessian_kernels(ker)):
        released = F.conv2d(x_rand, taps[j][None, None], padding=delta, dilation=delta)
        assert torch.equal(F.conv2d(x_rand, full[None, None], padding=delta), released)
print("Eq. (16) with its zero vectors == the released dilated 3x3 taps, for ker = 3, 5, 7")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 9, figsize=(13, 2.2))
for col, (ker, name) in enumerate((k, n) for k in (3, 5, 7) for n in ("hh", "vv", "hv")):
    kern = hessian.hessian_kernels(ker)[("hh", "vv", "hv").index(name)].numpy()
    ax = axes[col]
    ax.imshow(kern, cmap="coolwarm", vmin=-2, vmax=2)
    for (i, j), v in np.ndenumerate(kern):
        if v:
            ax.text(j, i, f"{v:+.0f}", ha="center", va="center", fontsize=7)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"G{ker},{name}", fontsize=8)
fig.suptitle("Scaled Hessian kernels of Eqs. (9), (14), (16) (= the released dilated convolutions)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Which offsets $\lambda_{ker}$ samples (Eqs. (13), (15), (17))
#
# Eq. (17) says $\lambda_5 \propto \sum_{i=-2,0,2} \nabla \mathbf{x}^i$: the scale-5
# eigenvalue reads the pixels at offsets $\{-2, 0, 2\}^2$. The union of the three
# kernels' supports is exactly that set at every scale. Reading Eq. (16) without its
# zero vector (`"undilated_hv"`, kept in `defian.nn.hessian` for this check only)
# would sample the diagonal neighbours $(\pm1, \pm1)$ instead of the corners, outside
# Eq. (17)'s set: a second reason the zero vector belongs there.

# %%
support = hessian_checks.kernel_support  # offsets read by the three kernels of one scale

for ker in (3, 5, 7):
    h = (ker - 1) // 2
    lattice = {(i, j) for i in (-h, 0, h) for j in (-h, 0, h)}
    print(f"ker={ker}: Eq. (17)'s set {{-{h},0,{h}}}^2; Eq. (16) reads {len(support(ker))} offsets, all of it; "
          f"without the zero vector it would read also {sorted(support(ker, 'undilated_hv') - lattice)}")
    assert support(ker) == lattice  # Eqs. (13), (15), (17): exactly the 9 offsets
    if ker > 3:
        assert support(ker, "undilated_hv") - lattice == {(-1, -1), (-1, 1), (1, -1), (1, 1)}

# %% [markdown]
# ## 5. What the scaled kernels compute
#
# **Exactly, on a quadratic image.** On $x(u, v) = \alpha u^2 + \beta uv + \gamma v^2$
# ($u$ horizontal, $v$ vertical) every stencil is exact: a second difference with
# spacing $\delta$ gives $2\alpha\delta^2$ and $2\gamma\delta^2$, and the corner stencil
# with spacing $\delta$ gives $4\beta\delta^2$. So each scale filters the matrix
#
# $$\mathbf{H}_{ker} = \delta^2 \begin{bmatrix} 2\alpha & 4\beta \\ 4\beta & 2\gamma\end{bmatrix}
# = \delta^2\,\mathbf{H}_3, \qquad \delta = \tfrac{ker-1}{2}.$$
#
# Two facts follow. (i) Even at $ker = 3$ the off-diagonal is $4\beta$, not the true
# Hessian's $\beta$: $\mathbf{G}_{hv}$ of Eq. (9) is four times the central mixed
# difference. So $\lambda_3$ is the largest eigenvalue of
# $\begin{bmatrix} x_{uu} & 4x_{uv} \\ 4x_{uv} & x_{vv}\end{bmatrix}$, not of the Hessian
# (on the saddle $x = uv$: 4 instead of 1), and it is not rotation invariant. (ii) The
# scales differ by a pure rescaling on any quadratic, $\lambda_5 = 4\lambda_3$ and
# $\lambda_7 = 9\lambda_3$; they differ in what they see only where the image is not
# quadratic over their footprint (Fig. 1: fine edges for $\lambda_3$, coarser structure
# for $\lambda_7$; notebook 02 draws them).

# %%
al, be, ga, dl = sp.symbols("alpha beta gamma delta", real=True)
Hk = dl**2 * sp.Matrix([[2 * al, 4 * be], [4 * be, 2 * ga]])
lam_k = Hk.trace() / 2 + sp.sqrt((Hk[0, 0] - Hk[1, 1]) ** 2 + 4 * Hk[0, 1] ** 2) / 2
lam_3 = lam_k.subs(dl, 1)
assert sp.simplify(lam_k - dl**2 * lam_3) == 0  # lambda_ker = delta^2 lambda_3 on quadratics
display(Math(r"\lambda_{ker} = " + sp.latex(sp.simplify(lam_k))))

# %%
v, u = torch.meshgrid(torch.arange(40.0, dtype=torch.float64), torch.arange(40.0, dtype=torch.float64), indexing="ij")
rows = []
for name, (A, B, G) in {"x = u^2": (1, 0, 0), "x = u v (saddle)": (0, 1, 0), "x = u^2 + u v": (1, 1, 0)}.items():
    img = (A * u**2 + B * u * v + G * v**2)[None, None]
    true = torch.linalg.eigvalsh(torch.tensor([[2.0 * A, B], [B, 2.0 * G]]))[-1].item()  # the Hessian's own
    got = hessian.MSHF(1).double()(img)[0, :, 20, 20]  # an interior pixel
    want = [float(lam_k.subs({al: A, be: B, ga: G, dl: k})) for k in (1, 2, 3)]
    assert np.allclose(got.numpy(), want, rtol=1e-12)  # the module computes the formula above
    rows.append((name, *want, true))
saddle = rows[1]
assert saddle[1] == 4 and abs(saddle[4] - 1) < 1e-12  # the prose's saddle x = uv: lambda_3 = 4 instead of 1
assert all(r[2] == 4 * r[1] and r[3] == 9 * r[1] for r in rows)  # lambda_5 = 4 lambda_3, lambda_7 = 9 lambda_3
glue("short_saddle_lam3", saddle[1], display=False)  # the "In short" box
glue("short_saddle_true", saddle[4], display=False)
print(f"{'image':18} {'lam_3':>7} {'lam_5':>7} {'lam_7':>7}   true Hessian's lambda_1")
for r in rows:
    print(f"{r[0]:18} {r[1]:7.3f} {r[2]:7.3f} {r[3]:7.3f}   {r[4]:.3f}")

# %% [markdown]
# **Summary.** Eq. (12) is the exact largest eigenvalue of the filtered $2\times2$
# matrix; it is real, $\lambda_1 \ge \lambda_2$ with equality on the degenerate set
# $a = b, c = 0$, where Eq. (12) is not differentiable and `max_eigenvalue` uses the
# minimum-norm subgradient. Eq. (16), with its zero vectors, dilates all three kernels
# by $\delta = (ker-1)/2$: the released code's convolutions, tap for tap, and the
# sampling sets of Eqs. (13), (15), (17). On a quadratic image the scaled filters see
# $\delta^2$ times the $ker = 3$ matrix, whose mixed term is four times the Hessian's.
# `MSHF` builds these kernels (`variant="paper"`, the default; `"released"` names the
# same reading).
