"""U-HDB / U-HDN (defian.ikm.uhdn): Eq. (19)'s skips, shapes, presets, named errors."""

from __future__ import annotations

import pytest
import torch

from defian.ikm.backbones import ResidualDenseBlock
from defian.ikm.operator import IKMError
from defian.ikm.uhdn import PRESETS, UHDB, DenseUnit, Upsampler, build, config

TINY = {"n_blocks": 1, "depths": (1, 2, 1, 1, 2, 1), "channels": 4, "growth": 2}


def test_dense_unit_concatenates_then_fuses():
    unit = DenseUnit(4, 2, 3, attention="vanilla").double()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    f = x
    for layer in unit.layers:  # Eq. (16): each layer sees all earlier outputs
        f = torch.cat((f, torch.relu(torch.nn.functional.conv2d(f, layer.conv.weight, padding=1))), 1)
    assert f.shape[1] == 4 + 3 * 2
    torch.testing.assert_close(unit(x), torch.nn.functional.conv2d(f, unit.transition.weight), rtol=0, atol=1e-12)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_u_style_skips_of_eq_19(m):
    block = UHDB(4, 2, (1,) * m, attention="vanilla").double()
    x = torch.randn(1, 4, 5, 4, dtype=torch.float64)
    u = block.units
    if m == 2:
        want = u[1](u[0](x)) + x
    elif m == 4:
        x1 = u[0](x)
        x2 = u[1](x1)
        want = u[3](u[2](x2) + x1) + x
    else:
        x1 = u[0](x)
        x2 = u[1](x1)
        x3 = u[2](x2)
        want = u[5](u[4](u[3](x3) + x2) + x1) + x
    torch.testing.assert_close(block(x), want, rtol=0, atol=1e-12)
    plain = UHDB(4, 2, (1,) * m, u_style=False, attention="vanilla").double()
    plain.load_state_dict(block.state_dict())
    y = x
    for unit in u:
        y = unit(y)
    torch.testing.assert_close(plain(x), x + y, rtol=0, atol=1e-12)


def test_rdb_fuses_input_and_unit_outputs():
    block = ResidualDenseBlock(4, 2, (1, 1), attention="vanilla").double()
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64)
    x1 = x + block.units[0](x)
    x2 = x1 + block.units[1](x1)
    want = torch.nn.functional.conv2d(torch.cat((x, x1, x2), 1), block.fusion.weight)
    torch.testing.assert_close(block(x), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("attention", ["vanilla", "ca", "sa", "ikm"])
def test_tiny_uhdn_upscales(scale, attention):
    model = build("U-HDN", scale, attention, **TINY)
    y = model(torch.randn(2, 3, 6, 5))
    assert y.shape == (2, 3, 6 * scale, 5 * scale) and torch.isfinite(y).all()


def test_ikm_and_vanilla_share_parameters():
    ikm, vanilla = build("U-HDN", 2, "ikm", **TINY), build("U-HDN", 2, "vanilla", **TINY)
    assert [(k, v.shape) for k, v in ikm.state_dict().items()] == [(k, v.shape) for k, v in vanilla.state_dict().items()]
    vanilla.load_state_dict(ikm.state_dict())
    x = torch.randn(2, 3, 6, 6)
    assert not torch.allclose(ikm(x), vanilla(x))  # same weights, modulated kernels


def test_presets_are_explicit_and_named():
    assert set(PRESETS) >= {"U-HDN", "U-HDNL"}
    assert config("U-HDN").depths == (6, 5, 4, 4, 5, 6) and config("U-HDNL").channels == 128
    with pytest.raises(IKMError, match="unknown U-HDN preset"):
        build("UHDN", 2)
    with pytest.raises(IKMError, match="unknown switch.*depth.*valid switches"):
        build("U-HDN", 2, depth=3)
    with pytest.raises(IKMError, match="attention"):
        build("U-HDN", 2, attention="se", **TINY)
    with pytest.raises(IKMError, match="even length"):
        UHDB(4, 2, (1, 1, 1))
    with pytest.raises(IKMError, match="scale=5"):
        Upsampler(8, 5)
