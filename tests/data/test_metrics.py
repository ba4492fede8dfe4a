"""PSNR/SSIM under the paper's protocol, checked against hand-worked values and an
independent float64 SSIM written from Wang et al. (2004)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

from defian.data.metrics import PROTOCOLS, prepare, psnr, rgb_to_y, ssim


def test_psnr_of_a_known_mse() -> None:
    hr = np.full((20, 20), 100, np.uint8)
    sr = hr + 2  # MSE = 4 everywhere
    assert psnr(sr, hr, 2) == pytest.approx(10 * np.log10(255**2 / 4), abs=1e-12)


def test_border_of_scale_pixels_is_ignored() -> None:
    hr = np.full((20, 20), 100, np.uint8)
    sr = hr.copy()
    sr[:3], sr[:, -3:] = 0, 255  # damage only the 3-pixel border
    assert psnr(sr, hr, 3) == float("inf")
    assert psnr(sr, hr, 2) < 20
    assert ssim(sr, hr, 3) == pytest.approx(1.0, abs=1e-12)


def test_y_is_matlab_rgb2ycbcr_rounded() -> None:
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], np.uint8)
    # 16 + (65.481 R + 128.553 G + 24.966 B) / 255, rounded: 16, 235, 81.481, 144.553, 40.966, 121.4...
    by_hand = [16, 235, 81, 145, 41, round(16 + (65.481 * 10 + 128.553 * 200 + 24.966 * 30) / 255)]
    assert rgb_to_y(rgb)[0].tolist() == by_hand
    assert rgb_to_y(rgb, rounded=False)[0, 2] == pytest.approx(81.481)


def test_grey_files_are_used_as_they_are() -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-3, 4, hr.shape), 0, 255).astype(np.uint8)
    mse = np.mean((sr[2:-2, 2:-2].astype(float) - hr[2:-2, 2:-2]) ** 2)
    assert psnr(sr, hr, 2) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-12)
    # an RGB answer for a grey file is reduced to grey (rounded channel mean), not Y
    assert psnr(np.repeat(sr[..., None], 3, axis=2), hr, 2) == pytest.approx(psnr(sr, hr, 2), abs=1e-12)


def _ssim_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004, MATLAB ssim_index: 11x11 Gaussian (sigma 1.5), 'valid' filtering."""
    g = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda x: correlate2d(x, w, mode="valid")  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    return float(s.mean())


def test_ssim_matches_an_independent_implementation() -> None:
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (40, 33, 3), dtype=np.uint8)
    noise = rng.integers(-20, 21, hr.shape)
    sr = np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8)
    a = rgb_to_y(sr)[3:-3, 3:-3].astype(np.float64)
    b = rgb_to_y(hr)[3:-3, 3:-3].astype(np.float64)
    assert ssim(sr, hr, 3) == pytest.approx(_ssim_by_hand(a, b), abs=1e-10)
    assert ssim(hr, hr, 3) == pytest.approx(1.0, abs=1e-12)


def test_protocol_options() -> None:
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-5, 6, hr.shape), 0, 255).astype(np.uint8)
    # RGB PSNR: MSE over all three channels
    d = sr[2:-2, 2:-2].astype(float) - hr[2:-2, 2:-2]
    assert psnr(sr, hr, 2, PROTOCOLS["rgb"]) == pytest.approx(10 * np.log10(255**2 / np.mean(d**2)), abs=1e-12)
    # scale + 6 shave
    a, _ = prepare(sr, hr, 2, PROTOCOLS["shave-scale+6"])
    assert a.shape == (30 - 2 * 8, 30 - 2 * 8)
    # unrounded Y
    a, b = prepare(sr, hr, 2, PROTOCOLS["y-unrounded"])
    np.testing.assert_allclose(a, rgb_to_y(sr, rounded=False)[2:-2, 2:-2])
    assert PROTOCOLS["paper"].lr_method == "matlab" and PROTOCOLS["torch-lr"].lr_method == "torch"


def test_bad_inputs() -> None:
    a = np.zeros((10, 10), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        psnr(a.astype(np.float32), a, 2)
    with pytest.raises(ValueError, match="differ in size"):
        psnr(a, np.zeros((10, 12), np.uint8), 2)
    with pytest.raises(ValueError, match="too small"):
        psnr(np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8), 3)
