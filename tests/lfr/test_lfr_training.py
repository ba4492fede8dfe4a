"""defian.lfr.training: one random level per batch, the LR of a level, one update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defian.data.imresize import imresize_float
from defian.lfr.levels import N_LEVELS
from defian.lfr.model import build_lfr_model
from defian.lfr.training import degrade, sample_levels, train_step


def test_sampled_levels_cover_all_levels_with_a_fixed_seed() -> None:
    levels = sample_levels(100, generator=torch.Generator().manual_seed(0))
    assert set(levels) == set(range(N_LEVELS)) and len(levels) == 100
    assert levels == sample_levels(100, generator=torch.Generator().manual_seed(0))
    counts = np.bincount(levels, minlength=N_LEVELS)
    assert counts.min() >= 3  # uniform: 100 / 11 = 9.1 expected per level
    with pytest.raises(ValueError, match="n_levels"):
        sample_levels(5, 1)


@pytest.mark.parametrize("level", [0, 1, 3, 5, 10])
def test_degrade_is_matlab_bicubic_at_one_over_r(level: int) -> None:
    hr = torch.rand(1, 3, 12, 10, dtype=torch.float64)
    lr = degrade(hr, level)
    r = 1 + level / 10
    ref = imresize_float(hr[0].permute(1, 2, 0).numpy(), 1 / r)
    assert lr.shape[-2:] == ref.shape[:2]
    np.testing.assert_allclose(lr[0].permute(1, 2, 0).numpy(), ref, rtol=0, atol=1e-12)
    if level == 0:
        assert torch.equal(lr, hr)  # level 0 is r = 1: the identity


def test_a_step_trains_one_level_and_reduces_the_loss() -> None:
    torch.manual_seed(0)
    model = build_lfr_model("rcan_lfr_s", n_modules=1, n_blocks=1, channels=8)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 12), torch.linspace(0, 1, 12), indexing="ij")
    hr = torch.stack([torch.sin(6 * xx + 3 * yy), torch.cos(5 * yy), xx * yy], 0)[None] * 0.4 + 0.5  # (1, 3, 12, 12)
    losses = [train_step(model, opt, hr, 5) for _ in range(8)]
    assert losses[-1] < 0.7 * losses[0], losses  # seed 0: 0.169 -> about 0.05
    grads = [b.weight.grad for b in model.head.branches]
    assert grads[5] is not None and all(g is None for l, g in enumerate(grads) if l != 5)  # only level 5's IRB
