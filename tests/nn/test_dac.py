"""defian.nn.dac: Eqs. (20)-(22) against an independent numpy computation; output statistics (Fig. 14)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defian.nn.dac import DAC, mean_std


def numpy_dac(dac: DAC, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Eqs. (20)-(22) in float64 numpy from the DAC's weights."""
    eps = dac.eps

    def stats(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = t.reshape(t.shape[0], t.shape[1], -1)
        return flat.mean(-1), np.sqrt(flat.var(-1, ddof=1) + eps)

    def mlp(seq: torch.nn.Sequential, z: np.ndarray) -> np.ndarray:
        w1 = seq[0].weight.detach().double().numpy()[:, :, 0, 0]
        w2 = seq[2].weight.detach().double().numpy()[:, :, 0, 0]
        return np.maximum(z @ w1.T, 0) @ w2.T

    mv, sv = stats(v)
    norm = (v - mv[:, :, None, None]) / sv[:, :, None, None]  # Eq. (20)
    mx, sx = stats(x)
    mu_hat, sd_hat = mlp(dac.mean_mlp, mx), mlp(dac.std_mlp, sx)  # Eq. (21)
    return norm * sd_hat[:, :, None, None] + mu_hat[:, :, None, None]  # Eq. (22)


def test_matches_numpy() -> None:
    torch.manual_seed(0)
    dac = DAC(32).double()
    v, x = torch.randn(2, 1, 7, 6, dtype=torch.float64), torch.randn(2, 32, 7, 6, dtype=torch.float64) * 3 + 1
    ref = numpy_dac(dac, v.numpy(), x.numpy())
    assert np.abs(dac(v, x).detach().numpy() - ref).max() < 1e-12


def test_output_statistics_fig14() -> None:
    """Per sample and channel: spatial mean = mu^, std = |sigma^| sqrt(var_v / (var_v + eps)), pattern of v."""
    torch.manual_seed(1)
    dac = DAC(64).double()
    v = torch.rand(3, 1, 12, 10, dtype=torch.float64) * 0.01  # a small-variance map: the eps shows
    x = torch.randn(3, 64, 12, 10, dtype=torch.float64) * 2 + 0.5
    out = dac(v, x).detach()
    mu_r, sd_r = mean_std(x)
    mu_hat, sd_hat = dac.mean_mlp(mu_r).detach(), dac.std_mlp(sd_r).detach()
    var_v = v.var(dim=(2, 3), unbiased=True, keepdim=True)
    assert torch.allclose(out.mean(dim=(2, 3), keepdim=True), mu_hat, rtol=0, atol=1e-12)
    want_sd = sd_hat.abs() * (var_v / (var_v + 1e-5)).sqrt()
    assert torch.allclose(out.std(dim=(2, 3), keepdim=True), want_sd, rtol=1e-10, atol=0)
    vc = (v - v.mean(dim=(2, 3), keepdim=True)).flatten(2)
    oc = (out - out.mean(dim=(2, 3), keepdim=True)).flatten(2)
    corr = (vc * oc).sum(-1) / (vc.norm(dim=-1) * oc.norm(dim=-1))
    assert torch.allclose(corr, torch.sign(sd_hat.flatten(2)).squeeze(-1), atol=1e-12)


def test_released_order_expand_then_normalise() -> None:
    torch.manual_seed(2)
    dac = DAC(16)
    v, x = torch.randn(2, 1, 5, 5), torch.randn(2, 16, 5, 5)
    assert torch.allclose(dac(v, x), dac(v.expand(2, 16, 5, 5), x), rtol=0, atol=1e-6)


def test_parameters_and_errors() -> None:
    assert sum(p.numel() for p in DAC(64).parameters()) == 2 * (64 * 4 + 4 * 64) == 1024  # no bias
    dac = DAC(16)
    with pytest.raises(ValueError, match="built for 16 channels"):
        dac(torch.randn(1, 1, 4, 4), torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="does not match"):
        dac(torch.randn(1, 1, 3, 4), torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match="at least 2 pixels"):
        mean_std(torch.randn(1, 1, 1, 1))


def test_statistics_helper_agrees() -> None:
    torch.manual_seed(3)
    dac = DAC(32).double()
    v, x = torch.randn(2, 1, 9, 9, dtype=torch.float64), torch.randn(2, 32, 9, 9, dtype=torch.float64)
    st = dac.statistics(v, x)
    assert torch.allclose(st["mean"], st["mu_hat"], atol=1e-12)
    assert torch.allclose(st["std"], st["std_predicted"], rtol=1e-10)
    assert torch.allclose(st["corr_with_v"], torch.sign(st["sigma_hat"]), atol=1e-12)
    assert st["x_mean"].shape == (2, 32)
