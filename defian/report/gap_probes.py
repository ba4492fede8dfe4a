"""The variants tried on the three gaps the released-artifacts table quotes as findings, scored: a record.

:mod:`defian.report.released_findings` explains each gap between a re-scored row and the printed one
in words; this module is where the numbers behind three of those explanations come from. Each
*probe* scores one variant of an evaluation (another Y, another crop, another LR, ...) on one printed
row, next to that row:

* **RCAN x3, Set5** (released outputs, ``images/rcan_official/RCAN/Set5/x3``, against the benchmark HR
  mod-cropped, as :mod:`defian.report.y_convention`): rounded Y (the book's protocol), float Y (RCAN's
  own script), Y truncated instead of rounded, and rounded Y with one more border pixel shaved; the
  printed row is DeFiAN's Table I.
* **CARN-M x2/x3/x4, Set5** (released weights): its author's way (truncated output, rounded Y,
  MATLAB-bicubic LR: the book's protocol, :mod:`defian.zoo.carn`), then one change each: the output
  rounded, float Y, ``scale + 6`` pixels shaved, PIL-bicubic LR, the x8 self-ensemble
  (:func:`defian.report.inference.self_ensemble`); the printed row is the CARN paper's.
* **VDSR x3, Set14** (released weights): its original authors' way (LR from the top-left mod-cropped
  HR luma in float, the network's luma rounded, :func:`defian.zoo.authors_pair`), then one change each:
  the HR mod-cropped from the centre or from the bottom-right, ``scale + 6`` pixels shaved, the
  network's luma left unrounded, the grey image (bridge) read as RGB; and float Y of the book's SR
  images (DeFiAN's released ``test.py`` convention), also at x2 and x4; the printed rows are DeFiAN's
  Table II.

:func:`gap_probes` computes them (one thread, as :mod:`defian.report.zoo_scores`: float32 convolutions
move in their last bits with the thread count), :func:`write_probes` writes
``results/released/gap_probes.{csv,md}``; tests/report/test_gap_probes.py recomputes a subset and
checks the claims the findings make against the committed file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from defian import paths
from defian.atomic import write_atomic
from defian.data import metrics, testsets
from defian.data.images import load_image, mod_crop, to_rgb
from defian.data.imresize import imresize_float
from defian.report import inference, paper_tables, released
from defian.report.folders import list_images, match_images, score_folder
from defian.report.tables import markdown_text
from defian.zoo import RELEASED, load, super_resolve
from defian.zoo.pipeline import predict_y, quantize, run_rgb

__all__ = ["CARN_VARIANTS", "COLUMNS", "KEYS", "OUTPUT_PROBES", "RCAN_VARIANTS", "VDSR_VARIANTS", "carn_probes",
           "gap_probes", "merge_probes", "rcan_probes", "read_probes", "vdsr_probes", "write_probes"]

COLUMNS = ("method", "set", "scale", "variant", "images", "printed_in", "printed_psnr", "printed_ssim", "psnr",
           "ssim", "d_psnr", "d_ssim")

#: RCAN's released x3 outputs: variant -> what it is.
RCAN_VARIANTS: dict[str, str] = {
    "rounded Y": "the book's protocol (metrics 'paper')",
    "float Y": "RCAN's Evaluate_PSNR_SSIM.m (metrics 'y-unrounded')",
    "truncated Y": "Y = floor(16 + (65.481 R + 128.553 G + 24.966 B) / 255)",
    "rounded Y, shave scale+1": "one more border pixel shaved",
}
#: CARN-M: variant -> what it changes in its author's way (truncated output, rounded Y, MATLAB-bicubic LR).
CARN_VARIANTS: dict[str, str] = {
    "author's way": "CARN's sample.py (output truncated) scored by SelfExSR's compute_difference (rounded Y)",
    "rounded output": "the output rounded to bytes instead of truncated",
    "float Y": "Y not rounded (metrics 'y-unrounded')",
    "shave scale+6": "scale + 6 border pixels shaved (metrics 'shave-scale+6')",
    "PIL-bicubic LR": "LR made by PIL's bicubic (testsets.downscale 'pil') instead of MATLAB's",
    "x8 self-ensemble": "mean output over the 8 flips and rotations (defian.report.inference.self_ensemble)",
}
#: VDSR: variant -> what it changes in its original authors' way (defian.zoo.authors 'float-y', 'direct').
VDSR_VARIANTS: dict[str, str] = {
    "authors' way": "LR from the top-left mod-cropped HR luma in float; the network's luma rounded, scale shaved",
    "centre mod-crop": "the HR mod-cropped from the centre",
    "bottom-right mod-crop": "the HR mod-cropped from the bottom-right",
    "shave scale+6": "scale + 6 border pixels shaved",
    "unrounded luma": "the network's luma not rounded to bytes",
    "grey image as RGB": "a grey HR image (Set14's bridge) replicated to RGB before its luma is taken",
    "float Y of the book's SR": "the book's SR image (uint8 MATLAB-bicubic LR) scored on float Y",
}
#: Released outputs probed: label -> (folder pattern under the released root, set, scale).
OUTPUT_PROBES: dict[str, tuple[str, str, int]] = {"RCAN": ("images/rcan_official/RCAN/{set}/x{scale}", "Set5", 3)}
_CARN = ("CARN-M", "Set5", (2, 3, 4))
_VDSR = ("VDSR", "Set14", 3, (2, 3, 4))  # method, set, scale of the gap, scales of the float-Y-of-the-book probe


def _row(method: str, set_name: str, scale: int, variant: str, scores: Sequence[tuple[float, float]],
         printed: tuple[str, float, float]) -> dict:
    source, p, s = printed
    psnr, ssim = np.mean([a for a, _ in scores]), np.mean([b for _, b in scores])
    return {"method": method, "set": set_name, "scale": scale, "variant": variant, "images": len(scores),
            "printed_in": source, "printed_psnr": p, "printed_ssim": s, "psnr": float(psnr), "ssim": float(ssim),
            "d_psnr": float(psnr - p), "d_ssim": float(ssim - s)}


def _weights_printed(method: str, scale: int, set_name: str) -> tuple[str, float, float]:
    return released.printed_row(method, scale, set_name)[:3]


def _truncated_y(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR/SSIM on Y truncated (floor) instead of rounded, ``scale`` pixels shaved (RGB images)."""
    a, b = (np.floor(metrics.rgb_to_y(x, rounded=False)) for x in (sr, hr))
    crop = (slice(scale, -scale), slice(scale, -scale))
    return metrics.psnr_prepared(a[crop], b[crop]), metrics.ssim_prepared(a[crop], b[crop])


