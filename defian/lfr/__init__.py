"""DeFiAN at any scale: ASDN's Laplacian frequency representation (Part III of the book).

ASDN (Shen, Wang and Zhang, arXiv:2010.02414; ``shared/paper/asdn-and-related-slides.md``)
reconstructs any scale r in (1, 2] by interpolating two of L = 11 trained
levels, ``O_r = O_{r_i} + w_r P_i``, and a larger R by recursion in
``ceil(log2 R)`` steps, the largest ratio first. This package puts that head on
DeFiAN's trunk (with and without the attention branch) and on ASDN's own.

Modules:
    levels: the exact rules: level scales, bracket (i, w_r), phases, interpolation, deployments.
    resample: MATLAB bicubic on tensors (the pre-upsampled input, the post-upsampled features).
    head: the L image reconstruction branches and the phase interpolation.
    asdn: ASDN's feature mapping branch (dense attention blocks of intra dense blocks).
    model: trunk + head + recursive deployment, presets, ``forward(lr, scale)``.
    training: one update with a random level per batch.
"""

from __future__ import annotations

from defian.lfr.asdn import ASDNTrunk as ASDNTrunk
from defian.lfr.head import LFRHead as LFRHead
from defian.lfr.levels import N_LEVELS as N_LEVELS
from defian.lfr.levels import RULES as RULES
from defian.lfr.levels import Bracket as Bracket
from defian.lfr.levels import Deployment as Deployment
from defian.lfr.levels import ScaleOutOfRange as ScaleOutOfRange
from defian.lfr.levels import bracket as bracket
from defian.lfr.levels import check_deployment as check_deployment
from defian.lfr.levels import deploy as deploy
from defian.lfr.levels import interpolate as interpolate
from defian.lfr.levels import level_scales as level_scales
from defian.lfr.model import PRESETS as PRESETS
from defian.lfr.model import LFRConfig as LFRConfig
from defian.lfr.model import LFRModel as LFRModel
from defian.lfr.model import build_lfr_model as build_lfr_model
from defian.lfr.resample import bicubic as bicubic
from defian.lfr.training import train_step as train_step

__all__ = [
    "N_LEVELS",
    "PRESETS",
    "RULES",
    "ASDNTrunk",
    "Bracket",
    "Deployment",
    "LFRConfig",
    "LFRHead",
    "LFRModel",
    "ScaleOutOfRange",
    "bicubic",
    "bracket",
    "build_lfr_model",
    "check_deployment",
    "deploy",
    "interpolate",
    "level_scales",
    "train_step",
]
