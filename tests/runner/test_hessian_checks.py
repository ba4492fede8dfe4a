"""The checks notebooks 01-02 narrate, on cases worked by hand."""

from __future__ import annotations

import torch

from defian.runner import hessian_checks


def test_kernel_support_of_eq16_is_the_eq17_lattice() -> None:
    for ker in (5, 7):  # Eq. (16) with its zero vectors reads exactly Eq. (17)'s offsets {-h, 0, h}^2
        h = (ker - 1) // 2
        lattice = {(i, j) for i in (-h, 0, h) for j in (-h, 0, h)}
        assert hessian_checks.kernel_support(ker) == hessian_checks.kernel_support(ker, "released") == lattice


def test_kernel_support_undilated_hv_reads_the_diagonal_neighbours() -> None:
    expected = {(0, -2), (0, 0), (0, 2), (-2, 0), (2, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)}
    assert hessian_checks.kernel_support(5, "undilated_hv") == expected


def test_eigenvalue_errors_vanish_on_diagonal_matrices() -> None:
    a = torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    b = torch.tensor([1.0, -4.0, 2.0], dtype=torch.float64)
    out = hessian_checks.eigenvalue_errors(a, b, torch.zeros_like(a))  # lambda_1 = max(a, b) exactly
    assert out["n"] == 3 and out["max err / ||H||"] == 0.0


def test_zero_discriminants_count_every_pixel_of_a_flat_unbiased_feature() -> None:
    feat, bias = torch.zeros(2, 4, 5, 6), torch.zeros(3, 3, 4)
    counts = hessian_checks.zero_discriminants(feat, bias, torch.float32)
    assert counts.tolist() == [3 * 4 * 5 * 6] * 2  # 3 scales x C x H x W, per sample
