"""Tests of defian.nn.hessian (Sec. III-B, Eqs. 8-18): the closed form and the reference MSHF.

Independent references: sympy (Eqs. 10-12), ``torch.linalg.eigvalsh`` and
mpmath (the eigenvalue), the Hessian of a quadratic image (the kernels). The
fused MSHF is tested against this module's reference in ``tests/kernels/test_mshf.py``.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from defian.nn.hessian import (
    MSHF,
    VARIANTS,
    canonical_variant,
    compact_stencils,
    dilations,
    hessian_kernels,
    max_eigenvalue,
    max_eigenvalue_eigvalsh,
    max_eigenvalue_plain,
    mshf_reference,
    released_param_count,
)

F64 = torch.float64
EPS64 = torch.finfo(F64).eps



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


def _eq16_hv(ker: int) -> torch.Tensor:
    """G_ker,hv as Eq. (16) writes it: [1, {0}, -1]^T [1, {0}, -1], {0} the zero vector of ker - 2 entries
    (the paper: "a 3-dimension zero vector" at ker = 5)."""
    v = torch.tensor([1.0] + [0.0] * (ker - 2) + [-1.0], dtype=F64)
    return torch.outer(v, v)


@pytest.mark.parametrize("ker", [3, 5, 7])
def test_eq16_as_printed_is_the_released_dilated_kernel(ker: int) -> None:
    """Eq. (16) with its zero vectors: G_hv = outer([1,0,..,0,-1]); G_hh = [1, 0.., -2, 0.., 1]. Both equal the
    default kernels and, as maps, the released code's 3x3 taps convolved with dilation (ker-1)/2."""
    hh, vv, hv = hessian_kernels(ker)
    assert torch.equal(hv, _eq16_hv(ker))
    row = torch.zeros(ker, dtype=F64)
    row[[0, (ker - 1) // 2, ker - 1]] = torch.tensor([1.0, -2.0, 1.0], dtype=F64)
    assert torch.equal(hh[(ker - 1) // 2], row) and hh.abs().sum() == 4 and torch.equal(vv, hh.T)
    x = torch.randn(1, 1, 15, 14, dtype=F64)
    released = _released_style(1, ker)  # the released layout: 3x3 taps, dilation = padding = (ker-1)/2
    for kernel, name in zip((hh, vv, hv), ("grad_xx", "grad_yy", "grad_xy"), strict=True):
        conv = released[name].double()
        with torch.no_grad():
            conv.bias.zero_()
            want = conv(x)
        assert torch.equal(F.conv2d(x, kernel[None, None], padding=(ker - 1) // 2), want)


def test_variant_names() -> None:
    """"released" (older configs) is an alias of the paper's reading; the misreading has its own name."""
    assert VARIANTS == ("paper", "undilated_hv")
    assert canonical_variant("released") == "paper" and MSHF(2, variant="released").variant == "paper"
    assert MSHF(2, variant="released").pairs == MSHF(2).pairs == ((1, 1), (2, 2), (3, 3))
    assert MSHF(2, variant="undilated_hv").pairs == ((1, 1), (2, 1), (3, 1))
    from defian.nn.model import (
        ModelConfig,  # a run record's config.json may hold the alias
    )
    assert ModelConfig(hessian_variant="released") == ModelConfig() and ModelConfig().hessian_variant == "paper"
    with pytest.raises(ValueError, match="undilated_hv"):
        MSHF(2, variant="dilated")


@pytest.mark.parametrize("variant", VARIANTS)
def test_kernel_layouts(variant: str) -> None:
    """Exact arrays of Eq. (9), Eq. (14)/(16) and the undilated-G_hv misreading."""
    hh3, vv3, hv3 = hessian_kernels(3, variant)
    assert hh3.tolist() == [[0, 0, 0], [1, -2, 1], [0, 0, 0]]
    assert torch.equal(vv3, hh3.T)
    assert hv3.tolist() == [[1, 0, -1], [0, 0, 0], [-1, 0, 1]]
    hh5, vv5, hv5 = hessian_kernels(5, variant)
    assert hh5[2].tolist() == [1, 0, -2, 0, 1] and hh5.abs().sum() == 4 and torch.equal(vv5, hh5.T)
    hh7, _, hv7 = hessian_kernels(7, variant)
    assert hh7[3].tolist() == [1, 0, 0, -2, 0, 0, 1] and hh7.abs().sum() == 4
    if variant == "undilated_hv":  # Eq. (16) with its zero vector dropped: G_hv stays the 3x3 stencil, centred
        assert torch.equal(hv5[1:4, 1:4], hv3) and hv5.abs().sum() == 4
        assert torch.equal(hv7[2:5, 2:5], hv3) and hv7.abs().sum() == 4
    else:  # Eq. (16) and the released code: dilated by (ker-1)/2, the corners
        assert hv5.tolist() == [[1, 0, 0, 0, -1], [0] * 5, [0] * 5, [0] * 5, [-1, 0, 0, 0, 1]]
        assert hv7[0, 0] == hv7[6, 6] == 1 and hv7[0, 6] == hv7[6, 0] == -1 and hv7.abs().sum() == 4
    assert dilations(7, variant) == ((3, 3) if variant == "paper" else (3, 1))


@pytest.mark.parametrize("variant", VARIANTS)
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


@pytest.mark.parametrize("variant", VARIANTS)
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


def test_mshf_modes_keep_keys_and_the_global_random_stream() -> None:
    """The three MSHF settings of the deviations chapter: same state-dict keys; the random bias is a
    Conv2d's U(-1/3, 1/3), drawn without moving the global stream; only "trainable" adds parameters."""
    built = {}
    for mode in ("frozen", "random_bias", "trainable"):
        torch.manual_seed(0)
        built[mode] = (MSHF(8, mode=mode), torch.rand(1).item())  # the next global draw after construction
    keys = {mode: set(m.state_dict()) for mode, (m, _) in built.items()}
    assert keys["frozen"] == keys["random_bias"] == keys["trainable"] == {"weight", "bias"}
    assert len({after for _, after in built.values()}) == 1  # fork_rng: the global stream is unmoved
    frozen, random_bias, trainable = (built[m][0] for m in ("frozen", "random_bias", "trainable"))
    assert not frozen.bias.any() and list(frozen.parameters()) == []
    assert 0 < random_bias.bias.abs().max() <= 1 / 3 and list(random_bias.parameters()) == []
    assert torch.equal(trainable.bias, random_bias.bias) and torch.equal(trainable.weight, frozen.weight)
    assert sum(p.numel() for p in trainable.parameters()) == released_param_count(8)
    with pytest.raises(ValueError, match="mode must be one of"):
        MSHF(8, mode="learned")
