"""defian.train.validation: the PSNR logged during training is the paper's test protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defian.train import validation


def test_validate_scores_byte_images_on_y_with_the_border_cropped() -> None:
    """validate(): output -> uint8 -> Y (MATLAB rgb2ycbcr) -> crop `scale` -> PSNR, by hand in float64."""
    class Grey(torch.nn.Module):  # returns 0.5 everywhere: byte value round(127.5) = 128
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((1, 3, 2 * x.shape[2], 2 * x.shape[3]), 0.5)

    hr = np.random.default_rng(0).integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
    lr = torch.zeros(1, 3, 10, 10)
    y = lambda rgb: np.floor(16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255 + 0.5)
    mse = np.mean((y(np.full((20, 20, 3), 128.0)) - y(hr.astype(np.float64)))[2:-2, 2:-2] ** 2)
    assert validation.validate(Grey(), [(lr, hr)], 2, torch.device("cpu")) == pytest.approx(10 * np.log10(255**2 / mse),
                                                                                        abs=1e-9)
