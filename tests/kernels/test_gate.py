"""defian.kernels.gate: the fused gates of a DeFiAM (Eqs. 22 and 6) and an RCAB (Eq. 7) against their
PyTorch expressions and autograd."""

from __future__ import annotations

import shutil

import pytest
import torch

from defian.kernels import extension, gate

CL = torch.channels_last
needs_compiler = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                                    reason="no C++ compiler")


def inputs(b: int, c: int, h: int, w: int, dtype: torch.dtype, seed: int = 0, scale: float = 1.0):
    """x, f channels-last (B, C, H, W); normalised (B, 1, H, W); sd_hat, mu_hat (B, C, 1, 1)."""
    g = torch.Generator().manual_seed(seed)
    x, f = (torch.randn(b, c, h, w, generator=g, dtype=dtype).contiguous(memory_format=CL) for _ in range(2))
    n = torch.randn(b, 1, h, w, generator=g, dtype=dtype) * scale
    s, m = (torch.randn(b, c, 1, 1, generator=g, dtype=dtype) * scale for _ in range(2))
    return [t.requires_grad_() for t in (x, f, n, s, m)]


def run(fn, tensors, weight):
    """Output and the gradients of <output, weight> with respect to every input."""
    y = fn(*tensors)
    return (y, *torch.autograd.grad(y, tensors, weight))


def fused(y: torch.Tensor) -> bool:
    """Whether y came from the C++ kernel's autograd function (not the PyTorch expression)."""
    return y.grad_fn is not None and y.grad_fn.name().startswith("_Fused")


def channel(tensors):
    """(x, f, logits): the RCAB's gate takes the DeFiAM test inputs' mu_hat as its logits."""
    x, f, _, _, m = tensors
    return [x, f, m]


#: (fused, expression, its inputs from inputs()) for the DeFiAM's and the RCAB's gate
GATES = {"defiam": (gate.gated_residual, gate.reference, list),
         "rcab": (gate.channel_gated_residual, gate.channel_reference, channel)}


@needs_compiler
@pytest.mark.parametrize("kind", sorted(GATES))
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (2, 32, 11, 13), (1, 1, 1, 2)])
def test_kernel_equals_the_expression_in_float64(kind: str, shape: tuple[int, ...],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Output and every gradient to rounding; pixel counts below, above and not a multiple
    of the kernel's 64-pixel blocks."""
    monkeypatch.setenv(extension.ENV, "1")
    assert extension.kernel("gate_cpu") is not None  # where a compiler exists the kernel must build
    fused_fn, expression, pick = GATES[kind]
    tensors = pick(inputs(*shape, torch.float64))
    w = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=CL)
    got, want = run(fused_fn, tensors, w), run(expression, tensors, w)
    assert fused(got[0]) and not fused(want[0])  # the comparison is kernel against expression
    assert got[0].is_contiguous(memory_format=CL)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@needs_compiler
def test_kernel_float32_is_within_rounding_of_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """The float32 kernel (its own vectorised exp) against the float64 expression, with logits up to
    |z| ~ 100 where the sigmoid saturates: errors of float32 rounding, nothing non-finite."""
    monkeypatch.setenv(extension.ENV, "1")
    tensors = inputs(4, 32, 16, 16, torch.float32, seed=1, scale=6.0)
    w = torch.randn(4, 32, 16, 16).contiguous(memory_format=CL)
    as64 = lambda ts: [t.detach().double().requires_grad_() for t in ts]  # noqa: E731
    for fused_fn, expression, pick in GATES.values():
        got, want = run(fused_fn, pick(tensors), w), run(expression, as64(pick(tensors)), w.double())
        assert fused(got[0])
        for a, b in zip(got, want, strict=True):
            assert bool(torch.isfinite(a).all())
            scale = b.abs().max().item()
            assert (a.double() - b).abs().max().item() <= 2e-6 * scale


@needs_compiler
def test_kernel_sums_do_not_depend_on_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(extension.ENV, "1")
    tensors = inputs(2, 32, 24, 24, torch.float32, seed=2)
    w = torch.randn(2, 32, 24, 24).contiguous(memory_format=CL)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = [*run(gate.gated_residual, tensors, w), *run(gate.channel_gated_residual, channel(tensors), w)]
        torch.set_num_threads(2)
        two = [*run(gate.gated_residual, tensors, w), *run(gate.channel_gated_residual, channel(tensors), w)]
    finally:
        torch.set_num_threads(threads)
    assert fused(one[0]) and fused(two[0])
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


@needs_compiler
def test_kernel_propagates_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-finite feature must reach the loss, where training stops on it (defian.train.loop)."""
    monkeypatch.setenv(extension.ENV, "1")
    x, f, n, s, m = (t.detach() for t in inputs(1, 8, 4, 4, torch.float32))
    n[0, 0, 1, 2] = float("nan")
    y = gate.gated_residual(x, f, n, s, m)
    assert bool(torch.isnan(y[0, :, 1, 2]).all()) and int(torch.isnan(y).sum()) == 8


def test_fallbacks_are_the_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    """DEFIAN_CPP=0, NCHW inputs and bf16 autocast all take the PyTorch expression."""
    x, f, n, s, m = (t.detach() for t in inputs(2, 8, 5, 6, torch.float32, seed=3))
    ref = gate.reference(x, f, n, s, m)
    monkeypatch.setenv(extension.ENV, "0")
    assert torch.equal(gate.gated_residual(x, f, n, s, m), ref)
    monkeypatch.setenv(extension.ENV, "1")
    xc, fc = x.contiguous(), f.contiguous()
    assert torch.equal(gate.gated_residual(xc, fc, n, s, m), gate.reference(xc, fc, n, s, m))
    assert torch.equal(gate.channel_gated_residual(xc, fc, m), gate.channel_reference(xc, fc, m))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not gate._kernel_applies(x, f, n, s, m)
        assert not gate._kernel_applies(x, f, m, spatial=False)


def test_shape_errors_name_the_argument() -> None:
    x, f, n, s, m = (t.detach() for t in inputs(2, 8, 5, 6, torch.float32))
    with pytest.raises(ValueError, match=r"f must be \(B, C, H, W\)"):
        gate.gated_residual(x, f[0], n, s, m)
    with pytest.raises(ValueError, match=r"f must be \(B, C, H, W\)"):
        gate.channel_gated_residual(x, f[0], m)
