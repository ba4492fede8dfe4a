"""defian.data.trainset: the training set: aligned patches, augmentation, determinism, layouts."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from defian import paths
from defian.data import trainset, images
from defian.data.imresize import imresize


def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def _rand(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---- training set ---------------------------------------------------------------------------


def _folder(tmp_path: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    return [_save(tmp_path / f"hr/{k}.png", _rand((h, w, 3), k)) for k, (h, w) in enumerate(sizes)]


def _find(patch: np.ndarray, image: np.ndarray) -> list[tuple[int, int]]:
    """Every (y, x) where ``patch`` occurs exactly in ``image``."""
    p = patch.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(image, (p, p, 3))[:, :, 0]  # (h-p+1, w-p+1, p, p, 3)
    return [tuple(map(int, yx)) for yx in np.argwhere((windows == patch).all(axis=(2, 3, 4)))]


def test_patches_are_aligned_and_augmented_consistently(tmp_path: Path) -> None:
    files = _folder(tmp_path, [(100, 90), (80, 120)])
    ds = trainset.TrainSet(files, 2, patch=16, seed=3, cache_dir=tmp_path / "c")
    transforms = [tuple(map(bool, f)) for f in np.ndindex(2, 2, 2)]
    used = set()
    for key in [(0, 0), (1, 1), (5, 0), (7, 1), (9, 0), (11, 1)]:
        lr, hr = ds[key]
        assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
        assert lr.dtype == torch.float32 and 0 <= float(lr.min()) and float(hr.max()) <= 1
        lr8 = (lr * 255).round().byte().permute(1, 2, 0).numpy()
        hr8 = (hr * 255).round().byte().permute(1, 2, 0).numpy()
        full_hr = images.mod_crop(images.load_image(files[key[1]]), 2)
        full_lr = imresize(full_hr, 0.5)
        # some flip/rotation T of the whole image holds the LR patch at (y, x) and the HR patch at (2y, 2x)
        matches = []
        for t in transforms:
            big_lr, big_hr = trainset.dihedral(full_lr, *t), trainset.dihedral(full_hr, *t)
            matches += [(t, y, x) for y, x in _find(lr8, big_lr)
                        if np.array_equal(big_hr[2 * y : 2 * y + 32, 2 * x : 2 * x + 32], hr8)]
        assert len(matches) >= 1, key
        used.add(matches[0][0])
    assert len(used) >= 3  # the augmentation does vary (seeded: deterministic)


def test_augmentation_covers_the_eight_dihedral_transforms(tmp_path: Path) -> None:
    hr = np.zeros((8, 8, 3), np.uint8)
    hr[0, 1], hr[0, 0] = 255, 128  # an asymmetric mark
    seen = set()
    for flags in np.ndindex(2, 2, 2):
        seen.add(trainset.dihedral(hr, *map(bool, flags)).tobytes())
    assert len(seen) == 8


def test_items_are_pure_functions_of_seed_epoch_index(tmp_path: Path) -> None:
    files = _folder(tmp_path, [(64, 64), (70, 66)])
    a = trainset.TrainSet(files, 2, patch=8, seed=1, cache_dir=tmp_path / "c")
    b = trainset.TrainSet(files, 2, patch=8, seed=1, cache_dir=tmp_path / "c", in_memory=False)
    assert torch.equal(a[(4, 1)][0], b[(4, 1)][0]) and torch.equal(a[(4, 1)][1], b[(4, 1)][1])
    assert not torch.equal(a[(4, 1)][0], a[(5, 1)][0])
    assert torch.equal(a[1][0], a[(0, 1)][0])
    loader = lambda w: torch.utils.data.DataLoader(  # noqa: E731
        a, batch_size=3, num_workers=w, sampler=trainset.TrainSampler(len(a), seed=2, total=9))
    for (x0, y0), (x1, y1) in zip(loader(0), loader(2), strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_sampler_resumes_at_any_position() -> None:
    full = list(trainset.TrainSampler(5, seed=4, total=23))
    assert full[7:] == list(trainset.TrainSampler(5, seed=4, start=7, total=16))
    for e in range(4):
        assert sorted(i for ep, i in full if ep == e) == list(range(5))  # each epoch is a permutation
    with pytest.raises(TypeError, match="total"):
        len(trainset.TrainSampler(5))


def test_equal_file_names_in_two_folders_get_their_own_cached_lr(tmp_path: Path) -> None:
    a = _save(tmp_path / "T91/img.png", _rand((40, 40, 3), 1))
    b = _save(tmp_path / "BSDS200/img.png", _rand((40, 40, 3), 2))  # same name, same size, other pixels
    ds = trainset.TrainSet([a, b], 2, patch=8, cache_dir=tmp_path / "c", in_memory=False)
    assert len(set(ds.lr_paths)) == 2
    for hr, lr in zip((a, b), ds.lr_paths, strict=True):
        want = imresize(images.load_image(hr), 0.5)
        assert np.array_equal(images.load_image(lr), want)
    c = _save(tmp_path / "T91/img.jpg", _rand((40, 40, 3), 3))
    with pytest.raises(ValueError, match=r"img\.png and .*img\.jpg would share the LR cache file"):
        trainset.TrainSet([a, c], 2, patch=8, cache_dir=tmp_path / "c")


def test_small_images_are_skipped_with_a_warning(tmp_path: Path) -> None:
    files = _folder(tmp_path, [(64, 64), (30, 64)])
    with pytest.warns(UserWarning, match=r"skipping .*1\.png"):
        ds = trainset.TrainSet(files, 2, patch=16, cache_dir=tmp_path / "c")
    assert len(ds) == 1
    with pytest.raises(ValueError, match="large enough"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainset.TrainSet(files[1:], 2, patch=16, cache_dir=tmp_path / "c")


def test_rgb_mean_is_the_pixel_weighted_mean(tmp_path: Path) -> None:
    a = _save(tmp_path / "a.png", np.full((2, 2, 3), (255, 0, 51), np.uint8))
    b = _save(tmp_path / "b.png", np.zeros((2, 6, 3), np.uint8))
    assert trainset.rgb_mean([a, b]) == pytest.approx((0.25, 0.0, 0.05), abs=1e-12)
    assert trainset.NORMALISATIONS["paper"].mean == trainset.DIV2K_MEAN
    assert trainset.NORMALISATIONS["released"].std == (0.229, 0.224, 0.225)


# ---- layouts and the embedded default ---------------------------------------------------------


def test_training_layouts(tmp_path: Path) -> None:
    _save(tmp_path / "div/DIV2K_train_HR/0001.png", _rand((8, 8, 3)))
    _save(tmp_path / "div/DIV2K_valid_HR/0801.png", _rand((8, 8, 3)))
    files, desc = trainset.find_training_images(tmp_path / "div")
    assert [f.name for f in files] == ["0001.png"] and desc.startswith("DIV2K train")
    assert trainset.find_training_images(tmp_path / "div", "valid")[0][0].name == "0801.png"
    _save(tmp_path / "t/train/T91/t1.bmp", _rand((8, 8, 3)))
    _save(tmp_path / "t/train/BSDS200/2092.jpg", _rand((8, 8, 3)))
    assert "BSDS200 + T91" in trainset.find_training_images(tmp_path / "t")[1]
    _save(tmp_path / "flat/x.png", _rand((8, 8, 3)))
    assert trainset.find_training_images(tmp_path / "flat")[1].startswith("flat folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"DIV2K_train_HR/.*train/.*flat folder"):
        trainset.find_training_images(tmp_path / "empty")


def test_embedded_default_needs_no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.ENV_DATA, raising=False)
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    ds, desc = trainset.build_trainset(None, 4, patch=24, seed=0)
    assert len(ds) == len(trainset.EMBEDDED_TRAIN) and "embedded default" in desc
    assert ds[(0, 0)][1].shape == (3, 96, 96)
    assert not set(trainset.EMBEDDED_TRAIN) & set(trainset.EMBEDDED_TEST)


def test_dev_data_is_the_291_set(dev_data: Path) -> None:
    files, desc = trainset.find_training_images(dev_data)
    assert len(files) == 291 and "BSDS200 + T91" in desc


def test_run_label_names_the_training_data_as_the_committed_run_names_do(monkeypatch) -> None:
    """``train291`` in every committed cpu-study run name: the folder and the images trained on."""
    assert trainset.run_label("train/ (BSDS200 + T91, 291 images)", 291) == "train291"
    assert trainset.run_label("DIV2K train HR 0001-0800", 800) == "div2k"
    monkeypatch.delenv(paths.ENV_DATA, raising=False)  # no data root: the embedded photographs
    root, files, desc = trainset.training_images("")
    assert root is None and files == trainset.embedded_images("train")
    assert trainset.run_label(desc, len(files)) == "embedded"
