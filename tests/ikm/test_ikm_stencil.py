"""nearest_stencil names an attention map's shape (defian.ikm.stencil)."""

from __future__ import annotations

import pytest
import torch

from defian.ikm import IKMError
from defian.ikm.stencil import STENCILS, nearest_stencil


def test_templates_are_zero_mean_and_found_exactly():
    for name, t in STENCILS.items():
        assert abs(float(t.sum())) < 1e-12
        got, cos = nearest_stencil(1.0 + 0.1 * t)  # any positive offset and scale: the same shape
        assert got == name and cos == pytest.approx(1.0, abs=1e-12)
        got, cos = nearest_stencil(1.0 - 0.1 * t)
        assert got == name and cos == pytest.approx(-1.0, abs=1e-12)


def test_one_principal_tap_in_the_centre_is_laplacian_like():
    a = torch.ones(3, 3)
    a[1, 1] = 2.0  # centre weighted above an equal ring
    name, cos = nearest_stencil(a)
    assert name.startswith("centre over ring") and cos == pytest.approx(1.0, abs=1e-6)


def test_uniform_and_bad_shapes():
    assert nearest_stencil(torch.full((3, 3), 1.5)) == ("uniform", 0.0)
    with pytest.raises(IKMError, match=r"one 3 x 3 map, got shape \(1, 3, 3\)"):
        nearest_stencil(torch.ones(1, 3, 3))
