"""Training data of the paper (Sec. IV-A1): HR/LR pairs, 48x48 LR patches, augmentation.

The paper trains on the 800 DIV2K training images, LR made by bicubic
downscaling (MATLAB's, :mod:`defian.data.imresize`), with 48x48 RGB LR patches and
the aligned 48s x 48s HR patches, "random horizontal and vertical flips and 90
rotations", and "the mean RGB value of the training sets" subtracted.

Sources, tried in this order under a data root (:func:`find_training_images`):
``DIV2K_train_HR/`` (also ``DIV2K/DIV2K_train_HR/``), ``train/`` (every image
below it: the 291 set ``train/T91`` + ``train/BSDS200`` of the dev data), and
the root itself when it holds images. Without a data root, the *embedded
default* serves: :data:`EMBEDDED_TRAIN` / :data:`EMBEDDED_TEST`, colour
photographs shipped inside the scikit-image wheel (no download).

Images are read by :func:`defian.data.images.load_image` (8-bit grey or RGB; other
formats are refused naming the file) and their LR versions made once and cached
by :func:`defian.data.images.cached_lr` (under ``<root>/cache/``); nothing else is
written into a data folder. Determinism: sample ``(epoch, i)`` of
:class:`TrainSet` uses image ``i`` and a generator seeded with
``(seed, epoch, i)`` for the patch position and the augmentation, so it is a
pure function of those three numbers, whatever the worker or batch layout.
:class:`TrainSampler` orders the samples (a permutation per epoch, seeded with
``(seed, epoch)``) and resumes at any global sample position.

The model normalises its input itself (model input is RGB in [0, 1]); this
module returns [0, 1] tensors and exposes the constants: :func:`rgb_mean`
(the paper's "mean RGB value of the training set"), :data:`DIV2K_MEAN` and the
released code's ImageNet mean/std (:data:`NORMALISATIONS`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from defian import paths
from defian.data.statistics import DIV2K_MEAN, IMAGENET_MEAN, IMAGENET_STD
from defian.data.images import IMAGE_SUFFIXES, cache_root, cached_lr, load_image, mod_crop, to_rgb

__all__ = [
    "DIV2K_MEAN", "EMBEDDED_TEST", "EMBEDDED_TRAIN", "NORMALISATIONS", "Normalisation", "TrainSampler", "TrainSet",
    "build_trainset", "dihedral", "embedded_images", "find_training_images", "rgb_mean", "run_label",
    "training_images",
]

#: scikit-image's bundled colour photographs (files inside the wheel): train on six...
EMBEDDED_TRAIN = ("coffee.png", "rocket.jpg", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png", "retina.jpg")
#: ... and test on four (``camera`` is grey, like Set14's ``bridge``).
EMBEDDED_TEST = ("astronaut.png", "chelsea.png", "camera.png", "coins.png")


@dataclass(frozen=True)
class Normalisation:
    """Input normalisation ``(x - mean) / std`` applied inside the model, x in [0, 1]."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


NORMALISATIONS: dict[str, Normalisation] = {
    # paper Sec. IV-A1: "subtracting the mean RGB value of the training sets" (DIV2K default)
    "paper": Normalisation("paper", DIV2K_MEAN),
    # released code main.py: torchvision Normalize with ImageNet mean and std
    "released": Normalisation("released", IMAGENET_MEAN, IMAGENET_STD),
}


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


TRAIN_LAYOUTS = ("DIV2K_train_HR/", "DIV2K/DIV2K_train_HR/", "train/ (any images below it, e.g. T91 + BSDS200)",
                 "<root>/*.png|bmp|jpg (a flat folder of HR images)")


def find_training_images(root: str | Path, split: str = "train") -> tuple[list[Path], str]:
    """HR training (or DIV2K validation) images under a data root.

    Args:
        root: The data root.
        split: ``"train"`` or ``"valid"`` (DIV2K ``0801..0900``; only DIV2K has it).

    Returns:
        ``(paths, description)``, description naming the layout found.

    Raises:
        FileNotFoundError: Nothing found; the message lists the layouts tried.
    """
    root = Path(root)
    d = "valid" if split == "valid" else "train"
    for sub in (f"DIV2K_{d}_HR", f"DIV2K/DIV2K_{d}_HR"):
        if (root / sub).is_dir() and (found := _images_in(root / sub, False)):
            return found, f"DIV2K {d} ({sub}, {len(found)} images)"
    if split == "train":
        if (root / "train").is_dir() and (found := _images_in(root / "train", True)):
            names = sorted({p.relative_to(root / "train").parts[0] for p in found})
            return found, f"train/ ({' + '.join(names)}, {len(found)} images)"
        if found := _images_in(root, False):
            return found, f"flat folder {root} ({len(found)} images)"
    tried = TRAIN_LAYOUTS if split == "train" else TRAIN_LAYOUTS[:2]
    raise FileNotFoundError(f"no {split} images under {root}; looked for: " + ", ".join(tried))


