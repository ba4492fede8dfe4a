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

from defian.nn.fem import Pointwise, hidden_width

__all__ = ["DAC", "check_moments_input", "mean_std"]


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel spatial mean and ``sqrt(unbiased var + eps)`` (Eqs. 20-21's statistics).

    Args:
        feat: (B, C, H, W) with H * W >= 2.
        eps: added to the variance (released code: 1e-5).

    Returns:
        mean, std: each (B, C, 1, 1), in ``feat``'s dtype. The variance is
        computed in two passes (mean first), as ``torch.var`` does.

    Raises:
        ValueError: ``feat`` is not 4-D, or has fewer than 2 pixels.
    """
    check_moments_input(feat)
    mean = feat.mean(dim=(2, 3), keepdim=True)
    dev = feat - mean
    var = (dev * dev).sum(dim=(2, 3), keepdim=True) / (feat.shape[2] * feat.shape[3] - 1)  # unbiased
    return mean, (var + eps).sqrt()


def check_moments_input(feat: torch.Tensor) -> None:
    """Raise a ValueError naming the shape unless ``feat`` is (B, C, H, W) with H * W >= 2."""
    if feat.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(feat.shape)}")
    if feat.shape[2] * feat.shape[3] < 2:
        raise ValueError(f"need at least 2 pixels for a variance, got {tuple(feat.shape)}")


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

    def moments(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial mean and std of ``feat`` per sample and channel (:func:`mean_std` with this cell's eps)."""
        return mean_std(feat, self.eps)

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
        mu_o, sd_o = self.moments(observed)
        normalised = (observed - mu_o) / sd_o  # Eq. (20): (B, 1|C, H, W)
        mu_r, sd_r = self.moments(referenced)
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
