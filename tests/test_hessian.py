"""Tests of defian.hessian and defian.mshf (Sec. III-B, Eqs. 8-18).

Independent references: sympy (Eqs. 10-12), ``torch.linalg.eigvalsh`` and
mpmath (the eigenvalue), the Hessian of a quadratic image (the kernels), and
plain depthwise convolutions (the fused MSHF). The fused MSHF has two CPU
paths, the C++ kernel and the chunked PyTorch one (:mod:`defian.mshf`); the
``path`` fixture runs a test on each.
"""

from __future__ import annotations

import shutil

import mpmath
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import defian.mshf as mshf_mod
from defian import cppkernels
from defian.hessian import (
    MSHF, compact_stencils, dilations, hessian_kernels, max_eigenvalue, max_eigenvalue_eigvalsh,
    max_eigenvalue_plain, mshf_reference, released_param_count,
)

F64 = torch.float64
EPS64 = torch.finfo(F64).eps


@pytest.fixture(params=["cpp", "python"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the C++ kernel and on the PyTorch path of the fused MSHF."""
    monkeypatch.setenv(cppkernels.ENV, "1" if request.param == "cpp" else "0")
    return request.param


def test_eq12_symbolic() -> None:
    """Eqs. (10)-(12) from the characteristic polynomial of a real symmetric 2x2 matrix."""
    a, b, c = sp.symbols("a b c", real=True)
    lam = sp.Symbol("lambda")
    H = sp.Matrix([[a, c], [c, b]])
    roots = sp.solve(H.charpoly(lam).as_expr(), lam)
    assert len(roots) == 2
    disc = (a - b) ** 2 + 4 * c**2
    lam1 = (a + b) / 2 + sp.sqrt(disc) / 2  # Eq. (12)
    lam2 = (a + b) / 2 - sp.sqrt(disc) / 2
    assert {sp.simplify(r - lam1) == 0 or sp.simplify(r - lam2) == 0 for r in roots} == {True}
    assert sp.simplify(lam1 + lam2 - H.trace()) == 0  # Eq. (10)
    assert sp.simplify(sp.expand(lam1 * lam2) - H.det()) == 0  # Eq. (11)
    assert sp.expand(H.trace() ** 2 - 4 * H.det() - disc) == 0  # discriminant = tr^2 - 4 det
    assert disc.is_nonnegative  # sum of squares: both roots real, lam1 - lam2 = sqrt(disc) >= 0


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_kernel_layouts(variant: str) -> None:
    """Exact arrays of Eq. (9), Eq. (14)/(16) and the released dilated kernels."""
    hh3, vv3, hv3 = hessian_kernels(3, variant)
    assert hh3.tolist() == [[0, 0, 0], [1, -2, 1], [0, 0, 0]]
    assert torch.equal(vv3, hh3.T)
    assert hv3.tolist() == [[1, 0, -1], [0, 0, 0], [-1, 0, 1]]
    hh5, vv5, hv5 = hessian_kernels(5, variant)
    assert hh5[2].tolist() == [1, 0, -2, 0, 1] and hh5.abs().sum() == 4 and torch.equal(vv5, hh5.T)
    hh7, _, hv7 = hessian_kernels(7, variant)
    assert hh7[3].tolist() == [1, 0, 0, -2, 0, 0, 1] and hh7.abs().sum() == 4
    if variant == "paper":  # Eq. (16): G_hv stays the 3x3 stencil, centred
        assert torch.equal(hv5[1:4, 1:4], hv3) and hv5.abs().sum() == 4
        assert torch.equal(hv7[2:5, 2:5], hv3) and hv7.abs().sum() == 4
    else:  # released: dilated by (ker-1)/2, the corners
        assert hv5.tolist() == [[1, 0, 0, 0, -1], [0] * 5, [0] * 5, [0] * 5, [-1, 0, 0, 0, 1]]
        assert hv7[0, 0] == hv7[6, 6] == 1 and hv7[0, 6] == hv7[6, 0] == -1 and hv7.abs().sum() == 4
    assert dilations(7, variant) == ((3, 3) if variant == "released" else (3, 1))


@pytest.mark.parametrize("variant", ["paper", "released"])
@pytest.mark.parametrize("ker", [3, 5, 7])
def test_compact_taps_with_dilation_equal_full_kernels(ker: int, variant: str) -> None:
    """A 3x3 conv with dilation (the released layout) equals the ker x ker kernel."""
    x = torch.randn(2, 1, 12, 11, dtype=F64)
    full = hessian_kernels(ker, variant)
    delta, eps = dilations(ker, variant)
    for j, dil in enumerate((delta, delta, eps)):
        a = F.conv2d(x, full[j][None, None], padding=(ker - 1) // 2)
        b = F.conv2d(x, compact_stencils()[j][None, None], padding=dil, dilation=dil)
        assert torch.equal(a, b)


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_quadratic_image_known_hessian(variant: str) -> None:
    """On x = al u^2 + be u v + ga v^2 the filters give 2al d^2, 2ga d^2, 4be e^2 (d, e the dilations)."""
    al, be, ga = 0.3, -0.7, 0.45
    v, u = torch.meshgrid(torch.arange(30, dtype=F64), torch.arange(30, dtype=F64), indexing="ij")
    img = (al * u**2 + be * u * v + ga * v**2)[None, None]
    m = MSHF(1, variant=variant).double()
    lam = m(img)[0, :, 8:-8, 8:-8]  # interior: zero padding out of reach
    for k, ker in enumerate((3, 5, 7)):
        d, e = dilations(ker, variant)
        H = torch.tensor([[2 * al * d**2, 4 * be * e**2], [4 * be * e**2, 2 * ga * d**2]], dtype=F64)
        assert torch.allclose(lam[k], torch.linalg.eigvalsh(H)[-1].expand_as(lam[k]), rtol=1e-12, atol=1e-10)


def _edge_cases() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows = [(1, 1, 0), (-3, -3, 0), (0, 0, 0), (2, 2, 1e-9), (-5, -2, 1), (3, -4, 2), (1, -1, 0), (0, 0, 1),
            (1e150, -1e150, 3e149), (1e-150, 2e-150, -1e-150), (1e-310, 0, 1e-310), (1e8, 1e-8, 0),
            (-1e8, 1e-8, 0), (7, 7, -7)]
    t = torch.tensor(rows, dtype=F64)
    return t[:, 0], t[:, 1], t[:, 2]


def test_max_eigenvalue_matches_eigvalsh_float64() -> None:
    """Random and crafted matrices: error within a few ulps of the matrix norm."""
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(100_000, generator=g, dtype=F64) * 10 ** torch.randint(-3, 4, (1,), generator=g)
               for _ in range(3))
    for a_, b_, c_ in ((a, b, c), _edge_cases()):
        lam, ref = max_eigenvalue(a_, b_, c_), max_eigenvalue_eigvalsh(a_, b_, c_)
        norm = torch.maximum(ref.abs(), torch.linalg.eigvalsh(torch.stack(
            [torch.stack([a_, c_], -1), torch.stack([c_, b_], -1)], -2))[..., 0].abs())
        scale = norm.clamp_min(torch.finfo(F64).tiny)
        assert ((lam - ref).abs() / scale).max() <= 4 * EPS64
    # equal eigenvalues: exact
    assert max_eigenvalue(*[torch.tensor([2.5], dtype=F64)] * 2, torch.zeros(1, dtype=F64)).item() == 2.5


def test_max_eigenvalue_mpmath_edge_cases() -> None:
    """Against 50-digit arithmetic: relative error <= 4 eps of the norm on every edge case."""
    mpmath.mp.dps = 50
    for a, b, c in zip(*(t.tolist() for t in _edge_cases()), strict=True):
        A, B, Cc = (mpmath.mpf(v) for v in (a, b, c))
        exact = (A + B) / 2 + mpmath.sqrt(((A - B) / 2) ** 2 + Cc**2)
        norm = abs((A + B) / 2) + mpmath.sqrt(((A - B) / 2) ** 2 + Cc**2)
        got = max_eigenvalue(*(torch.tensor([v], dtype=F64) for v in (a, b, c))).item()
        assert abs(mpmath.mpf(got) - exact) <= 4 * EPS64 * norm + mpmath.mpf(5e-324)


def test_max_eigenvalue_float32_close_to_float64() -> None:
    g = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn(50_000, generator=g, dtype=F64) for _ in range(3))
    lam32 = max_eigenvalue(a.float(), b.float(), c.float()).double()
    ref = max_eigenvalue_eigvalsh(a, b, c)
    norm = (a + b).abs() / 2 + torch.hypot((a - b) / 2, c)
    assert ((lam32 - ref).abs() / norm).max() <= 4 * torch.finfo(torch.float32).eps


def test_gradcheck_max_eigenvalue() -> None:
    g = torch.Generator().manual_seed(2)
    a, b, c = (torch.randn(30, generator=g, dtype=F64).requires_grad_() for _ in range(3))
    assert torch.autograd.gradcheck(max_eigenvalue, (a, b, c))


def test_backward_on_degenerate_set_is_min_norm_subgradient() -> None:
    """r = 0 (equal eigenvalues): gradient (1/2, 1/2, 0); the plain formula gives NaN."""
    a = torch.full((4,), 1.5, dtype=F64, requires_grad=True)
    b = torch.full((4,), 1.5, dtype=F64, requires_grad=True)
    c = torch.zeros(4, dtype=F64, requires_grad=True)
    max_eigenvalue(a, b, c).sum().backward()
    assert a.grad.tolist() == [0.5] * 4 and b.grad.tolist() == [0.5] * 4 and c.grad.tolist() == [0.0] * 4
    a2 = a.detach().clone().requires_grad_()
    max_eigenvalue_plain(a2, b.detach(), c.detach()).sum().backward()
    assert a2.grad.isnan().all()


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_mshf_finite_backward_on_flat_input(variant: str, path: str) -> None:
    """Constant image and zero features: finite gradients (zero bias = the degenerate set)."""
    m = MSHF(4, variant=variant)
    for x in (torch.full((2, 4, 9, 9), 0.7, requires_grad=True), torch.zeros(2, 4, 9, 9, requires_grad=True)):
        m(x).sum().backward()
        assert x.grad.isfinite().all()
    z = torch.zeros(1, 4, 9, 9, requires_grad=True)
    m.reference(z, plain=True).sum().backward()
    assert z.grad.isnan().any()  # the released formula without its random bias


def test_gradcheck_mshf(path: str) -> None:
    m = MSHF(3).double()
    m.bias.uniform_(-1 / 3, 1 / 3)
    x = torch.randn(2, 3, 7, 8, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    m = MSHF(3, kernel_sizes=(5,), variant="paper").double()
    assert torch.autograd.gradcheck(m, (x,))


@pytest.mark.parametrize(("chunk", "cpp"), [(40, False), (400, False), (2**17, False), (2**17, True)])
@pytest.mark.parametrize("variant", ["paper", "released"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_fused_equals_reference(monkeypatch: pytest.MonkeyPatch, chunk: int, cpp: bool, variant: str,
                                layout: str) -> None:
    """float32, with and without bias, several chunkings of the PyTorch path and the C++ kernel,
    NCHW and channels-last inputs: outputs and gradients to 1e-5."""
    monkeypatch.setattr(mshf_mod, "CHUNK_ELEMENTS", chunk)
    monkeypatch.setenv(cppkernels.ENV, "1" if cpp else "0")
    g = torch.Generator().manual_seed(3)
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    for bias in (False, True):
        m = MSHF(7, variant=variant)
        if bias:
            m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 2 / 3 - 1 / 3)
        x = torch.randn(3, 7, 10, 13, generator=g).contiguous(memory_format=fmt).requires_grad_()
        y, yr = m(x), m.reference(x)
        w = torch.randn(y.shape, generator=g)
        gx, = torch.autograd.grad(y, x, w)
        gr, = torch.autograd.grad(yr, x, w)
        assert torch.allclose(y, yr, rtol=1e-5, atol=1e-5)
        assert torch.allclose(gx, gr, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++ compiler")
def test_cpp_kernel_builds_and_equals_the_pytorch_path_in_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a compiler exists the kernel must build (else CPU training silently runs the slow
    path); in float64 it equals the PyTorch path to rounding, forward and input gradient,
    for the paper's and the released dilations, uneven sizes, images smaller than the
    stencils and a batch of one."""
    monkeypatch.setenv(cppkernels.ENV, "1")
    assert cppkernels.kernel("mshf_cpu") is not None
    g = torch.Generator().manual_seed(5)
    for shape, pairs in (((3, 5, 9, 14), ((1, 1), (2, 2), (3, 3))), ((1, 4, 13, 8), ((1, 1), (2, 1), (3, 1))),
                         ((2, 33, 6, 7), ((3, 3),)), ((2, 3, 1, 5), ((1, 1), (3, 3))),
                         ((1, 6, 21, 1), ((2, 2), (3, 3)))):  # one row; one column, three bands of rows
        x = torch.randn(shape, generator=g, dtype=F64)
        bias = torch.randn(len(pairs), 3, shape[1], generator=g, dtype=F64)
        w = torch.randn(shape[0], len(pairs), *shape[2:], generator=g, dtype=F64)
        out = {}
        for flag in ("1", "0"):
            monkeypatch.setenv(cppkernels.ENV, flag)
            xr = x.clone().requires_grad_()
            y = mshf_mod.mshf_fused(xr, pairs, bias)
            out[flag] = (y, *torch.autograd.grad(y, xr, w))
        for a, b in zip(out["1"], out["0"], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_bf16_autocast_trains(path: str) -> None:
    """Under CPU bf16 autocast: finite forward/backward, float32 maps, a few finite SGD steps."""
    torch.manual_seed(4)
    net = torch.nn.Conv2d(3, 8, 3, padding=1)
    m, head = MSHF(8), torch.nn.Conv2d(3, 1, 1)
    opt = torch.optim.SGD([*net.parameters(), *head.parameters()], lr=1e-2)
    x = torch.rand(2, 3, 16, 16)
    x[..., :8, :] = 0.5  # a flat region: eigenvalues coincide there
    for _ in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            f = net(x)
            assert f.dtype == torch.bfloat16
            lam = m(f)
            assert lam.dtype == torch.float32
            loss = head(lam).square().mean()
        opt.zero_grad()
        loss.backward()
        assert all(p.grad.isfinite().all() for p in net.parameters())
        opt.step()
    ref = m.reference(f.float())
    assert torch.allclose(lam, ref, rtol=1e-5, atol=1e-5)  # computed in float32 from the bf16 input


def test_param_count_and_buffers() -> None:
    m = MSHF(32)
    assert released_param_count(32) == 3 * 3 * (9 * 32 + 32) == m.weight.numel() + m.bias.numel()
    assert released_param_count(64, (3,)) == 3 * 640
    assert not list(m.parameters())  # frozen: buffers only
    assert set(m.state_dict()) == {"weight", "bias"}


def _released_style(C: int, ker: int) -> dict[str, torch.nn.Conv2d]:
    """Per the released code's facts: 3 depthwise 3x3 convs, dilation = padding = (ker-1)/2, default bias."""
    p = (ker - 1) // 2
    convs = {n: torch.nn.Conv2d(C, C, 3, padding=p, dilation=p, groups=C, bias=True)
             for n in ("grad_xx", "grad_yy", "grad_xy")}
    taps = compact_stencils().float()
    with torch.no_grad():
        for j, conv in enumerate(convs.values()):
            conv.weight.copy_(taps[j].expand_as(conv.weight))
    return convs


def test_load_released_reproduces_released_forward() -> None:
    torch.manual_seed(5)
    C = 6
    convs = {ker: _released_style(C, ker) for ker in (3, 5, 7)}
    state = {f"body.2.hessian{ker}.0.{n}.{f}": getattr(c, f).detach()
             for ker, cs in convs.items() for n, c in cs.items() for f in ("weight", "bias")}
    m = MSHF(C)
    m.load_released(state, prefix="body.2.")
    x = torch.randn(2, C, 12, 12)
    want = torch.stack([max_eigenvalue_plain(*(cs[n](x) for n in ("grad_xx", "grad_yy", "grad_xy"))).mean(1)
                        for cs in convs.values()], 1)
    assert torch.allclose(m(x), want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # trained (non-stencil) weights, as the 2020 upload allowed: conv path
        m.weight[0, 0, 0, 1, 1] += 0.1
    assert torch.allclose(m(x), mshf_reference(x, m.weight, m.bias, m.pairs), atol=0)
    with pytest.raises(KeyError, match="hessian3.0.grad_xx.weight"):
        m.load_released({}, prefix="body.2.")


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="variant"):
        hessian_kernels(3, "codes")
    with pytest.raises(ValueError, match="ker"):
        hessian_kernels(4)
    with pytest.raises(ValueError, match="channels"):
        MSHF(0)
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        MSHF(4)(torch.zeros(1, 3, 5, 5))
    with pytest.raises(TypeError, match="gxy"):
        max_eigenvalue(torch.zeros(1), torch.zeros(1), 0.0)