def embedded_images(split: str = "train") -> list[Path]:
    """The embedded default data: files of scikit-image's bundled photographs."""
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    names = EMBEDDED_TRAIN if split == "train" else EMBEDDED_TEST
    files = [folder / n for n in names]
    if missing := [str(f) for f in files if not f.is_file()]:
        raise FileNotFoundError(f"embedded default images missing from scikit-image: {missing}")
    return files


def rgb_mean(images: Sequence[str | Path] | TrainSet) -> tuple[float, float, float]:
    """Mean RGB of HR training images in [0, 1], weighted by pixel count (paper Sec. IV-A1)."""
    files = images.hr_paths if isinstance(images, TrainSet) else list(images)
    total, count = np.zeros(3), 0
    for f in files:
        img = to_rgb(load_image(f)).reshape(-1, 3)
        total += img.sum(axis=0, dtype=np.float64)
        count += img.shape[0]
    return tuple(float(v) for v in total / count / 255.0)  # type: ignore[return-value]


class TrainSet(torch.utils.data.Dataset):
    """Random aligned LR/HR patch pairs with dihedral augmentation.

    Args:
        hr_paths: HR image files.
        scale: Upscaling factor ``s``.
        patch: LR patch size (paper: 48); the HR patch is ``s * patch``.
        seed: Seed of the patch positions and augmentations.
        cache_dir: Folder of the LR cache (see :func:`cached_lr`).
        names: Relative names of the images in the cache (default: the paths relative to
            the files' common folder, so equal file names in different folders stay apart).
        augment: Random flips and 90-degree rotations (paper Sec. IV-A1).
        in_memory: Hold all decoded images in RAM (default: when they take less than a
            quarter of the physical memory; otherwise every sample decodes its image,
            which is ~20x slower: see ``benchmarks/bench_data.py``).

    Items: ``dataset[i]`` (epoch 0) or ``dataset[(epoch, i)]`` returns
    ``(lr, hr)``: float32 tensors ``(3, p, p)`` and ``(3, s*p, s*p)`` in [0, 1].
    """

    def __init__(self, hr_paths: Sequence[str | Path], scale: int, patch: int = 48, seed: int = 0,
                 cache_dir: str | Path | None = None, names: Sequence[str] | None = None,
                 augment: bool = True, in_memory: bool | None = None) -> None:
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4 (the paper's), got {scale!r}")
        if patch < 1:
            raise ValueError(f"patch must be a positive LR size, got {patch!r}")
        self.scale, self.patch, self.seed, self.augment = scale, patch, seed, augment
        cache = Path(cache_dir) if cache_dir is not None else paths.CACHE / "lr"
        paths_in = [Path(p) for p in hr_paths]
        if names is None and paths_in:
            common = Path(os.path.commonpath([p.resolve().parent for p in paths_in]))
            names = [str(p.resolve().relative_to(common)) for p in paths_in]
        rel = list(names) if names is not None else []
        stems: dict[Path, Path] = {}
        for hr, name in zip(paths_in, rel, strict=True):  # a.png and a.jpg would share one cached LR file
            other = stems.setdefault(Path(name).with_suffix(""), hr)
            if other != hr:
                raise ValueError(f"{other} and {hr} would share the LR cache file {Path(name).with_suffix('.png')}: "
                                 "rename one of them or pass distinct names")
        self.hr_paths, names_kept, pixels = [], [], 0
        for hr, name in zip(paths_in, rel, strict=True):
            with Image.open(hr) as im:  # header only: skip small images before any work
                w, h = im.size
            if min(h // scale, w // scale) < patch:
                warnings.warn(f"skipping {hr}: {w}x{h} is smaller than a {patch * scale}px HR patch", stacklevel=2)
                continue
            self.hr_paths.append(hr)
            names_kept.append(name)
            pixels += w * h
        if not self.hr_paths:
            raise ValueError(f"no training image is large enough for {patch}x{patch} LR patches at x{scale}")
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:  # PIL/numpy release the GIL
            self.lr_paths = list(pool.map(lambda hn: cached_lr(hn[0], hn[1], scale, cache),
                                          zip(self.hr_paths, names_kept)))
            # decoded HR + LR bytes; DIV2K: ~8 GB at x2. Hold them when they take < 1/4 of the RAM.
            fits = 3 * pixels * (1 + 1 / scale**2) < _physical_memory() / 4
            hold = fits if in_memory is None else in_memory
            self._images = list(pool.map(self._read, range(len(self.hr_paths)))) if hold else None

    def _read(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        hr = mod_crop(to_rgb(load_image(self.hr_paths[k])), self.scale)
        return to_rgb(load_image(self.lr_paths[k])), hr

    def __len__(self) -> int:
        return len(self.hr_paths)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, i = key if isinstance(key, tuple) else (0, key)
        lr, hr = self._images[i] if self._images is not None else self._read(i)
        rng = np.random.default_rng([self.seed, epoch, i])
        p, s = self.patch, self.scale
        y, x = int(rng.integers(0, lr.shape[0] - p + 1)), int(rng.integers(0, lr.shape[1] - p + 1))
        lr_p, hr_p = lr[y : y + p, x : x + p], hr[s * y : s * (y + p), s * x : s * (x + p)]
        if self.augment:  # one of the 8 dihedral transforms: flips and 90-degree rotations
            hflip, vflip, rot = rng.integers(0, 2, size=3)
            lr_p, hr_p = (dihedral(a, bool(hflip), bool(vflip), bool(rot)) for a in (lr_p, hr_p))
        return _to_tensor(lr_p), _to_tensor(hr_p)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GB
        return 8 << 30


def dihedral(a: np.ndarray, hflip: bool, vflip: bool, rot: bool) -> np.ndarray:
    """One of the 8 flips/90-degree rotations of an (H, W, C) array (a view; the training augmentation)."""
    if hflip:
        a = a[:, ::-1]
    if vflip:
        a = a[::-1]
    return a.transpose(1, 0, 2) if rot else a


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div_(255.0)  # (3, h, w)


class TrainSampler(torch.utils.data.Sampler):
    """Endless, resumable order of ``(epoch, i)`` keys for :class:`TrainSet`.

    Global sample ``k`` is ``(k // n, perm_e[k % n])`` with ``perm_e`` a
    permutation seeded by ``(seed, e)``. To resume after ``t`` updates of batch
    ``B``, pass ``start = t * B``.

    Args:
        n: Dataset length.
        seed: Seed of the permutations.
        start: Global sample position to start at.
        total: Stop after this many samples (``None``: endless).
    """

    def __init__(self, n: int, seed: int = 0, start: int = 0, total: int | None = None) -> None:
        self.n, self.seed, self.start, self.total = n, seed, start, total

    def __iter__(self) -> Iterator[tuple[int, int]]:
        k = self.start
        while self.total is None or k < self.start + self.total:
            epoch, pos = divmod(k, self.n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for j in range(pos, self.n):
                if self.total is not None and k >= self.start + self.total:
                    return
                yield epoch, int(perm[j])
                k += 1

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("an endless TrainSampler has no length; give total=")
        return self.total


def training_images(data_root: str | Path | None) -> tuple[Path | None, list[Path], str]:
    """``(root, HR files, description)`` of the training data: the data root's (``""``/``None``:
    ``$DEFIAN_DATA``) DIV2K or 291 images (:func:`find_training_images`), or the embedded default
    (``root`` None) when there is no data root."""
    root = paths.data_root(data_root if data_root else None)
    if root is None:
        files = embedded_images("train")
        return None, files, f"embedded default: scikit-image photographs {', '.join(p.stem for p in files)}"
    files, desc = find_training_images(root)
    return root, files, desc


def run_label(desc: str, n_images: int) -> str:
    """The training data's part of a run name: ``embedded``, ``div2k``, or the folder and the number of
    images trained on (``train291`` for T91 + BSDS200)."""
    if desc.startswith("embedded"):
        return "embedded"
    if desc.startswith("DIV2K"):
        return "div2k"
    return f"{desc.split(' ')[0].strip('/')}{n_images}"


def build_trainset(data_root: str | Path | None, scale: int, patch: int = 48, seed: int = 0,
                   **kwargs: object) -> tuple[TrainSet, str]:
    """The training set of a data root, or the embedded default when there is none.

    Args:
        data_root: A folder, ``""``/``None`` for ``$DEFIAN_DATA`` or the embedded default.
        scale, patch, seed: As :class:`TrainSet`; ``kwargs`` go to it too.

    Returns:
        ``(dataset, description)``: the description says which data it is, for the book.
    """
    root, files, desc = training_images(data_root)
    if root is None:
        return TrainSet(files, scale, patch, seed, cache_dir=paths.CACHE / "lr" / "embedded", **kwargs), desc
    cache = cache_root(root)
    names = [str(p.relative_to(root)) for p in files]
    return TrainSet(files, scale, patch, seed, cache_dir=cache, names=names, **kwargs), desc
