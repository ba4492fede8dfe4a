"""defian.lfr.levels: level indices, weights, interpolation and deployments, exactly (Fractions)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from defian.lfr.levels import (
    N_LEVELS,
    SLIDES_OPTIMAL_N_R,
    ScaleOutOfRange,
    bracket,
    check_deployment,
    deploy,
    interpolate,
    level_scale,
    level_scales,
    min_steps,
    phase,
)


def test_level_scales_are_l_over_l_minus_1_plus_1() -> None:
    assert N_LEVELS == 11
    assert level_scales() == tuple(Fraction(10 + l, 10) for l in range(11))  # 1.0, 1.1, ..., 2.0
    assert level_scales(5) == (1, Fraction(5, 4), Fraction(3, 2), Fraction(7, 4), 2)  # ASDN-4 (slides Fig. 8)
    with pytest.raises(ValueError, match="level must be in"):
        level_scale(11)
    with pytest.raises(ValueError, match="n_levels"):
        level_scales(1)


def test_slides_worked_example_r_1_27() -> None:
    # slides "Example": i = ceil(10 * 0.27) = 3, w = 10 * (1.3 - 1.27) = 0.3, O_r = O_{r_3} + 0.3 P_3
    b = bracket(Fraction(127, 100))
    assert (b.index, b.lower, b.weight, b.levels) == (3, 2, Fraction(3, 10), (2, 3))
    f = bracket(1.27)
    assert f.index == 3 and abs(f.weight - 0.3) < 1e-15


@pytest.mark.parametrize("k", range(101, 201))
def test_every_centesimal_scale_exact_and_float(k: int) -> None:
    r = Fraction(k, 100)
    i = -(-(k - 100) // 10)  # ceil((r - 1) * 10) in integers
    w = 10 * (level_scale(i) - r)  # the slides' w_r = (L - 1)(r_i - r)
    b = bracket(r)
    assert (b.index, b.weight) == (i, w) and 0 <= w < 1
    assert level_scale(i - 1) < r <= level_scale(i) and r == level_scale(i) - b.weight / 10
    f = bracket(k / 100)  # the float: 1.3 is 1.3000000000000000444 in binary, still level 3 with w = 0
    assert f.index == i and abs(f.weight - float(w)) < 1e-13
    if k % 10 == 0:
        assert f.weight == 0.0 and f.levels == (i,)


def test_edge_cases_at_levels_and_at_two() -> None:
    for l in range(1, 11):
        for r in (level_scale(l), float(level_scale(l)), 1 + l / 10, 1 + 0.1 * l):  # the last: 1.3000000000000003
            b = bracket(r)
            assert (b.index, b.weight) == (l, 0), r
    assert bracket(2).index == 10 and bracket(2).weight == 0 and isinstance(bracket(2).weight, Fraction)
    assert bracket(2 ** 0.5 * 2 ** 0.5).index == 10  # 2.0000000000000004 is 2
    b = bracket(Fraction(11, 10) + Fraction(1, 10**12))  # just above a level: exact input is not snapped
    assert b.index == 2 and b.weight == 1 - Fraction(1, 10**11)


@pytest.mark.parametrize("bad", [1, 1.0, Fraction(1), 0.5, -2.0, 1 + 1e-12, 2.000001, 2.5, Fraction(201, 100),
                                 float("nan"), float("inf")])
def test_out_of_range_is_named(bad: object) -> None:
    with pytest.raises(ScaleOutOfRange, match=r"not in the LFR range \(1, 2\]") as err:
        bracket(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(err.value)


def test_not_a_number_is_refused() -> None:
    with pytest.raises(TypeError, match="real number"):
        bracket("1.5")  # type: ignore[arg-type]


def test_other_level_counts() -> None:
    b = bracket(Fraction(13, 10), 5)  # L = 5: t = 0.3 * 4 = 1.2 -> i = 2, w = 0.8
    assert (b.index, b.weight) == (2, Fraction(4, 5))
    assert bracket(Fraction(3, 2), 2).index == 1 and bracket(Fraction(3, 2), 2).weight == Fraction(1, 2)


def test_interpolation_exact_linear_and_continuous() -> None:
    lo, up = Fraction(7, 3), Fraction(-5, 11)
    assert phase(lo, up) == lo - up
    assert interpolate(lo, up, 0) == up and interpolate(lo, up, 1) == lo
    for w in (Fraction(1, 10), Fraction(3, 10), Fraction(9, 10)):
        assert interpolate(lo, up, w) == (1 - w) * up + w * lo  # O_r = O_{r_i} + w P_i
    # along r in (r_2, r_3]: O(r) is affine in r and tends to O_{r_2} as r -> r_2
    rs = [Fraction(12, 10) + Fraction(k, 1000) for k in range(1, 101)]
    outs = [interpolate(lo, up, bracket(r).weight) for r in rs]
    assert len({b - a for a, b in itertools.pairwise(outs)}) == 1
    assert outs[-1] == up and interpolate(lo, up, bracket(rs[0]).weight) - lo == (up - lo) / 100


# largest first, exact: (R, N, ratios)
EXACT = [
    (Fraction(3, 2), 1, (Fraction(3, 2),)),
    (2, 1, (2,)),
    (Fraction(5, 2), 2, (2, Fraction(5, 4))),
    (3, 2, (2, Fraction(3, 2))),
    (Fraction(7, 2), 2, (2, Fraction(7, 4))),
    (4, 2, (2, 2)),
    (5, 3, (2, 2, Fraction(5, 4))),
    (8, 3, (2, 2, 2)),
    (9, 4, (2, 2, 2, Fraction(9, 8))),
]


@pytest.mark.parametrize(("scale", "n", "ratios"), EXACT)
def test_largest_first_exact(scale: Fraction, n: int, ratios: tuple[Fraction, ...]) -> None:
    d = deploy(scale)
    assert d.n_steps == n == min_steps(scale) and d.ratios == ratios and d.rule == "largest_first"
    assert 2 ** (n - 1) < scale <= 2**n  # N = ceil(log2 R)
    assert math.prod(d.ratios) == scale and all(1 < r <= 2 for r in d.ratios)
    assert all(isinstance(r, Fraction) for r in d.ratios)
    s = deploy(scale, "smallest_first")
    assert s.ratios == ratios[::-1] and math.prod(s.ratios) == scale


@pytest.mark.parametrize("scale", [1.5, 2.0, 2.5, 3.0, 3.3, 3.5, 3.7, 4.0, 7.9])
def test_largest_first_float_is_exact_too(scale: float) -> None:
    d = deploy(scale)  # ratios 2 and R / 2^(N-1): powers of two, no rounding
    assert d.ratios[:-1] == (2.0,) * (d.n_steps - 1) and d.ratios[-1] == scale / 2 ** (d.n_steps - 1)
    assert math.prod(d.ratios) == scale and all(isinstance(r, float) and 1 < r <= 2 for r in d.ratios)
    assert d.n_steps == math.ceil(math.log2(scale))


def test_deployment_float_corners() -> None:
    assert deploy(2 ** 0.5 * 2 ** 0.5).ratios == (2.0000000000000004,)  # N = 1, not 2 with a ratio 1 + 2e-16
    assert deploy(4 * (1 + 1e-12)).n_steps == 2
    d = deploy(3 * 1.1)  # 3.3000000000000003 -> (2, 1.6500000000000001): between levels 6 and 7, w = 0.5
    assert d.ratios[0] == 2.0 and bracket(d.ratios[1]).index == 7 and abs(bracket(d.ratios[1]).weight - 0.5) < 1e-12


def test_equal_ratios_and_more_steps() -> None:
    assert deploy(3, "equal").ratios == pytest.approx((3 ** 0.5,) * 2, rel=1e-15)
    d = deploy(2, "equal", n_steps=2)  # slides' Table 3 "recursive deployment": sqrt(2) twice
    assert d.ratios == pytest.approx((2 ** 0.5, 2 ** 0.5), rel=1e-15) and d.n_steps == 2
    assert abs(math.prod(deploy(3, "equal", n_steps=3).ratios) - 3) < 1e-12


def test_slides_optimal_n_r_table_rows() -> None:
    for scale, printed, _psnr, how in SLIDES_OPTIMAL_N_R:
        if how is None:  # (2.0, 1.8, 1.1) multiplies to 3.96
            assert abs(math.prod(printed) - 3.96) < 1e-12
            with pytest.raises(ValueError, match="multiply to"):
                check_deployment(scale, printed)
            continue
        d = deploy(scale, **how)
        assert d.n_steps == len(printed), (how, d)
        assert all(abs(a - b) < 1e-3 for a, b in zip(d.ratios, printed)), (how, d)  # 3 decimals: 1.2346 is "1.234"
    best = {s: max((p, r) for s2, r, p, _ in SLIDES_OPTIMAL_N_R if s2 == s)[1] for s in (3, 4)}
    assert best == {3: deploy(3).ratios, 4: deploy(4).ratios}  # the slides' rule is the best row at x3 and x4


def test_deployment_errors_are_named() -> None:
    for bad in (1, 1.0, 0.5):
        with pytest.raises(ScaleOutOfRange, match="R > 1"):
            deploy(bad)
    with pytest.raises(ValueError, match="fixes N = "):
        deploy(3, n_steps=3)
    with pytest.raises(ValueError, match="needs n_steps >= "):
        deploy(3, "equal", n_steps=1)
    with pytest.raises(ValueError, match="unknown deployment rule"):
        deploy(3, "random")
    with pytest.raises(ValueError, match="cap must be in"):
        deploy(3, cap=2.5)
    with pytest.raises(ScaleOutOfRange, match="step 1 of the deployment"):
        check_deployment(3, (2.5, 1.2))
    with pytest.raises(ValueError, match="at least one ratio"):
        check_deployment(3, ())
    assert check_deployment(Fraction(3), (Fraction(3, 2), 2)).rule == "explicit"
