"""CoMo-S in Part II's modules: the zoo network is :class:`defian.ikm.IKMConv2d` (released variant)
with the released weights, checked against a functional restatement of the released file.

The restatement reads the released ``CoMo-S_x{s}.pth`` by its own key names and
shapes (``input``, ``body.{n}.body.{u}.body.{l}.layer.0.{threshold,Conv2d.weight}``,
``body.{n}.body.{u}.gate.0.Conv2d.{weight,bias}``, ``body.4``, ``tail.0.*``, ``tail.1``)
and computes every modulated layer from the operator's definition, image by image,
in patch form (Eq. 8 of the IKM paper: the kernel taps reweighted by the attention),
with the attention's adaptive-pooling cells written out as index ranges. Wiring
facts (U-HDB skips, LeakyReLU 0.1, DF2K normalisation) are those of the released
``model.py``/``option.py`` (YuanfeiHuang/IKM@b76ac4f, as :mod:`defian.zoo.como` cites).
Skipped without the released files.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from defian.ikm import IKMConv2d
from defian.zoo import como

MEAN, STD, SLOPE = (0.466, 0.448, 0.403), (0.242, 0.234, 0.246), 0.1  # released main.py / option.py


pytestmark = pytest.mark.usefixtures("one_thread")


def _cells(n: int, k: int) -> list[slice]:
    """Adaptive pooling cells of a side n into k: [floor(i n / k), ceil((i + 1) n / k))."""
    return [slice((i * n) // k, -(-(i + 1) * n // k)) for i in range(k)]


def _modulated_conv(x: torch.Tensor, weight: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """One released modulated 3x3 layer, per image, in patch form. x: (B, C, H, W) -> (B, C_out, H, W)."""
    c_out, c_in, k, _ = weight.shape
    out = []
    for xb in x:  # IsO: every image has its own kernel
        mask = (xb >= tau).to(xb.dtype)  # principal information, Eq. (10)
        h, w = mask.shape[1:]
        p = torch.stack([torch.stack([mask[:, r, c].mean(dim=(1, 2)) for c in _cells(w, k)], dim=1)
                         for r in _cells(h, k)], dim=1)  # (C, k, k)
        a = (k * k) * torch.softmax(p.reshape(c_in, k * k), dim=1).reshape(c_in, k, k)  # released: k^2 softmax
        patches = F.unfold(xb[None], k, padding=k // 2).reshape(c_in, k, k, h * w)  # (C, k, k, HW)
        out.append(torch.einsum("oiuv,iuvp->op", weight, patches * a[..., None]).reshape(c_out, h, w))
    return torch.stack(out)


def _restated_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, scale: int) -> torch.Tensor:
    """CoMo-S from the released state dict's keys; x: (B, 3, h, w) RGB in [0, 1] -> (B, 3, s h, s w)."""
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    f = F.conv2d((x - mean) / std, sd["input.weight"], sd["input.bias"], padding=1)

    def unit(n: int, u: int, y: torch.Tensor) -> torch.Tensor:
        pre = f"body.{n}.body.{u}"
        l = 0
        while f"{pre}.body.{l}.layer.0.Conv2d.weight" in sd:
            z = _modulated_conv(y, sd[f"{pre}.body.{l}.layer.0.Conv2d.weight"], sd[f"{pre}.body.{l}.layer.0.threshold"])
            y = torch.cat([y, F.leaky_relu(z, SLOPE)], dim=1)
            l += 1
        return F.conv2d(y, sd[f"{pre}.gate.0.Conv2d.weight"], sd[f"{pre}.gate.0.Conv2d.bias"])

    y = f
    n = 0
    while f"body.{n}.body.0.gate.0.Conv2d.weight" in sd:
        x0 = y
        x1 = unit(n, 0, x0)
        x2 = unit(n, 1, x1)
        x3 = unit(n, 2, x2)
        x4 = unit(n, 3, x3) + x2
        x5 = unit(n, 4, x4) + x1
        y = unit(n, 5, x5) + x0
        n += 1
    y = F.conv2d(y, sd[f"body.{n}.weight"], sd[f"body.{n}.bias"], padding=1) + f
    i = 0
    while f"tail.0.{i}.weight" in sd:  # depthwise 3x3 (C -> r^2 C), 1x1, pixel shuffle by r
        dw, pw = sd[f"tail.0.{i}.weight"], sd[f"tail.0.{i + 1}.weight"]
        y = F.conv2d(F.conv2d(y, dw, padding=1, groups=y.shape[1]), pw)
        y = F.pixel_shuffle(y, round((dw.shape[0] / f.shape[1]) ** 0.5))
        i += 3
    return F.conv2d(y, sd["tail.1.weight"], sd["tail.1.bias"], padding=1) * std + mean


def test_zoo_como_is_built_from_ikm_modules():
    model = como.CoMoNet(2, blocks=1)
    layers = [m for m in model.modules() if isinstance(m, como.CoMoConv)]
    assert len(layers) == 6 * 5 + 6 and all(isinstance(m, IKMConv2d) and m.variant == "released" for m in layers)
    assert sum(m.modulate for m in layers) == 6 + 5 + 4 + 4 + 5 + 6  # the dense layers; transitions are plain


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_released_como_s_equals_restatement(scale, released_root):
    path = released_root / "weights" / "como" / f"CoMo-S_x{scale}.pth"
    sd = torch.load(path, map_location="cpu", weights_only=True)
    model = como.from_file(path, scale).eval()
    x = torch.rand(2, 3, 10, 13, generator=torch.Generator().manual_seed(0))  # H, W not multiples of 3
    with torch.no_grad():
        got, want = model(x), _restated_forward(sd, x, scale)
    assert got.shape == (2, 3, 10 * scale, 13 * scale)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    with torch.no_grad():  # IsO: each image's output does not depend on the rest of the batch
        torch.testing.assert_close(model(x[1:]), got[1:], rtol=0, atol=1e-5)
