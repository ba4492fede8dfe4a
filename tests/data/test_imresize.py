"""MATLAB bicubic resizing: hand-worked weights, exactness properties, MATLAB rounding.

The end-to-end check against MATLAB itself is the paper's Bicubic rows
(tests/data/test_testsets.py, needs the dev data).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from defian.data.imresize import contributions, cubic, imresize, imresize_float, output_size, torch_bicubic


def test_cubic_kernel_hand_values() -> None:
    # Keys a = -0.5: 1.5|x|^3 - 2.5|x|^2 + 1 (|x| <= 1), -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2 (1 < |x| <= 2)
    x = np.array([0.0, 0.25, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, -0.5])
    expected = [1.0, 111 / 128, 0.5625, 0.0, -9 / 128, -0.0625, -3 / 128, 0.0, 0.0, 0.5625]
    np.testing.assert_allclose(cubic(x), expected, rtol=0, atol=1e-15)


def test_cubic_partition_of_unity() -> None:
    t = np.linspace(0, 1, 17)
    total = sum(cubic(t - k) for k in range(-3, 4))
    np.testing.assert_allclose(total, 1.0, atol=1e-14)


def test_halving_weights_worked_by_hand() -> None:
    # s = 1/2: u = 2x - 0.5, h(d) = 0.5 cubic(d / 2), 8-pixel support, P = 10 taps of which 8 non-zero.
    # For x = 2, u = 3.5: source pixels 0..7 (1-based), distances 3.5 .. -3.5.
    weights, src = contributions(8, 4, 0.5)
    by_hand = [Fraction(v, 256) for v in (-3, -9, 29, 111, 111, 29, -9, -3)]
    assert sum(by_hand) == 1
    np.testing.assert_allclose(weights[1], [float(v) for v in by_hand], atol=1e-15)
    # symmetric border: the first output reads pixels -2, -1, 0 as 3, 2, 1 (0-based 2, 1, 0)
    assert src[0].tolist() == [2, 1, 0, 0, 1, 2, 3, 4]
    assert src[3].tolist() == [3, 4, 5, 6, 7, 7, 6, 5]


def test_doubling_weights_worked_by_hand() -> None:
    # s = 2: u = x / 2 + 1/4, no antialiasing; output 1 (u = 0.75) reads pixels 0, 1, 2, 3 (1-based)
    # at distances 0.75, -0.25, -1.25, -2.25 -> cubic 29/128, 111/128, -9/128, 0; pixel 0 mirrors to 1.
    weights, src = contributions(4, 8, 2.0)
    np.testing.assert_allclose(weights[0], [-3 / 128, 29 / 128, 111 / 128, -9 / 128], atol=1e-15)
    assert src[0].tolist() == [1, 0, 0, 1]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-15)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0, 4.0])
def test_constant_image_is_reproduced_exactly(scale: float) -> None:
    img = np.full((24, 36, 3), 173, dtype=np.uint8)
    out = imresize(img, scale)
    assert out.shape == (output_size(24, scale), output_size(36, scale), 3)
    assert np.all(out == 173)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0])
def test_linear_ramp_is_reproduced_away_from_borders(scale: float) -> None:
    # Cubic convolution with a = -0.5 reproduces linear functions exactly; with the
    # pixel-centre mapping, output pixel x (1-based) sits at u = x/s + 0.5(1 - 1/s).
    n = 48
    ramp = np.tile(np.arange(1, n + 1, dtype=np.float64)[:, None], (1, 8))  # value = 1-based row index
    out = imresize_float(ramp, scale)
    x = np.arange(1, out.shape[0] + 1)
    u = x / scale + 0.5 * (1 - 1 / scale)
    margin = int(np.ceil(2 / min(scale, 1))) + 1  # stay clear of the mirrored border
    inner = (u > margin) & (u < n + 1 - margin)
    np.testing.assert_allclose(out[inner, 0], u[inner], atol=1e-10)


def test_flip_and_transpose_equivariance() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(30, 42, 3), dtype=np.uint8)
    for scale in (1 / 3, 2.0):
        out = imresize_float(img, scale)
        np.testing.assert_allclose(imresize_float(img[::-1, ::-1], scale), out[::-1, ::-1], atol=1e-9)
        np.testing.assert_allclose(imresize_float(img.transpose(1, 0, 2), scale), out.transpose(1, 0, 2), atol=1e-9)


def test_downscale_of_pixel_replicated_image_is_the_original_in_the_interior() -> None:
    # Replicating each pixel s x s times and shrinking by 1/s is a symmetric blur of the
    # original; on a linear ramp the blur leaves the values unchanged.
    base = np.add.outer(np.arange(20), 2 * np.arange(20)).astype(np.float64)  # linear in both axes
    big = np.kron(base, np.ones((2, 2)))
    out = imresize_float(big, 0.5)
    np.testing.assert_allclose(out[3:-3, 3:-3], base[3:-3, 3:-3], atol=1e-10)


def test_uint8_is_rounded_and_clipped_after_each_pass() -> None:
    # MATLAB's imresizemex returns the input's class: rows resized and rounded to uint8,
    # then the columns of that uint8 image resized and rounded again.
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(9, 12, 3), dtype=np.uint8)
    img[:, ::3] = 255  # sharp edges: cubic overshoot beyond [0, 255]
    for scale in (2.0, 1 / 3):
        h, w = output_size(9, scale), output_size(12, scale)
        rows = imresize_float(img, scale, out_shape=(h, 12))  # column scale 12/12 = 1: identity
        rows8 = np.floor(np.clip(rows, 0, 255) + 0.5).astype(np.uint8)
        cols = imresize_float(rows8, scale, out_shape=(h, w))
        by_hand = np.floor(np.clip(cols, 0, 255) + 0.5).astype(np.uint8)
        np.testing.assert_array_equal(imresize(img, scale), by_hand)
    assert imresize_float(img, 2.0).max() > 255  # the overshoot that the rounding clips
    np.testing.assert_allclose(imresize_float(img, 1.0), img, atol=1e-12)  # scale 1 is the identity


def test_exact_half_rounds_away_from_zero() -> None:
    # Doubling [0, 32]: output pixel 2 (u = 1.25) reads 0, 0, 32, 32 (mirrored) with weights
    # -9/128, 111/128, 29/128, -3/128, i.e. 32 * 26/128 = 6.5 exactly. MATLAB gives 7 (numpy's round: 6).
    img = np.array([[0, 32]], dtype=np.uint8)
    assert imresize_float(img, 2.0)[0, 1] == 6.5
    assert imresize(img, 2.0)[:, 1].tolist() == [7, 7]


def test_output_size_is_ceil_and_exact_for_mod_cropped_sizes() -> None:
    assert output_size(321, 1 / 3) == 107
    assert output_size(10, 1 / 3) == 4  # ceil(3.33)
    assert output_size(7, 1 / 2) == 4
    assert imresize(np.zeros((7, 9), np.uint8), 0.5).shape == (4, 5)


def test_grey_and_colour_agree_channelwise() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    out = imresize(img, 0.5)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], imresize(img[..., c], 0.5))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(TypeError, match="uint8"):
        imresize(np.zeros((4, 4), np.float32), 0.5)
    with pytest.raises(ValueError, match="scale"):
        imresize(np.zeros((4, 4), np.uint8), 0.0)
    with pytest.raises(ValueError, match="shape"):
        imresize(np.zeros((4,), np.uint8), 0.5)


def test_torch_bicubic_differs_from_matlab() -> None:
    # torch: a = -0.75, no antialiasing -> a different LR image (the reason for this module)
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, size=(32, 32), dtype=np.uint8)
    assert np.abs(torch_bicubic(img, 0.5).astype(int) - imresize(img, 0.5)).mean() > 1.0
