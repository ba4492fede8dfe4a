"""Distribution alignment cell (DAC), Section III-D, Eqs. (20)-(22), Fig. 5.

The attention representation ``v`` (observed, B x 1 x H x W) is normalised per
sample over space (Eq. 20), replicated to C channels, and re-scaled / shifted by
the mean and standard deviation of the module input ``x`` (referenced,
B x C x H x W) after each went through a small MLP (Eq. 21):

    x_o~ = (v - mu_v) / sqrt(var_v + eps)                       (20)
    mu^  = FC(ReLU(FC(mu_x))),  sigma^ = FC(ReLU(FC(sigma_x)))  (21)
    x_o^ = x_o~ * sigma^ + mu^                                  (22)

Facts from the released code (read, not copied): the "FC" layers are 1x1
convolutions C -> C/16 -> C without bias; the statistics are per sample and
channel over H x W, with the *unbiased* variance, ``eps = 1e-5`` added to the
variance, and ``sigma = sqrt(var + eps)`` for both the observed and the
referenced feature (so ``sigma_x`` entering Eq. 21 also carries the eps). The
released code replicates ``v`` to C channels *before* normalising, which gives
the same result as normalising first.

Consequence (Fig. 14, checked in tests and notebook 03): per sample and
channel, the output has spatial mean exactly ``mu^_c`` and unbiased standard
deviation ``|sigma^_c| * sqrt(var_v / (var_v + eps))``, i.e. ``|sigma^_c|`` up
to the eps; and its spatial pattern is that of ``v`` (correlation +1 or -1).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from defian import cppkernels
from defian.fem import Pointwise, hidden_width
from defian.pooling import spatial_mean

__all__ = ["DAC", "mean_std"]


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel spatial mean and ``sqrt(unbiased var + eps)``.

    Args:
        feat: (B, C, H, W) with H * W >= 2.
        eps: added to the variance (released code: 1e-5).

    Returns:
        mean, std: each (B, C, 1, 1).

    On CPU a channels-last float32/float64 ``feat`` goes to the C++ kernel
    (``defian/csrc/gate_cpu.cpp``: two passes forward with double accumulators,
    one backward); otherwise, and as its reference, the PyTorch expression below.
    """
    if feat.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(feat.shape)}")
    if feat.shape[2] * feat.shape[3] < 2:
        raise ValueError(f"need at least 2 pixels for a variance, got {tuple(feat.shape)}")
    if cppkernels.takes(feat) and feat.is_contiguous(memory_format=torch.channels_last):
        kernel = cppkernels.kernel("gate_cpu")
        if kernel is not None:
            return _FusedMeanStd.apply(feat, eps, kernel)
    mean = spatial_mean(feat)
    dev = feat - mean  # two passes, as torch.var; written out because torch.var is ~10x slower on CPU here
    var = (dev * dev).sum(dim=(2, 3), keepdim=True) / (feat.shape[2] * feat.shape[3] - 1)  # unbiased
    return mean, (var + eps).sqrt()


