"""Figures 1, 10, 13 and 14 of the paper (Sec. IV-D), drawn from a trained network with forward hooks.

:func:`capture` runs the network once and records, through forward hooks on one
DeFiAM (``model.body[n]``), every intermediate of its attention branch (Eq. 6):
the module input ``x``, ``F(x)`` (FEM), the Hessian maps ``lambda_ker`` (MSHF,
Eq. 18), the encoder-decoder stages (Sec. III-C), ``v``, the DAC output (Eq. 22)
and the attention ``a = sigmoid(DAC(v, x))``. The figure functions draw them:

* :func:`fig1`: ``lambda_3, lambda_5, lambda_7`` and the mean attention of the 5th DeFiAM;
* :func:`fig10`: the mean attention of the last DeFiAM in the eight ablation variants (a)-(h);
* :func:`fig13`: DiEnDec's encoder and decoder stages ("erosion" and "dilation");
* :func:`fig14`: the distributions of ``x``, ``v`` and ``a`` for the first four channels.

Each also returns numbers that test the paper's claim about the picture (e.g.
the spectral centroid of each ``lambda`` for "lambda_3 fine, lambda_7 coarse"),
so a caption can say whether our picture supports it. :func:`save` writes PNG
and SVG to ``results/figures`` (smoke: ``_build/figures``, never committed), the
name carrying the profile (``fig01_attention_smoke.png``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from defian import paths
from defian.kernels import accelerate, is_accelerated

__all__ = ["FIGURE_IMAGES", "attention_activity", "capture", "checkpoint_models", "fig1", "fig10", "fig11", "fig13",
           "fig14", "figure_dir", "figure_image", "interior", "module_index", "residual_correlation", "save",
           "spectral_centroid", "support_fraction"]

#: The image the figures are drawn on, first one present: the paper's Fig. 1 image, then
#: a structural stand-in (BSD100 223061: a glass pyramid, Urban100-like), then any.
FIGURE_IMAGES = (("Urban100", "img086"), ("BSD100", "223061"), ("Set14", "barbara"))


def figure_dir(profile: str) -> Path:
    """``_build/figures`` for smoke (scratch), ``results/figures`` (copied into the book) otherwise."""
    return paths.outputs("figures", profile)


def save(fig: plt.Figure, name: str, profile: str) -> list[Path]:
    """Write ``<name>_<profile>.png`` and ``.svg`` (atomically) and return their paths."""
    import io

    from defian.atomic import write_atomic

    out = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150, bbox_inches="tight")
        out.append(write_atomic(figure_dir(profile) / f"{name}_{profile}.{ext}", buf.getvalue()))
    return out


def module_index(model: nn.Module, paper_index: int) -> int:
    """The DeFiAM to show: the paper's (1-based) one, or the last when the model has fewer."""
    return min(paper_index, len(model.body)) - 1


def figure_image(data_root: str | None, scale: int, crop: int = 0) -> tuple[str, torch.Tensor, np.ndarray]:
    """``(label, LR (1, 3, h, w) in [0, 1], HR uint8)`` of the first of :data:`FIGURE_IMAGES` present.

    Falls back to the first image of the first set found (the embedded test set
    without a data root). ``crop > 0`` takes the centre ``crop`` x ``crop`` LR pixels
    and the matching HR pixels.
    """
    from defian.data import testsets

    root = paths.data_root(data_root)
    present = testsets.find(root)
    chosen = next(((s, n) for s, n in FIGURE_IMAGES if s in present and n in [f.stem for f in present[s]]),
                  None)
    set_name = chosen[0] if chosen else next(iter(present))
    pairs = testsets.load_pairs(root, set_name, scale)
    pair = next(p for p in pairs if chosen is None or p.name == chosen[1])
    lr, hr = pair.lr_tensor(), pair.hr
    if crop > 0:
        h, w = lr.shape[-2:]
        y, x = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        lr = lr[..., y:y + crop, x:x + crop]
        hr = hr[scale * y:scale * (y + lr.shape[-2]), scale * x:scale * (x + lr.shape[-1])]
    size = f", centre {lr.shape[-2]}x{lr.shape[-1]} LR crop" if crop > 0 else ""
    return f"{set_name}/{pair.name} (x{scale}{size})", lr, hr


