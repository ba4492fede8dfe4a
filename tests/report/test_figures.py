"""defian.report.figures: hooks record the branch the forward computes; the caption measures are right."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from defian.report import figures  # noqa: E402
from defian.nn.dac import mean_std  # noqa: E402
from defian.nn.model import build_model  # noqa: E402


def _model(scale: int = 2, **switches: object) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("defian_s", scale, n_modules=3, n_blocks=1, channels=32, **switches).eval()
    for m in model.body:  # a trained DAC has sigma^ != 0; at init a 2-wide ReLU bottleneck may give 0
        if m.dac is not None:
            with torch.no_grad():
                for p in m.dac.std_mlp.parameters():
                    p.abs_()
    return model


def _lr() -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(28.0), indexing="ij")
    img = 0.5 + 0.3 * torch.sin(xx / 2) * torch.cos(yy / 3)
    return torch.stack([img, img.roll(3, 1), img.roll(5, 0)])[None]


def test_capture_records_what_the_forward_computes() -> None:
    model, lr = _model(), _lr()
    rec = figures.capture(model, lr, 1)
    with torch.no_grad():
        assert torch.equal(rec["sr"], model(lr))
        x = model.body[0](model.head((lr - model.in_mean) / model.in_std))  # input of DeFiAM 2
        branch = model.body[1].branch(x, model.body[1].fem(x))
    assert torch.allclose(rec["x"], x, atol=1e-6)
    for key in ("lambdas", "v", "aligned", "a"):
        assert torch.allclose(rec[key], branch[key], atol=1e-5), key
    assert len(rec["stages"]) == 2 * model.body[1].endec.half_depth
    assert torch.allclose(rec["stages"][-1], model.body[1].endec.stages(branch["lambdas"])[-2], atol=1e-5)


def test_attention_free_variant_has_unit_attention() -> None:
    rec = figures.capture(_model(mshf=False, diendec=False, dac=False), _lr(), 0)
    assert torch.equal(rec["a"], torch.ones_like(rec["a"]))  # paper IV-D1: subfigure (a), a-bar = 1


def test_fig14_shows_the_dac_alignment_exactly() -> None:
    # Eq. (22): a_c = z(v) * sigma^_c + mu^_c, so each channel has mean mu^_c and correlates +-1 with v.
    model, lr = _model(), _lr()
    fig, st = figures.fig14(model, lr)
    rec = figures.capture(model, lr, figures.module_index(model, 10))
    mu_hat = model.body[-1].dac.mean_mlp(mean_std(rec["x"])[0]).flatten().detach().numpy()
    assert np.allclose(st["mean_a"], mu_hat, atol=1e-5)
    assert np.allclose(np.abs(st["corr_av"]), 1.0, atol=1e-4)
    assert len(fig.axes) == 12  # x, v, a for four channels


def test_spectral_centroid_of_pure_tones() -> None:
    x = np.arange(64)
    tone = np.cos(2 * np.pi * 8 * x / 64)[None, :].repeat(64, 0)  # 8 cycles in 64 px: 0.125 cycles/px
    assert figures.spectral_centroid(tone) == pytest.approx(0.125, abs=1e-12)
    diag = np.cos(2 * np.pi * (4 * x[:, None] + 3 * x[None, :]) / 64)  # |f| = 5/64
    assert figures.spectral_centroid(diag) == pytest.approx(5 / 64, abs=1e-12)
    assert figures.spectral_centroid(np.ones((8, 8))) == 0.0


def test_support_fraction_counts_active_entries() -> None:
    t = torch.tensor([[[[0.0, 1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]]])
    assert figures.support_fraction(t) == 3 / 8


def test_fig1_fig10_fig13_draw_and_measure(tmp_path, monkeypatch) -> None:
    model, lr = _model(), _lr()
    fig, st = figures.fig1(model, lr)
    assert st["module"] == 3 and set(st["centroid"]) == {3, 5, 7}  # 5th requested, the model has 3
    assert len(fig.axes) == 5
    fig, st = figures.fig13(model, lr)
    assert st["module"] == 3 and len(st["support"]) == 6 and all(0 <= s <= 1 for s in st["support"])
    variants = {"(a)": _model(mshf=False, diendec=False, dac=False), "(h)": model}
    fig, st = figures.fig10(variants, lr)
    assert set(st) == {"(a)", "(h)"} and st["(a)"]["std"] == 0.0 and len(fig.axes) == 8
    assert st["(a)"]["mean"] == 1.0 and st["(a)"]["std_interior"] == 0.0
    monkeypatch.setattr(figures, "figure_dir", lambda profile: tmp_path)
    out = figures.save(fig, "fig10_ablation", "smoke")
    assert [p.name for p in out] == ["fig10_ablation_smoke.png", "fig10_ablation_smoke.svg"]
    assert out[0].read_bytes()[:4] == b"\x89PNG" and b"<svg" in out[1].read_bytes()[:400]


def test_attention_activity_sees_a_dead_decoder_output() -> None:
    model, lr = _model(), _lr()
    alive = figures.attention_activity(model, lr, margin=2)
    assert len(alive) == 3 and all(0 < m["decoder_active"] <= 1 and m["a_rel_sd"] > 0 for m in alive)
    last = model.body[2].endec.decoder[-1]
    with torch.no_grad():  # every unit of the last decoder stage negative before its ReLU: dead
        last.weight.zero_()
        last.bias.fill_(-1.0)
    dead = figures.attention_activity(model, lr, margin=2)[2]
    # the gate sees zeros: v is its bias everywhere, and the DAC's normalised v is 0, so a = sigmoid(mu^)
    assert dead["decoder_active"] == 0.0 and dead["v_sd"] < 1e-6 and dead["a_rel_sd"] < 1e-6
    free = figures.attention_activity(_model(mshf=False, diendec=False, dac=False), lr, margin=2)[0]
    assert free["a_rel_sd"] == 0.0 and np.isnan(free["v_sd"]) and np.isnan(free["decoder_active"])
    assert all(m["dac_gain"] > 0 for m in alive) and np.isnan(free["dac_gain"])
    with torch.no_grad():  # the DAC's std MLP dead (its hidden ReLU units never fire): sigma^ = 0
        model.body[1].dac.std_mlp[0].weight.copy_(-model.body[1].dac.std_mlp[0].weight.abs())
    no_gain = figures.attention_activity(model, lr, margin=2)[1]  # its sigma_x input is positive
    assert no_gain["dac_gain"] == 0.0 and no_gain["a_rel_sd"] < 1e-6 and no_gain["v_sd"] > 0


def test_interior_drops_the_border_band() -> None:
    a = np.full((32, 40), 0.5)
    a[:2], a[:, -3:] = 0.9, 0.1  # a bright top band, a dark right band: zero-padding effects
    inner = figures.interior(a)
    assert inner.shape == (32 - 2 * figures.BORDER, 40 - 2 * figures.BORDER) and inner.std() == 0.0
    assert figures.interior(a[:8, :8]).shape == (8, 8)  # too small to crop: the whole map


def test_figure_dirs_and_errors() -> None:
    assert figures.figure_dir("smoke").parts[-2:] == ("_build", "figures")
    assert figures.figure_dir("cpu").parts[-2:] == ("results", "figures")
    with pytest.raises(ValueError, match="MSHF"):
        figures.fig1(_model(mshf=False), _lr())


def test_residual_correlation_of_the_residue_itself_is_one() -> None:
    # An attention map equal to the block-averaged residue correlates perfectly with it.
    from defian.data import testsets, metrics

    rng = np.random.default_rng(0)
    hr = rng.integers(0, 255, (24, 30, 3)).astype(np.uint8)
    lr8 = testsets.downscale(hr, 3)
    lr = torch.from_numpy(lr8).permute(2, 0, 1)[None].float() / 255
    res = np.abs(metrics.rgb_to_y(hr, False) - metrics.rgb_to_y(testsets.upscale(lr8, 3), False))
    a_bar = res.reshape(8, 3, 10, 3).mean(axis=(1, 3))
    assert figures.residual_correlation(a_bar, lr, hr, 3) == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(figures.residual_correlation(np.ones((8, 10)), lr, hr, 3))
