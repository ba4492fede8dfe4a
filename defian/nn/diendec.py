"""Dilated encoder-decoder (DiEnDec) and the two encoder-decoders it is compared with.

Implements Section III-C, Eq. (19) and Fig. 4 (a parameterisation, b structures):
the fusion unit ``v = D([lambda_3, lambda_5, lambda_7])`` of Eq. (18) that turns
the channel-averaged Hessian maps (B, K, H, W) into one attention map
``v`` (B, 1, H, W) at full resolution.

Layout (half depth ``d``, input width ``K``, here K = 3):

* encoder: ``d`` 3x3 convolutions widening K -> 2K -> 4K -> ... -> 2^d K, a ReLU
  after each;
* decoder: ``d`` 3x3 *transposed* convolutions narrowing back to K, a ReLU
  after each;
* gate: one 1x1 convolution K -> 1 (with bias), no activation (the sigmoid
  sits after the DAC, Eq. (6)).

The three types of Fig. 4(b) / Table V differ only in how context grows:

``diendec``   encoder dilations 1, 2, 4, ... (padding = dilation), decoder
              dilations in reverse order; full resolution throughout.
``convendec`` the same layers, all with dilation 1 (Mao et al. [35]).
``hgendec``   dilation 1, a 2x2 max-pool after each encoder stage and a nearest
              upsampling before each decoder stage (hourglass [36]).

All three therefore have identical #Params (the paper only says "comparative").

The papers the two comparisons are named after have skip connections: RED-Net
(Mao et al. [35]) adds each encoder layer's input to its mirrored decoder layer
("symmetric skip connections", the sum followed by the ReLU), and the hourglass
(Newell et al. [36]) keeps a branch at every resolution that is added back after
the upsampling. The paper's Fig. 4(b) draws neither, and Table V's equal #Params
admit only parameter-free skips, so the defaults above have none (the deviations
chapter, notebook 14, lists this). ``convendec_skip`` and ``hgendec_skip`` add
them, parameter-free: the decoder stage that returns to width ``2^i K`` computes
``relu(convT(x) + e_i)`` with ``e_i`` the input of encoder stage ``i`` (for the
hourglass at the same resolution, so ``e_i`` is taken before its max-pool).
Newell's skip branch carries residual modules of its own; an identity branch is
the parameter-free reading.
Facts from the released code (read, not copied): for d = 3, K = 3 the encoder is
conv(3->6, d1, p1), conv(6->12, d2, p2), conv(12->24, d4, p4), the decoder
convT(24->12, d4, p4), convT(12->6, d2, p2), convT(6->3, d1, p1), every layer
with bias, and the gate a 1x1 conv 3->1 with bias: 6871 parameters.

``d = 0`` (Table V: "HGEnDec = ConvEnDec = DiEnDec") is our wiring for "no
encoder-decoder": the parameter-free channel mean of the K maps. This is the
simplest fusion consistent with Table III/IV #Params (see defian.nn.defiam).

Receptive field: the paper's Eq. (19) gives the encoder's accumulated receptive
field 3 -> 7 -> 15, which the impulse response reproduces. Its decoder numbers
9 -> 13 -> 15 are the receptive field of the decoder *on its own*; accumulated
from the DiEnDec input the impulse response gives 23 -> 27 -> 29
(= 15 + 15 - 1). :func:`accumulated_receptive_fields` measures both.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ENDEC_TYPES", "EncoderDecoder", "accumulated_receptive_fields", "paper_arf"]

ENDEC_TYPES = ("diendec", "convendec", "hgendec", "convendec_skip", "hgendec_skip")


def paper_arf(n_layers: int, k: int = 3) -> int:
    """Eq. (19): ``ARF = 1 + sum_{i=1}^{n} (k-1)^i`` for dilations (k-1)^(i-1)."""
    return 1 + sum((k - 1) ** i for i in range(1, n_layers + 1))


class EncoderDecoder(nn.Module):
    """The fusion unit of Eq. (18): (B, K, H, W) -> v, (B, 1, H, W).

    Args:
        in_channels (int): K, the number of Hessian maps (3 in the paper).
        half_depth (int): d, layers in the encoder (= layers in the decoder);
            paper: 3 (Fig. 4a); Table V: 0..4.
        kind (str): one of ``ENDEC_TYPES``.
    """

    def __init__(self, in_channels: int = 3, half_depth: int = 3, kind: str = "diendec") -> None:
        super().__init__()
        if kind not in ENDEC_TYPES:
            raise ValueError(f"endec kind {kind!r} is not one of {ENDEC_TYPES}")
        if not 0 <= half_depth <= 6:
            raise ValueError(f"half_depth must be in 0..6, got {half_depth}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.kind, self.half_depth, self.in_channels = kind, half_depth, in_channels
        self.skips = kind.endswith("_skip")  # RED-Net / hourglass identity skips (module docstring)
        self.hourglass = kind.startswith("hgendec")
        widths = [in_channels * 2**i for i in range(half_depth + 1)]
        dil = [2**i if kind == "diendec" else 1 for i in range(half_depth)]
        self.encoder = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 3, padding=dil[i], dilation=dil[i])
            for i in range(half_depth)
        )
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 3, padding=dil[i], dilation=dil[i])
            for i in reversed(range(half_depth))
        )
        # one ReLU module per layer, so forward hooks (complexity) see each call
        self.enc_act = nn.ModuleList(nn.ReLU(inplace=True) for _ in range(half_depth))
        self.dec_act = nn.ModuleList(nn.ReLU(inplace=True) for _ in range(half_depth))
        self.gate = nn.Conv2d(in_channels, 1, 1) if half_depth > 0 else None

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All intermediate maps: encoder outputs, decoder outputs (after ReLU), v.

        Args:
            x: (B, K, H, W).

        Returns:
            2d + 1 tensors; the last is v, (B, 1, H, W).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if self.half_depth == 0:
            return [x.mean(dim=1, keepdim=True)]
        # NHWC: oneDNN runs these 3-24 channel convolutions ~2x faster (forward + backward) than NCHW
        x = x.contiguous(memory_format=torch.channels_last)
        out, sizes, inputs = [], [], []
        for conv, act in zip(self.encoder, self.enc_act, strict=True):
            inputs.append(x)  # e_i, the skip of the mirrored decoder stage
            x = act(conv(x))
            if self.hourglass:
                sizes.append(x.shape[-2:])
                x = F.max_pool2d(x, 2, ceil_mode=True)
            out.append(x)
        for conv, act in zip(self.decoder, self.dec_act, strict=True):
            if self.hourglass:
                x = F.interpolate(x, size=sizes.pop(), mode="nearest")
            skip = inputs.pop()
            x = act(conv(x) + skip) if self.skips else act(conv(x))
            out.append(x)
        out.append(self.gate(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Implements Eq. (18): (B, K, H, W) -> v, (B, 1, H, W)."""
        return self.stages(x)[-1]


