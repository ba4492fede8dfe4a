"""Part II of the book: image-specific convolutional kernel modulation (IKM) and U-HDN.

Huang et al., "Image-specific Convolutional Kernel Modulation for Single Image
Super-resolution" (arXiv:2111.08362, ``shared/paper/ikm-follow-up.md``), the
follow-up of DeFiAN by the same first author, and its released code
(YuanfeiHuang/IKM; later renamed CoMo), read for facts only.

Modules:
    inputs: :class:`IKMError` and the shape checks every modulated convolution applies.
    operator: Eqs. (9)-(13), the IKM operator (:class:`IKMConv2d`), its attention
        (paper and released CoMo variants), IsO (Algorithm 1) and GO (footnote 1).
    fast: IsO without grouped convolutions, one GEMM per kernel tap (Sec. IV-E's
        limitation removed); reference twin: ``iso_conv2d(method="grouped")``.
    attention: the four convolution types of Table III (vanilla, CA, SA, IKM).
    uhdn: Eqs. (16)-(19), dense units, U-HDB, U-HDN and its presets.
    backbones: Table III's RB, DB, RDB and U-HDB networks.
    complexity: #Params and #FLOPs as the paper counts them (Tables I-V).
    stencil: which 3 x 3 stencil an attention map makes of a kernel (Figs. 5-6).
    trainable: U-HDN presets registered with ``defian.nn.model.build_model`` (importing it
        registers them), so the book's trainer and evaluation build and train them.
    study: the reduced cpu-scale study (IKM vs vanilla / CA / SA, IsO vs GO), ``defian ikm-study``.
"""

from __future__ import annotations

from defian.ikm.attention import ATTENTIONS as ATTENTIONS
from defian.ikm.attention import ChannelAttention as ChannelAttention
from defian.ikm.attention import ConvLayer as ConvLayer
from defian.ikm.attention import SpatialAttention as SpatialAttention
from defian.ikm.backbones import BACKBONES as BACKBONES
from defian.ikm.backbones import build_backbone as build_backbone
from defian.ikm.complexity import PAPER as PAPER
from defian.ikm.complexity import Complexity as Complexity
from defian.ikm.complexity import count as count
from defian.ikm.fast import tap_conv2d as tap_conv2d
from defian.ikm.operator import METHODS as METHODS
from defian.ikm.operator import OPTIMIZATIONS as OPTIMIZATIONS
from defian.ikm.operator import VARIANTS as VARIANTS
from defian.ikm.operator import IKMConv2d as IKMConv2d
from defian.ikm.inputs import IKMError as IKMError
from defian.ikm.operator import go_conv2d as go_conv2d
from defian.ikm.operator import iso_conv2d as iso_conv2d
from defian.ikm.operator import kernel_attention as kernel_attention
from defian.ikm.operator import modulate as modulate
from defian.ikm.stencil import STENCILS as STENCILS
from defian.ikm.stencil import nearest_stencil as nearest_stencil
from defian.ikm.uhdn import PRESETS as PRESETS
from defian.ikm.uhdn import UHDB as UHDB
from defian.ikm.uhdn import UHDN as UHDN
from defian.ikm.uhdn import UHDNConfig as UHDNConfig
from defian.ikm.uhdn import build as build

__all__ = [
           "ATTENTIONS",
           "BACKBONES",
           "METHODS",
           "OPTIMIZATIONS",
           "PAPER",
           "PRESETS",
           "STENCILS",
           "UHDB",
           "UHDN",
           "VARIANTS",
           "ChannelAttention",
           "Complexity",
           "ConvLayer",
           "IKMConv2d",
           "IKMError",
           "SpatialAttention",
           "UHDNConfig",
           "build",
           "build_backbone",
           "count",
           "go_conv2d",
           "iso_conv2d",
           "kernel_attention",
           "modulate",
           "nearest_stencil",
           "tap_conv2d",
]
