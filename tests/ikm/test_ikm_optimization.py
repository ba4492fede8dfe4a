"""IsO (Algorithm 1) and GO (footnote 1): exact against a per-image loop, forward and backward, float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from defian.ikm.operator import (
    METHODS,
    IKMConv2d,
    go_conv2d,
    iso_conv2d,
    kernel_attention,
)

TOL = {"rtol": 0, "atol": 1e-12}


def _tensors(b: int = 3, c_in: int = 4, c_out: int = 5, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c_in, 7, 6, generator=g, dtype=torch.float64)
    w = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64)
    a = 0.5 + torch.rand(b, c_in, k, k, generator=g, dtype=torch.float64)
    bias = torch.randn(c_out, generator=g, dtype=torch.float64)
    return x, w, a, bias


def _grads(fn, x, w, a, bias, seed: int = 1):
    leaves = [t.clone().requires_grad_() for t in (x, w, a, bias)]
    y = fn(*leaves)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return [y, *torch.autograd.grad(y, leaves, g)]


def _loop_iso(x, w, a, bias, dilation=1):
    """Algorithm 1 image by image: y_b = conv(x_b, W * A_b), an independent restatement."""
    pad = dilation * (w.shape[2] - 1) // 2
    return torch.cat([F.conv2d(x[i:i + 1], w * a[i].unsqueeze(0), bias, padding=pad, dilation=dilation)
                      for i in range(x.shape[0])])


def _loop_go(x, w, a, bias):
    """Footnote 1 image by image: every image uses W * (sum_b A_b) / B."""
    shared = sum(a[i] for i in range(a.shape[0])) / a.shape[0]
    return torch.cat([F.conv2d(x[i:i + 1], w * shared.unsqueeze(0), bias, padding=1) for i in range(x.shape[0])])


@pytest.mark.parametrize("method", METHODS)
def test_iso_equals_the_per_image_loop(method):
    x, w, a, bias = _tensors()
    ours = _grads(lambda *t: iso_conv2d(*t, method=method), x, w, a, bias)
    ref = _grads(_loop_iso, x, w, a, bias)
    for name, p, q in zip(("y", "dx", "dW", "dA", "dbias"), ours, ref):
        torch.testing.assert_close(p, q, **TOL, msg=f"{method}: {name}")


@pytest.mark.parametrize("method", METHODS)
def test_iso_with_dilation_equals_the_loop(method):
    x, w, a, bias = _tensors(k=3, seed=2)
    ours = _grads(lambda *t: iso_conv2d(*t, dilation=2, method=method), x, w, a, bias)
    ref = _grads(lambda *t: _loop_iso(*t, dilation=2), x, w, a, bias)
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p, q, **TOL)


def test_go_equals_the_averaged_form():
    x, w, a, bias = _tensors(seed=3)
    for p, q in zip(_grads(go_conv2d, x, w, a, bias), _grads(_loop_go, x, w, a, bias)):
        torch.testing.assert_close(p, q, **TOL)


def test_iso_and_go_differ_for_a_batch_and_agree_for_one_image():
    x, w, a, bias = _tensors(seed=4)
    assert (iso_conv2d(x, w, a, bias) - go_conv2d(x, w, a, bias)).abs().max() > 1e-3
    one = [t[:1] if t.dim() == 4 else t for t in (x, w, a, bias)]
    one[1] = w  # the kernel is not batched
    for p, q in zip(_grads(iso_conv2d, *one), _grads(go_conv2d, *one)):
        torch.testing.assert_close(p, q, **TOL)


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_layer_modulates_each_image_by_its_own_attention(variant):
    layer = IKMConv2d(4, 5, 3, bias=True, variant=variant).double()
    x = torch.randn(3, 4, 9, 8, dtype=torch.float64)
    per_image = torch.cat([F.conv2d(x[i:i + 1], layer.weight * kernel_attention(x[i:i + 1], 3, variant),
                                    layer.bias, padding=1) for i in range(3)])
    torch.testing.assert_close(layer(x), per_image, **TOL)
    layer.optimization = "go"
    shared = kernel_attention(x, 3, variant).mean(0, keepdim=True)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight * shared, layer.bias, padding=1), **TOL)
