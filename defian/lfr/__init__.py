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
    data: the training batches: a random level per update (ASDN's slides), uint8 LR by MATLAB bicubic at 1 / r_l.
    train: a training run with the fixed-scale runs' records, checkpoints, resume and budget.
    evaluate: PSNR/SSIM at any scale (the crop rule), for LFR, bicubic and fixed-scale models.
    figures: levels, phases and attention maps across scales, for the chapter.
    study: the reduced study's jobs and ``python -m defian.lfr.study --run/--publish``.
    report: what the study's records show (LFR against fixed, attention, the slides' Table 3).
"""

from __future__ import annotations

from defian.lfr.asdn import ASDNTrunk as ASDNTrunk
from defian.lfr.data import LevelPatches as LevelPatches
from defian.lfr.evaluate import crop_to_scale as crop_to_scale
from defian.lfr.evaluate import evaluate_scales as evaluate_scales
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
from defian.lfr.train import AtScale as AtScale
from defian.lfr.train import LFRTrainConfig as LFRTrainConfig
from defian.lfr.train import load_lfr_model as load_lfr_model

__all__ = [
    "N_LEVELS",
    "PRESETS",
    "RULES",
    "ASDNTrunk",
    "AtScale",
    "Bracket",
    "Deployment",
    "LFRConfig",
    "LFRHead",
    "LFRModel",
    "LFRTrainConfig",
    "LevelPatches",
    "ScaleOutOfRange",
    "bicubic",
    "bracket",
    "build_lfr_model",
    "check_deployment",
    "crop_to_scale",
    "deploy",
    "evaluate_scales",
    "interpolate",
    "level_scales",
    "load_lfr_model",
]
