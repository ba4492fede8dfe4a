"""CARN-M, the mobile model of CARN (Ahn, Kang, Sohn, ECCV 2018).

"Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual Network".

The mobile CARN (Sec. 3.3): an entry convolution, three *cascading blocks*
and a multi-scale upsampler, all at 64 channels, on RGB. Cascading (Sec.
3.1, Fig. 2): every unit's output is concatenated with all earlier ones and
fused by a 1x1 convolution (+ReLU), both between the blocks and, inside a
block, between three applications of one *efficient residual block*
(Sec. 3.3, Fig. 3b: 3x3 group convolution (4 groups), ReLU, 3x3 group
convolution, ReLU, 1x1 convolution, identity, ReLU) -- the three
applications share weights (recursive, Sec. 3.3). One model holds upsamplers
for x2, x3 and x4 (3x3 group convolution to ``s^2 * 64`` channels, ReLU,
pixel shuffle; x4 twice by 2). 414,811 numbers, of which 24 are the two
mean-shift 1x1 convolutions (identity weights, the training set's RGB mean
``(0.4488, 0.4371, 0.4040)`` as bias), kept as frozen convolutions to match
the file.

Released file (``weights/carn/carn_m.pth``, nmhkahn/CARN-pytorch@40d3514
``checkpoint/carn_m.pth``): a state dict whose key names this module's
attributes reproduce (``entry``, ``b{1,2,3}.b1.body.{0,2,4}``,
``b{i}.c{1,2,3}.body.0``, ``c{1,2,3}.body.0``, ``upsample.up{2,3,4}.body.{0[,3]}``,
``exit``, ``sub_mean.shifter``, ``add_mean.shifter``).

Test pipeline (``carn/sample.py``), and where it differs from DeFiAN's: RGB
in ``[0, 1]`` (``ToTensor``), mean subtracted inside the network, output
``mul(255).clamp(0, 255).byte()`` -- a *truncation*, not a rounding
(``quantize = "floor"`` in the registry; what rounding instead would give is
the "rounded output" probe of ``results/released/gap_probes.md``). LR images are MATLAB-bicubic files, as the book's; the author
scored with SelfExSR's MATLAB ``compute_difference`` (his replies in
nmhkahn/CARN-pytorch issues #1, #6 and #46): Y of the uint8 images, rounded,
``scale`` border pixels -- the book's protocol. So scored, the released
model gives the CARN paper's Set5 SSIM at x2 but less PSNR at x2 and x4 (the
gaps: ``results/released/released_rows.md``); no variant tried gives all three
printed values (``results/released/gap_probes.md``, :mod:`defian.report.gap_probes`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from defian.zoo.errors import ReleasedWeightsError
from defian.zoo.pytorch import assign, read_state_dict

__all__ = ["CARNM", "CascadingBlock", "EfficientResidualBlock", "MEAN", "MeanShift", "from_file"]

MEAN = (0.4488, 0.4371, 0.4040)  # model/carn_m.py: MeanShift((0.4488, 0.4371, 0.4040))


class _Body(nn.Module):
    """A layer sequence stored under ``body`` (the released key layout, e.g. ``c1.body.0.weight``)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _fuse(cin: int, cout: int) -> _Body:
    """1x1 convolution + ReLU merging a cascade of concatenated features (Sec. 3.1)."""
    return _Body(nn.Conv2d(cin, cout, 1), nn.ReLU())


class MeanShift(nn.Module):
    """``x -/+ mean`` as the released frozen 1x1 convolution ``shifter`` (identity weight, mean bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class EfficientResidualBlock(nn.Module):
    """Fig. 3b: group conv, ReLU, group conv, ReLU, 1x1 conv, then ``relu(out + x)``."""

    def __init__(self, width: int = 64, groups: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, groups=groups), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1, groups=groups), nn.ReLU(),
                                  nn.Conv2d(width, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class CascadingBlock(nn.Module):
    """Sec. 3.1 local cascading, with one efficient residual block applied three times (shared weights)."""

    def __init__(self, width: int = 64, groups: int = 4) -> None:
        super().__init__()
        self.b1 = EfficientResidualBlock(width, groups)
        self.c1, self.c2, self.c3 = (_fuse(width * k, width) for k in (2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat, out = x, x
        for fuse in (self.c1, self.c2, self.c3):
            cat = torch.cat([cat, self.b1(out)], dim=1)  # (B, 64 * k, h, w)
            out = fuse(cat)  # (B, 64, h, w)
        return out


class CARNM(nn.Module):
    """CARN-M on RGB in ``[0, 1]``; the forward uses the upsampler of ``scale``.

    Args:
        scale: 2, 3 or 4 (all three upsamplers are built: the released file holds them).
        width: Feature channels (64).
        groups: Groups of the efficient residual blocks and upsamplers (4).
    """

    def __init__(self, scale: int, width: int = 64, groups: int = 4) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"CARN-M has upsamplers for x2, x3, x4, got scale {scale}")
        self.scale = int(scale)
        self.sub_mean, self.add_mean = MeanShift(), MeanShift()  # loaded from the file, checked in from_file
        self.entry = nn.Conv2d(3, width, 3, padding=1)
        self.b1, self.b2, self.b3 = (CascadingBlock(width, groups) for _ in range(3))
        self.c1, self.c2, self.c3 = (_fuse(width * k, width) for k in (2, 3, 4))
        self.upsample = nn.ModuleDict()
        for s in (2, 3, 4):
            layers: list[nn.Module] = []
            for f in ([2, 2] if s == 4 else [s]):
                layers += [nn.Conv2d(width, f * f * width, 3, padding=1, groups=groups), nn.ReLU(), nn.PixelShuffle(f)]
            self.upsample[f"up{s}"] = _Body(*layers)
        self.exit = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global cascading (Sec. 3.1).

        Args:
            x: ``(B, 3, h, w)`` RGB in ``[0, 1]``.

        Returns:
            ``(B, 3, s*h, s*w)`` RGB in about ``[0, 1]`` (not clipped).
        """
        x = self.entry(self.sub_mean(x))  # (B, 64, h, w)
        cat, out = x, x
        for block, fuse in ((self.b1, self.c1), (self.b2, self.c2), (self.b3, self.c3)):
            cat = torch.cat([cat, block(out)], dim=1)  # (B, 64 * k, h, w)
            out = fuse(cat)
        up = self.upsample[f"up{self.scale}"](out)  # (B, 64, s*h, s*w)
        return self.add_mean(self.exit(up))


def from_file(path: str | Path, scale: int) -> CARNM:
    """Build :class:`CARNM` for ``scale`` and load the released state dict.

    Raises:
        defian.zoo.errors.ReleasedWeightsError: Missing/corrupt file, another method's keys,
            or mean-shift convolutions that are not ``x -/+ MEAN``.
    """
    state = read_state_dict(path, "CARN-M weights")
    model = assign(CARNM(scale), state, path)
    mean = torch.tensor(MEAN)
    for name, sign in (("sub_mean", -1.0), ("add_mean", 1.0)):
        conv = getattr(model, name).shifter
        if not (torch.equal(conv.weight.view(3, 3), torch.eye(3)) and torch.allclose(conv.bias, sign * mean)):
            raise ReleasedWeightsError(f"{path}: {name} is not the identity plus {sign:+.0f} x mean {MEAN}")
    return model
