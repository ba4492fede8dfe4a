"""The LFR head: L level reconstruction branches on one feature map, and the phase interpolation.

ASDN (slides, "Architecture" and "Laplacian Frequency Representation"): a
feature mapping branch is shared by all scales; each of the L = 11 Laplacian
pyramid levels has its own image reconstruction branch (IRB), "1x1 kernel and
3 filters"; "two IRBs are activated based on the scale" and the image is
``O_r = O_{r_i} + w_r P_i`` (:func:`defian.lfr.levels.interpolate`); a "global
skip connection" adds the (bicubic-upsampled) input, so a branch learns only
the high frequencies:

    R_l = IRB_l(f)                      (B, 3, H, W), the level's residual
    O_{r_l} = x_up + R_l
    P_i = O_{r_{i-1}} - O_{r_i} = R_{i-1} - R_i    (the skip cancels)

The head is agnostic to where ``f`` comes from (pre-upsampled trunk or a
resampled LR trunk, :mod:`defian.lfr.model`): it needs f and x_up at the output
size. For a scale r it computes only the branches it needs (one when r is a
level, two otherwise); :meth:`LFRHead.levels` and :meth:`LFRHead.phases`
compute all of them, for training and for figures.
"""

from __future__ import annotations

from numbers import Real

import torch
from torch import nn

from defian.lfr.levels import N_LEVELS, bracket, interpolate, phase

__all__ = ["LFRHead"]


class LFRHead(nn.Module):
    """L image reconstruction branches and the LFR interpolation.

    Args:
        in_channels (int): channels of the feature map f.
        n_levels (int): L (slides: 11).
        kernel_size (int): the IRB convolution's kernel (slides: 1; odd).
        out_channels (int): image channels (3, RGB).
    """

    def __init__(self, in_channels: int, n_levels: int = N_LEVELS, kernel_size: int = 1, out_channels: int = 3) -> None:
        super().__init__()
        if in_channels < 1 or n_levels < 2 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"LFRHead needs in_channels >= 1, n_levels >= 2 and an odd kernel_size, got "
                f"in_channels={in_channels}, n_levels={n_levels}, kernel_size={kernel_size}"
            )
        self.n_levels = n_levels
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2) for _ in range(n_levels)
        )

    def residual(self, f: torch.Tensor, level: int) -> torch.Tensor:
        """``R_l = IRB_l(f)``: (B, C, H, W) -> (B, 3, H, W)."""
        if not 0 <= level < self.n_levels:
            raise ValueError(f"level must be in [0, {self.n_levels - 1}], got {level!r}")
        return self.branches[level](f)

    def level(self, f: torch.Tensor, base: torch.Tensor, level: int) -> torch.Tensor:
        """``O_{r_l} = x_up + R_l``: the output of one level, (B, 3, H, W)."""
        return base + self.residual(f, level)

    def levels(self, f: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """Every level's output: (B, C, H, W), (B, 3, H, W) -> (B, L, 3, H, W)."""
        return torch.stack([self.level(f, base, l) for l in range(self.n_levels)], dim=1)

    def phases(self, f: torch.Tensor) -> torch.Tensor:
        """``P_i = R_{i-1} - R_i`` for i = 1 .. L-1: (B, C, H, W) -> (B, L-1, 3, H, W); index i-1 holds P_i."""
        r = [self.residual(f, l) for l in range(self.n_levels)]
        return torch.stack([phase(r[i - 1], r[i]) for i in range(1, self.n_levels)], dim=1)

    def forward(self, f: torch.Tensor, base: torch.Tensor, scale: Real) -> torch.Tensor:
        """``O_r = O_{r_i} + w_r P_i`` at the scale r in (1, 2].

        Args:
            f: features at the output size, (B, C, H, W).
            base: the global skip x_up, (B, 3, H, W).
            scale: r; at a level (w = 0) only that level's branch runs.

        Returns:
            (B, 3, H, W).

        Raises:
            ScaleOutOfRange: r outside (1, 2] (:func:`defian.lfr.levels.bracket`).
        """
        b = bracket(scale, self.n_levels)
        upper = self.level(f, base, b.index)  # O_{r_i}
        if b.weight == 0:
            return upper  # r is the level r_i itself
        lower = self.level(f, base, b.lower)  # O_{r_{i-1}}
        return interpolate(lower, upper, float(b.weight))
