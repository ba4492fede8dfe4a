"""Tests of defian.kernels.mshf: the fused MSHF against :func:`defian.nn.hessian.mshf_reference`.

The fused MSHF (:func:`defian.kernels.accelerate` turns :class:`MSHF` into it)
has two CPU paths, the C++ kernel and the chunked PyTorch one; the ``path``
fixture runs a test on each. The reference is plain depthwise convolutions and Eq. (12).
"""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

import defian.kernels.mshf as mshf_mod
from defian.kernels import accelerate, extension
from defian.nn.hessian import (
    MSHF,
    VARIANTS,
)

F64 = torch.float64
EPS64 = torch.finfo(F64).eps


def only_the_cpp_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the fused MSHF to the C++ kernel and make its PyTorch path fail if it runs.

    Skips where the kernel cannot be built or loaded (no compiler, a failed build): the
    case would otherwise pass through the PyTorch fallback and test nothing of the kernel.
    """
    monkeypatch.setenv(extension.ENV, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the build's own "could not be built" warning
        if extension.kernel("mshf_cpu") is None:
            pytest.skip("the C++ kernel mshf_cpu cannot be built or loaded here: the cpp case would only "
                        "test the PyTorch fallback")

    def fallback(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a cpp case ran the PyTorch path of the fused MSHF, not the C++ kernel")

    monkeypatch.setattr(mshf_mod, "_forward", fallback)
    monkeypatch.setattr(mshf_mod, "_backward", fallback)


@pytest.fixture(params=["cpp", "python"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the C++ kernel (skipped where it cannot be built; a fall-back to the
    PyTorch path fails it) and on the PyTorch path of the fused MSHF."""
    if request.param == "cpp":
        only_the_cpp_kernel(monkeypatch)
    else:
        monkeypatch.setenv(extension.ENV, "0")
    return request.param



@pytest.mark.parametrize("variant", VARIANTS)
def test_mshf_finite_backward_on_flat_input(variant: str, path: str) -> None:
    """Constant image and zero features: finite gradients (zero bias = the degenerate set)."""
    m = accelerate(MSHF(4, variant=variant))
    for x in (torch.full((2, 4, 9, 9), 0.7, requires_grad=True), torch.zeros(2, 4, 9, 9, requires_grad=True)):
        m(x).sum().backward()
        assert x.grad.isfinite().all()
    z = torch.zeros(1, 4, 9, 9, requires_grad=True)
    m.reference(z, plain=True).sum().backward()
    assert z.grad.isnan().any()  # the released formula without its random bias


def test_gradcheck_mshf(path: str) -> None:
    m = accelerate(MSHF(3)).double()
    m.bias.uniform_(-1 / 3, 1 / 3)
    x = torch.randn(2, 3, 7, 8, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    m = MSHF(3, kernel_sizes=(5,), variant="undilated_hv").double()  # eps != delta: the general stencil pair
    assert torch.autograd.gradcheck(m, (x,))


@pytest.mark.parametrize(("chunk", "cpp"), [(40, False), (400, False), (2**17, False), (2**17, True)])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_fused_equals_reference(monkeypatch: pytest.MonkeyPatch, chunk: int, cpp: bool, variant: str,
                                layout: str) -> None:
    """float32, with and without bias, several chunkings of the PyTorch path and the C++ kernel,
    NCHW and channels-last inputs: outputs and gradients to 1e-5."""
    monkeypatch.setattr(mshf_mod, "CHUNK_ELEMENTS", chunk)
    if cpp:
        only_the_cpp_kernel(monkeypatch)
    else:
        monkeypatch.setenv(extension.ENV, "0")
    g = torch.Generator().manual_seed(3)
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    for bias in (False, True):
        m = accelerate(MSHF(7, variant=variant))
        if bias:
            m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 2 / 3 - 1 / 3)
        x = torch.randn(3, 7, 10, 13, generator=g).contiguous(memory_format=fmt).requires_grad_()
        y, yr = m(x), m.reference(x)
        w = torch.randn(y.shape, generator=g)
        gx, = torch.autograd.grad(y, x, w)
        gr, = torch.autograd.grad(yr, x, w)
        assert torch.allclose(y, yr, rtol=1e-5, atol=1e-5)
        assert torch.allclose(gx, gr, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++ compiler")
def test_cpp_kernel_builds_and_equals_the_pytorch_path_in_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a compiler exists the kernel must build (else CPU training silently runs the slow
    path); in float64 it equals the PyTorch path to rounding, forward and input gradient,
    for the paper's and the released dilations, uneven sizes, images smaller than the
    stencils and a batch of one."""
    monkeypatch.setenv(extension.ENV, "1")
    assert extension.kernel("mshf_cpu") is not None
    g = torch.Generator().manual_seed(5)
    for shape, pairs in (((3, 5, 9, 14), ((1, 1), (2, 2), (3, 3))), ((1, 4, 13, 8), ((1, 1), (2, 1), (3, 1))),
                         ((2, 33, 6, 7), ((3, 3),)), ((2, 3, 1, 5), ((1, 1), (3, 3))),
                         ((1, 6, 21, 1), ((2, 2), (3, 3)))):  # one row; one column, three bands of rows
        x = torch.randn(shape, generator=g, dtype=F64)
        bias = torch.randn(len(pairs), 3, shape[1], generator=g, dtype=F64)
        w = torch.randn(shape[0], len(pairs), *shape[2:], generator=g, dtype=F64)
        out = {}
        for flag in ("1", "0"):
            monkeypatch.setenv(extension.ENV, flag)
            xr = x.clone().requires_grad_()
            y = mshf_mod.mshf_fused(xr, pairs, bias)
            out[flag] = (y, *torch.autograd.grad(y, xr, w))
        for a, b in zip(out["1"], out["0"], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_bf16_autocast_trains(path: str) -> None:
    """Under CPU bf16 autocast: finite forward/backward, float32 maps, a few finite SGD steps."""
    torch.manual_seed(4)
    net = torch.nn.Conv2d(3, 8, 3, padding=1)
    m, head = accelerate(MSHF(8)), torch.nn.Conv2d(3, 1, 1)
    opt = torch.optim.SGD([*net.parameters(), *head.parameters()], lr=1e-2)
    x = torch.rand(2, 3, 16, 16)
    x[..., :8, :] = 0.5  # a flat region: eigenvalues coincide there
    for _ in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            f = net(x)
            assert f.dtype == torch.bfloat16
            lam = m(f)
            assert lam.dtype == torch.float32
            loss = head(lam).square().mean()
        opt.zero_grad()
        loss.backward()
        assert all(p.grad.isfinite().all() for p in net.parameters())
        opt.step()
    ref = m.reference(f.float())
    assert torch.allclose(lam, ref, rtol=1e-5, atol=1e-5)  # computed in float32 from the bf16 input
