"""What an LFR model computes, for the chapter's pictures: levels, phases, and attention across scales.

* :func:`level_stack`: at one step of ratio r, every level's output ``O_{r_l}`` and
  every phase ``P_i = O_{r_{i-1}} - O_{r_i}`` (slides, "Laplacian Frequency
  Representation", Fig. 2), on one feature map, with the interpolated output
  ``O_r = O_{r_i} + w_r P_i`` and its bracket.
* :func:`scale_inputs`: one HR image and its LR at several scales, cropped by
  :func:`defian.lfr.evaluate.crop_to_scale`'s rule.
* :func:`attention_maps`: the mean attention ``a-bar`` of one DeFiAM of the trunk
  (Eq. 6; :func:`defian.report.figures.capture`) when the model upscales each of those
  LR images; with the pre-upsampled input, the map at scale s has the size of the
  (last step's) output. :func:`map_agreement` compares the maps on one grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import torch

from defian.data.imresize import imresize, imresize_float
from defian.lfr.evaluate import crop_to_scale, scale_fraction
from defian.lfr.levels import bracket, interpolate
from defian.lfr.model import LFRModel
from defian.lfr.resample import output_shape
from defian.lfr.train import AtScale
from defian.report import figures

__all__ = ["attention_maps", "level_stack", "map_agreement", "map_spread", "phase_energy", "scale_inputs"]


@torch.no_grad()
def level_stack(model: LFRModel, lr: torch.Tensor, ratio: Real) -> dict[str, Any]:
    """One step at ``ratio`` in (1, 2] on ``lr`` (1, 3, h, w), every level and phase computed.

    Returns:
        ``levels`` (L, 3, H, W) the ``O_{r_l}``; ``phases`` (L-1, 3, H, W), index i-1 holding
        ``P_i``; ``x_up`` (3, H, W) the bicubic input; ``output`` (3, H, W) = ``O_r`` by the
        interpolation rule; ``bracket`` (:class:`defian.lfr.levels.Bracket`). Unclamped.
    """
    was = model.training
    model.eval()
    try:
        size = output_shape(tuple(lr.shape[-2:]), float(ratio))
        f, x_up = model.features(lr, ratio, size)  # (1, F, H, W), (1, 3, H, W)
        levels, phases = model.head.levels(f, x_up)[0], model.head.phases(f)[0]
    finally:
        model.train(was)
    b = bracket(ratio, model.config.n_levels)
    out = levels[b.index] if b.weight == 0 else interpolate(levels[b.lower], levels[b.index], float(b.weight))
    return {"levels": levels, "phases": phases, "x_up": x_up[0], "output": out, "bracket": b}


def phase_energy(phases: torch.Tensor) -> pd.DataFrame:
    """Per phase P_i: the mean |P_i| over pixels and channels, in grey levels (x 255).

    Args:
        phases: (L-1, 3, H, W) from :func:`level_stack`.
    """
    mean_abs = phases.abs().mean(dim=(1, 2, 3)).double().numpy() * 255.0
    return pd.DataFrame({"phase": np.arange(1, len(mean_abs) + 1), "mean_abs_255": mean_abs})


def scale_inputs(hr: np.ndarray, scales: Sequence[Real]) -> dict[float, tuple[torch.Tensor, np.ndarray]]:
    """``{s: (LR (1, 3, h, w) in [0, 1], HR crop uint8)}``: HR cropped by the evaluation's rule, LR by MATLAB bicubic."""
    out = {}
    for s in scales:
        crop = crop_to_scale(hr, s)
        lr = imresize(crop, float(1 / scale_fraction(s)))
        rgb = lr if lr.ndim == 3 else np.repeat(lr[..., None], 3, axis=2)
        out[float(s)] = (torch.from_numpy(rgb.transpose(2, 0, 1).copy()).float()[None] / 255.0, crop)
    return out


def attention_maps(model: LFRModel, inputs: dict[float, tuple[torch.Tensor, np.ndarray]],
                   index: int = -1) -> dict[float, np.ndarray]:
    """``{s: a-bar (H_s, W_s)}``: the channel-mean attention of DeFiAM ``index`` at each scale.

    For s > 2 the map is the last step's (the hooks keep the last call).

    Raises:
        ValueError: the model's trunk has no DeFiAMs (the ASDN trunk).
    """
    if getattr(model.trunk, "body", None) is None:
        raise ValueError(f"attention_maps needs a DeFiAM trunk, got {type(model.trunk).__name__}")
    i = index % len(model.trunk.body)
    maps = {}
    for s, (lr, _) in inputs.items():
        rec = figures.capture(AtScale(model, s), lr, i)
        maps[s] = rec["a"][0].mean(dim=0).double().numpy()  # (H_s, W_s)
    return maps


def map_agreement(maps: dict[float, np.ndarray], margin: int = figures.BORDER) -> pd.DataFrame:
    """Pearson correlation of every pair of maps after MATLAB-bicubic resizing to the largest map's size.

    The border band (``margin`` pixels of the common grid) is left out: zero padding
    shifts it (:data:`defian.report.figures.BORDER`). Returns columns ``scale_a, scale_b, r``.
    """
    target = max((m.shape for m in maps.values()), key=lambda s: s[0] * s[1])
    grid = {s: figures.interior(imresize_float(m, 1.0, out_shape=target), margin) for s, m in maps.items()}
    keys = sorted(grid)
    rows = [{"scale_a": a, "scale_b": b, "r": _pearson(grid[a], grid[b])} for k, a in enumerate(keys)
            for b in keys[k + 1:]]
    return pd.DataFrame(rows, columns=["scale_a", "scale_b", "r"])


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two maps; NaN when either is constant (a gate that selects nothing)."""
    if min(a.std() / max(abs(a.mean()), 1.0), b.std() / max(abs(b.mean()), 1.0)) < 1e-9:  # resampling noise only
        return float("nan")
    da, db = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(da @ db / np.sqrt((da @ da) * (db @ db)))


def map_spread(maps: dict[float, np.ndarray], margin: int = figures.BORDER) -> pd.DataFrame:
    """Per scale: the interior mean of a-bar and its sd relative to the mean (0: a constant gate)."""
    rows = []
    for s, m in sorted(maps.items()):
        x = figures.interior(m, margin)
        rows.append({"scale": s, "mean": float(x.mean()), "rel_sd": float(x.std() / x.mean()) if x.mean() else float("nan"),
                     "h": m.shape[0], "w": m.shape[1]})
    return pd.DataFrame(rows, columns=["scale", "mean", "rel_sd", "h", "w"])
