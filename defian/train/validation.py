"""Validation during training: a few benchmark images scored as the paper scores them (Sec. IV-A2).

:func:`val_pairs` prepares the images once per run; :func:`validate` gives the
mean Y-channel PSNR that ``metrics.csv`` logs every ``val_every`` updates and that
picks ``best.pt``. The protocol is the test protocol (:mod:`defian.data.metrics`,
:mod:`defian.data.testsets`): HR mod-cropped, LR by MATLAB bicubic, output rounded to
bytes, PSNR on Y with ``scale`` border pixels cropped.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from defian import paths
from defian.train.config import TrainConfig

__all__ = ["val_pairs", "validate"]


def val_pairs(cfg: TrainConfig) -> tuple[list[tuple[torch.Tensor, np.ndarray]], str]:
    """Validation images: (LR float (1, 3, h, w) in [0, 1], HR uint8 (H, W[, 3]) as stored), and a label.

    The first ``val_images`` files of ``val_set`` under the data root
    (:func:`defian.data.testsets.find_set`), or the embedded test photographs without
    one; HR mod-cropped, centre-cropped to ``val_crop`` when set, LR by MATLAB
    bicubic (:func:`defian.data.testsets.downscale`), as the paper's protocol.
    """
    from defian.data import testsets, trainset, images

    root = paths.data_root(cfg.data_root or None)
    files = testsets.find_set(root, cfg.val_set)[0] if root is not None else trainset.embedded_images("test")
    files = files[: cfg.val_images]
    label = f"{cfg.val_set if root is not None else testsets.EMBEDDED} ({len(files)} images" + (
        f", {cfg.val_crop}px centre crops)" if cfg.val_crop else ")")
    pairs = []
    for f in files:
        hr = images.mod_crop(images.load_image(f), cfg.scale)
        if cfg.val_crop:
            c = min(cfg.val_crop, *hr.shape[:2]) // cfg.scale * cfg.scale
            y, x = (hr.shape[0] - c) // 2, (hr.shape[1] - c) // 2
            hr = np.ascontiguousarray(hr[y : y + c, x : x + c])
        pair = testsets.Pair(f.stem, hr, testsets.downscale(hr, cfg.scale))
        pairs.append((pair.lr_tensor(), hr))
    return pairs, label


@torch.no_grad()
def validate(model: nn.Module, pairs: list[tuple[torch.Tensor, np.ndarray]], scale: int,
             device: torch.device) -> float:
    """Mean Y-channel PSNR (dB) of ``model`` on ``pairs`` (paper IV-A2 protocol, defian.data.metrics)."""
    from defian.data import metrics

    was_training = model.training
    model.eval()
    scores = []
    for lr, hr in pairs:
        sr = model(lr.to(device)).float().clamp(0, 1)  # (1, 3, s*h, s*w)
        sr8 = (sr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()
        scores.append(metrics.psnr(sr8, hr, scale))
    model.train(was_training)
    return float(np.mean(scores))
