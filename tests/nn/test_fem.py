"""defian.nn.fem: RCAB and the FEM chain (Eq. 7) against a float64 re-statement and RCAN's counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from defian.nn.fem import FEM, RCAB, ChannelAttention, Pointwise, hidden_width


def rcab_reference(block: RCAB, x: torch.Tensor) -> torch.Tensor:
    """B(x) = x + f_FE(x) * f_CA(f_FE(x)), written out with torch.nn.functional."""
    r = F.conv2d(F.relu(F.conv2d(x, block.conv1.weight, padding=1)), block.conv2.weight, padding=1)
    s = r.mean(dim=(2, 3), keepdim=True)
    a = torch.sigmoid(F.conv2d(F.relu(F.conv2d(s, block.ca.squeeze.weight, block.ca.squeeze.bias)),
                               block.ca.excite.weight, block.ca.excite.bias))
    return x + r * a


def test_rcab_matches_reference_float64() -> None:
    torch.manual_seed(0)
    block = RCAB(32).double()
    x = torch.randn(2, 32, 9, 7, dtype=torch.float64)
    assert torch.allclose(block(x), rcab_reference(block, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [(1, 1), (5, 4)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_is_the_1x1_convolution(bias: bool, size: tuple[int, int], channels_last: bool) -> None:
    """Output and every gradient equal F.conv2d's in float64; an nn.Conv2d with its state-dict keys."""
    torch.manual_seed(2)
    layer = Pointwise(32, 2, bias=bias).double()
    if channels_last:
        layer = layer.to(memory_format=torch.channels_last)
    assert isinstance(layer, torch.nn.Conv2d) and layer.kernel_size == (1, 1)
    assert set(layer.state_dict()) == ({"weight", "bias"} if bias else {"weight"})
    x = torch.randn(3, 32, *size, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    ref = F.conv2d(x, layer.weight, layer.bias)
    assert y.shape == ref.shape == (3, 2, *size)
    assert torch.allclose(y, ref, rtol=0, atol=1e-13)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, *layer.parameters()], g)
    want = torch.autograd.grad(ref, [x, *layer.parameters()], g)
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_fem_is_the_chain_of_eq7() -> None:
    torch.manual_seed(1)
    fem = FEM(16, 3).double()
    x = torch.randn(1, 16, 6, 5, dtype=torch.float64)
    y = x
    for block in fem.blocks:
        y = rcab_reference(block, y)
    assert torch.allclose(fem(x), y, rtol=0, atol=1e-12)


def test_parameter_counts_rcan() -> None:
    """RCAB(C=64): 2 bias-free 3x3 convs + CA 64->4->64 with biases (released code)."""
    assert sum(p.numel() for p in RCAB(64).parameters()) == 2 * 9 * 64 * 64 + (64 * 4 + 4) + (4 * 64 + 64) == 74_308
    assert sum(p.numel() for p in FEM(64, 20).parameters()) == 20 * 74_308
    assert sum(p.numel() for p in RCAB(32).parameters()) == 2 * 9 * 32 * 32 + (32 * 2 + 2) + (2 * 32 + 32)
    assert RCAB(64).conv1.bias is None and RCAB(64).conv2.bias is None


def test_zero_residual_is_identity_and_attention_in_unit_interval() -> None:
    block = RCAB(16)
    with torch.no_grad():
        block.conv2.weight.zero_()
    x = torch.randn(2, 16, 5, 5)
    assert torch.equal(block(x), x)
    a = ChannelAttention(16)(torch.randn(3, 16, 4, 4))
    assert a.shape == (3, 16, 1, 1) and bool(((a > 0) & (a < 1)).all())


def test_hidden_width() -> None:
    assert hidden_width(64, 16) == 4 and hidden_width(32, 16) == 2 and hidden_width(8, 16) == 1
    with pytest.raises(ValueError, match="channels=0"):
        hidden_width(0, 16)
    with pytest.raises(ValueError, match="n_blocks must be >= 1"):
        FEM(8, 0)
