"""IMDN (Hui, Gao, Yang, Wang, ACM MM 2019).

"Lightweight Image Super-Resolution with Information Multi-distillation Network".

On RGB in ``[0, 1]`` (Sec. 3, Fig. 2): a 3x3 convolution to 64 channels,
six *information multi-distillation blocks* (IMDB), a 1x1 fusion of their
concatenated outputs (+LeakyReLU 0.05), a 3x3 convolution plus a skip from
the first features, and a sub-pixel upsampler (3x3 convolution to
``3 s^2`` channels, pixel shuffle). An IMDB (Sec. 3.1, Fig. 3): four 3x3
convolutions in a row, each but the last followed by LeakyReLU(0.05) and a
channel split that keeps 16 channels ("distilled") and passes 48 on; the
four 16-channel parts are concatenated, weighted by *contrast-aware channel
attention* (CCA, Sec. 3.2: per channel, standard deviation + mean over the
image, 1x1 to 4, ReLU, 1x1 to 64, sigmoid), fused by a 1x1 convolution and
added to the block input. 694,404 / 703,059 / 715,176 parameters (x2/x3/x4:
the upsampler differs).

Released files (``weights/imdn/IMDN_x{2,3,4}.pth``, Zheng222/IMDN@8f158e6
``checkpoints/``): state dicts with every key prefixed ``module.``
(DataParallel), names reproduced here: ``fea_conv``, ``IMDB{1..6}.c{1..5}``,
``IMDB{i}.cca.conv_du.{0,2}``, ``c.0``, ``LR_conv``, ``upsampler.0``.

Test pipeline (``test_IMDN.py``), and where it differs from DeFiAN's: LR read
from the authors' MATLAB-bicubic files, RGB in ``[0, 1]`` without mean
subtraction, output ``clamp(0, 1) * 255`` rounded, as the book; they score Y
from ``skimage.color.rgb2ycbcr`` *unrounded* (the book rounds Y to uint8).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.pytorch import assign, read_state_dict

__all__ = ["IMDN", "IMDB", "ContrastChannelAttention", "from_file"]

SLOPE = 0.05  # block.activation('lrelu', neg_slope=0.05)


class ContrastChannelAttention(nn.Module):
    """CCA (Sec. 3.2): ``x * sigmoid(W2 relu(W1 (std(x) + mean(x))))``, statistics per channel over H, W."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
                                     nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()  # population standard deviation
        return x * self.conv_du(std + mean)


class IMDB(nn.Module):
    """Information multi-distillation block (Sec. 3.1) with distillation rate 1/4.

    Args:
        width: Channels in and out (64).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.kept = width // 4  # 16 distilled channels per step
        rest = width - self.kept
        self.c1 = nn.Conv2d(width, width, 3, padding=1)
        self.c2 = nn.Conv2d(rest, width, 3, padding=1)
        self.c3 = nn.Conv2d(rest, width, 3, padding=1)
        self.c4 = nn.Conv2d(rest, self.kept, 3, padding=1)
        self.c5 = nn.Conv2d(width, width, 1)
        self.cca = ContrastChannelAttention(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 64, h, w) -> (B, 64, h, w)``."""
        parts, rest = [], x
        for conv in (self.c1, self.c2, self.c3):
            out = F.leaky_relu(conv(rest), SLOPE)  # (B, 64, h, w)
            parts.append(out[:, :self.kept])  # distilled (B, 16, h, w)
            rest = out[:, self.kept:]  # coarse (B, 48, h, w)
        parts.append(self.c4(rest))  # (B, 16, h, w)
        return self.c5(self.cca(torch.cat(parts, dim=1))) + x


class IMDN(nn.Module):
    """IMDN for one scale on RGB in ``[0, 1]``.

    Args:
        scale: Upscaling factor.
        width: Feature channels (64).
        blocks: Number of IMDBs (6).
    """

    def __init__(self, scale: int, width: int = 64, blocks: int = 6) -> None:
        super().__init__()
        self.scale = int(scale)
        self.fea_conv = nn.Conv2d(3, width, 3, padding=1)
        for i in range(blocks):
            setattr(self, f"IMDB{i + 1}", IMDB(width))
        self.blocks = blocks
        self.c = nn.Sequential(nn.Conv2d(width * blocks, width, 1), nn.LeakyReLU(SLOPE))
        self.LR_conv = nn.Conv2d(width, width, 3, padding=1)
        self.upsampler = nn.Sequential(nn.Conv2d(width, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, h, w)`` RGB in ``[0, 1]`` -> ``(B, 3, s*h, s*w)`` (not clipped)."""
        fea = self.fea_conv(x)  # (B, 64, h, w)
        outs, out = [], fea
        for i in range(self.blocks):
            out = getattr(self, f"IMDB{i + 1}")(out)
            outs.append(out)
        fused = self.c(torch.cat(outs, dim=1))  # (B, 64, h, w)
        return self.upsampler(self.LR_conv(fused) + fea)


def from_file(path: str | Path, scale: int) -> IMDN:
    """Build :class:`IMDN` for ``scale`` and load a released state dict (``module.`` prefix removed).

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file, another method's keys, or a
            file of another scale (``upsampler.0.weight`` has ``3 s^2`` output channels).
    """
    return assign(IMDN(scale), read_state_dict(path, f"IMDN x{scale} weights"), path)