def rcan_probes(root: str | os.PathLike[str], data_root: str | None = None,
                variants: Sequence[str] | None = None) -> list[dict]:
    """The RCAN x3 Set5 probes (module docstring) from RCAN's released outputs.

    Args:
        root: The released artifacts folder.
        data_root: The data root holding Set5 (None/"": ``$DEFIAN_DATA``).
        variants: Keys of :data:`RCAN_VARIANTS` (default: all).

    Returns:
        One row (:data:`COLUMNS`) per variant.
    """
    pattern, set_name, scale = OUTPUT_PROBES["RCAN"]
    folder = Path(root) / pattern.format(set=set_name, scale=scale)
    r = paper_tables.row(paper_tables.TABLE_I, "RCAN", scale)
    printed = ("DeFiAN Table I", r.psnr[set_name], r.ssim[set_name])
    protocols = {"rounded Y": metrics.PROTOCOLS["paper"], "float Y": metrics.PROTOCOLS["y-unrounded"],
                 "rounded Y, shave scale+1": metrics.Protocol("shave-scale+1", extra_shave=1)}
    rows = []
    for variant in (RCAN_VARIANTS if variants is None else variants):
        if variant in protocols:
            df = score_folder(folder, set_name=set_name, scale=scale, protocol=protocols[variant],
                              data_root=data_root)
            scores = list(zip(df["psnr"], df["ssim"], strict=True))
        elif variant == "truncated Y":  # no protocol of defian.data.metrics truncates Y: the pairs, scored here
            hr_files = testsets.find_set(paths.data_root(data_root), set_name)[0]
            pairs = match_images(list_images(folder, "SR folder"), hr_files, scale)
            scores = [_truncated_y(load_image(s), mod_crop(load_image(h), scale), scale) for _, s, h in pairs]
        else:
            raise ValueError(f"unknown RCAN probe {variant!r}; choose from {', '.join(RCAN_VARIANTS)}")
        rows.append(_row("RCAN", set_name, scale, variant, scores, printed))
    return rows


