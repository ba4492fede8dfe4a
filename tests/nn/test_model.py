"""defian.nn.model: presets, switches, the Fig. 2 wiring, upsampler layout, normalisation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import defian
from defian.nn.model import PRESETS, ModelConfig, Upsampler, build_model, to_channels_last

TINY = {"n_modules": 1, "n_blocks": 1, "channels": 8}


def test_presets_paper_iv_b1() -> None:
    assert PRESETS["defian_l"] == {"n_modules": 10, "n_blocks": 20, "channels": 64}
    assert PRESETS["defian_s"] == {"n_modules": 5, "n_blocks": 10, "channels": 32}
    for name in ("rcan_s", "rcan_l"):
        cfg = build_model(name, 2, n_blocks=1).config
        assert not (cfg.mshf or cfg.diendec or cfg.dac)
    assert build_model("defian_s", 3, **TINY).config == ModelConfig(**TINY)
    assert isinstance(defian.build_model("rcan_s", 2, **TINY), torch.nn.Module)


@pytest.mark.parametrize("name", ["defian_s", "defian_l", "rcan_s", "rcan_l"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiny_models_shapes(name: str, scale: int) -> None:
    model = build_model(name, scale, **TINY)
    y = model(torch.rand(2, 3, 7, 5))
    assert y.shape == (2, 3, 7 * scale, 5 * scale) and model.scale == scale


def test_forward_is_fig2_wiring() -> None:
    torch.manual_seed(0)
    model = build_model("defian_s", 2, n_modules=2, n_blocks=1, channels=16).double()
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    mean = model.in_mean  # (0.4488, 0.4371, 0.4040) held in float32, as the model holds it
    assert torch.allclose(mean.flatten(), torch.tensor([0.4488, 0.4371, 0.4040], dtype=torch.float64), atol=1e-7)
    h = F.conv2d(x - mean, model.head.weight, model.head.bias, padding=1)
    b = model.body[1](model.body[0](h))
    t = F.conv2d(b, model.tail.weight, model.tail.bias, padding=1) + h  # tail + global skip
    u = F.pixel_shuffle(F.conv2d(t, model.upsampler[0].weight, padding=1), 2)
    y = F.conv2d(u, model.output.weight, model.output.bias, padding=1) + mean
    assert torch.allclose(model(x), y, rtol=0, atol=1e-12)


def test_upsampler_layout_released() -> None:
    for scale, widths in ((2, [4]), (3, [9]), (4, [4, 4]), (8, [4, 4, 4])):
        up = Upsampler(16, scale)
        convs = [m for m in up if isinstance(m, torch.nn.Conv2d)]
        assert [c.out_channels // 16 for c in convs] == widths and all(c.bias is None for c in convs)
        assert up(torch.randn(1, 16, 3, 2)).shape == (1, 16, 3 * scale, 2 * scale)
    with pytest.raises(ValueError, match="scale must be 3 or a power of two"):
        Upsampler(16, 5)


@pytest.mark.parametrize(
    ("norm", "expected"),
    [("mean_rgb", (0.4488, 0.4371, 0.4040)), ("none", (0.0, 0.0, 0.0)),
     ("imagenet", (2.118 / 4.367, 2.036 / 4.464, 1.804 / 4.444))],
)
def test_normalisation_output_offset(norm: str, expected: tuple[float, ...]) -> None:
    """A network whose last conv outputs 0 returns the de-normalisation's offset."""
    model = build_model("rcan_s", 2, normalisation=norm, **TINY)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    y = model(torch.rand(1, 3, 4, 4))
    assert torch.allclose(y, torch.tensor(expected).view(1, 3, 1, 1).expand_as(y), atol=1e-6)


def test_imagenet_input_normalisation() -> None:
    """Input (x - mean)/std with ImageNet constants: a head with identity-like weights sees it."""
    model = build_model("rcan_s", 2, normalisation="imagenet", **TINY)
    seen = {}
    model.head.register_forward_pre_hook(lambda m, i: seen.update({"in": i[0]}))
    x = torch.rand(1, 3, 4, 4)
    model(x)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    want = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(seen["in"], want)
    assert "in_mean" not in model.state_dict()  # fixed buffers live in the config, not the weights


def test_switches_reach_the_modules() -> None:
    m = build_model("defian_s", 3, kernel_sizes=(5,), endec="convendec", half_depth=2, dac=False, **TINY)
    mod = m.body[0]
    assert mod.mshf.kernel_sizes == (5,) and mod.endec.kind == "convendec" and mod.endec.half_depth == 2
    assert mod.dac is None
    assert build_model("defian_s", 3, diendec=False, **TINY).body[0].endec.half_depth == 0


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown model 'edsr'"):
        build_model("edsr", 2)
    with pytest.raises(ValueError, match="unknown switch\\(es\\) \\['n_resblocks'\\]"):
        build_model("defian_s", 2, n_resblocks=3)
    with pytest.raises(ValueError, match="normalisation='zscore'"):
        build_model("defian_s", 2, normalisation="zscore", **TINY)
    with pytest.raises(ValueError, match="kernel_sizes"):
        build_model("defian_s", 2, kernel_sizes=(4,), **TINY)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        build_model("defian_s", 2, channels=0)
    with pytest.raises(ValueError, match="expects \\(B, 3, h, w\\)"):
        build_model("rcan_s", 2, **TINY)(torch.rand(1, 1, 4, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().channels = 3  # type: ignore[misc]


def test_trains_without_nan_on_flat_image() -> None:
    model = build_model("defian_s", 2, n_modules=2, n_blocks=1, channels=16)
    x = torch.full((2, 3, 8, 8), 0.5)
    loss = (model(x) - 0.5).abs().mean()
    loss.backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


def test_json_style_switches_are_normalised() -> None:
    cfg = build_model("rcan_s", 2, kernel_sizes=[3, 5], rgb_mean=[0.5, 0.5, 0.5], **TINY).config
    assert cfg.kernel_sizes == (3, 5) and cfg.rgb_mean == (0.5, 0.5, 0.5)
    hash(cfg)  # usable as a cache key


def test_channels_last_keeps_the_values_and_the_5d_filter_buffers() -> None:
    # Module.to(memory_format=channels_last) fails on the MSHF's (K, 3, C, 3, 3) buffers
    torch.manual_seed(0)
    net = build_model("defian_s", 2, n_modules=2, n_blocks=1, channels=16).double()
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    with torch.no_grad():
        want = net(x)
        to_channels_last(net)
        got = net(x.contiguous(memory_format=torch.channels_last))
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert net.body[0].mshf.weight.dim() == 5 and net.body[0].mshf.weight.is_contiguous()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
