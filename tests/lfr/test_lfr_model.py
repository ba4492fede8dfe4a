"""defian.lfr.model and defian.lfr.asdn: presets, trunks, sizes, recursion order, named errors."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from defian.lfr.asdn import ASDNTrunk
from defian.lfr.levels import ScaleOutOfRange, deploy
from defian.lfr.model import PRESETS, LFRConfig, build_lfr_model, make_lfr_config
from defian.lfr.resample import bicubic
from defian.nn.defiam import DeFiAM

TINY = {"n_modules": 1, "n_blocks": 1, "channels": 8}
TINY_ASDN = {"n_modules": 2, "n_blocks": 2, "channels": 8, "growth": 4}


def _ceil(s: float, n: int) -> int:
    return math.ceil(Fraction(str(s)) * n)  # MATLAB's ceil(s n), in the decimal meaning


def test_presets() -> None:
    assert PRESETS["asdn"] == {"trunk": "asdn", "n_modules": 16, "n_blocks": 8, "channels": 64, "growth": 64}
    assert PRESETS["asdn_s"] == {"trunk": "asdn", "n_modules": 8, "n_blocks": 4, "channels": 32, "growth": 32}
    assert make_lfr_config("defian_lfr_s") == LFRConfig()  # DeFiAN_S trunk, 11 levels, (1, 4], pre-upsampling
    assert make_lfr_config("rcan_lfr_s").attention is False
    with pytest.raises(ValueError, match="unknown model"):
        build_lfr_model("edsr")
    with pytest.raises(ValueError, match="unknown switch"):
        build_lfr_model("asdn", depth=3)
    for field, bad in (("trunk", "unet"), ("upsampling", "mid"), ("deployment", "random"), ("channels", 0),
                       ("max_scale", 1.0)):
        with pytest.raises(ValueError, match=f"LFRConfig.{field}"):
            LFRConfig(**{field: bad})


def test_asdn_parameter_count_from_the_slides_sizes() -> None:
    c, g, n, m, L = 64, 64, 16, 8, 11  # slides: 64 filters, 16 DABs, 8 convolutions per IDB, 11 levels
    conv = lambda i, o, k: i * o * k * k + o
    idb = lambda k: conv((k + 1) * c, c, 1) + sum(conv(c + j * g, g, 3) for j in range(m)) + conv(c + m * g, c, 1)
    dab = lambda k: idb(k) + conv(c, c // 16, 1) + conv(c // 16, c, 1) + conv(c, 2 * c, 1) + conv(2 * c, c, 1)
    expected = conv(3, c, 3) + sum(dab(k) for k in range(n)) + L * conv(c * (n + 1), 3, 1)
    with torch.device("meta"):
        model = build_lfr_model("asdn")
    assert model.trunk.out_channels == 64 * 17 and len(model.trunk.blocks) == 16
    assert sum(p.numel() for p in model.parameters()) == expected == 22_703_009


def test_asdn_trunk_wiring_float64() -> None:
    torch.manual_seed(0)
    trunk = ASDNTrunk(8, 2, 2, 4).double().eval()
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    f0 = trunk.shallow(x)
    d1 = trunk.blocks[0](f0)
    d2 = trunk.blocks[1](torch.cat([f0, d1], 1))
    assert torch.equal(trunk(x), torch.cat([f0, d1, d2], 1))
    idb = trunk.blocks[0].idb
    c = idb.compress_in(f0)
    h1 = torch.relu(idb.convs[0](c))
    h2 = torch.relu(idb.convs[1](torch.cat([c, h1], 1)))
    torch.testing.assert_close(idb(f0), c + idb.compress_out(torch.cat([c, h1, h2], 1)), rtol=0, atol=1e-12)


def test_attention_switch_of_the_defiam_trunk() -> None:
    on = build_lfr_model("defian_lfr_s", **TINY)
    off = build_lfr_model("rcan_lfr_s", **TINY)
    mods = lambda m: [x for x in m.trunk.body if isinstance(x, DeFiAM)]
    assert all(d.endec is not None and d.dac is not None for d in mods(on))
    assert all(d.endec is None for d in mods(off))
    assert sum(p.numel() for p in on.parameters()) > sum(p.numel() for p in off.parameters())


@pytest.mark.parametrize("name", ["defian_lfr_s", "rcan_lfr_s", "asdn"])
@pytest.mark.parametrize("scale", [1.1, 1.5, 1.75, 2.0, 2.5, 3.3, 3.5, 4.0])
def test_output_size_is_ceil_s_n(name: str, scale: float) -> None:
    model = build_lfr_model(name, **(TINY_ASDN if name == "asdn" else TINY))
    with torch.no_grad():
        y = model(torch.rand(1, 3, 7, 5), scale)
    assert y.shape == (1, 3, _ceil(scale, 7), _ceil(scale, 5))


def _spy(model: torch.nn.Module) -> list[tuple[float, tuple[int, int], tuple[int, int]]]:
    log: list[tuple[float, tuple[int, int], tuple[int, int]]] = []
    step = model.step

    def spy(x: torch.Tensor, ratio: float, size: tuple[int, int] | None = None) -> torch.Tensor:
        y = step(x, ratio, size)
        log.append((ratio, tuple(x.shape[-2:]), tuple(y.shape[-2:])))
        return y

    model.step = spy  # type: ignore[method-assign]
    return log


@pytest.mark.parametrize(
    ("scale", "steps"),
    [
        (1.7, [(1.7, (7, 5), (12, 9))]),
        (3.0, [(2.0, (7, 5), (14, 10)), (1.5, (14, 10), (21, 15))]),  # slides: R = 3 -> 2 then 1.5
        (3.5, [(2.0, (7, 5), (14, 10)), (1.75, (14, 10), (25, 18))]),
        (4.0, [(2.0, (7, 5), (14, 10)), (2.0, (14, 10), (28, 20))]),
    ],
)
def test_recursion_follows_the_largest_first_rule(scale: float, steps: list) -> None:
    model = build_lfr_model("rcan_lfr_s", **TINY)
    log = _spy(model)
    with torch.no_grad():
        y = model(torch.rand(1, 3, 7, 5), scale)
    assert log == steps and y.shape[-2:] == (_ceil(scale, 7), _ceil(scale, 5))


def test_other_rules_and_the_final_size() -> None:
    model = build_lfr_model("rcan_lfr_s", **TINY)
    log = _spy(model)
    with torch.no_grad():
        y = model(torch.rand(1, 3, 7, 5), 3, deployment=deploy(3, "smallest_first"))
    # 7 * 1.5 -> 11 (ceil 10.5), then the last step goes to ceil(3 * 7) = 21, not 22
    assert [(float(r), a, b) for r, a, b in log] == [(1.5, (7, 5), (11, 8)), (2.0, (11, 8), (21, 15))]
    assert y.shape[-2:] == (21, 15)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 7, 5), 2.5, out_size=(17, 12)).shape[-2:] == (17, 12)


def test_forward_is_the_composition_of_steps_float64() -> None:
    torch.manual_seed(0)
    model = build_lfr_model("defian_lfr_s", **TINY).double().eval()
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(model(x, 3.0), model.step(model.step(x, 2.0), 1.5))
        x_up = bicubic(x, (9, 8), 1.5)  # one step, pre-upsampling: head(trunk(x_up - mean), x_up, r)
        ref = model.head(model.trunk(x_up - model.rgb_mean), x_up, 1.5)
        assert torch.equal(model(x, 1.5), ref)


def test_post_upsampling_variant() -> None:
    torch.manual_seed(0)
    model = build_lfr_model("asdn", **TINY_ASDN, upsampling="post").double().eval()
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        f = bicubic(model.trunk(x - model.rgb_mean), (8, 7), 1.27)  # trunk at LR, features resampled
        ref = model.head(f, bicubic(x, (8, 7), 1.27), 1.27)
        assert torch.equal(model(x, 1.27), ref)


def test_scale_errors_are_named() -> None:
    model = build_lfr_model("rcan_lfr_s", **TINY)
    x = torch.rand(1, 3, 4, 4)
    for bad in (4.5, 8, 1, 1.0, 0.5, float("nan")):
        with pytest.raises(ScaleOutOfRange, match=r"outside this model's range \(1, 4.0\]"):
            model(x, bad)
    assert build_lfr_model("rcan_lfr_s", **TINY, max_scale=8.0).plan(8).ratios == (2, 2, 2)
    with pytest.raises(ValueError, match="expects \\(B, 3, h, w\\)"):
        model(torch.rand(1, 1, 4, 4), 2.0)
    with pytest.raises(ValueError, match="deployment is for scale"):
        model(x, 3.0, deployment=deploy(2.5))