@torch.no_grad()
def accumulated_receptive_fields(endec: EncoderDecoder, size: int = 65, start: str = "input") -> list[int]:
    """Measure the receptive field after every layer by impulse response.

    A copy of ``endec`` with all weights set to 1 and biases to 0 (so no ReLU
    cuts the support) is fed a unit impulse at the centre of a ``size`` x
    ``size`` float64 image; the width of the non-zero support of each stage's
    output is that stage's receptive field (3x3 kernels are symmetric, so the
    forward support equals the backward one).

    Args:
        endec: a full-resolution encoder-decoder ("diendec" or "convendec").
        size: side of the probe image (must exceed the largest field).
        start: "input" (accumulated from the DiEnDec input: 2d widths,
            encoder then decoder) or "decoder" (the decoder on its own: d widths).

    Returns:
        The widths, in layer order (the 1x1 gate adds nothing).
    """
    if endec.hourglass:
        raise ValueError("impulse-response widths are defined here for full-resolution types only")
    if start not in ("input", "decoder"):
        raise ValueError(f"start must be 'input' or 'decoder', got {start!r}")
    probe = copy.deepcopy(endec).double()
    for name, p in probe.named_parameters():
        p.fill_(1.0 if name.endswith("weight") else 0.0)
    width = endec.in_channels * (2**endec.half_depth if start == "decoder" else 1)
    x = torch.zeros(1, width, size, size, dtype=torch.float64)
    x[..., size // 2, size // 2] = 1.0
    if start == "input":
        maps = probe.stages(x)[:-1]
    else:
        maps = []
        for conv in probe.decoder:
            x = conv(x)
            maps.append(x)
    widths = []
    for s in maps:
        row = s.abs().sum(dim=(0, 1, 2)) > 0  # (W,) columns touched by the impulse
        idx = torch.nonzero(row).flatten()
        if idx.numel() and (idx[0] == 0 or idx[-1] == size - 1):
            raise ValueError(f"size={size} too small for the receptive field; increase it")
        widths.append(int(idx[-1] - idx[0] + 1) if idx.numel() else 0)
    return widths
