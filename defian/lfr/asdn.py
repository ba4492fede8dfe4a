"""ASDN's feature mapping branch: dense attention blocks (DAB) of intra dense blocks (IDB).

As the slides describe ASDN's architecture ("Architecture", two slides; the
bi-dense design is DBDN's, ref. [4] of the slides, "Extra: DBDN"):

* "Bi-dense connections (DAB with IDB)": dense connections inside each block
  (IDB) and between blocks: block k reads the concatenation of the shallow
  features and all earlier blocks' outputs, and the branch's output is the
  concatenation of all of them (DBDN Fig. 2 (d)), ``C (n + 1)`` channels.
* IDB: "convolutions whose activations are processed with ReLU (without BN),
  densely connected convolutions and convolutions for compressing the input and
  the output (which is summed with the compressed input)".
* "CA from RCAN" (:class:`defian.nn.fem.ChannelAttention`, global average pool,
  1x1 reduce-expand) and "SA from CSFM" (1x1 expand-reduce, a per-pixel,
  per-channel sigmoid mask; CSFM's expansion 2).
* "All convolutions have 64 filters and 3x3 kernel [...] but the ones in IRB
  (1x1 kernel and 3 filters), CA [...], SA [...]"; "Number of DABs: 16";
  "Number of convolutions inside IDBs: 8".

Choices the slides leave open, made here: the two compression convolutions are
1x1 (DBDN's transition layers; 3x3 ones, as "all convolutions 3x3" would read,
give 31.9 M parameters with the slides' sizes, 1x1 ones 22.7 M, against the
22.4 M of the "Paper model" row of the slides' own project); SA follows CA
inside every DAB ("CA and SA" in a block, as in CSFM's CSAR block), where the
slides' own project put SA after each IRB instead; a DAB has no residual
beyond the IDB's.
"""

from __future__ import annotations

import torch
from torch import nn

from defian.nn.fem import ChannelAttention

__all__ = ["ASDNTrunk", "DenseAttentionBlock", "IntraDenseBlock", "SpatialAttention"]


class IntraDenseBlock(nn.Module):
    """IDB: compress the input, n densely connected conv3x3 + ReLU, compress, add.

    Args:
        in_channels (int): channels of the block input.
        channels (int): C, the compressed width (slides: 64).
        growth (int): G, each dense convolution's output channels (slides: 64).
        n_convs (int): dense convolutions (slides: 8).
    """

    def __init__(self, in_channels: int, channels: int, growth: int, n_convs: int) -> None:
        super().__init__()
        self.compress_in = nn.Conv2d(in_channels, channels, 1)
        self.convs = nn.ModuleList(nn.Conv2d(channels + k * growth, growth, 3, padding=1) for k in range(n_convs))
        self.relu = nn.ReLU(inplace=True)
        self.compress_out = nn.Conv2d(channels + n_convs * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C, H, W)."""
        c = self.compress_in(x)  # (B, C, H, W)
        feats = [c]
        for conv in self.convs:
            feats.append(self.relu(conv(torch.cat(feats, dim=1))))  # each reads all before it: (B, G, H, W)
        return c + self.compress_out(torch.cat(feats, dim=1))  # (B, C + nG, H, W) -> (B, C, H, W)


class SpatialAttention(nn.Module):
    """CSFM's spatial attention: ``x * sigmoid(conv1x1(relu(conv1x1(x))))``, expanding C -> eC -> C.

    Args:
        channels (int): C.
        expansion (int): e (CSFM: 2).
    """

    def __init__(self, channels: int, expansion: int = 2) -> None:
        super().__init__()
        self.expand = nn.Conv2d(channels, expansion * channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.reduce = nn.Conv2d(expansion * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return x * torch.sigmoid(self.reduce(self.relu(self.expand(x))))


class DenseAttentionBlock(nn.Module):
    """DAB: IDB, then channel attention, then spatial attention.

    Args:
        in_channels (int): (k + 1) C for the k-th block (inter-block dense input).
        channels (int): C.
        growth (int): G.
        n_convs (int): convolutions per IDB.
        reduction (int): CA bottleneck ratio (RCAN: 16).
    """

    def __init__(self, in_channels: int, channels: int, growth: int, n_convs: int, reduction: int = 16) -> None:
        super().__init__()
        self.idb = IntraDenseBlock(in_channels, channels, growth, n_convs)
        self.ca = ChannelAttention(channels, reduction)
        self.sa = SpatialAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C, H, W)."""
        y = self.idb(x)
        y = y * self.ca(y)  # (B, C, 1, 1) channel weights
        return self.sa(y)


class ASDNTrunk(nn.Module):
    """ASDN's feature mapping branch: conv3x3 3 -> C, then n DABs with inter-block dense connections.

    Args:
        channels (int): C (slides: 64).
        n_blocks (int): DABs (slides: 16).
        n_convs (int): convolutions per IDB (slides: 8).
        growth (int): G (slides: 64).
        reduction (int): CA bottleneck ratio.

    Attributes:
        out_channels (int): ``C (n_blocks + 1)``, the concatenated output.
    """

    def __init__(self, channels: int, n_blocks: int, n_convs: int, growth: int, reduction: int = 16) -> None:
        super().__init__()
        if min(channels, n_blocks, n_convs, growth, reduction) < 1:
            raise ValueError(
                f"ASDNTrunk sizes must be >= 1, got channels={channels}, n_blocks={n_blocks}, "
                f"n_convs={n_convs}, growth={growth}, reduction={reduction}"
            )
        self.shallow = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.ModuleList(
            DenseAttentionBlock((k + 1) * channels, channels, growth, n_convs, reduction) for k in range(n_blocks)
        )
        self.out_channels = channels * (n_blocks + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C (n + 1), H, W)."""
        outs = [self.shallow(x)]  # F_0: (B, C, H, W)
        for block in self.blocks:
            outs.append(block(torch.cat(outs, dim=1)))  # block k reads F_0 .. F_{k-1}: (B, kC, H, W)
        return torch.cat(outs, dim=1)
