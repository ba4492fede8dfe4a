"""defian.lfr.head.LFRHead: levels exact at level scales, linear in w between them, float64 references."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from defian.lfr.head import LFRHead
from defian.lfr.levels import ScaleOutOfRange, bracket, level_scale


def _setup(kernel_size: int = 1) -> tuple[LFRHead, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    head = LFRHead(6, kernel_size=kernel_size).double()
    f = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    base = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    return head, f, base


def _branch(head: LFRHead, f: torch.Tensor, level: int) -> torch.Tensor:
    conv = head.branches[level]  # independent: the convolution written out
    k = conv.kernel_size[0]
    if k == 1:
        return torch.einsum("oc,bchw->bohw", conv.weight[:, :, 0, 0], f) + conv.bias.view(1, -1, 1, 1)
    return F.conv2d(f, conv.weight, conv.bias, padding=k // 2)


def test_slides_irb_is_1x1_with_3_filters() -> None:
    head = LFRHead(64)
    assert len(head.branches) == 11
    assert all(b.kernel_size == (1, 1) and b.out_channels == 3 and b.in_channels == 64 for b in head.branches)
    assert sum(p.numel() for p in head.parameters()) == 11 * (64 * 3 + 3)


@pytest.mark.parametrize("level", range(1, 11))
def test_level_scale_gives_that_level_exactly(level: int) -> None:
    head, f, base = _setup()
    expected = head.level(f, base, level)
    for r in (level_scale(level), float(level_scale(level)), 1 + 0.1 * level):
        assert torch.equal(head(f, base, r), expected)
    torch.testing.assert_close(expected, base + _branch(head, f, level), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel_size", [1, 3])
@pytest.mark.parametrize("r", [Fraction(127, 100), Fraction(3, 2) + Fraction(1, 40), Fraction(1999, 1000), 1.05, 1.27])
def test_between_levels_is_the_slides_formula(kernel_size: int, r: object) -> None:
    head, f, base = _setup(kernel_size)
    b = bracket(r)  # type: ignore[arg-type]
    o_i = base + _branch(head, f, b.index)
    p_i = _branch(head, f, b.lower) - _branch(head, f, b.index)  # P_i = O_{r_{i-1}} - O_{r_i}
    torch.testing.assert_close(head(f, base, r), o_i + float(b.weight) * p_i, rtol=0, atol=1e-12)


def test_linear_in_w_and_continuous_at_the_lower_level() -> None:
    head, f, base = _setup()
    rs = [Fraction(12, 10) + Fraction(k, 400) for k in range(1, 41)]  # (r_2, r_3]
    outs = [head(f, base, r) for r in rs]
    steps = [b - a for a, b in itertools.pairwise(outs)]
    for s in steps[1:]:
        torch.testing.assert_close(s, steps[0], rtol=0, atol=1e-12)  # constant step: affine in r
    lo, up = head.level(f, base, 2), head.level(f, base, 3)
    torch.testing.assert_close(outs[-1], up, rtol=0, atol=0)
    torch.testing.assert_close(outs[0], lo + (up - lo) / 40, rtol=0, atol=1e-12)  # w = 39/40: 1/40 from O_{r_2}


def test_only_the_needed_branches_run() -> None:
    head, f, base = _setup()
    calls: list[int] = []
    for l, branch in enumerate(head.branches):
        branch.register_forward_hook(lambda m, i, o, l=l: calls.append(l))
    head(f, base, 1.3)
    assert calls == [3]
    calls.clear()
    head(f, base, 1.27)
    assert sorted(calls) == [2, 3]
    calls.clear()
    head.levels(f, base)
    assert calls == list(range(11))


def test_levels_and_phases() -> None:
    head, f, base = _setup()
    allv = head.levels(f, base)
    ph = head.phases(f)
    assert allv.shape == (2, 11, 3, 5, 4) and ph.shape == (2, 10, 3, 5, 4)
    for l in range(11):
        assert torch.equal(allv[:, l], head.level(f, base, l))
    for i in range(1, 11):
        torch.testing.assert_close(ph[:, i - 1], allv[:, i - 1] - allv[:, i], rtol=0, atol=1e-12)


def test_errors_are_named() -> None:
    head, f, base = _setup()
    with pytest.raises(ScaleOutOfRange, match=r"\(1, 2\]"):
        head(f, base, 2.5)
    with pytest.raises(ScaleOutOfRange):
        head(f, base, 1.0)
    with pytest.raises(ValueError, match="level must be in"):
        head.level(f, base, 11)
    with pytest.raises(ValueError, match="odd kernel_size"):
        LFRHead(8, kernel_size=2)
