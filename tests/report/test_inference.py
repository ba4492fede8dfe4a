"""defian.report.inference: exact tiled inference (float64), the x8 self-ensemble, time and memory."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from defian.report import inference
from defian.nn.model import build_model

TINY = {"n_modules": 2, "n_blocks": 2, "channels": 8}


def _tiny(scale: int, **switches: object) -> nn.Module:
    torch.manual_seed(0)
    return build_model("defian_s", scale, **{**TINY, **switches}).double().eval()


# --- tiled inference -------------------------------------------------------------------------------
@pytest.mark.parametrize(("scale", "switches"), [
    (2, {}), (3, {"endec": "hgendec", "half_depth": 2}), (4, {"endec": "convendec", "half_depth": 2}),
    (2, {"dac": False}), (3, {"diendec": False}), (2, {"mshf": False, "kernel_sizes": (3, 7)}),
    (4, {"hessian_variant": "undilated_hv"}), (2, {"mshf": False, "diendec": False, "dac": False}),
])
def test_tiled_forward_equals_untiled_float64(scale: int, switches: dict) -> None:
    # Interior tiles (image 3x the tile) exercise every halo; float64: agreement at rounding level.
    model = _tiny(scale, n_blocks=1, channels=4, **switches)  # float64 convs are slow: keep it narrow
    x = torch.rand(1, 3, 49, 62, dtype=torch.float64, generator=torch.Generator().manual_seed(scale))
    with torch.no_grad():
        whole = model(x)
    tiled = inference.tiled_forward(model, x, 20)
    assert tiled.shape == whole.shape == (1, 3, scale * 49, scale * 62)
    assert (tiled - whole).abs().max().item() < 1e-12


def test_tiled_forward_with_released_mshf_bias() -> None:
    # Released checkpoints carry random frozen Hessian-conv biases (defian.nn.released): still exact.
    model = _tiny(2, n_blocks=1, channels=4)
    for m in model.body:
        m.mshf.bias.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    x = torch.rand(1, 3, 40, 52, dtype=torch.float64)
    with torch.no_grad():
        whole = model(x)
    assert (inference.tiled_forward(model, x, 12) - whole).abs().max().item() < 1e-12


def test_naive_chop_is_not_exact_but_staged_tiling_is() -> None:
    # Why the staged scheme: running the whole network on crops changes every global
    # statistic (channel attention, DAC), so the usual "chop" differs from the forward.
    model = _tiny(2)
    x = torch.rand(1, 3, 48, 64, dtype=torch.float64)
    with torch.no_grad():
        whole = model(x)
        chop = inference._tiles(model, x, 24, 8, scale=2)
    assert (chop - whole).abs().max().item() > 1e-6
    assert (inference.tiled_forward(model, x, 24) - whole).abs().max().item() < 1e-12


def test_tiled_forward_float32_hourglass_and_tile_larger_than_image() -> None:
    # HGEnDec d=3 pools three times: crops must start on multiples of 8 (a naive chop errs by ~4e-4 here).
    torch.manual_seed(0)
    model = build_model("defian_s", 3, endec="hgendec", half_depth=3, **TINY).eval()
    x = torch.rand(1, 3, 100, 100)
    with torch.no_grad():
        whole = model(x)
    assert (inference.tiled_forward(model, x, 32) - whole).abs().max().item() < 1e-5  # float32 rounding
    assert (inference.tiled_forward(model, x, 1000) - whole).abs().max().item() < 1e-5


def test_tiled_forward_rejects_other_models() -> None:
    with pytest.raises(TypeError, match="DeFiAN"):
        inference.tiled_forward(nn.Conv2d(3, 3, 3), torch.rand(1, 3, 8, 8), 4)


# --- self-ensemble ---------------------------------------------------------------------------------
def _dihedral(t: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    return torch.rot90(t.flip(-1) if flip else t, k, (-2, -1))


def test_self_ensemble_is_equivariant_even_when_the_model_is_not() -> None:
    # SE(T x) = T SE(x) for all 8 flips/rotations T: the defining property of the x8 ensemble.
    model = _tiny(2, n_modules=1, n_blocks=1)
    x = torch.rand(1, 3, 10, 13, dtype=torch.float64)
    with torch.no_grad():
        base = inference.self_ensemble(model, x)
        plain = model(x)
    assert (base - plain).abs().max().item() > 1e-6  # the model itself is not equivariant
    for k, flip in ((1, False), (2, False), (0, True), (3, True)):  # the group's generators and more
        with torch.no_grad():
            out = inference.self_ensemble(model, _dihedral(x, k, flip))
        assert (out - _dihedral(base, k, flip)).abs().max().item() < 1e-12


def test_self_ensemble_of_an_equivariant_map_is_the_map() -> None:
    def nearest(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=2, mode="nearest")

    x = torch.rand(1, 3, 7, 9, dtype=torch.float64)
    assert torch.allclose(inference.self_ensemble(nearest, x), nearest(x), atol=1e-15)


def test_profile_inference_reports_each_size() -> None:
    df = inference.profile_inference(build_model("defian_s", 2, **TINY), [(16, 20), (24, 24)], tiles=(0, 8))
    assert list(df[["lr_h", "lr_w", "tile"]].itertuples(index=False, name=None)) == [
        (16, 20, 0), (16, 20, 8), (24, 24, 0), (24, 24, 8)]
    assert (df["device"] == "cpu").all()


def test_peak_memory_sees_a_known_allocation() -> None:
    """PeakMemory on CPU (sampled RSS growth) finds a 64 MiB tensor held for 50 ms, within sampling slack."""
    import time

    with inference.PeakMemory(torch.device("cpu")) as mem:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB of float32, every page written
        time.sleep(0.05)  # some 25 samples while it is held
        del block
    if math.isnan(mem.peak_mb):
        pytest.skip("no /proc/self/statm here: PeakMemory reports NaN on CPU")
    assert 56 <= mem.peak_mb <= 96, mem.peak_mb
