"""The rules of ASDN's Laplacian frequency representation (LFR) and recursive deployment.

Source: Shen, Wang and Zhang, "ASDN: A deep convolutional network for arbitrary
scale image super-resolution" (arXiv:2010.02414), as presented in
``shared/paper/asdn-and-related-slides.md`` ("Laplacian Frequency
Representation", "Example", "Recursive deployment", "Optimal N and r"):

* levels ``r_l = l / (L - 1) + 1`` for ``l = 0 .. L - 1`` (L = 11: 1.0, 1.1, ..., 2.0);
* the level of a scale ``r``: ``i = ceil((r - 1)(L - 1))``;
* the weight ``w_r = (L - 1)(r_i - r)``;
* the phases ``P_i = O_{r_{i-1}} - O_{r_i}`` and the output ``O_r = O_{r_i} + w_r P_i``;
* a scale ``R > 2`` is deployed recursively in ``N = ceil(log2 R)`` steps,
  "the greatest r at the beginning": ``r_k = 2`` for ``k <= N - 1``, ``r_N = R / 2^(N-1)``.

Edge cases (the slides leave them open; decided here):

* ``r`` equal to a level ``r_i`` (``i >= 1``) brackets as ``(i - 1, i)`` with
  ``w = 0``: the output is the level itself; ``r = 2`` is level ``L - 1``, ``w = 0``.
  ``w`` is therefore in ``[0, 1)``, never 1.
* The valid scales are ``(1, 2]``. Level 0 (``r_0 = 1``) is a level of the
  representation (the slides' Fig. 2 counts 11 levels, 10 phases) and is trained,
  but ``r = 1`` itself is not an SR scale: ``r <= 1`` and ``r > 2`` raise
  :class:`ScaleOutOfRange`.
* Exactness by type: :class:`fractions.Fraction` and ``int`` scales are exact
  (the weights come back as Fractions). A ``float`` within ``SCALE_TOL`` of a
  level *is* that level: ``1.3`` is ``1.3000000000000000444`` in binary, whose
  exact ceiling would be level 4 with ``w = 1 - 4e-15``; the decimal meaning is
  level 3 with ``w = 0``. Float weights are computed as ``i - (r - 1)(L - 1)``
  (one rounding), equal to the slides' form up to 1 ulp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real
from typing import Any, TypeVar

__all__ = [
    "N_LEVELS",
    "RULES",
    "SCALE_TOL",
    "SLIDES_OPTIMAL_N_R",
    "Bracket",
    "Deployment",
    "ScaleOutOfRange",
    "bracket",
    "check_deployment",
    "deploy",
    "interpolate",
    "level_scale",
    "level_scales",
    "min_steps",
    "phase",
]

N_LEVELS = 11  # slides: "optimal between 1 and 2 using 11 levels in the LFR" (saturates beyond 10 phases, Fig. 8)
SCALE_TOL = 1e-9  # a float scale this close to a level is that level
_DEPLOY_TOL = 4 * SCALE_TOL  # R this close above cap^n needs n steps, not n + 1 (keeps r_N clear of level 0)
RULES = ("largest_first", "smallest_first", "equal")

T = TypeVar("T")


class ScaleOutOfRange(ValueError):
    """A scale outside the range a rule or a model supports; the message names both."""


def _check_levels(n_levels: int) -> None:
    if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2, got {n_levels!r}")


def _exact(x: Any) -> Real:
    """``int`` -> Fraction and Fraction kept (exact); other reals (numpy floats) -> float; else refused by name."""
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"a scale must be a real number (float, int or Fraction), got {x!r}")
    if isinstance(x, Fraction):
        return x
    return Fraction(x) if isinstance(x, int) else float(x)


def level_scale(level: int, n_levels: int = N_LEVELS) -> Fraction:
    """``r_l = l / (L - 1) + 1`` as an exact Fraction; ``0 <= level < n_levels``."""
    _check_levels(n_levels)
    if not 0 <= level < n_levels:
        raise ValueError(f"level must be in [0, {n_levels - 1}], got {level!r}")
    return Fraction(level, n_levels - 1) + 1


def level_scales(n_levels: int = N_LEVELS) -> tuple[Fraction, ...]:
    """All ``L`` level scales, exact: ``(1, 11/10, ..., 2)`` for L = 11."""
    return tuple(level_scale(l, n_levels) for l in range(n_levels))


@dataclass(frozen=True)
class Bracket:
    """The two LFR levels around a scale: ``r_{i-1} < r <= r_i``, ``r = r_i - w / (L - 1)``.

    Attributes:
        scale: r, as given.
        index: i in ``[1, L - 1]``; the upper level. ``lower`` = i - 1.
        weight: ``w_r = (L - 1)(r_i - r)`` in ``[0, 1)``; a Fraction for exact input.
        n_levels: L.
    """

    scale: Real
    index: int
    weight: Real
    n_levels: int

    @property
    def lower(self) -> int:
        """i - 1, the level whose phase ``P_i`` is added with weight w."""
        return self.index - 1

    @property
    def levels(self) -> tuple[int, ...]:
        """The levels the output needs: ``(i,)`` when w = 0, else ``(i - 1, i)``."""
        return (self.index,) if self.weight == 0 else (self.index - 1, self.index)


def bracket(scale: Real, n_levels: int = N_LEVELS) -> Bracket:
    """The level index ``i = ceil((r - 1)(L - 1))`` and weight ``w_r = (L - 1)(r_i - r)``.

    Args:
        scale: r in (1, 2]; float, int or Fraction (see the module doc for exactness).
        n_levels: L.

    Returns:
        :class:`Bracket`. Example (slides): r = 1.27 -> i = 3, w = 0.3, ``O_r = O_{r_3} + 0.3 P_3``.

    Raises:
        ScaleOutOfRange: r <= 1 or r > 2 (after snapping a float to a level).
    """
    _check_levels(n_levels)
    r = _exact(scale)
    if isinstance(r, float) and not math.isfinite(r):
        raise ScaleOutOfRange(f"scale {scale!r} is not in the LFR range (1, 2]")
    t = (r - 1) * (n_levels - 1)  # the position in level units: r_l has t = l
    if isinstance(r, float) and abs(t - round(t)) <= SCALE_TOL * (n_levels - 1):
        t = float(round(t))  # a decimal scale such as 1.3 is its level, not an ulp above it
    if not 0 < t <= n_levels - 1:
        raise ScaleOutOfRange(f"scale {scale!r} is not in the LFR range (1, 2] (levels r_l = 1 + l/{n_levels - 1})")
    index = math.ceil(t)
    weight = index - t  # = (L - 1)(r_i - r)
    return Bracket(scale, index, weight, n_levels)


def phase(o_lower: T, o_upper: T) -> T:
    """``P_i = O_{r_{i-1}} - O_{r_i}``: numbers, arrays or tensors."""
    return o_lower - o_upper  # type: ignore[operator]


def interpolate(o_lower: T, o_upper: T, weight: Real) -> T:
    """``O_r = O_{r_i} + w_r P_i`` with ``P_i = O_{r_{i-1}} - O_{r_i}`` (exact for Fractions).

    At ``w = 0`` the result is ``o_upper + 0 * P``, equal to ``o_upper`` for finite inputs.
    """
    return o_upper + weight * phase(o_lower, o_upper)  # type: ignore[operator]


@dataclass(frozen=True)
class Deployment:
    """A recursive deployment of scale R: the per-step ratios, applied left to right.

    Attributes:
        scale: R.
        ratios: r_1 .. r_N, each in (1, 2]; their product is R (exactly for
            Fraction/int R with rules ``largest_first`` / ``smallest_first`` at
            ``cap = 2``; within ``1e-12`` relative otherwise).
        rule: how the ratios were chosen (a name in ``RULES`` or ``"explicit"``).
    """

    scale: Real
    ratios: tuple[Real, ...]
    rule: str

    @property
    def n_steps(self) -> int:
        """N."""
        return len(self.ratios)


def min_steps(scale: Real, cap: Real = 2) -> int:
    """The fewest steps of ratio <= cap reaching R: ``ceil(log_cap R)``, computed by exact products.

    For float R, an R within a relative ``4e-9`` above ``cap^n`` counts as ``cap^n``.
    """
    r, c = _exact(scale), _exact(cap)
    if not r > 1:
        raise ScaleOutOfRange(f"scale {scale!r} is not an upscaling factor: need R > 1")
    tol = 0 if isinstance(r, Fraction) and isinstance(c, Fraction) else _DEPLOY_TOL
    n, power = 1, c
    while r > power * (1 + tol):
        n, power = n + 1, power * c
    return n


def deploy(scale: Real, rule: str = "largest_first", *, n_steps: int | None = None, cap: Real = 2) -> Deployment:
    """The per-step ratios of a recursive deployment of R (slides, "Recursive deployment").

    Rules (the rows of the slides' "Optimal N and r" table, see :data:`SLIDES_OPTIMAL_N_R`):

    * ``largest_first`` (the slides' rule): ``N = ceil(log_cap R)``, ratios
      ``(cap, ..., cap, R / cap^(N-1))``; with cap = 2, R = 3 -> (2, 1.5).
      ``cap = 1.8`` gives the table's (1.8, 1.8, 1.234) for R = 4.
    * ``smallest_first``: the same ratios reversed: R = 3 -> (1.5, 2).
    * ``equal``: N equal ratios ``R^(1/N)``; ``n_steps`` defaults to ``ceil(log2 R)``
      and may be larger (R = 3, N = 2 -> 1.732 twice; N = 3 -> 1.442; the
      slides' Table 3 "recursive deployment" is ``equal`` with N = 2 at x2, x3, x4).

    Args:
        scale: R > 1; R in (1, 2] gives one step ``(R,)`` under every rule with N = 1.
        rule: one of :data:`RULES`.
        n_steps: N; only ``equal`` accepts an N other than the rule's own.
        cap: the largest ratio, in (1, 2], for ``largest_first`` / ``smallest_first``.

    Raises:
        ScaleOutOfRange: R <= 1, or a ratio that falls outside (1, 2].
        ValueError: an unknown rule, a bad cap or n_steps.
    """
    if rule not in RULES:
        raise ValueError(f"unknown deployment rule {rule!r}; choose one of {RULES}")
    r, c = _exact(scale), _exact(cap)
    c = float(c) if isinstance(r, float) else c  # a float R gets float ratios, an exact R exact ones
    if not 1 < c <= 2:
        raise ValueError(f"cap must be in (1, 2] (the LFR range), got {cap!r}")
    if rule == "equal":
        need = min_steps(r)
        n = need if n_steps is None else n_steps
        if isinstance(n, bool) or not isinstance(n, int) or n < need:
            raise ValueError(f"rule 'equal' needs n_steps >= ceil(log2 {scale!r}) = {need}, got {n_steps!r}")
        ratios: tuple[Real, ...] = (r,) if n == 1 else (float(r) ** (1.0 / n),) * n
    else:
        n = min_steps(r, c)
        if n_steps is not None and n_steps != n:
            raise ValueError(
                f"rule {rule!r} fixes N = ceil(log_{cap} {scale!r}) = {n}, got n_steps={n_steps!r}; "
                "use rule 'equal' for another N"
            )
        ratios = (c,) * (n - 1) + (r / c ** (n - 1),)
        if rule == "smallest_first":
            ratios = ratios[::-1]
    return check_deployment(r, ratios, rule)


def check_deployment(scale: Real, ratios: tuple[Real, ...], rule: str = "explicit") -> Deployment:
    """Validate a deployment: every ratio in (1, 2] (:func:`bracket`), product equal to R.

    Raises:
        ScaleOutOfRange: a ratio outside (1, 2], naming its position.
        ValueError: no ratios, or a product that differs from R (exact for Fractions,
            ``1e-12`` relative for floats).
    """
    r = _exact(scale)
    if len(ratios) == 0:
        raise ValueError(f"a deployment of scale {scale!r} needs at least one ratio")
    product: Real = 1
    for k, ratio in enumerate(ratios):
        try:
            bracket(ratio)
        except ScaleOutOfRange as err:
            where = f"step {k + 1} of the deployment {tuple(ratios)!r} of scale {scale!r}"
            raise ScaleOutOfRange(f"{where}: {err}") from None
        product = product * _exact(ratio)
    exact = isinstance(product, Fraction) and isinstance(r, Fraction)
    if (product != r) if exact else abs(product - r) > 1e-12 * abs(r):
        raise ValueError(f"the ratios {tuple(ratios)!r} multiply to {float(product)!r}, not the scale {scale!r}")
    return Deployment(scale, tuple(ratios), rule)


#: The slides' "Optimal N and r" table as (R, ratios as printed, PSNR, rule and options
#: reproducing it, or None). The extracted table is garbled; read here as: x3, N = 2:
#: (1.732, 1.732), (1.5, 2.0), (2.0, 1.5); x3, N = 3: (1.442,) * 3 [printed under x4,
#: but 1.442^3 = 2.998]; x4, N = 2: (2.0, 2.0); x4, N = 3: (1.587,) * 3, (1.8, 1.8,
#: 1.234), (2.0, 1.8, 1.1). The last row multiplies to 3.96, not 4: no rule makes it.
SLIDES_OPTIMAL_N_R: tuple[tuple[int, tuple[float, ...], float, dict[str, Any] | None], ...] = (
    (3, (1.732, 1.732), 34.43, {"rule": "equal"}),
    (3, (1.500, 2.000), 34.19, {"rule": "smallest_first"}),
    (3, (2.000, 1.500), 34.48, {"rule": "largest_first"}),  # the slides' rule, best at x3
    (3, (1.442, 1.442, 1.442), 33.18, {"rule": "equal", "n_steps": 3}),
    (4, (2.000, 2.000), 32.27, {"rule": "largest_first"}),  # best at x4
    (4, (1.587, 1.587, 1.587), 31.96, {"rule": "equal", "n_steps": 3}),
    (4, (1.800, 1.800, 1.234), 32.16, {"rule": "largest_first", "cap": 1.8}),
    (4, (2.000, 1.800, 1.100), 32.24, None),
)
