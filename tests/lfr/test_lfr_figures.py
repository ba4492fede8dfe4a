"""defian.lfr.figures: levels and phases of one step, inputs per scale, attention maps and their comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defian.lfr import figures as lf
from defian.lfr.levels import N_LEVELS
from defian.lfr.model import build_lfr_model

TINY = {"n_modules": 1, "n_blocks": 1, "channels": 8}


def test_level_stack_is_the_forward_and_its_phases_are_level_differences() -> None:
    torch.manual_seed(0)
    model = build_lfr_model("defian_lfr_s", **TINY)  # float32: the identities below hold op for op
    lr = torch.rand(1, 3, 8, 7)
    st = lf.level_stack(model, lr, 1.25)  # between levels 2 and 3, w = 0.5
    assert (st["bracket"].index, float(st["bracket"].weight)) == (3, 0.5)
    assert st["levels"].shape == (N_LEVELS, 3, 10, 9) and st["phases"].shape == (N_LEVELS - 1, 3, 10, 9)
    torch.testing.assert_close(st["phases"], st["levels"][:-1] - st["levels"][1:], rtol=0, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(st["output"], model(lr, 1.25)[0], rtol=0, atol=1e-6)
    manual = st["levels"][3] + 0.5 * (st["levels"][2] - st["levels"][3])  # O_r = O_{r_3} + w P_3
    torch.testing.assert_close(st["output"], manual, rtol=0, atol=1e-6)
    energy = lf.phase_energy(st["phases"])
    assert list(energy["phase"]) == list(range(1, N_LEVELS))
    assert energy["mean_abs_255"].iloc[0] == pytest.approx(float(st["phases"][0].abs().mean()) * 255)


def test_scale_inputs_and_attention_maps_have_the_output_sizes() -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (30, 28, 3), dtype=np.uint8)
    ins = lf.scale_inputs(hr, (1.5, 2, 2.5))
    assert {s: (x.shape[-2:], c.shape[:2]) for s, (x, c) in ins.items()} == {
        1.5: ((20, 18), (30, 27)), 2.0: ((15, 14), (30, 28)), 2.5: ((12, 10), (30, 25))}
    torch.manual_seed(0)
    model = build_lfr_model("defian_lfr_s", **TINY)
    block, seen = model.trunk.body[-1], {}  # the last DeFiAM's input and output, at the last call
    hook = block.register_forward_hook(lambda _m, i, o: seen.update(x=i[0].detach(), y=o.detach()))
    maps = lf.attention_maps(model, ins)
    assert {s: m.shape for s, m in maps.items()} == {1.5: (30, 27), 2.0: (30, 28), 2.5: (30, 25)}
    for s, inp in ins.items():  # a second route: the DeFiAM's own attention on its recorded input, per scale
        got = lf.attention_maps(model, {s: inp})[s]
        with torch.no_grad():
            f = block.fem(seen["x"])
            a = block.attention(seen["x"], f)  # S(A(D(H(f)), x)), (1, C, H, W)
            torch.testing.assert_close(seen["x"] + f * a, seen["y"], rtol=0, atol=1e-6)  # the gate of the forward
        np.testing.assert_allclose(got, a[0].mean(dim=0).double().numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(maps[s], got, rtol=0, atol=0)  # all scales at once = one at a time
    hook.remove()
    with pytest.raises(ValueError, match="needs a DeFiAM trunk"):
        lf.attention_maps(build_lfr_model("asdn", n_modules=1, n_blocks=1, channels=8, growth=4), ins)


def test_map_agreement_and_spread() -> None:
    yy, xx = np.mgrid[0:20, 0:20].astype(float)
    a = 0.5 + 0.1 * np.sin(xx / 3) * np.cos(yy / 4)
    maps = {1.5: a, 2.0: a.copy(), 3.0: np.full((20, 20), 0.4)}
    agree = lf.map_agreement(maps, margin=2).set_index(["scale_a", "scale_b"])["r"]
    assert agree.loc[(1.5, 2.0)] == pytest.approx(1.0) and np.isnan(agree.loc[(1.5, 3.0)])
    spread = lf.map_spread(maps, margin=2).set_index("scale")
    inner = a[2:-2, 2:-2]
    assert spread.loc[1.5, "rel_sd"] == pytest.approx(inner.std() / inner.mean()) and spread.loc[3.0, "rel_sd"] == pytest.approx(0, abs=1e-12)
