"""Training data of an LFR model: one random level per batch, uint8 LR made by MATLAB bicubic at 1 / r_l.

ASDN (slides, "Training"): "the LR images are randomly selected from one scale
training samples among the total 11 scales"; every batch trains one level ``l``
(scale ``r_l = 1 + l / (L - 1)``, :func:`defian.lfr.levels.level_scale`), on LR
images "bicubic interpolated from the training images" at that scale, with
flips and 90-degree rotations. Here:

* the images are the fixed-scale study's (:func:`defian.data.trainset.find_training_images`:
  the 291 set under a data root, DIV2K when present, else the embedded photographs);
* the level of update ``u`` is a pure function of ``(seed, u)`` (:meth:`LevelPatches.level_of`),
  uniform on ``0 .. L - 1``;
* its samples are the stream positions ``u B .. u B + B - 1`` of
  :class:`defian.data.trainset.TrainSampler` (a permutation per epoch), as the
  fixed-scale loop's; sample ``(epoch, i)`` at level ``l`` draws its patch position and
  dihedral transform from a generator seeded with ``(seed, epoch, i, l)``;
* the HR patch side is ``H_l = floor(p r_l)`` for the LR patch side ``p``, and the LR
  patch is ``imresize(HR patch, 1 / r_l)`` (:func:`defian.data.imresize.imresize`:
  uint8, each pass rounded, MATLAB's pixel mapping); ``ceil(H_l / r_l) = p`` at every
  level, so every LR batch is ``p x p``: the LR side, and so the DeFiAN trunk's cost
  in the post-upsampling variant, is the fixed-scale runs' at every level.

The LR patch is made from the HR *patch*, so its outermost pixels see MATLAB's mirrored
border where an LR crop of the whole downscaled image would see the neighbouring HR
pixels (at most 2 r_l HR pixels deep); the pixel grids of LR and HR stay aligned
(``imresize`` at ``1/r`` maps LR pixel ``x`` to HR ``u = r x + (1 - r)/2``, the model's
:func:`defian.lfr.resample.bicubic` at ``r`` the inverse).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from defian.data import trainset
from defian.data.images import load_image, to_rgb
from defian.data.imresize import imresize
from defian.lfr.levels import N_LEVELS, level_scale

__all__ = ["LevelPatches", "build_level_patches", "draw_level", "hr_side", "training_images"]

_LEVEL_STREAM = 0x4C4652  # "LFR": keeps the level draws apart from every other seeded stream


def hr_side(patch: int, level: int, n_levels: int = N_LEVELS) -> int:
    """``H_l = floor(p r_l)``, exact (``r_l`` is a Fraction): the largest HR side whose LR side is ``p``."""
    return math.floor(patch * level_scale(level, n_levels))


def draw_level(seed: int, update: int, n_levels: int = N_LEVELS) -> int:
    """The level of update ``update`` (0-based) of a run seeded ``seed``: uniform on ``0 .. L - 1``."""
    return int(np.random.default_rng([seed, update, _LEVEL_STREAM]).integers(0, n_levels))


def training_images(data_root: str | None) -> tuple[list[Path], str, str]:
    """``(HR files, run-name label, description)`` of the training data, as the fixed-scale runs find it
    (:func:`defian.data.trainset.training_images`, :func:`defian.data.trainset.run_label`)."""
    _, files, desc = trainset.training_images(data_root)
    return files, trainset.run_label(desc, len(files)), desc


class LevelPatches:
    """HR images in memory and the LFR batches drawn from them.

    Args:
        hr_paths: HR image files (8-bit; grey is replicated to RGB).
        patch: LR patch side ``p`` (the cpu schedule's 24).
        seed: seed of the level draws, the sample order, patch positions and augmentation.
        n_levels: L.
        augment: random flips and 90-degree rotations.

    Raises:
        ValueError: ``patch < 1``, or no image holds the largest HR patch ``H_{L-1} = 2 p``.
    """

    def __init__(self, hr_paths: Sequence[str | Path], patch: int, seed: int = 0, n_levels: int = N_LEVELS,
                 augment: bool = True) -> None:
        if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
            raise ValueError(f"LevelPatches patch must be a positive LR side, got {patch!r}")
        self.patch, self.seed, self.n_levels, self.augment = patch, seed, n_levels, augment
        self.sides = [hr_side(patch, l, n_levels) for l in range(n_levels)]  # H_l
        need = max(self.sides)
        self.paths, self.images = [], []
        for p in hr_paths:
            img = to_rgb(load_image(p))
            if min(img.shape[:2]) < need:
                warnings.warn(f"skipping {p}: {img.shape[1]}x{img.shape[0]} is smaller than the {need}px HR patch "
                              f"of level {n_levels - 1}", stacklevel=2)
                continue
            self.paths.append(Path(p))
            self.images.append(np.ascontiguousarray(img))
        if not self.images:
            raise ValueError(f"no training image holds a {need}x{need} HR patch (LR patch {patch}, r = 2)")

    def __len__(self) -> int:
        return len(self.images)

    def level_of(self, update: int) -> int:
        """The level of update ``update`` (0-based): :func:`draw_level` of this seed."""
        return draw_level(self.seed, update, self.n_levels)

    def sample(self, epoch: int, index: int, level: int) -> tuple[np.ndarray, np.ndarray]:
        """``(LR (p, p, 3), HR (H_l, H_l, 3))`` uint8: image ``index`` of ``epoch`` at ``level``."""
        img, side = self.images[index], self.sides[level]
        rng = np.random.default_rng([self.seed, epoch, index, level])
        y, x = int(rng.integers(0, img.shape[0] - side + 1)), int(rng.integers(0, img.shape[1] - side + 1))
        hr = img[y:y + side, x:x + side]
        if self.augment:
            hflip, vflip, rot = rng.integers(0, 2, size=3)
            hr = trainset.dihedral(hr, bool(hflip), bool(vflip), bool(rot))
        hr = np.ascontiguousarray(hr)
        lr = imresize(hr, 1.0 / float(level_scale(level, self.n_levels)))  # MATLAB bicubic, uint8
        assert lr.shape[:2] == (self.patch, self.patch), (lr.shape, side, level)  # ceil(floor(p r) / r) = p
        return lr, hr

    def batch(self, update: int, size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The batch of update ``update``: ``(LR (B, 3, p, p), HR (B, 3, H_l, H_l))`` float32 in [0, 1], and l.

        The samples are the positions ``update * size ...`` of the fixed-scale runs' stream
        (:class:`defian.data.trainset.TrainSampler`), so the batch is a function of
        (seed, update, size) alone: a resumed run draws what an uninterrupted one would.
        """
        level = self.level_of(update)
        keys = trainset.TrainSampler(len(self), self.seed, start=update * size, total=size)
        pairs = [self.sample(e, i, level) for e, i in keys]
        lr, hr = (torch.from_numpy(np.stack([p[k] for p in pairs]).transpose(0, 3, 1, 2).copy()).float().div_(255.0)
                  for k in (0, 1))
        return lr, hr, level


def build_level_patches(data_root: str | None, patch: int, seed: int = 0, n_levels: int = N_LEVELS,
                        augment: bool = True) -> tuple[LevelPatches, str, str]:
    """The training batches of a data root (or the embedded default): ``(patches, label, description)``."""
    files, label, desc = training_images(data_root)
    return LevelPatches(files, patch, seed, n_levels, augment), label, desc
