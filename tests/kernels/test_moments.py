"""defian.kernels.moments: the DAC's statistics by the C++ kernel against :func:`defian.nn.dac.mean_std`."""

from __future__ import annotations

import shutil

import pytest
import torch

from defian.kernels import extension
from defian.kernels.moments import mean_std
from defian.nn import dac


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_mean_std_in_float32_keeps_float64_accuracy(offset: float) -> None:
    # a feature far from zero mean is where a one-pass E[x^2] - E[x]^2 would lose every digit
    torch.manual_seed(4)
    x64 = offset + 0.5 * torch.randn(3, 8, 40, 40, dtype=torch.float64)
    x32 = x64.float()
    want_mean, want_std = dac.mean_std(x32.double())  # the float32 values, in float64 arithmetic
    mean, std = mean_std(x32.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(mean.double(), want_mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(std.double(), want_std, rtol=2e-5, atol=0)
    torch.testing.assert_close(want_std, (x32.double().var(dim=(2, 3), keepdim=True) + 1e-5).sqrt(), rtol=1e-12, atol=0)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++ compiler")
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (2, 32, 11, 13), (2, 1, 1, 2)])
def test_mean_std_kernel_equals_the_expression_in_float64(shape: tuple[int, ...],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The C++ kernel's statistics and input gradient (channels-last input) against the PyTorch
    expression (DEFIAN_CPP=0), with pixel counts below, above and not a multiple of its blocks."""
    monkeypatch.setenv(extension.ENV, "1")
    assert extension.kernel("gate_cpu") is not None
    g = torch.Generator().manual_seed(6)
    x = (3.0 + torch.randn(shape, generator=g, dtype=torch.float64)).contiguous(memory_format=torch.channels_last)
    wm, ws = (torch.randn(shape[0], shape[1], 1, 1, generator=g, dtype=torch.float64) for _ in range(2))
    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(extension.ENV, flag)
        xr = x.clone().requires_grad_()
        mean, std = mean_std(xr)
        assert mean.grad_fn.name().startswith("_Fused") == (flag == "1")  # kernel against expression
        out[flag] = (mean, std, *torch.autograd.grad((mean * wm).sum() + (std * ws).sum(), xr))
    for a, b in zip(out["1"], out["0"], strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_the_fallback_equals_the_reference_bit_for_bit() -> None:
    """Off the kernel's conditions (NCHW input) the result is the reference expression's, to the bit."""
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for a, b in zip(mean_std(x, 1e-3), dac.mean_std(x, 1e-3), strict=True):
        assert torch.equal(a, b)
