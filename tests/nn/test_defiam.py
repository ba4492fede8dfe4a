"""defian.nn.defiam: Eq. (6) by composition, the ablation wiring and its parameter accounting."""

from __future__ import annotations

import itertools

import pytest
import torch

from defian.nn.complexity import mshf_params
from defian.nn.defiam import AttentionSwitches, DeFiAM


def nparams(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_eq6_by_composition() -> None:
    torch.manual_seed(0)
    mod = DeFiAM(16, 2).double()
    x = torch.randn(2, 16, 9, 8, dtype=torch.float64)
    f = mod.fem(x)
    a = torch.sigmoid(mod.dac(mod.endec(mod.mshf(f)), x))  # DAC referenced on x, the module input
    assert torch.allclose(mod(x), x + f * a, rtol=0, atol=1e-12)
    br = mod.branch(x, f)
    assert br["lambdas"].shape == (2, 3, 9, 8) and br["v"].shape == (2, 1, 9, 8) and br["a"].shape == (2, 16, 9, 8)
    assert bool(((br["a"] > 0) & (br["a"] < 1)).all())


def test_rcan_wiring() -> None:
    mod = DeFiAM(16, 2, AttentionSwitches(mshf=False, diendec=False, dac=False))
    assert mod.mshf is None and mod.endec is None and mod.dac is None
    x = torch.randn(1, 16, 6, 6)
    assert torch.equal(mod(x), x + mod.fem(x))


def test_mshf_off_feeds_channel_mean() -> None:
    mod = DeFiAM(16, 1, AttentionSwitches(mshf=False))
    f = torch.randn(2, 16, 5, 5)
    assert torch.equal(mod.hessian_maps(f), f.mean(1, keepdim=True).expand(-1, 3, -1, -1))


def test_diendec_off_is_mean_and_dac_off_is_sigmoid_of_v() -> None:
    torch.manual_seed(1)
    mod = DeFiAM(16, 1, AttentionSwitches(diendec=False, dac=False))
    x = torch.randn(1, 16, 6, 6)
    f = mod.fem(x)
    v = mod.mshf(f).mean(1, keepdim=True)
    assert torch.allclose(mod(x), x + f * torch.sigmoid(v), atol=1e-6)


def test_all_eight_combinations_add_exactly_their_parts() -> None:
    """Table III: each part adds exactly its own #Params (MSHF counted in its released design)."""
    c = 32
    base = nparams(DeFiAM(c, 1, AttentionSwitches(False, diendec=False, dac=False)))
    for m, d, a in itertools.product([False, True], repeat=3):
        mod = DeFiAM(c, 1, AttentionSwitches(mshf=m, diendec=d, dac=a))
        own = nparams(mod) + (mshf_params(c, 3) if m else 0)  # MSHF filters are buffers here
        assert own == base + m * mshf_params(c, 3) + d * 6871 + a * 2 * 2 * c * (c // 16), (m, d, a)
        y = mod(torch.randn(1, c, 7, 7))
        assert y.shape == (1, c, 7, 7) and bool(torch.isfinite(y).all())


def test_kernel_sizes_and_endec_switches() -> None:
    mod = DeFiAM(16, 1, AttentionSwitches(kernel_sizes=(3, 7), endec="hgendec", half_depth=2))
    assert mod.mshf.kernel_sizes == (3, 7) and mod.endec.in_channels == 2 and mod.endec.kind == "hgendec"
    assert mod(torch.randn(1, 16, 9, 7)).shape == (1, 16, 9, 7)
    with pytest.raises(ValueError, match="at least one Hessian scale"):
        DeFiAM(16, 1, AttentionSwitches(kernel_sizes=()))


def test_finite_gradients_on_a_flat_input() -> None:
    """Flat features: Hessian eigenvalues coincide and v is constant; training must not see NaN."""
    mod = DeFiAM(16, 1)
    x = torch.full((1, 16, 6, 6), 0.3, requires_grad=True)
    mod(x).sum().backward()
    assert bool(torch.isfinite(x.grad).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in mod.parameters() if p.grad is not None)
