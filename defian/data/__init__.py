"""Images in, images out: the data of Sec. IV-A and the evaluation protocol.

Modules:
    images: reading images and the cached low-resolution copies.
    imresize: MATLAB's bicubic ``imresize``, the degradation model of every table.
    trainset: the training sets (DIV2K, the 291 images, the embedded fallback) and patch sampling.
    testsets: the benchmark sets (Set5 ... Manga109), their layouts and the bicubic rows.
    metrics: PSNR and SSIM on Y under named protocols.
    download: fetching and verifying the official archives (``defian data``).
"""

from __future__ import annotations

from defian.data.images import load_image as load_image
from defian.data.metrics import PROTOCOLS as PROTOCOLS
from defian.data.metrics import psnr as psnr
from defian.data.metrics import ssim as ssim
from defian.data.testsets import SETS as SETS
from defian.data.trainset import TrainSet as TrainSet

__all__ = ["load_image", "PROTOCOLS", "psnr", "ssim", "SETS", "TrainSet"]
