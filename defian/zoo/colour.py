"""MATLAB's colour conversions on double images, as the Y-channel methods' test scripts use them.

SRCNN, FSRCNN, VDSR, LapSRN and IDN super-resolve the luma only: their MATLAB
test code converts a double RGB image in ``[0, 1]`` with ``rgb2ycbcr``, feeds
Y to the network, upsamples Cb/Cr with ``imresize(..., 'bicubic')`` and
converts back with ``ycbcr2rgb``. For double input MATLAB computes (ITU-R
BT.601, "studio swing")::

    [Y; Cb; Cr] = ([16; 128; 128] + T [R; G; B]) / 255,
    T = [65.481 128.553 24.966; -37.797 -74.203 112.0; 112.0 -93.786 -18.214]

without rounding, and ``ycbcr2rgb`` inverts it exactly and clips to
``[0, 1]``. The book's metric (:mod:`defian.data.metrics`) uses the same
``T`` on uint8 images, with rounding; here everything stays float64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OFFSET", "T", "rgb_to_ycbcr", "ycbcr_to_rgb"]

#: BT.601 matrix of MATLAB's ``rgb2ycbcr`` (rows: Y, Cb, Cr; for RGB in [0, 1], output in [0, 255]).
T = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
#: Offsets of Y, Cb, Cr in [0, 255].
OFFSET = np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` of a double image.

    Args:
        rgb: ``(H, W, 3)`` float, RGB in ``[0, 1]``.

    Returns:
        ``(H, W, 3)`` float64, Y in ``[16, 235] / 255``, Cb/Cr in ``[16, 240] / 255``.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    return (OFFSET + rgb @ T.T) / 255.0


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """MATLAB ``ycbcr2rgb`` of a double image: the exact inverse of :func:`rgb_to_ycbcr`, clipped.

    Args:
        ycbcr: ``(H, W, 3)`` float, as :func:`rgb_to_ycbcr` returns.

    Returns:
        ``(H, W, 3)`` float64 RGB in ``[0, 1]`` (values outside are clipped, as MATLAB does).
    """
    ycbcr = np.asarray(ycbcr, dtype=np.float64)
    rgb = (ycbcr * 255.0 - OFFSET) @ np.linalg.inv(T).T
    return np.clip(rgb, 0.0, 1.0)
