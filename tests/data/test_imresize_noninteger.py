"""defian.data.imresize at non-integer scales, against an independent float64 MATLAB model.

The reference here is written from MATLAB's documented semantics, pixel by
pixel, without the module's vectorisation: the Keys kernel (a = -0.5); output
pixel x (1-based) at ``u = x/s + 0.5(1 - 1/s)``; when shrinking, the kernel
``s * cubic(s d)`` over ``|d| < 2/s``; weights normalised to sum 1; half-sample
mirrored borders; output size ``ceil(s n)``; rows, then columns; for uint8 each
pass rounded (half away from zero) and saturated.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from defian.data.imresize import imresize, imresize_float, output_size


def keys(d: float) -> float:
    a, x = -0.5, abs(d)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def mirror(j: int, n: int) -> int:
    """1-based index j folded into [1, n] by half-sample symmetry (0 -> 1, n + 1 -> n)."""
    while not 1 <= j <= n:
        j = 1 - j if j < 1 else 2 * n + 1 - j
    return j


def resize_1d(v: np.ndarray, n_out: int, s: float) -> np.ndarray:
    """One axis (the first) of a float64 array."""
    n = v.shape[0]
    half = 2.0 / s if s < 1 else 2.0  # the kernel's half-width
    out = np.zeros((n_out,) + v.shape[1:])
    for x in range(1, n_out + 1):
        u = x / s + 0.5 * (1 - 1 / s)
        js = range(math.floor(u - half) - 1, math.ceil(u + half) + 2)
        w = np.array([s * keys(s * (u - j)) if s < 1 else keys(u - j) for j in js])
        w /= w.sum()
        out[x - 1] = sum(wk * v[mirror(j, n) - 1] for wk, j in zip(w, js))
    return out


def reference(img: np.ndarray, s: float, rows: int, cols: int, uint8: bool = False, sr: float | None = None,
              sc: float | None = None, cols_first: bool = False) -> np.ndarray:
    sr, sc = s if sr is None else sr, s if sc is None else sc
    rnd = (lambda a: np.floor(np.clip(a, 0, 255) + 0.5)) if uint8 else (lambda a: a)
    x = img.astype(np.float64)
    if cols_first:
        x = rnd(np.swapaxes(resize_1d(np.swapaxes(x, 0, 1), cols, sc), 0, 1))
        return rnd(resize_1d(x, rows, sr))
    x = rnd(resize_1d(x, rows, sr))
    return rnd(np.swapaxes(resize_1d(np.swapaxes(x, 0, 1), cols, sc), 0, 1))


NON_INTEGER = [1.1, 1.27, 1.5, 1.75, 2.5, 3.3, 3.7, 1 / 1.1, 1 / 1.27, 1 / 1.5, 1 / 2.5, 0.35]
INTEGER = [2.0, 3.0, 4.0, 1 / 2, 1 / 3, 1 / 4]


@pytest.mark.parametrize("s", NON_INTEGER + INTEGER)
def test_float_resize_matches_independent_reference(s: float) -> None:
    rng = np.random.default_rng(7)
    img = rng.random((11, 14, 3)) * 255
    rows, cols = math.ceil(s * 11 - 1e-9), math.ceil(s * 14 - 1e-9)
    out = imresize_float(img, s)
    assert out.shape == (rows, cols, 3)
    np.testing.assert_allclose(out, reference(img, s, rows, cols), rtol=0, atol=1e-10)


@pytest.mark.parametrize("s", [1.27, 1.5, 2.5, 1 / 1.5, 0.35, 3.0, 1 / 3])
def test_uint8_resize_rounds_each_pass(s: float) -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    out = imresize(img, s)
    assert out.shape[:2] == (output_size(9, s), output_size(13, s))
    rows = resize_1d(img.astype(np.float64), out.shape[0], s)  # the row pass, unrounded
    ref_rows = np.floor(np.clip(rows, 0, 255) + 0.5)
    cols = np.swapaxes(resize_1d(np.swapaxes(ref_rows, 0, 1), out.shape[1], s), 0, 1)
    ref = np.floor(np.clip(cols, 0, 255) + 0.5)
    np.testing.assert_array_equal(ref, reference(img, s, out.shape[0], out.shape[1], uint8=True))
    # exact halves occur (s = 1.5 has weights k/54): there either rounding is MATLAB's, by summation order
    tie = lambda a: np.abs(a - np.floor(a) - 0.5) < 1e-9
    excused = tie(cols) | tie(rows).any(axis=1, keepdims=True)  # a row with a tie in the first pass
    diff = out.astype(np.int64) - ref.astype(np.int64)
    assert np.abs(diff).max() <= 1 and np.all(excused[diff != 0]), np.argwhere(diff != 0)


def test_kernel_widening_when_shrinking() -> None:
    # at s = 1/2.5 an impulse spreads over 2 * 2 / s = 10 input pixels, i.e. 4 output pixels (not 2 as without widening)
    v = np.zeros((40, 1))
    v[20] = 1.0
    wide = imresize_float(v, 0.4)
    narrow = imresize_float(v, 0.4, antialias=False)
    assert np.count_nonzero(np.abs(wide[:, 0]) > 1e-15) == 4 and np.count_nonzero(np.abs(narrow[:, 0]) > 1e-15) == 2
    np.testing.assert_allclose(wide, reference(v, 0.4, 16, 1), atol=1e-15)


def test_output_size_is_ceil_of_s_n() -> None:
    for k in range(101, 400, 7):  # decimal scales 1.01 .. 3.99
        for n in (7, 10, 13, 24, 31):
            exact = math.ceil(Fraction(k, 100) * n)  # the decimal meaning of ceil(s n)
            assert output_size(n, k / 100) == exact, (k, n)
            assert output_size(n, 100 / k) == math.ceil(Fraction(100, k) * n)  # shrinking: ceil(n / r)
    # where the float product lands just above an integer, the module follows the decimal meaning;
    # MATLAB's literal ceil(1.1 * 50) = ceil(55.00000000000001) is 56
    assert 1.1 * 50 > 55 and output_size(50, 1.1) == 55


def test_non_integer_upscale_reproduces_linear_ramps() -> None:
    # Keys' kernel reproduces linear functions: away from the borders, output x holds u(x) exactly
    n = 40
    ramp = np.arange(1, n + 1, dtype=np.float64)[:, None]
    for s in (1.1, 1.27, 1.5, 2.5, 3.3):
        out = imresize_float(ramp, s)[:, 0]
        x = np.arange(1, out.shape[0] + 1)
        u = x / s + 0.5 * (1 - 1 / s)
        inner = (u > 3) & (u < n - 2)
        np.testing.assert_allclose(out[inner], u[inner], atol=1e-10)


def test_float_resize_order_does_not_matter() -> None:
    # the float path is a product A X B^T: rows or columns first agree to rounding
    rng = np.random.default_rng(1)
    img = rng.random((10, 12))
    out = imresize_float(img, 1.0, out_shape=(15, 14))
    ref = reference(img, 1.0, 15, 14, sr=1.5, sc=14 / 12, cols_first=True)
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_uint8_out_shape_resizes_smaller_scale_first() -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (20, 20), dtype=np.uint8)
    out = imresize(img, 1.0, out_shape=(30, 24))  # row scale 1.5 > column scale 1.2: MATLAB does columns first
    ref = reference(img, 1.0, 30, 24, uint8=True, sr=1.5, sc=1.2, cols_first=True)
    np.testing.assert_array_equal(out, ref.astype(np.uint8))
