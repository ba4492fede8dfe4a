"""Dataset statistics the models normalise with (Sec. IV-A1 and the released code): one home for each.

* :data:`DIV2K_MEAN`: the mean RGB of the DIV2K training HR images in [0, 1], the
  value EDSR and RCAN subtract; the paper says it subtracts "the mean RGB value of
  the training sets" (Sec. IV-A1).
* :data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`: torchvision's ImageNet statistics,
  which the released code's ``main.py`` normalises with instead.
"""

from __future__ import annotations

__all__ = ["DIV2K_MEAN", "IMAGENET_MEAN", "IMAGENET_STD"]

DIV2K_MEAN: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)  # EDSR/RCAN convention
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)  # released code, main.py
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)  # released code, main.py
