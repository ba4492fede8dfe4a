"""Named errors of defian.ikm for bad inputs: wrong kernel size, channels not matching, empty batches,
and the batch of one, which is valid for IsO and GO alike (they coincide there)."""

from __future__ import annotations

import pytest
import torch

from defian.ikm import (
    UHDN,
    IKMConv2d,
    IKMError,
    build,
    go_conv2d,
    iso_conv2d,
    kernel_attention,
    tap_conv2d,
)


def _xwa(b: int = 2, c_in: int = 3, c_out: int = 4, k: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, c_in, 6, 7, generator=g, dtype=torch.float64)
    return x, torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64), kernel_attention(x, k)


@pytest.mark.parametrize("fn", [iso_conv2d, go_conv2d, tap_conv2d])
@pytest.mark.parametrize("case, match", [
    ("even kernel", "odd integer"),
    ("non-square kernel", r"\(C_out, C_in, k, k\)"),
    ("attention of another kernel size", r"attention must be \(B, C_in, k, k\)"),
    ("channels", "x has 5 channels, the kernel expects C_in=3"),
    ("attention of another batch", r"attention must be \(B, C_in, k, k\) = \(2, 3, 3, 3\)"),
    ("empty batch", "at least one image"),
    ("bias", r"bias must be \(C_out,\) = \(4,\)"),
    ("dilation", "dilation must be a positive integer"),
])
def test_functional_inputs_are_named(fn, case, match):
    x, w, a = _xwa()
    args, kwargs = [x, w, a], {}
    if case == "even kernel":
        args[1], args[2] = torch.randn(4, 3, 2, 2, dtype=torch.float64), kernel_attention(x, 3)[..., :2, :2]
    elif case == "non-square kernel":
        args[1] = torch.randn(4, 3, 3, 1, dtype=torch.float64)
    elif case == "attention of another kernel size":
        args[2] = kernel_attention(x, 5)
    elif case == "channels":
        args[0] = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    elif case == "attention of another batch":
        args[2] = a[:1]
    elif case == "empty batch":
        args[0], args[2] = x[:0], a[:0]
    elif case == "bias":
        kwargs["bias"] = torch.zeros(3, dtype=torch.float64)
    elif case == "dilation":
        kwargs["dilation"] = 0
    with pytest.raises(IKMError, match=match):
        fn(*args, **kwargs)


def test_tap_conv2d_chunk_is_named():
    x, w, a = _xwa()
    for chunk in (0, 1.5):
        with pytest.raises(IKMError, match="chunk must be a positive integer"):
            tap_conv2d(x, w, a, chunk=chunk)


def test_layer_channels_and_kernel_size_are_named():
    with pytest.raises(IKMError, match="kernel_size must be an odd integer >= 1.*got 4"):
        IKMConv2d(3, 4, 4)
    with pytest.raises(IKMError, match=r"IKMConv2d expects \(B, 3, H, W\), got shape \(1, 4, 5, 5\)"):
        IKMConv2d(3, 4, 3)(torch.randn(1, 4, 5, 5))


def test_network_takes_rgb_only():
    model = build("U-HDN", 2, "ikm", n_blocks=1, depths=(1, 1), channels=8, growth=4)
    assert isinstance(model, UHDN)
    with pytest.raises(IKMError, match=r"RGB images \(B, 3, H, W\), got shape \(1, 1, 6, 6\)"):
        model(torch.randn(1, 1, 6, 6))


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_batch_of_one_is_valid_and_iso_equals_go(variant):
    layer = IKMConv2d(3, 4, 3, bias=True, variant=variant).double()
    x = torch.randn(1, 3, 6, 7, dtype=torch.float64)
    iso = layer(x)
    layer.optimization = "go"
    torch.testing.assert_close(layer(x), iso, rtol=0, atol=1e-12)
    x2 = torch.cat([x, -x])  # a second, different image: GO now shares an averaged kernel, IsO does not
    layer.optimization = "iso"
    iso2 = layer(x2)
    layer.optimization = "go"
    assert (layer(x2) - iso2).abs().max() > 1e-3
    torch.testing.assert_close(iso2[:1], iso, rtol=0, atol=1e-12)  # IsO: image 0 ignores the batch
