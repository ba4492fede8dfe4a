"""U-HDN as a model of the book's trainer: presets registered with :func:`defian.nn.model.register_model`.

Importing this module makes ``build_model("uhdn_cpu", 2, attention="ikm")`` (and so
:func:`defian.train.loop.train`, the validation and :func:`defian.report.evaluate.evaluate_run`)
build a U-HDN: the trainer, its run records, checkpoints and resume are the fixed-scale
ones, unchanged. The switches are the fields of :class:`defian.ikm.uhdn.UHDNConfig`
(``attention``, ``optimization`` for IsO / GO, ``method``, sizes ...), checked by name
and value when the model is built (:func:`model_config`; errors are
:class:`defian.ikm.operator.IKMError`, a ValueError).

The network sees mean-subtracted RGB (IKM paper, Sec. IV-A) and the mean is added back
to its output, as DeFiAN's ``normalisation="mean_rgb"`` does, with the same mean
(:data:`defian.data.statistics.DIV2K_MEAN`), so the trainer's [0, 1] patches go in as
they are. Presets (:data:`PRESETS`):

    ``uhdn``      U-HDN of the paper (B = 4 U-HDBs of depths 6, 5, 4, 4, 5, 6, C0 = 64, G = 12).
    ``uhdnl``     U-HDNL (:data:`defian.ikm.uhdn.PRESETS`).
    ``uhdn_cpu``  the reduced study's backbone (:mod:`defian.ikm.study`): one U-HDB of four
                  hourglass units (depths 6, 5, 5, 6), C0 = 32, G = 12,
                  sized so that an IKM (IsO) update at batch 16 of 24 x 24 patches costs
                  about what a DeFiAN_S update of the ``cpu`` schedule (N = 3, M = 5, C = 32)
                  costs on one thread (measured: ``results/bench/ikm_study_cost.csv``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from defian.data.statistics import DIV2K_MEAN
from defian.ikm.attention import ATTENTIONS
from defian.ikm.operator import METHODS, OPTIMIZATIONS, VARIANTS, IKMError
from defian.ikm.uhdn import PRESETS as UHDN_PRESETS
from defian.ikm.uhdn import UHDN, UHDNConfig
from defian.nn.model import configure, register_model

__all__ = ["PRESETS", "MeanShiftedUHDN", "build", "model_config"]

#: Presets registered with the trainer: name -> UHDNConfig fields.
PRESETS: dict[str, dict[str, Any]] = {
    "uhdn": dict(UHDN_PRESETS["U-HDN"]),
    "uhdnl": dict(UHDN_PRESETS["U-HDNL"]),
    "uhdn_cpu": {"n_blocks": 1, "depths": (6, 5, 5, 6), "channels": 32, "growth": 12},
}

_CHOICES = {"attention": ATTENTIONS, "optimization": OPTIMIZATIONS, "method": METHODS, "variant": VARIANTS}


def model_config(name: str, **switches: Any) -> UHDNConfig:
    """The :class:`UHDNConfig` of preset ``name`` with ``switches``, every name and choice checked.

    Raises:
        IKMError: an unknown preset, an unknown switch, or a value not among its choices
            (e.g. ``attention="cbam"``), each message naming it and the valid ones.
    """
    for key, choices in _CHOICES.items():
        if key in switches and switches[key] not in choices:
            raise IKMError(f"{key}={switches[key]!r} is not one of {choices}")
    cfg = configure(UHDNConfig, PRESETS, name, error=IKMError, kind="U-HDN training preset", **switches)
    return dataclasses.replace(cfg, depths=tuple(int(d) for d in cfg.depths))  # JSON lists -> tuple


class MeanShiftedUHDN(UHDN):
    """U-HDN on [0, 1] RGB: the mean RGB subtracted before the network and added back after.

    Args:
        scale: upscaling factor s.
        cfg: the architecture.
        rgb_mean: the mean subtracted (DeFiAN's default, DIV2K's mean RGB).
    """

    def __init__(self, scale: int, cfg: UHDNConfig, rgb_mean: tuple[float, float, float] = DIV2K_MEAN) -> None:
        super().__init__(scale, cfg)
        self.register_buffer("rgb_mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) RGB in [0, 1] -> (B, 3, s h, s w), same range, not clamped."""
        return super().forward(x - self.rgb_mean) + self.rgb_mean


def build(name: str, scale: int, **switches: Any) -> MeanShiftedUHDN:
    """Preset ``name`` at ``scale`` with ``switches`` (any :class:`UHDNConfig` field)."""
    return MeanShiftedUHDN(scale, model_config(name, **switches))


for _name in PRESETS:
    register_model(_name, lambda scale, _n=_name, **switches: build(_n, scale, **switches))
