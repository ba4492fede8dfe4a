"""An arbitrary-scale SR model: a feature trunk, the LFR head, recursive deployment.

    lr (B, 3, h, w) in [0, 1], scale R in (1, max_scale]
      -> Deployment: ratios r_1 .. r_N (:func:`defian.lfr.levels.deploy`, the slides' rule)
      -> for each step k, x of size n -> size n_k = ceil(r_k n) (MATLAB's rule):
           x_up = bicubic(x, n_k, r_k)                       (B, 3, n_k) MATLAB imresize
           pre  (ASDN): f = trunk(x_up - mean)               (B, F, n_k)
           post:        f = bicubic(trunk(x - mean), n_k, r_k)
           x = LFRHead(f, x_up, r_k) = O_{r_i} + w P_i       (B, 3, n_k)
      -> (B, 3, ceil(R h), ceil(R w)), or ``out_size`` for the last step

Trunks (:data:`TRUNKS`): ``"defiam"``, DeFiAN's body without its upsampler
(conv3x3 3 -> C, N DeFiAMs (Eq. 6), conv3x3 C -> C plus the head's output; Fig.
2), with or without the attention branch (``attention=False`` is the RCAN
trunk, Fig. 10 (a)); ``"asdn"``, ASDN's DAB/IDB branch (:mod:`defian.lfr.asdn`).

"pre" is ASDN's design (slides, "Testing": LR images "are upsampled and
forwarded into the ASDN"); "post" runs the trunk at LR, ``r^2`` times cheaper,
and resamples its features with the same bicubic. Both add x_up as the global
skip. With the slides' 1x1 image branches, "post" is the bicubic upsampling of an
LR image, ``bicubic(x + IRB(trunk(x)))`` (a 1x1 convolution commutes with the
resampling; ``tests/lfr/test_lfr_study.py``): it adds no detail finer than the
bicubic kernel's. Sizes: with the slides' rule (ratios 2, ..., 2, R / 2^(N-1)) the per-step
sizes compose to ``ceil(R n)`` exactly; with other rules they may not, so the
last step always resizes to ``ceil(R n)`` (or ``out_size``), its pixel mapping
still using ``r_N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

import torch
from torch import nn

from defian.lfr.asdn import ASDNTrunk
from defian.lfr.head import LFRHead
from defian.lfr.levels import (
    N_LEVELS,
    RULES,
    Deployment,
    ScaleOutOfRange,
    deploy,
    level_scale,
)
from defian.lfr.resample import bicubic, output_shape
from defian.nn.defiam import AttentionSwitches, DeFiAM
from defian.nn.model import configure

__all__ = [
    "PRESETS", "TRUNKS", "UPSAMPLING", "DeFiAMTrunk", "LFRConfig", "LFRModel", "build_lfr_model", "make_lfr_config",
]

TRUNKS = ("defiam", "asdn")
UPSAMPLING = ("pre", "post")
_OFF = AttentionSwitches(mshf=False, diendec=False, dac=False)


@dataclass(frozen=True)
class LFRConfig:
    """Every setting of an LFR model; the fields are :func:`build_lfr_model`'s switches."""

    trunk: str = "defiam"  # one of TRUNKS
    attention: bool = True  # defiam trunk: the DeFiAM attention branch (False: RCAN's FEM only, Fig. 10 (a))
    n_modules: int = 5  # DeFiAMs N (DeFiAN_S, paper IV-B1) | DABs (ASDN slides: 16)
    n_blocks: int = 10  # RCABs per FEM M (DeFiAN_S) | convolutions per IDB (ASDN slides: 8)
    channels: int = 32  # C (DeFiAN_S) | ASDN slides: 64
    growth: int = 32  # asdn trunk: IDB convolution width (slides: 64)
    reduction: int = 16  # channel-attention bottleneck (RCAN; DeFiAN released code)
    n_levels: int = N_LEVELS  # L (slides: 11)
    branch_kernel: int = 1  # IRB convolution kernel (slides: "1x1 kernel and 3 filters")
    upsampling: str = "pre"  # one of UPSAMPLING; "pre" is ASDN's
    max_scale: float = 4.0  # the largest R forward accepts (the range (1, 4])
    deployment: str = "largest_first"  # one of levels.RULES (the slides' rule)
    rgb_mean: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)  # DIV2K mean RGB, as DeFiAN's mean_rgb

    def __post_init__(self) -> None:
        if self.trunk not in TRUNKS:
            raise ValueError(f"LFRConfig.trunk={self.trunk!r} is not one of {TRUNKS}")
        if self.upsampling not in UPSAMPLING:
            raise ValueError(f"LFRConfig.upsampling={self.upsampling!r} is not one of {UPSAMPLING}")
        if self.deployment not in RULES:
            raise ValueError(f"LFRConfig.deployment={self.deployment!r} is not one of {RULES}")
        for name in ("n_modules", "n_blocks", "channels", "growth", "reduction"):
            if getattr(self, name) < 1:
                raise ValueError(f"LFRConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.max_scale > 1:
            raise ValueError(f"LFRConfig.max_scale must be > 1, got {self.max_scale!r}")
        object.__setattr__(self, "rgb_mean", tuple(float(m) for m in self.rgb_mean))


#: Named presets: DeFiAN_S / DeFiAN_L trunks (paper IV-B1) with and without attention;
#: ASDN as the slides give it, and the reduced "Project architecture" of the slides for CPU.
PRESETS: dict[str, dict[str, Any]] = {
    "defian_lfr_s": {"trunk": "defiam", "n_modules": 5, "n_blocks": 10, "channels": 32},
    "rcan_lfr_s": {"trunk": "defiam", "n_modules": 5, "n_blocks": 10, "channels": 32, "attention": False},
    "defian_lfr_l": {"trunk": "defiam", "n_modules": 10, "n_blocks": 20, "channels": 64},
    "asdn": {"trunk": "asdn", "n_modules": 16, "n_blocks": 8, "channels": 64, "growth": 64},
    "asdn_s": {"trunk": "asdn", "n_modules": 8, "n_blocks": 4, "channels": 32, "growth": 32},  # slides' project table
}


class DeFiAMTrunk(nn.Module):
    """DeFiAN's body (Fig. 2) without the upsampler: conv3x3, N DeFiAMs, conv3x3 + skip.

    Args:
        channels (int): C.
        n_modules (int): N.
        n_blocks (int): M.
        switches (AttentionSwitches): the attention branch (all off: RCAN).
        reduction (int): channel attention / DAC bottleneck.
    """

    def __init__(
        self, channels: int, n_modules: int, n_blocks: int, switches: AttentionSwitches, reduction: int
    ) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[DeFiAM(channels, n_blocks, switches, reduction) for _ in range(n_modules)])
        self.tail = nn.Conv2d(channels, channels, 3, padding=1)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H, W)."""
        h = self.head(x)
        return self.tail(self.body(h)) + h  # global feature skip, as DeFiAN's


class LFRModel(nn.Module):
    """Trunk + LFR head, deployed recursively for R > 2.

    Args:
        config (LFRConfig): architecture and deployment.
    """

    def __init__(self, config: LFRConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.trunk == "defiam":
            switches = AttentionSwitches() if c.attention else _OFF
            self.trunk: nn.Module = DeFiAMTrunk(c.channels, c.n_modules, c.n_blocks, switches, c.reduction)
        else:
            self.trunk = ASDNTrunk(c.channels, c.n_modules, c.n_blocks, c.growth, c.reduction)
        self.head = LFRHead(self.trunk.out_channels, c.n_levels, c.branch_kernel)
        self.register_buffer("rgb_mean", torch.tensor(c.rgb_mean).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor, ratio: Real, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f, x_up)`` of one step: features and the bicubic input, both at ``size``.

        Args:
            x: (B, 3, h, w).
            ratio: the step's scale (pixel mapping of the bicubic resize).
            size: (H, W).
        """
        r = float(ratio)
        x_up = bicubic(x, size, r)  # (B, 3, H, W)
        if self.config.upsampling == "pre":
            return self.trunk(x_up - self.rgb_mean), x_up  # (B, F, H, W)
        return bicubic(self.trunk(x - self.rgb_mean), size, r), x_up  # trunk at LR, then resampled

    def step(self, x: torch.Tensor, ratio: Real, size: tuple[int, int] | None = None) -> torch.Tensor:
        """One LFR step at a ratio in (1, 2]: (B, 3, h, w) -> (B, 3, H, W), default ``ceil(r h), ceil(r w)``."""
        size = output_shape(tuple(x.shape[-2:]), float(ratio)) if size is None else size
        f, x_up = self.features(x, ratio, size)
        return self.head(f, x_up, ratio)

    def level_output(self, lr: torch.Tensor, level: int, size: tuple[int, int]) -> torch.Tensor:
        """``O_{r_l}`` for an LR image made at the level's scale r_l (training): (B, 3, h, w) -> (B, 3, H, W)."""
        f, x_up = self.features(lr, level_scale(level, self.config.n_levels), size)
        return self.head.level(f, x_up, level)

    def plan(self, scale: Real) -> Deployment:
        """The deployment of R under the config's rule; R outside (1, max_scale] raises ScaleOutOfRange."""
        if not 1 < scale <= self.config.max_scale:
            raise ScaleOutOfRange(f"scale {scale!r} is outside this model's range (1, {self.config.max_scale}]")
        return deploy(scale, self.config.deployment)

    def forward(
        self, lr: torch.Tensor, scale: Real, out_size: tuple[int, int] | None = None,
        deployment: Deployment | None = None,
    ) -> torch.Tensor:
        """Upscale by R: (B, 3, h, w) in [0, 1] -> (B, 3, ceil(R h), ceil(R w)), not clamped.

        Args:
            lr: (B, 3, h, w).
            scale: R in (1, max_scale].
            out_size: the final (H, W); default ``ceil(R h), ceil(R w)``.
            deployment: ratios to use instead of the config's rule
                (:func:`defian.lfr.levels.deploy` / ``check_deployment``); its scale must be R.

        Raises:
            ValueError: lr not (B, 3, h, w); a deployment for another scale.
            ScaleOutOfRange: R outside (1, max_scale].
        """
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise ValueError(f"LFRModel expects (B, 3, h, w) RGB input, got shape {tuple(lr.shape)}")
        plan = self.plan(scale)
        if deployment is not None:
            if deployment.scale != scale:
                raise ValueError(f"deployment is for scale {deployment.scale!r}, not {scale!r}")
            plan = deployment
        final = output_shape(tuple(lr.shape[-2:]), float(scale)) if out_size is None else tuple(out_size)
        x = lr
        for k, ratio in enumerate(plan.ratios):
            last = k == plan.n_steps - 1
            x = self.step(x, ratio, final if last else None)  # (B, 3, n_k)
        return x


def make_lfr_config(name: str, **switches: Any) -> LFRConfig:
    """The preset ``name`` with ``switches`` overriding any :class:`LFRConfig` field."""
    return configure(LFRConfig, PRESETS, name, **switches)


def build_lfr_model(name: str, **switches: Any) -> LFRModel:
    """Build a named preset, e.g. ``build_lfr_model("defian_lfr_s", n_modules=1, n_blocks=1, channels=8)``."""
    return LFRModel(make_lfr_config(name, **switches))