def _carn_output(model: nn.Module, lr: np.ndarray, ensemble: bool) -> np.ndarray:
    """CARN-M's float RGB output (:func:`defian.zoo.pipeline.run_rgb`), x8 self-ensembled if asked."""
    if not ensemble:
        return run_rgb(model, lr)
    x = torch.from_numpy(to_rgb(lr) / 255.0).permute(2, 0, 1)[None]  # float64: run_rgb casts as for uint8
    def fn(t: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(run_rgb(model, t[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)[None]
    return inference.self_ensemble(fn, x)[0].permute(1, 2, 0).numpy()


def carn_probes(root: str | os.PathLike[str], data_root: str | None = None, scales: Sequence[int] = (2, 3, 4),
                variants: Sequence[str] | None = None) -> list[dict]:
    """The CARN-M Set5 probes (module docstring) from the released weights.

    Args:
        root: The released artifacts folder.
        data_root: The data root holding Set5 (None/"": ``$DEFIAN_DATA``).
        scales: Of 2, 3, 4.
        variants: Keys of :data:`CARN_VARIANTS` (default: all).

    Returns:
        One row (:data:`COLUMNS`) per (scale, variant).
    """
    method, set_name, _ = _CARN
    spec = RELEASED[method]
    variants = list(CARN_VARIANTS if variants is None else variants)
    if unknown := set(variants) - set(CARN_VARIANTS):
        raise ValueError(f"unknown CARN-M probes {sorted(unknown)}; choose from {', '.join(CARN_VARIANTS)}")
    data = paths.data_root(data_root)
    rows = []
    for scale in scales:
        model = load(method, scale, root)
        scores: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        lr_pil = {p.name: p.lr for p in testsets.load_pairs(data, set_name, scale, "pil")} \
            if "PIL-bicubic LR" in variants else {}
        for pair in testsets.load_pairs(data, set_name, scale):
            plain = _carn_output(model, pair.lr, False)
            for v in variants:
                out, how, protocol = plain, spec.quantize, metrics.PAPER
                if v == "rounded output":
                    how = "round"
                elif v == "float Y":
                    protocol = metrics.PROTOCOLS["y-unrounded"]
                elif v == "shave scale+6":
                    protocol = metrics.PROTOCOLS["shave-scale+6"]
                elif v == "PIL-bicubic LR":
                    out = _carn_output(model, lr_pil[pair.name], False)
                elif v == "x8 self-ensemble":
                    out = _carn_output(model, pair.lr, True)
                scores[v].append(metrics.psnr_ssim(quantize(out, how), pair.hr, scale, protocol))
        printed = _weights_printed(method, scale, set_name)
        rows += [_row(method, set_name, scale, v, scores[v], printed) for v in variants]
    return rows


def _vdsr_luma(model: nn.Module, hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """VDSR's float output luma and the HR luma, the original authors' way (:func:`defian.zoo.authors_pair`'s
    ``float-y`` branch, whose rounded output is ``quantize`` of the first)."""
    hr_y = metrics.rgb_to_y(hr) if hr.ndim == 3 else hr
    return predict_y(RELEASED["VDSR"], model, imresize_float(hr_y / 255.0, 1.0 / scale), scale), hr_y


def _unrounded(out: np.ndarray, hr_y: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR/SSIM of the network's luma, clipped to [0, 255] and not rounded, ``scale`` pixels shaved."""
    crop = (slice(scale, -scale), slice(scale, -scale))
    a, b = np.clip(out * 255.0, 0.0, 255.0)[crop], hr_y[crop].astype(np.float64)
    return metrics.psnr_prepared(a, b), metrics.ssim_prepared(a, b)


def vdsr_probes(root: str | os.PathLike[str], data_root: str | None = None, scales: Sequence[int] = (2, 3, 4),
                variants: Sequence[str] | None = None) -> list[dict]:
    """The VDSR Set14 probes (module docstring) from the released weights.

    Every variant but the last is scored at the gap's scale (x3) only; "float Y of the book's SR" at
    each of ``scales``.

    Args:
        root: The released artifacts folder.
        data_root: The data root holding Set14 (None/"": ``$DEFIAN_DATA``).
        scales: Of 2, 3, 4.
        variants: Keys of :data:`VDSR_VARIANTS` (default: all).

    Returns:
        One row (:data:`COLUMNS`) per (scale, variant).
    """
    method, set_name, gap_scale, _ = _VDSR
    variants = list(VDSR_VARIANTS if variants is None else variants)
    if unknown := set(variants) - set(VDSR_VARIANTS):
        raise ValueError(f"unknown VDSR probes {sorted(unknown)}; choose from {', '.join(VDSR_VARIANTS)}")
    files = testsets.find_set(paths.data_root(data_root), set_name)[0]
    model = load(method, gap_scale, root)  # one released model for every scale
    rows = []
    for scale in scales:
        todo = [v for v in variants if scale == gap_scale or v == "float Y of the book's SR"]
        scores: dict[str, list[tuple[float, float]]] = {v: [] for v in todo}
        for f in files:
            for v, score in _vdsr_image(model, load_image(f), scale, todo).items():
                scores[v].append(score)
        printed = _weights_printed(method, scale, set_name)
        rows += [_row(method, set_name, scale, v, scores[v], printed) for v in todo]
    return rows


def _vdsr_image(model: nn.Module, full: np.ndarray, scale: int, variants: Sequence[str]
                ) -> dict[str, tuple[float, float]]:
    """One image's (PSNR, SSIM) per VDSR variant; ``full`` is the HR image before its mod-crop."""
    dh, dw = full.shape[0] % scale, full.shape[1] % scale  # rows/columns the mod-crop drops
    crops: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray]] = {}

    def luma(top: int, left: int, grey_rgb: bool = False) -> tuple[np.ndarray, np.ndarray]:
        hr = full[top:full.shape[0] - dh + top, left:full.shape[1] - dw + left]
        key = (top, left, grey_rgb and hr.ndim == 2)  # one crop, one run
        if key not in crops:
            crops[key] = _vdsr_luma(model, to_rgb(hr) if key[2] else hr, scale)
        return crops[key]

    def rounded(top: int, left: int, grey_rgb: bool = False, protocol: metrics.Protocol = metrics.PAPER
                ) -> tuple[float, float]:
        out, hr_y = luma(top, left, grey_rgb)
        return metrics.psnr_ssim(quantize(out), hr_y, scale, protocol)

    def book_float_y() -> tuple[float, float]:
        hr = mod_crop(full, scale)
        sr = super_resolve(RELEASED["VDSR"], model, testsets.downscale(hr, scale), scale)
        return metrics.psnr_ssim(sr, hr, scale, metrics.PROTOCOLS["y-unrounded"])

    scored: dict[str, Callable[[], tuple[float, float]]] = {
        "authors' way": lambda: rounded(0, 0),
        "centre mod-crop": lambda: rounded(dh // 2, dw // 2),
        "bottom-right mod-crop": lambda: rounded(dh, dw),
        "shave scale+6": lambda: rounded(0, 0, protocol=metrics.PROTOCOLS["shave-scale+6"]),
        "unrounded luma": lambda: _unrounded(*luma(0, 0), scale),
        "grey image as RGB": lambda: rounded(0, 0, grey_rgb=True),
        "float Y of the book's SR": book_float_y,
    }
    return {v: scored[v]() for v in variants}


def gap_probes(released_root: str | os.PathLike[str] | None = None, data_root: str | None = None, *,
               methods: Sequence[str] | None = None, sets: Sequence[str] | None = None,
               scales: Sequence[int] | None = None, outputs: Sequence[str] | None = None) -> pd.DataFrame:
    """Every probe (module docstring) of the released weights and outputs selected, as one table.

    Args:
        released_root: The released artifacts folder (:func:`defian.paths.released_root`).
        data_root: The data root holding the benchmark sets (None/"": ``$DEFIAN_DATA``).
        methods: Released models whose probes run (CARN-M, VDSR; default: both), where their set is in
            ``sets``, at the ``scales`` given (VDSR's x3 probes need 3).
        sets: Benchmark sets of the models' probes (default: all).
        scales: Scales of the models' probes (default: 2, 3, 4).
        outputs: Released outputs whose probes run (keys of :data:`OUTPUT_PROBES`; default: all), whatever
            ``sets`` and ``scales`` say: a few images scored, as notebook 16 scores every released output.

    Returns:
        One row per (method, set, scale, variant), :data:`COLUMNS`; ``d_* = measured - printed``.

    Raises:
        FileNotFoundError: no released artifacts, or no data root.
    """
    root, _ = released.artifacts_and_data(released_root, data_root, "the probes")
    scales = (2, 3, 4) if scales is None else tuple(scales)

    def wanted(method: str, set_name: str) -> bool:
        return (methods is None or method in methods) and (sets is None or set_name in sets)

    rows: list[dict] = []
    if outputs is None or "RCAN" in outputs:
        rows += rcan_probes(root, data_root)
    if wanted(_CARN[0], _CARN[1]) and (chosen := [s for s in _CARN[2] if s in scales]):
        rows += carn_probes(root, data_root, scales=chosen)
    if wanted(_VDSR[0], _VDSR[1]) and _VDSR[2] in scales:
        rows += vdsr_probes(root, data_root, scales=[s for s in _VDSR[3] if s in scales])
    return pd.DataFrame(rows, columns=list(COLUMNS))


KEYS = ("method", "set", "scale", "variant")  # what names one probe


def merge_probes(measured: pd.DataFrame, saved: pd.DataFrame | None) -> pd.DataFrame:
    """The probes measured here and, for every other probe of ``saved`` (the committed table), its row.

    Returns:
        :data:`COLUMNS`, ``measured`` (True where measured here) and ``moved_psnr``/``moved_ssim``
        (``|measured - saved|``, NaN where either side lacks the probe), in ``saved``'s order, new probes last.
    """
    here = measured[list(COLUMNS)].assign(measured=True)
    if saved is None:
        return here.assign(moved_psnr=np.nan, moved_ssim=np.nan).reset_index(drop=True)
    old = saved[list(COLUMNS)].reset_index(drop=True).assign(rank=lambda f: np.arange(len(f)))
    both = here.merge(old[[*KEYS, "psnr", "ssim", "rank"]], on=list(KEYS), how="left", suffixes=("", "_saved"),
                      validate="one_to_one")
    both = both.assign(moved_psnr=(both["psnr"] - both["psnr_saved"]).abs(),
                       moved_ssim=(both["ssim"] - both["ssim_saved"]).abs()).drop(columns=["psnr_saved", "ssim_saved"])
    rest = old.merge(here[list(KEYS)], on=list(KEYS), how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge").assign(measured=False, moved_psnr=np.nan,
                                                                               moved_ssim=np.nan)
    frame = pd.concat([both, rest], ignore_index=True)
    frame["rank"] = frame["rank"].fillna(pd.Series(len(old) + np.arange(len(frame)), index=frame.index))
    return frame.sort_values("rank", kind="stable").drop(columns="rank").reset_index(drop=True)


def read_probes(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table :func:`write_probes` wrote (CSV).

    Raises:
        FileNotFoundError: no such file. ValueError: a file whose columns are not :data:`COLUMNS`.
    """
    frame = pd.read_csv(path)
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(frame.columns)}, expected {list(COLUMNS)} "
                         "(written by another version? rerun notebook 16 under the cpu profile)")
    return frame


def _markdown(frame: pd.DataFrame) -> str:
    def fmt(col: str, v: object) -> str:
        if isinstance(v, (float, np.floating)):
            if col.startswith("printed_"):
                return f"{v:.4f}" if "ssim" in col else f"{v:.2f}"
            digits = 4 if "ssim" in col else 3
            return f"{v:+.{digits}f}" if col.startswith("d_") else f"{v:.{digits}f}"
        return str(v)

    cells = pd.DataFrame({c: [fmt(c, v) for v in frame[c]] for c in COLUMNS})
    what = {**{f"RCAN: {k}": v for k, v in RCAN_VARIANTS.items()},
            **{f"CARN-M: {k}": v for k, v in CARN_VARIANTS.items()},
            **{f"VDSR: {k}": v for k, v in VDSR_VARIANTS.items()}}
    notes = ["d = measured - printed (dB PSNR; SSIM).",
             *(f"{k}: {v}." for k, v in what.items()),
             ("Which finding each probe bears on: defian.report.released_findings.FINDINGS (RCAN x3, CARN-M, "
              "VDSR x3); the rows they explain: results/released/released_rows.md."),
             "Made by defian.report.gap_probes.gap_probes; never typed."]
    return markdown_text(cells, "Variants tried on the gaps the released rows leave, scored", notes)


def write_probes(frame: pd.DataFrame, profile: str) -> list[Path]:
    """Write ``gap_probes.{csv,md}`` to ``paths.outputs("released", profile)`` (smoke: ``_build``)."""
    folder = paths.outputs("released", profile)
    frame = frame[list(COLUMNS)]
    return [write_atomic(folder / "gap_probes.csv", frame.to_csv(index=False)),
            write_atomic(folder / "gap_probes.md", _markdown(frame))]
