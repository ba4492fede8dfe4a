"""Side-by-side crops (defian.report.released_crops): the window where bicubic loses most, the images
bicubic handles worst, and a figure whose titles are the whole images' PSNRs."""

from __future__ import annotations

import numpy as np
import pytest

from defian.data import metrics, testsets
from defian.data.images import load_image, mod_crop
from defian.report import released_crops


def test_crop_box_finds_the_damaged_window() -> None:
    hr = np.full((60, 80), 128, np.uint8)
    bicubic = hr.copy()
    bicubic[30:40, 50:60] = 0  # a 10 x 10 error block
    assert released_crops.crop_box(hr, bicubic, 10, 2) == (30, 50)
    bicubic[3:13, 3:13] = 255  # a larger error, but inside the border the metric shaves does not count more
    top, left = released_crops.crop_box(hr, bicubic, 10, 4)
    assert top >= 4 and left >= 4
    only_border = hr.copy()
    only_border[0:10, 0:10] = 255  # the only error, mostly in the border: the window just inside it wins
    assert released_crops.crop_box(hr, only_border, 10, 4) == (4, 4)
    with pytest.raises(ValueError, match="crop size 58 does not fit a 60x80 image less 2 border pixels"):
        released_crops.crop_box(hr, bicubic, 58, 2)


@pytest.mark.usefixtures("one_thread")
def test_crops_figure_on_set5(dev_data, released_root) -> None:
    root = released_root
    fig = released_crops.crops("Set5", 2, methods=["SRCNN-915"], outputs=["DeFiAN_S"], images=1, released=root,
                               data_root=str(dev_data))
    files = testsets.find_set(dev_data, "Set5")[0]
    bic = {f.stem: metrics.psnr(testsets.upscale(testsets.downscale(h, 2), 2), h, 2)
           for f in files for h in [mod_crop(load_image(f), 2)]}
    worst = min(bic, key=bic.get)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == [f"{worst}: HR", f"Bicubic\n{bic[worst]:.2f} dB"]
    assert titles[2].startswith("SRCNN-915\n") and titles[3].startswith("DeFiAN_S\n") and len(titles) == 4
