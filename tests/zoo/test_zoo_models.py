"""The re-implemented networks, without any released file: sizes, parameter counts, reference twins.

Parameter counts of freshly built models are compared with the counts the
released files hold (``../shared/released/README.md``), so an architecture
error shows even where the files are absent. Each unusual piece (replicate
padding, FSRCNN's padded deconvolution, IDN's Caffe deconvolution geometry,
LapSRN's cropped transposed convolutions, CoMo's per-image kernels) is
checked against an independent float64 computation written from the
authors' code semantics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from defian.zoo import carn, como, fsrcnn, idn, imdn, lapsrn, srcnn, vdsr

pytestmark = pytest.mark.usefixtures("one_thread")


README_PARAMS = [  # (builder, count in ../shared/released/README.md)
    (lambda: srcnn.SRCNN(f2=5), 57281), (lambda: srcnn.SRCNN(f2=1), 8129),
    *[(lambda s=s: fsrcnn.FSRCNN(s), 12644) for s in (2, 3, 4)],
    (lambda: vdsr.VDSR(), 665921), (lambda: lapsrn.LapSRN(2), 407441), (lambda: lapsrn.LapSRN(4), 814242),
    *[(lambda s=s: idn.IDN(s), 552769) for s in (2, 3, 4)],
    *[(lambda s=s: carn.CARNM(s), 414811) for s in (2, 3, 4)],
    (lambda: imdn.IMDN(2), 694404), (lambda: imdn.IMDN(3), 703059), (lambda: imdn.IMDN(4), 715176),
    (lambda: como.CoMoNet(2), 722259), (lambda: como.CoMoNet(3), 874179), (lambda: como.CoMoNet(4), 760851),
]


@pytest.mark.parametrize("build, count", README_PARAMS)
def test_parameter_count_matches_released_files(build, count):
    assert sum(p.numel() for p in build().parameters()) == count


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
            p.requires_grad_(False)
    return model.double().eval()


@pytest.mark.parametrize("make, scale, channels, pre", [
    (lambda: srcnn.SRCNN(5), 3, 1, True), (lambda: fsrcnn.FSRCNN(3), 3, 1, False),
    (lambda: vdsr.VDSR(depth=4), 2, 1, True), (lambda: lapsrn.LapSRN(4, depth=2), 4, 1, False),
    (lambda: carn.CARNM(3), 3, 3, False), (lambda: imdn.IMDN(4), 4, 3, False),
    (lambda: como.CoMoNet(3, blocks=1), 3, 3, False),
])
def test_forward_output_size(make, scale, channels, pre):
    h, w = 7, 9
    x = torch.rand(1, channels, h * scale if pre else h, w * scale if pre else w, dtype=torch.float64)
    with torch.no_grad():
        y = _randomise(make())(x)
    assert y.shape == (1, channels, h * scale, w * scale)


def test_idn_forward_output_size_and_skip():
    model = _randomise(idn.IDN(3, blocks=1))
    y, up = torch.rand(1, 1, 6, 5, dtype=torch.float64), torch.rand(1, 1, 18, 15, dtype=torch.float64)
    with torch.no_grad():
        out = model(y, up)
        model.upsample.weight.zero_()
        model.upsample.bias.zero_()
        skip_only = model(y, up)
    assert out.shape == (1, 1, 18, 15)
    assert torch.equal(skip_only, up)  # zero residual: the output is the bicubic image itself


def test_srcnn_matches_imfilter_replicate():
    """conv1 of SRCNN.m: imfilter(x, w, 'same', 'replicate') + b, i.e. correlation with nearest-edge padding."""
    model = _randomise(srcnn.SRCNN(5))
    x = np.random.default_rng(1).random((11, 13))
    with torch.no_grad():
        got = model.conv1(torch.from_numpy(x)[None, None])[0, 3].numpy()
    w, b = model.conv1.weight[3, 0].numpy(), model.conv1.bias[3].item()
    want = ndimage.correlate(x, w, mode="nearest") + b
    np.testing.assert_allclose(got, want, atol=1e-12)


def _matlab_fsrcnn_deconv(x: np.ndarray, f: np.ndarray, s: int, start: int) -> np.ndarray:
    """deconv.m of FSRCNN as loops: replicate-pad by 1, scatter x[i, j] * f at (i s, j s), crop."""
    xp = np.pad(x, 1, mode="edge")
    k = f.shape[0]
    out = np.zeros((xp.shape[0] * s + k, xp.shape[1] * s + k))
    for i in range(xp.shape[0]):
        for j in range(xp.shape[1]):
            out[i * s:i * s + k, j * s:j * s + k] += xp[i, j] * f
    return out[start:start + s * x.shape[0], start:start + s * x.shape[1]]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_deconvolution_matches_matlab_loops(scale):
    model = _randomise(fsrcnn.FSRCNN(scale, d=2, s=2, m=1))
    feat = torch.rand(1, 2, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        h, w = feat.shape[-2:]
        full = model.deconv(F.pad(feat, (1, 1, 1, 1), mode="replicate"))
        start = fsrcnn.CROP_START[scale]
        got = full[0, 0, start:start + scale * h, start:start + scale * w].numpy()
    want = sum(_matlab_fsrcnn_deconv(feat[0, c].numpy(), model.deconv.weight[c, 0].numpy(), scale, start)
               for c in range(2)) + model.deconv.bias.item()
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_idn_reconstruction_matches_caffe_geometry(scale):
    """Caffe Deconvolution (k 17, pad 8) gives (h-1)s+1 rows aligned with bicubic rows s-1 .. (mycrop)."""
    model = _randomise(idn.IDN(scale, blocks=1))
    y = torch.rand(1, 1, 5, 4, dtype=torch.float64)
    zero = torch.zeros(1, 1, 5 * scale, 4 * scale, dtype=torch.float64)
    with torch.no_grad():
        ours = model(y, zero)
        feat = y
        for conv in model.fblock:
            feat = F.leaky_relu(conv(feat), idn.SLOPE)
        feat = model.dblocks[0](feat)
        caffe = F.conv_transpose2d(feat, model.upsample.weight, model.upsample.bias, stride=scale, padding=8)
    assert caffe.shape[-2:] == (4 * scale + 1, 3 * scale + 1)
    torch.testing.assert_close(ours[..., scale - 1:, scale - 1:], caffe, rtol=0, atol=1e-12)


def test_lapsrn_crops_as_matconvnet():
    """vl_nnconvt output (h-1)*2 + k - crop: 2h for the feature (k 3, crop [0 1 0 1]) and image (k 4, crop 1) paths."""
    level = lapsrn._Level(depth=0, width=2).double()
    feat, img = torch.rand(1, 2, 4, 5, dtype=torch.float64), torch.rand(1, 1, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        f2, i2 = level(feat, img)
        full = F.conv_transpose2d(feat, level.upconv.weight, level.upconv.bias, stride=2)  # (9, 11)
    assert full.shape[-2:] == (9, 11) and f2.shape[-2:] == (8, 10) and i2.shape[-2:] == (8, 10)
    torch.testing.assert_close(f2, F.leaky_relu(full[..., :8, :10], lapsrn.LEAK), rtol=0, atol=1e-12)


def test_como_modulated_conv_matches_patch_form():
    """Eq. (8) of the IKM paper: modulating the input patches equals convolving with the modulated kernel."""
    layer = como.CoMoConv(3, 2, 3).double()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
        layer.threshold.fill_(0.1)
    x = torch.randn(2, 3, 7, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        got = layer(x)
        def bins(n: int) -> list[slice]:  # adaptive pooling cells: [floor(i n / 3), ceil((i + 1) n / 3))
            return [slice((i * n) // 3, -(-(i + 1) * n // 3)) for i in range(3)]

        for b in range(2):
            # attention from its definition: share of pixels >= t in each of the 3x3 adaptive-pooling cells
            mask = (x[b] >= 0.1).double()
            cells = torch.stack([torch.stack([mask[:, r, c].mean(dim=(1, 2)) for c in bins(8)], dim=1)
                                 for r in bins(7)], dim=1)  # (C_in, 3, 3)
            att = 9 * torch.softmax(cells.reshape(3, 9), dim=1).reshape(3, 3, 3)  # (C_in, 3, 3)
            patches = F.unfold(x[b:b + 1], 3, padding=1).reshape(3, 3, 3, -1)  # (C_in, 3, 3, H*W)
            want = torch.einsum("oiuv,iuvp->op", layer.weight, patches * att[..., None]).reshape(2, 7, 8)
            torch.testing.assert_close(got[b], want, rtol=0, atol=1e-10)


def test_como_attention_sums_to_kernel_area():
    layer = como.CoMoConv(4, 1, 3)
    att = layer.attention(torch.randn(2, 4, 10, 12))
    torch.testing.assert_close(att.sum(dim=(2, 3)), torch.full((2, 4), 9.0))


def test_como_released_key_mapping_covers_the_file_layout():
    model = como.CoMoNet(4)
    keys = {como.released_key(k) for k in model.state_dict() if k not in model._not_in_file}
    assert {"input.weight", "body.0.body.0.body.5.layer.0.Conv2d.weight", "body.3.body.5.gate.0.threshold",
            "body.4.bias", "tail.0.4.weight", "tail.1.bias"} <= keys
    assert not any(k.startswith(("blocks.", "head.", "upscale.", "output.", "body_tail.")) for k in keys)


def test_imdn_cca_uses_population_std_plus_mean():
    cca = imdn.ContrastChannelAttention(16)
    with torch.no_grad():
        for p in cca.parameters():
            p.zero_()
        cca.conv_du[2].bias.fill_(1.0)  # sigmoid(1) everywhere
    x = torch.randn(1, 16, 5, 5)
    torch.testing.assert_close(cca(x), x * torch.sigmoid(torch.tensor(1.0)))


def test_carn_efficient_residual_block_shares_weights():
    block = carn.CascadingBlock()
    assert sum(isinstance(m, carn.EfficientResidualBlock) for m in block.modules()) == 1
