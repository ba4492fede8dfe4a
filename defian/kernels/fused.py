"""The one place where a model's faster paths are chosen: :func:`accelerate`.

The modules of :mod:`defian.nn` are the paper's equations and nothing else
(``DeFiAM.forward`` reads ``x + f * self.attention(x, f)``, Eq. 6). For
training and evaluation, :func:`accelerate` turns every MSHF, RCAB, DAC,
channel attention and DeFiAM of a model into its fused twin below, a subclass
with the same parameters, buffers and state-dict keys whose forward computes
the same function by the fast paths of this package:

* :class:`FusedMSHF`: :func:`defian.kernels.mshf.mshf_fused` (no convolutions,
  analytic backward; C++ on CPU) instead of nine depthwise convolutions, when
  the taps are the standard stencils.
* :class:`FusedRCAB` and :class:`FusedDeFiAM`: the gated residual of Eqs. (7)
  and (6)/(22) in one pass each way (:mod:`defian.kernels.gate`), without
  materialising the attention map.
* :class:`FusedDAC`: the statistics of Eqs. (20)-(21) in one C++ pass
  (:mod:`defian.kernels.moments`).
* :class:`FusedChannelAttention`: the global average pool whose gradient keeps
  the input's layout (:mod:`defian.kernels.pooling`).

Each fused path steps aside by itself where its kernel does not apply (other
devices, dtypes or layouts, autocast, ``torch.compile``, ``DEFIAN_CPP=0``), so
an accelerated model runs everywhere. What is given up: a forward hook on a
DeFiAM's DAC does not fire in an accelerated model (the fused DeFiAM takes the
DAC's three factors, not its output), so analyses that hook into the branch
(:mod:`defian.report.figures`) use the reference model: ``accelerate(model,
False)`` turns the classes back. Both directions change no parameter and no
state-dict key; ``tests/kernels/test_fused.py`` holds every fused twin
equal to its reference in float64, forward and backward.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from defian.kernels import gate, moments
from defian.kernels.mshf import mshf_fused
from defian.kernels.pooling import spatial_mean
from defian.nn.dac import DAC
from defian.nn.defiam import DeFiAM
from defian.nn.fem import RCAB, ChannelAttention
from defian.nn.hessian import MSHF

__all__ = ["FUSED", "FusedChannelAttention", "FusedDAC", "FusedDeFiAM", "FusedMSHF", "FusedRCAB", "accelerate",
           "is_accelerated"]


class FusedMSHF(MSHF):
    """:class:`MSHF` by :func:`mshf_fused` when its taps are the standard stencils."""

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, K, H, W), as :meth:`MSHF.forward`."""
        if (x.dim() != 4 or x.shape[1] != self.channels or self.weight.requires_grad or self.bias.requires_grad
                or not self.has_standard_taps()):
            return super().forward(x)  # raises on a bad shape; convolutions for trainable or other taps
        bias = self.bias if bool(self.bias.any()) else None
        return mshf_fused(x, self.pairs, bias)


class FusedChannelAttention(ChannelAttention):
    """:class:`ChannelAttention` with the layout-preserving pool."""

    def logits(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, 1, 1), as :meth:`ChannelAttention.logits`."""
        return self.excite(self.relu(self.squeeze(spatial_mean(x))))


class FusedRCAB(RCAB):
    """:class:`RCAB` whose gated residual ``x + r * S(logits)`` is one pass each way."""

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W), Eq. (7)."""
        r = self.conv2(self.relu(self.conv1(x)))  # f_FE(x)
        return gate.channel_gated_residual(x, r, self.ca.logits(r))


class FusedDAC(DAC):
    """:class:`DAC` with the statistics of Eqs. (20)-(21) by the C++ kernel."""

    def moments(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """Spatial mean and std per sample and channel, as :meth:`DAC.moments`."""
        return moments.mean_std(feat, self.eps)

    def forward(self, observed: Tensor, referenced: Tensor) -> Tensor:
        """Eq. (22), computed in the referenced feature's layout (channels-last stays channels-last)."""
        normalised, sd_hat, mu_hat = self.terms(observed, referenced)
        if referenced.is_contiguous(memory_format=torch.channels_last) and not referenced.is_contiguous():
            # the logits meet F(x) in element-wise ops (Eq. 6); mixing layouts there is several times slower on CPU
            nhwc = torch.addcmul(mu_hat.permute(0, 2, 3, 1), normalised.permute(0, 2, 3, 1), sd_hat.permute(0, 2, 3, 1))
            return nhwc.permute(0, 3, 1, 2)  # (B, C, H, W) with NHWC strides
        return normalised * sd_hat + mu_hat


class FusedDeFiAM(DeFiAM):
    """:class:`DeFiAM` whose end, ``x + f * S(x_o~ * sigma^ + mu^)`` (Eqs. 6, 22), is one pass each way."""

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W), Eq. (6)."""
        if self.endec is None or self.dac is None:
            return super().forward(x)
        f = self.fem(x)
        v = self.endec(self.hessian_maps(f))  # (B, 1, H, W)
        return gate.gated_residual(x, f, *self.dac.terms(v, x))


#: reference class -> fused twin; :func:`accelerate` maps each way.
FUSED: dict[type[nn.Module], type[nn.Module]] = {
    MSHF: FusedMSHF, ChannelAttention: FusedChannelAttention, RCAB: FusedRCAB, DAC: FusedDAC, DeFiAM: FusedDeFiAM,
}
_REFERENCE = {fused: ref for ref, fused in FUSED.items()}


def accelerate(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Turn every block of ``model`` into its fused twin (or, ``enabled=False``, back); returns ``model``.

    Only the class of each matching module changes (``module.__class__``):
    parameters, buffers, hooks and state-dict keys stay as they are, and a
    module of a class that has no twin is left alone. Idempotent.
    """
    table = FUSED if enabled else _REFERENCE
    for module in model.modules():
        twin = table.get(type(module))
        if twin is not None:
            module.__class__ = twin
    return model


def is_accelerated(model: nn.Module) -> bool:
    """Whether any block of ``model`` is a fused twin."""
    return any(type(m) in _REFERENCE for m in model.modules())