def checkpoint_models(runs: Mapping[str, Sequence[Any]]) -> dict[str, nn.Module]:
    """``{label: model}`` from the first seed's ``last.pt`` of each group of run records that has one."""
    from defian.report.evaluate import load_model

    return {k: load_model(v[0].dir / "last.pt")[0] for k, v in runs.items() if v and (v[0].dir / "last.pt").is_file()}


@torch.no_grad()
def capture(model: nn.Module, lr: torch.Tensor, index: int) -> dict[str, Any]:
    """Run ``model(lr)`` once and record DeFiAM ``index``'s attention branch via forward hooks.

    Args:
        model: a trained :class:`defian.nn.model.DeFiAN` (any switches).
        lr: (1, 3, h, w) RGB in [0, 1].
        index: 0-based DeFiAM index (:func:`module_index`).

    Returns:
        ``x``, ``f`` (1, C, h, w); ``lambdas`` (1, K, h, w) or None without MSHF;
        ``stages``: encoder then decoder outputs, each (1, c, h', w'); ``v`` (1, 1, h, w);
        ``aligned`` (1, C, h, w) DAC output or None; ``a`` (1, C or 1, h, w), all-ones for
        the attention-free variant (Fig. 10 (a)); ``sr`` (1, 3, s h, s w).
    """
    m = model.body[index]
    rec: dict[str, Any] = {"lambdas": None, "stages": [], "v": None, "aligned": None}
    hooks = [m.register_forward_hook(lambda _m, inp, _o: rec.__setitem__("x", inp[0].detach().clone())),
             m.fem.register_forward_hook(lambda _m, _i, out: rec.__setitem__("f", out.detach().clone()))]
    if m.mshf is not None:
        hooks.append(m.mshf.register_forward_hook(lambda _m, _i, out: rec.__setitem__("lambdas", out.detach().clone())))
    if m.endec is not None:
        for act in [*m.endec.enc_act, *m.endec.dec_act]:  # one ReLU per layer (defian.nn.diendec)
            hooks.append(act.register_forward_hook(lambda _m, _i, out: rec["stages"].append(out.detach().clone())))
        hooks.append(m.endec.register_forward_hook(lambda _m, _i, out: rec.__setitem__("v", out.detach().clone())))
    if m.dac is not None:
        hooks.append(m.dac.register_forward_hook(lambda _m, _i, out: rec.__setitem__("aligned", out.detach().clone())))
    was, fused = model.training, is_accelerated(model)
    try:
        accelerate(model, False)  # the reference blocks: a fused DeFiAM does not call its DAC's forward
        model.eval()
        rec["sr"] = model(lr)
    finally:
        accelerate(model, fused)
        model.train(was)
        for h in hooks:
            h.remove()
    if rec["aligned"] is not None:
        rec["a"] = torch.sigmoid(rec["aligned"])
    elif rec["v"] is not None:
        rec["a"] = torch.sigmoid(rec["v"])
    else:
        rec["a"] = torch.ones_like(rec["x"][:, :1])  # no attention branch: a = 1 (paper Sec. IV-D1)
    return rec


# --- measures behind the captions -------------------------------------------------------------------
#: Pixels along each edge of an attention map left out of its colour scale and interior
#: statistics: zero padding shifts the first few rows and columns (at this budget the
#: border band is the brightest part of the cpu-study maps and hides the interior).
BORDER = 4


#: Narrowest colour scale of a Fig. 10 panel: a gate varying by less than this is drawn flat.
MIN_SCALE = 1e-3


def interior(img: np.ndarray, margin: int = BORDER) -> np.ndarray:
    """``img`` without ``margin`` pixels along each edge (the whole map when it is too small)."""
    h, w = img.shape[-2:]
    return img[..., margin : h - margin, margin : w - margin] if min(h, w) > 4 * margin else img


