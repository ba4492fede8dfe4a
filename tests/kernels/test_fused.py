"""defian.kernels.fused: every fused twin computes its reference block's function (float64, forward and
backward), and :func:`accelerate` changes classes only (parameters, buffers and keys stay)."""

from __future__ import annotations

import copy
import shutil

import pytest
import torch

from defian.kernels import accelerate, extension, is_accelerated
from defian.kernels.fused import FUSED
from defian.nn.dac import DAC
from defian.nn.defiam import DeFiAM
from defian.nn.fem import RCAB
from defian.nn.hessian import MSHF
from defian.nn.model import build_model, to_channels_last

CL = torch.channels_last
needs_compiler = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                                    reason="no C++ compiler: the cpp=1 case would only test the fallback")


def fused(y: torch.Tensor) -> bool:
    """Whether y came from a C++ kernel's autograd function (not the PyTorch expression)."""
    return y.grad_fn is not None and y.grad_fn.name().startswith("_Fused")


def twins(module: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(accelerated, reference) copies of one module with the same weights."""
    return accelerate(copy.deepcopy(module)), accelerate(copy.deepcopy(module), False)


def assert_same_function(fast: torch.nn.Module, ref: torch.nn.Module, *inputs: torch.Tensor) -> None:
    """Outputs and the gradients of every parameter and input agree to float64 rounding."""
    leaves_f = [t.clone().requires_grad_() for t in inputs]
    leaves_r = [t.clone().requires_grad_() for t in inputs]
    y, z = fast(*leaves_f), ref(*leaves_r)
    torch.testing.assert_close(y, z, rtol=1e-12, atol=1e-12)
    gf = torch.autograd.grad(y.square().sum(), [*leaves_f, *fast.parameters()])
    gr = torch.autograd.grad(z.square().sum(), [*leaves_r, *ref.parameters()])
    for a, b in zip(gf, gr, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cpp", [pytest.param("1", marks=needs_compiler), "0"])
def test_defiam_forward_is_eq6(cpp: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused DeFiAM equals x + F(x) * S(A(D(H(F(x))), x)) of the reference module, channels-last."""
    monkeypatch.setenv(extension.ENV, cpp)
    torch.manual_seed(4)
    fast, ref = twins(to_channels_last(DeFiAM(16, 2).double()))
    x = torch.randn(2, 16, 12, 10, dtype=torch.float64).contiguous(memory_format=CL)
    assert fused(fast(x)) == (cpp == "1") and not fused(ref(x))
    f = ref.fem(x)
    torch.testing.assert_close(ref(x), x + f * ref.branch(x, f)["a"], rtol=0, atol=0)  # the forward is Eq. (6)
    assert_same_function(fast, ref, x)


@pytest.mark.parametrize("cpp", [pytest.param("1", marks=needs_compiler), "0"])
def test_rcab_forward_is_eq7(cpp: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused RCAB equals x + f_FE(x) * f_CA(f_FE(x)), channels-last, gradients too."""
    monkeypatch.setenv(extension.ENV, cpp)
    torch.manual_seed(5)
    fast, ref = twins(to_channels_last(RCAB(32).double()))
    x = torch.randn(2, 32, 9, 11, dtype=torch.float64).contiguous(memory_format=CL)
    assert fused(fast(x)) == (cpp == "1") and not fused(ref(x))
    r = ref.conv2(ref.relu(ref.conv1(x)))
    torch.testing.assert_close(ref(x), x + r * ref.ca(r), rtol=0, atol=0)
    assert_same_function(fast, ref, x)


@pytest.mark.parametrize("cpp", [pytest.param("1", marks=needs_compiler), "0"])
def test_dac_and_mshf_twins(cpp: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused DAC (Eqs. 20-22) and MSHF (Eqs. 12-18) compute their references' functions."""
    monkeypatch.setenv(extension.ENV, cpp)
    torch.manual_seed(6)
    x = torch.randn(2, 16, 9, 7, dtype=torch.float64).contiguous(memory_format=CL)
    v = torch.randn(2, 1, 9, 7, dtype=torch.float64)
    assert_same_function(*twins(DAC(16).double()), v, x)
    assert_same_function(*twins(MSHF(16).double()), x)


def test_whole_model_and_what_accelerate_keeps() -> None:
    """A whole DeFiAN: same output and state dict; classes swapped both ways; idempotent."""
    torch.manual_seed(7)
    model = build_model("defian_s", 2, n_modules=2, n_blocks=1, channels=16).double()
    keys = {k: v.clone() for k, v in model.state_dict().items()}
    fast, ref = twins(model)
    assert is_accelerated(fast) and not is_accelerated(ref)
    assert {type(m) for m in fast.modules()}.isdisjoint(FUSED)  # no reference block left
    assert accelerate(fast) is fast and is_accelerated(fast)  # idempotent
    for k, v in fast.state_dict().items():
        assert torch.equal(v, keys[k])
    assert fast.state_dict().keys() == keys.keys()
    lr = torch.rand(1, 3, 10, 12, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast(lr), ref(lr), rtol=1e-12, atol=1e-12)


def test_trainable_mshf_keeps_its_weight_gradient() -> None:
    """A trainable MSHF (the first upload) takes the convolutions even when accelerated: its filters
    get the reference gradient (the fused path has none for them)."""
    torch.manual_seed(8)
    fast, ref = twins(MSHF(4, mode="trainable").double())
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    assert_same_function(fast, ref, x)
    assert fast(x).grad_fn.name() == "StackBackward0"  # the reference's torch.stack, not a fused function
