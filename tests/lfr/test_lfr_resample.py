"""defian.lfr.resample.bicubic: equal to its reference twin imresize_float in float64, differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defian.data.imresize import imresize_float
from defian.lfr.resample import bicubic, output_shape


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None]  # (1, C, H, W)


@pytest.mark.parametrize("s", [1.1, 1.27, 1.5, 2.0, 2.5, 3.3, 1 / 1.3, 1 / 2.5, 0.35])
def test_equals_imresize_float(s: float) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((13, 17, 3))
    ref = imresize_float(img, s)
    out = bicubic(_t(img), output_shape((13, 17), s), s)
    assert out.dtype == torch.float64 and out.shape == (1, 3) + ref.shape[:2]
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), ref, rtol=0, atol=1e-12)


def test_size_form_uses_per_axis_scales() -> None:
    img = np.random.default_rng(1).random((9, 11, 2))
    out = bicubic(_t(img), (14, 20))  # scales 14/9 and 20/11, MATLAB imresize(A, [14 20])
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), imresize_float(img, 1.0, out_shape=(14, 20)),
                               rtol=0, atol=1e-12)


def test_scale_given_with_another_size_keeps_the_pixel_mapping() -> None:
    # 12 pixels at s = 1.5 -> 18; asking for 19 adds one pixel at u = 19/1.5 + 1/6 and leaves the first 18 unchanged
    img = np.random.default_rng(2).random((12, 12, 1))
    a = bicubic(_t(img), (18, 18), 1.5)
    b = bicubic(_t(img), (19, 19), 1.5)
    assert torch.equal(a, b[..., :18, :18])


def test_identity_at_scale_one_and_float32() -> None:
    x = torch.rand(2, 3, 5, 4)
    assert torch.equal(bicubic(x, (5, 4), 1.0), x)
    y = bicubic(x, (8, 6), 1.5)
    ref = bicubic(x.double(), (8, 6), 1.5)
    assert y.dtype == torch.float32 and torch.allclose(y.double(), ref, atol=1e-6)


def test_linear_and_differentiable() -> None:
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: bicubic(t, (6, 7), 1.45), (x,))
    a, b = torch.rand(2, 1, 2, 4, 5, dtype=torch.float64)
    assert torch.allclose(bicubic(2 * a - b, (7, 9), 1.7), 2 * bicubic(a, (7, 9), 1.7) - bicubic(b, (7, 9), 1.7))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="floating"):
        bicubic(torch.zeros(3, 4, 4), (8, 8))
    with pytest.raises(ValueError, match="floating"):
        bicubic(torch.zeros(1, 3, 4, 4, dtype=torch.long), (8, 8))
    with pytest.raises(ValueError, match="size must be positive"):
        bicubic(torch.zeros(1, 3, 4, 4), (0, 8))
    with pytest.raises(ValueError, match="scale must be a positive"):
        bicubic(torch.zeros(1, 3, 4, 4), (8, 8), -2.0)