def spectral_centroid(img: np.ndarray | torch.Tensor) -> float:
    """Power-weighted mean spatial frequency (cycles/pixel, 0..0.71) of a 2-D map, mean removed.

    Higher = finer detail; the measure behind "lambda_3 fine, lambda_7 coarse" (Fig. 1).
    """
    a = np.asarray(img, dtype=np.float64)
    a = a - a.mean()
    p = np.abs(np.fft.fft2(a)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(a.shape[0]), np.fft.fftfreq(a.shape[1]), indexing="ij")
    total = p.sum()
    return float((np.hypot(fy, fx) * p).sum() / total) if total > 0 else 0.0


def support_fraction(feat: torch.Tensor) -> float:
    """Fraction of active (> 0 after ReLU) entries of a (1, c, h, w) stage: erosion shrinks it, dilation grows it."""
    return float((feat > 0).float().mean())


def attention_activity(model: nn.Module, lr: torch.Tensor, margin: int = BORDER) -> list[dict[str, float]]:
    """How much each DeFiAM's attention varies inside the image, and where the variation is lost.

    Args:
        model: a :class:`defian.nn.model.DeFiAN`; lr: (1, 3, h, w) in [0, 1].
        margin: border pixels left out (:func:`interior`).

    Returns:
        One dict per DeFiAM: ``a_rel_sd``, the interior spatial sd of a-bar over its mean
        (0: the gate scales every pixel alike); ``v_sd``, the interior sd of the
        encoder-decoder output v (Eq. 18; NaN without an attention branch); and
        ``decoder_active``, the fraction of interior entries of the last decoder stage
        that pass its ReLU (NaN without DiEnDec): at 0 the 1x1 gate sees zeros and v is
        its bias, constant, whatever the Hessian maps hold; ``dac_gain``, the largest
        ``|sigma^|`` of the DAC (Eq. 21; NaN without DAC): at 0 the DAC's std MLP (C/16
        hidden ReLU units, 2 at C = 32) is dead and a = S(mu^) is constant over the image.
    """
    out = []
    for n in range(len(model.body)):
        rec = capture(model, lr, n)
        dac = model.body[n].dac
        gain = float(dac.statistics(rec["v"], rec["x"])["sigma_hat"].abs().max()) if dac is not None else float("nan")
        a_bar = interior(_mean_map(rec["a"]), margin)
        v = interior(rec["v"][0, 0].float().cpu().numpy(), margin) if rec["v"] is not None else None
        last = interior(rec["stages"][-1][0].float().cpu().numpy(), margin) if rec["stages"] else None
        out.append({"a_rel_sd": float(a_bar.std() / a_bar.mean()),
                    "v_sd": float(v.std()) if v is not None else float("nan"),
                    "decoder_active": float((last > 0).mean()) if last is not None else float("nan"),
                    "dac_gain": gain})
    return out


