"""One training update of an LFR model, with ASDN's random level per batch.

Slides, "Training": "At each update each IRB is randomly selected and combined
after FMB"; "the LR images are randomly selected from one scale training
samples among the total 11 scales": every batch trains one level l, drawn
uniformly from ``0 .. L - 1``, on LR inputs made at that level's scale ``r_l``,
with the L1 loss on ``O_{r_l}`` (at a level scale the interpolation weight is 0,
so only branch l and the trunk get gradients). Adam with default parameters.

Here the LR patch is made in float by MATLAB's bicubic (:func:`defian.lfr.resample.bicubic`,
antialiased, no uint8 rounding): a small, self-contained step for tests; a training
run (:mod:`defian.lfr.train` with :mod:`defian.lfr.data`) makes uint8 LR patches with
:func:`defian.data.imresize.imresize` instead, as the fixed-scale runs' data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from defian.lfr.levels import N_LEVELS, level_scale
from defian.lfr.model import LFRModel
from defian.lfr.resample import bicubic, output_shape

__all__ = ["degrade", "sample_levels", "train_step"]


def sample_levels(n: int, n_levels: int = N_LEVELS, generator: torch.Generator | None = None) -> list[int]:
    """The levels of ``n`` batches, each uniform on ``0 .. L - 1`` (one level per batch)."""
    if n < 0 or n_levels < 2:
        raise ValueError(f"need n >= 0 and n_levels >= 2, got n={n}, n_levels={n_levels}")
    return torch.randint(0, n_levels, (n,), generator=generator).tolist()


def degrade(hr: torch.Tensor, level: int, n_levels: int = N_LEVELS) -> torch.Tensor:
    """The LR input of a level: ``imresize(hr, 1 / r_l)`` in float, (B, 3, H, W) -> (B, 3, ceil(H / r_l), ..)."""
    inv = 1.0 / float(level_scale(level, n_levels))
    return bicubic(hr, output_shape(tuple(hr.shape[-2:]), inv), inv)


def train_step(model: LFRModel, optimizer: torch.optim.Optimizer, hr: torch.Tensor, level: int) -> float:
    """One update on level ``level``: L1(O_{r_l}(degrade(hr)), hr); returns the loss before the update.

    Args:
        model: an LFR model in train mode.
        optimizer: over the model's parameters.
        hr: (B, 3, H, W) targets in [0, 1].
        level: l in ``[0, L - 1]``, e.g. from :func:`sample_levels`.
    """
    lr = degrade(hr, level, model.config.n_levels)  # (B, 3, h, w)
    out = model.level_output(lr, level, tuple(hr.shape[-2:]))  # (B, 3, H, W)
    loss = F.l1_loss(out, hr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