class _FusedMeanStd(torch.autograd.Function):
    """:func:`mean_std` by the C++ kernel; see its docstring."""

    @staticmethod
    def forward(ctx, feat: torch.Tensor, eps: float, kernel: object) -> tuple[torch.Tensor, torch.Tensor]:
        b, c = feat.shape[:2]
        mean, std = kernel.moments_forward(cppkernels.rows(feat), eps)
        ctx.kernel = kernel
        ctx.save_for_backward(feat, mean, std)
        return mean.view(b, c, 1, 1), std.view(b, c, 1, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, gmean: torch.Tensor, gstd: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        feat, mean, std = ctx.saved_tensors
        b, c, h, w = feat.shape
        gmean, gstd = (t.reshape(b, c).contiguous() for t in (gmean, gstd))
        gx = ctx.kernel.moments_backward(cppkernels.rows(feat), mean, std, gmean, gstd)
        return cppkernels.from_rows(gx, h, w), None, None


def _mlp(channels: int, reduction: int) -> nn.Sequential:
    hidden = hidden_width(channels, reduction)
    return nn.Sequential(
        Pointwise(channels, hidden, bias=False),  # released code: 1x1 convolutions, no bias
        nn.ReLU(inplace=True),
        Pointwise(hidden, channels, bias=False),
    )


class DAC(nn.Module):
    """Distribution alignment cell.

    Args:
        channels (int): C, channels of the referenced feature x.
        reduction (int): MLP bottleneck ratio (released code: 16).
        eps (float): variance epsilon (released code: 1e-5).
    """

    def __init__(self, channels: int, reduction: int = 16, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels, self.eps = channels, eps
        self.mean_mlp = _mlp(channels, reduction)
        self.std_mlp = _mlp(channels, reduction)

    def terms(self, observed: torch.Tensor, referenced: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The three factors of Eq. (22), before they are combined.

        Args:
            observed: v, (B, 1, H, W) (or (B, C, H, W): normalised per channel).
            referenced: x, (B, C, H, W).

        Returns:
            ``normalised`` x_o~ (Eq. 20), shaped as ``observed``; ``sd_hat`` sigma^
            and ``mu_hat`` mu^ (Eq. 21), each (B, C, 1, 1).
        """
        b, c, h, w = referenced.shape
        if c != self.channels:
            raise ValueError(f"DAC built for {self.channels} channels, referenced has {c}")
        if observed.shape[0] != b or observed.shape[2:] != referenced.shape[2:] or observed.shape[1] not in (1, c):
            raise ValueError(f"observed {tuple(observed.shape)} does not match referenced {tuple(referenced.shape)}")
        mu_o, sd_o = mean_std(observed, self.eps)
        normalised = (observed - mu_o) / sd_o  # Eq. (20): (B, 1|C, H, W)
        mu_r, sd_r = mean_std(referenced, self.eps)
        return normalised, self.std_mlp(sd_r), self.mean_mlp(mu_r)  # Eq. (21): (B, C, 1, 1) each

    def forward(self, observed: torch.Tensor, referenced: torch.Tensor) -> torch.Tensor:
        """Implements Eqs. (20)-(22).

        Args:
            observed: v, (B, 1, H, W) (or (B, C, H, W): normalised per channel).
            referenced: x, (B, C, H, W).

        Returns:
            The aligned attention logits, (B, C, H, W).
        """
        normalised, sd_hat, mu_hat = self.terms(observed, referenced)
        if referenced.is_contiguous(memory_format=torch.channels_last) and not referenced.is_contiguous():
            # Eq. (22) computed in x's NHWC layout: the gate a = S(out) meets F(x) in element-wise ops
            # (Eq. 6), and mixing layouts there makes each of them several times slower on CPU
            nhwc = torch.addcmul(mu_hat.permute(0, 2, 3, 1), normalised.permute(0, 2, 3, 1), sd_hat.permute(0, 2, 3, 1))
            return nhwc.permute(0, 3, 1, 2)  # (B, C, H, W) with NHWC strides
        return normalised * sd_hat + mu_hat  # Eq. (22): broadcast -> (B, C, H, W)

    @torch.no_grad()
    def statistics(self, observed: torch.Tensor, referenced: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output statistics Fig. 14 describes, with their predicted values.

        Args:
            observed: v, (B, 1, H, W).
            referenced: x, (B, C, H, W).

        Returns:
            (B, C) tensors: ``mean`` and ``std`` (unbiased) of the output over
            space; ``mu_hat`` and ``sigma_hat`` (Eq. 21); ``std_predicted`` =
            ``|sigma_hat| sqrt(var_v / (var_v + eps))``; ``corr_with_v``, the
            spatial correlation of each output channel with v (+1 or -1 up to
            rounding, the sign of ``sigma_hat``); ``x_mean`` and ``x_std``, the
            referenced feature's own statistics.
        """
        out = self(observed, referenced)
        mu_r, sd_r = mean_std(referenced, self.eps)
        var_v = observed.var(dim=(2, 3), unbiased=True, keepdim=True)
        sd_hat = self.std_mlp(sd_r)
        oc = (out - out.mean(dim=(2, 3), keepdim=True)).flatten(2)  # (B, C, HW)
        vc = (observed - observed.mean(dim=(2, 3), keepdim=True)).flatten(2)  # (B, 1|C, HW)
        corr = (oc * vc).sum(-1) / (oc.norm(dim=-1) * vc.norm(dim=-1)).clamp_min(torch.finfo(out.dtype).tiny)
        flat = lambda t: t.flatten(1)  # noqa: E731 (B, C, 1, 1) -> (B, C)
        return {
            "mean": flat(out.mean(dim=(2, 3), keepdim=True)),
            "std": flat(out.std(dim=(2, 3), keepdim=True)),
            "mu_hat": flat(self.mean_mlp(mu_r)),
            "sigma_hat": flat(sd_hat),
            "std_predicted": flat(sd_hat.abs() * (var_v / (var_v + self.eps)).sqrt()),
            "corr_with_v": corr,
            "x_mean": flat(mu_r),
            "x_std": flat(referenced.std(dim=(2, 3), keepdim=True)),
        }
