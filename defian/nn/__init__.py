"""The paper's mathematics as PyTorch modules (Sections III-A to III-D, Eqs. 6-22).

Reference implementations only: every forward reads as its equation, and no
module here chooses a faster path. The optional accelerators live in
:mod:`defian.kernels`, which swaps in fused forwards behind one facade
(:func:`defian.kernels.accelerate`).

Modules:
    hessian: Eqs. (8)-(18), the largest Hessian eigenvalue and :class:`MSHF`.
    fem: Eq. (7), residual channel attention blocks.
    diendec: Sec. III-C, the encoder-decoders of Table V.
    dac: Eqs. (20)-(22), the distribution alignment cell.
    defiam: Eq. (6), the detail-fidelity attention module and its ablation switches.
    model: Fig. 2, DeFiAN and its presets.
    complexity: #Params and #FLOPs of Tables I-V.
    released: the authors' released checkpoint format.
"""

from __future__ import annotations

from defian.nn.dac import DAC as DAC
from defian.nn.defiam import AttentionSwitches as AttentionSwitches
from defian.nn.defiam import DeFiAM as DeFiAM
from defian.nn.diendec import EncoderDecoder as EncoderDecoder
from defian.nn.fem import FEM as FEM
from defian.nn.fem import RCAB as RCAB
from defian.nn.hessian import MSHF as MSHF
from defian.nn.model import PRESETS as PRESETS
from defian.nn.model import DeFiAN as DeFiAN
from defian.nn.model import ModelConfig as ModelConfig
from defian.nn.model import build_model as build_model

__all__ = ["DAC", "AttentionSwitches", "DeFiAM", "EncoderDecoder", "FEM", "RCAB", "MSHF", "PRESETS", "DeFiAN",
           "ModelConfig", "build_model"]
