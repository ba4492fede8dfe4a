"""torch.compile (``TrainConfig.compile``, ``defian train --compile``) on CPU: one compiled training
update equals the eager one, and where the model breaks Dynamo's graph.

Graph breaks, as this test finds them (DeFiAN_S with the accelerators of :func:`defian.kernels.accelerate`):
all of them are in the Hessian filtering (MSHF), none in the FEM, encoder-decoder, DAC or gates.
:class:`defian.kernels.fused.FusedMSHF` checks its taps (``MSHF.has_standard_taps``, a data-dependent
comparison) and its bias (``bool(self.bias.any())``, a ``.item()``) on every call, and each check
ends a graph; the fused filter itself is then called eagerly: the C++ kernel
(:mod:`defian.kernels.extension`, a pybind function Dynamo skips) or, with ``DEFIAN_CPP=0``, the
PyTorch passes of :mod:`defian.kernels.mshf` (an ``out=`` into a strided view, and chunk sizes
computed as Python ints). So a compiled DeFiAN runs as several graphs around each MSHF call, which
is correct (this test) but leaves the filter uncompiled. The test runs with ``DEFIAN_CPP=0`` (no C++
build inside it).
"""

from __future__ import annotations

import copy

import pytest
import torch

from defian.kernels import accelerate
from defian.nn.model import build_model
from defian.train.loop import adam, forward_backward, grad_scaler

MSHF_PLACES = {("defian/kernels/fused.py", "forward"), ("defian/nn/hessian.py", "has_standard_taps"),
               ("defian/kernels/mshf.py", "_chunks"), ("defian/kernels/mshf.py", "terms"),
               ("defian/kernels/mshf.py", "forward")}


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return accelerate(build_model("defian_s", 2, n_modules=1, n_blocks=1, channels=8))


def _update(net: torch.nn.Module, model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor
            ) -> tuple[float, dict[str, torch.Tensor]]:
    """One update as the trainer makes it; the loss and the gradients it stepped with."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt, scaler = adam(params, 1e-3), grad_scaler("cpu", "fp32")
    loss, _ = forward_backward(net, opt, scaler, params, lr, hr, None, 0.0)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    scaler.step(opt)
    scaler.update()
    return float(loss), grads


def test_a_compiled_update_equals_the_eager_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFIAN_CPP", "0")
    torch._dynamo.reset()
    eager, compiled = _tiny(), _tiny()
    g = torch.Generator().manual_seed(1)
    lr, hr = torch.rand(2, 3, 12, 12, generator=g), torch.rand(2, 3, 24, 24, generator=g)
    loss_e, grads_e = _update(eager, eager, lr, hr)
    loss_c, grads_c = _update(torch.compile(compiled), compiled, lr, hr)
    assert loss_c == pytest.approx(loss_e, rel=1e-6)
    assert grads_c.keys() == grads_e.keys() and grads_e
    for name, ge in grads_e.items():  # float32 reassociation by the compiled kernels, no more
        torch.testing.assert_close(grads_c[name], ge, rtol=1e-4, atol=1e-6, msg=name)
    # Adam's first step is lr * g / (|g| + eps): equal gradients, equal parameters up to that map's rounding
    for (name, pe), pc in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(pc, pe, rtol=0, atol=1e-3 * 0.1, msg=name)


def test_the_graph_breaks_are_the_hessian_filtering_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFIAN_CPP", "0")
    torch._dynamo.reset()
    explained = torch._dynamo.explain(_tiny())(torch.rand(2, 3, 12, 12))
    places = set()
    for b in explained.break_reasons:
        frame = b.user_stack[-1]
        places.add((frame.filename.replace("\\", "/").split("/defian/", 1)[-1], frame.name))
    places = {("defian/" + f, n) for f, n in places}
    assert explained.graph_break_count > 0 and places <= MSHF_PLACES, places
    assert ("defian/kernels/fused.py", "forward") in places  # bool(self.bias.any()), as the docstring says