def residual_correlation(a_bar: np.ndarray, lr: torch.Tensor, hr: np.ndarray, scale: int) -> float:
    """Pearson correlation of a mean attention map with the residue it should cover (Fig. 1's claim).

    The residue is ``|Y(HR) - Y(bicubic(LR))|``, averaged over each ``scale`` x ``scale``
    block so it sits on the LR grid of ``a_bar`` (h, w).
    """
    from defian.data import testsets, metrics

    lr8 = (lr[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    up = testsets.upscale(lr8, scale)
    hr_rgb = hr if hr.ndim == 3 else np.repeat(hr[..., None], 3, axis=2)
    res = np.abs(metrics.rgb_to_y(hr_rgb, False) - metrics.rgb_to_y(up, False))
    h, w = a_bar.shape
    res = res[:h * scale, :w * scale].reshape(h, scale, w, scale).mean(axis=(1, 3))
    if a_bar.std() == 0 or res.std() == 0:
        return float("nan")
    return float(np.corrcoef(a_bar.ravel(), res.ravel())[0, 1])


def _mean_map(t: torch.Tensor) -> np.ndarray:
    return t[0].float().mean(0).cpu().numpy()


def _show(ax: plt.Axes, img: np.ndarray, title: str, cmap: str = "gray") -> None:
    ax.imshow(img, cmap=cmap)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


# --- the figures ---------------------------------------------------------------------------------------
def fig1(model: nn.Module, lr: torch.Tensor, paper_index: int = 5) -> tuple[plt.Figure, dict[str, Any]]:
    """Fig. 1: the Hessian maps and mean attention of DeFiAM ``paper_index`` (1-based; paper: 5 of DeFiAN_S).

    Returns:
        The figure and ``{"module", "kernel_sizes", "centroid": {ker: ...}, "attention_centroid"}``.
    """
    n = module_index(model, paper_index)
    rec = capture(model, lr, n)
    if rec["lambdas"] is None:
        raise ValueError("Fig. 1 needs a model with MSHF")
    kers = model.body[n].switches.kernel_sizes
    a_bar = _mean_map(rec["a"])
    fig, axes = plt.subplots(1, len(kers) + 2, figsize=(2.6 * (len(kers) + 2), 2.8))
    _show(axes[0], lr[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy(), "LR input")
    cent = {}
    for k, (ker, ax) in enumerate(zip(kers, axes[1:], strict=False)):
        lam = rec["lambdas"][0, k].cpu().numpy()
        cent[ker] = spectral_centroid(lam)
        _show(ax, lam, rf"$\bar\lambda_{{{ker}}}$", "magma")
    _show(axes[-1], a_bar, r"$\bar{a}$", "magma")
    fig.suptitle(f"DeFiAM {n + 1} of {len(model.body)}", fontsize=10)
    fig.tight_layout()
    stats = {"module": n + 1, "kernel_sizes": kers, "centroid": cent, "attention_centroid": spectral_centroid(a_bar)}
    return fig, stats


def fig10(models: Mapping[str, nn.Module], lr: torch.Tensor, paper_index: int = 10
          ) -> tuple[plt.Figure, dict[str, dict[str, float]]]:
    """Fig. 10: mean attention of the last DeFiAM (paper: DeFiAM 10) for each ablation variant.

    Args:
        models: ``{"(a)": model, ..., "(h)": model}`` (Table III's columns; missing ones are left blank).

    Each panel's colour scale spans the 1st-99th percentile of its map's interior
    (:func:`interior`), so structure inside the image is visible even where the
    border band is brighter, but at least :data:`MIN_SCALE` (a flatter map is drawn
    flat, not as magnified rounding); the title gives the whole map's range.

    Returns:
        The figure and per variant ``{"mean", "std": spatial std of a-bar, "std_interior":
        the same without the border band, "centroid": spectral centroid of the interior}``.
    """
    labels = [f"({c})" for c in "abcdefgh"]
    fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
    stats = {}
    for label, ax in zip(labels, axes.flat, strict=True):
        if label not in models:
            ax.set_axis_off()
            ax.set_title(f"{label}: no run", fontsize=9)
            continue
        model = models[label]
        a_bar = _mean_map(capture(model, lr, module_index(model, paper_index))["a"])
        inner = interior(a_bar)
        stats[label] = {"mean": float(a_bar.mean()), "std": float(a_bar.std()), "std_interior": float(inner.std()),
                        "centroid": spectral_centroid(inner)}
        s = model.body[0].switches
        parts = "+".join(p for p, on in (("MSHF", s.mshf), ("DiEnDec", s.diendec), ("DAC", s.dac)) if on) or "FEM only"
        lo, hi = np.percentile(inner, [1, 99]) if inner.std() > 0 else (0.0, 1.0)
        ax.imshow(a_bar, cmap="magma", vmin=lo, vmax=max(hi, lo + MIN_SCALE))
        ax.set_title(f"{label} {parts}\nrange [{a_bar.min():.3f}, {a_bar.max():.3f}], interior sd {inner.std():.3f}",
                     fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    return fig, stats


def fig13(model: nn.Module, lr: torch.Tensor, paper_index: int = 3) -> tuple[plt.Figure, dict[str, Any]]:
    """Fig. 13: channel-mean maps of DiEnDec's stages in DeFiAM ``paper_index`` (paper: 3).

    Returns:
        The figure and ``{"module", "support": [fraction active per stage], "centroid": [...],
        "encoder": d}``; erosion means support falls along the encoder, dilation that it
        rises along the decoder.
    """
    n = module_index(model, paper_index)
    endec = model.body[n].endec
    if endec is None or endec.half_depth == 0:
        raise ValueError("Fig. 13 needs a DeFiAM with an encoder-decoder (half depth d >= 1)")
    rec = capture(model, lr, n)
    d, stages = endec.half_depth, rec["stages"]
    fig, axes = plt.subplots(2, d, figsize=(2.8 * d, 5.6), squeeze=False)
    for i, st in enumerate(stages):
        row, col = divmod(i, d)
        kind = "encoder" if row == 0 else "decoder"
        _show(axes[row, col], _mean_map(st), f"{kind} {col + 1}: {st.shape[1]} ch, active {support_fraction(st):.2f}",
              "viridis")
    fig.suptitle(f"{endec.kind}, DeFiAM {n + 1} of {len(model.body)}", fontsize=10)
    fig.tight_layout()
    return fig, {"module": n + 1, "encoder": d, "support": [support_fraction(s) for s in stages],
                 "centroid": [spectral_centroid(_mean_map(s)) for s in stages]}


def fig14(model: nn.Module, lr: torch.Tensor, paper_index: int = 10, channels: int = 4
          ) -> tuple[plt.Figure, dict[str, np.ndarray]]:
    """Fig. 14: histograms of x (module input), v (DiEnDec output) and a (DAC output, before the sigmoid).

    Returns:
        The figure and per-channel statistics ``{"mean_x", "std_x", "mean_a", "std_a",
        "corr_av"}`` (``corr_av``: spatial correlation of a_c with v, +-1 by Eq. 22).
    """
    n = module_index(model, paper_index)
    rec = capture(model, lr, n)
    if rec["aligned"] is None:
        raise ValueError("Fig. 14 needs a DeFiAM with a DAC")
    x, v, a = rec["x"][0], rec["v"][0, 0], rec["aligned"][0]
    k = min(channels, x.shape[0])
    fig, axes = plt.subplots(3, k, figsize=(2.8 * k, 5.6), squeeze=False, sharex="col")
    for c in range(k):  # one row per quantity, so each keeps its own density scale
        for row, (t, name) in enumerate(((x[c], f"x, channel {c + 1}"), (v, "v (one map)"),
                                         (a[c], f"a (DAC out), channel {c + 1}"))):
            axes[row, c].hist(t.flatten().cpu().numpy(), bins=60, color=f"C{row}")
            axes[row, c].set_title(name, fontsize=8)
            axes[row, c].tick_params(labelsize=7)
    fig.suptitle(f"DeFiAM {n + 1} of {len(model.body)}: value histograms", fontsize=10)
    fig.tight_layout()
    vz = (v - v.mean()) / v.std()
    az = (a - a.mean((1, 2), keepdim=True)) / a.std((1, 2), keepdim=True)
    stats = {"mean_x": x.mean((1, 2)).numpy(), "std_x": x.std((1, 2)).numpy(),
             "mean_a": a.mean((1, 2)).numpy(), "std_a": a.std((1, 2)).numpy(),
             "corr_av": (az * vz).mean((1, 2)).numpy() * (v.numel() / (v.numel() - 1))}
    return fig, stats


def fig11(points: Sequence[dict[str, Any]]) -> plt.Figure:
    """Fig. 11 (bonus): PSNR against #FLOPs for runs of several sizes.

    Args:
        points: dicts with ``flops_g``, ``psnr``, ``label`` (one per model size).
    """
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for p in points:
        ax.scatter(p["flops_g"], p["psnr"])
        ax.annotate(p["label"], (p["flops_g"], p["psnr"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("#FLOPs (G)")
    ax.set_ylabel("PSNR (dB)")
    fig.tight_layout()
    return fig
