"""The IKM operator (defian.ikm.operator): attention values, parameter counts, named errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from defian.ikm.operator import (
    IKMConv2d,
    IKMError,
    kernel_attention,
    modulate,
    principal_information,
)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_principal_information_is_a_closed_threshold():
    x = torch.tensor([-1.0, -0.0, 0.0, 0.5, 2.0])
    assert principal_information(x).tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]  # x >= 0, as where(x < 0, 0, 1)
    assert principal_information(x, 0.5).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_attention_of_one_principal_pixel_by_hand():
    # a 3 x 3 map pooled to 3 x 3 is itself: p = one-hot at the centre
    x = -torch.ones(1, 1, 3, 3, dtype=torch.float64)
    x[0, 0, 1, 1] = 2.0
    e = math.e
    centre, other = e / (e + 8), 1 / (e + 8)  # 2D softmax of the one-hot
    paper = kernel_attention(x, 3, "paper")[0, 0]
    released = kernel_attention(x, 3, "released")[0, 0]
    assert paper[1, 1].item() == pytest.approx(1 + _sigmoid(9 * centre - 1), abs=1e-15)
    assert paper[0, 0].item() == pytest.approx(1 + _sigmoid(9 * other - 1), abs=1e-15)
    assert released[1, 1].item() == pytest.approx(9 * centre, abs=1e-14)
    assert released[2, 2].item() == pytest.approx(9 * other, abs=1e-14)


def test_attention_pools_to_the_kernel_size():
    # 6 x 6 pooled to 3 x 3: 2 x 2 windows; the top-left window holds 3 principal pixels of 4
    x = -torch.ones(1, 1, 6, 6, dtype=torch.float64)
    x[0, 0, 0, 0] = x[0, 0, 0, 1] = x[0, 0, 1, 0] = 1.0
    p = torch.zeros(9, dtype=torch.float64)
    p[0] = 0.75
    want = 9 * torch.softmax(p, 0)
    assert torch.allclose(kernel_attention(x, 3, "released").flatten(), want, atol=1e-15)


def test_uniform_and_post_relu_inputs_give_a_constant_attention():
    x = torch.relu(torch.randn(2, 3, 8, 7, dtype=torch.float64))  # >= 0 everywhere: P = 1
    assert torch.equal(kernel_attention(x, 3, "paper"), torch.full((2, 3, 3, 3), 1.5, dtype=torch.float64))
    assert torch.allclose(kernel_attention(x, 3, "released"), torch.ones(2, 3, 3, 3, dtype=torch.float64),
                          atol=1e-15)


@pytest.mark.parametrize("variant, low, high", [("paper", 1.353, 1.783), ("released", 0.396, 2.283)])
def test_attention_bounds_for_k3(variant, low, high):
    # extremes: one tap at p = 1 with the others at 0, and the reverse
    k, e = 3, math.e
    top, bottom = e / (e + k * k - 1), 1 / (1 + (k * k - 1) * e)
    f = (lambda s: 1 + _sigmoid(k * k * s - 1)) if variant == "paper" else (lambda s: k * k * s)
    assert round(f(bottom), 3) == low and round(f(top), 3) == high
    a = kernel_attention(torch.randn(4, 5, 9, 9, dtype=torch.float64), 3, variant)
    assert a.min() >= f(bottom) - 1e-12 and a.max() <= f(top) + 1e-12


def test_modulate_reweights_each_tap_per_input_channel():
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    a = torch.rand(2, 3, 3, 3, dtype=torch.float64)
    m = modulate(w, a)
    assert m.shape == (2, 4, 3, 3, 3)
    for b in range(2):
        for o in range(4):
            assert torch.equal(m[b, o], w[o] * a[b])  # Eq. (12): A repeated over C_out
    with pytest.raises(IKMError, match="does not match kernel"):
        modulate(w, torch.rand(2, 4, 3, 3))


@pytest.mark.parametrize("k, dilation, bias", [(1, 1, False), (3, 1, True), (5, 2, False)])
def test_paper_variant_adds_no_parameter(k, dilation, bias):
    ikm = IKMConv2d(6, 5, k, dilation, bias)
    plain = nn.Conv2d(6, 5, k, padding=dilation * (k - 1) // 2, dilation=dilation, bias=bias)
    assert sum(p.numel() for p in ikm.parameters()) == sum(p.numel() for p in plain.parameters())
    released = IKMConv2d(6, 5, k, dilation, bias, variant="released")
    assert sum(p.numel() for p in released.parameters()) == sum(p.numel() for p in plain.parameters()) + 1


def test_released_threshold_never_gets_a_gradient():
    layer = IKMConv2d(3, 4, 3, variant="released")
    layer(torch.randn(2, 3, 5, 5)).square().sum().backward()
    assert layer.threshold.grad is None and layer.weight.grad is not None


def test_unmodulated_layer_is_the_plain_convolution():
    layer = IKMConv2d(3, 4, 3, bias=True, modulate=False).double()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    assert torch.equal(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1))


@pytest.mark.parametrize("kwargs, match", [
    ({"kernel_size": 2}, "odd integer"),
    ({"kernel_size": 0}, "odd integer"),
    ({"in_channels": 0}, "in_channels"),
    ({"variant": "como"}, "variant"),
    ({"optimization": "sgd"}, "optimization"),
    ({"method": "loop"}, "method"),
])
def test_bad_layer_arguments_are_named(kwargs, match):
    args = {"in_channels": 3, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(IKMError, match=match):
        IKMConv2d(**args)


def test_bad_inputs_are_named():
    layer = IKMConv2d(3, 4, 3)
    with pytest.raises(IKMError, match=r"expects \(B, 3, H, W\)"):
        layer(torch.randn(2, 5, 6, 6))
    with pytest.raises(IKMError, match=r"\(B, C, H, W\)"):
        kernel_attention(torch.randn(3, 6, 6), 3)
    with pytest.raises(IKMError, match="odd integer"):
        kernel_attention(torch.randn(1, 3, 6, 6), 4)


@pytest.mark.parametrize("h, w", [(9, 6), (7, 8), (2, 4)])
def test_attention_equals_adaptive_pooling_of_the_threshold_map(h, w):
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    p = F.adaptive_avg_pool2d(principal_information(x), 3).reshape(2, 3, 9)
    want = 9 * torch.softmax(p, 2)
    torch.testing.assert_close(kernel_attention(x, 3, "released").reshape(2, 3, 9), want, rtol=0, atol=1e-15)
