"""Inference: the forward pass as evaluation runs it (plain, tiled, self-ensembled), timed and measured.

**Tiled inference** (``tile > 0``). The usual "chop" (EDSR's ``forward_chop``)
runs the whole network on overlapping crops; for DeFiAN that is *not* the
untiled forward, because every RCAB pools its input globally (channel attention,
Eq. 7) and every DAC takes global statistics (Eqs. 20-21): a crop sees other
means. :func:`tiled_forward` is exact instead: it walks the network stage by
stage, runs each *local* stage (convolutions, MSHF, encoder-decoder, upsampler)
on overlapping tiles whose halo covers the stage's receptive field, and takes
each global statistic over the whole map. Peak memory is then a few LR feature
maps plus one tile's workspace, instead of the forward's peak, which at x4 is
dominated by the upsampler's 32 LR-map equivalents; results equal the untiled
forward to float rounding (``tests/report/test_inference.py``).

**Self-ensemble** (``self_ensemble=True``, "x8"): the mean of the outputs for the
eight flips/rotations of the input, each mapped back. The paper does not use it;
every row made with it says so (``self_ensemble`` column, method suffix ``+``).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = ["PeakMemory", "profile_inference", "resolve_device", "self_ensemble", "super_resolve", "tiled_forward",
           "to_uint8"]


# --- the forward pass: plain, tiled (exact), self-ensembled --------------------------------------
def _tiles(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, halo: int,
           scale: int = 1, align: int = 1) -> torch.Tensor:
    """Apply a *local* map ``fn`` ((B, C, h, w) -> (B, C', s h, s w)) on overlapping tiles.

    Each ``tile`` x ``tile`` block is computed from a crop extended by ``halo``
    pixels (clipped at the image border, where ``fn`` pads as it would on the
    whole image); only the block is kept. Exact when ``halo`` is at least the
    receptive-field radius of ``fn``. ``align``: crops start on multiples of it
    (pooling stages).
    """
    h, w = x.shape[-2:]
    tile = max(align, tile - tile % align)
    halo = -(-halo // align) * align
    out: torch.Tensor | None = None
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa, yb, xb = max(y0 - halo, 0), max(x0 - halo, 0), min(y1 + halo, h), min(x1 + halo, w)
            res = fn(x[..., ya:yb, xa:xb])  # (B, C', s (yb - ya), s (xb - xa))
            if out is None:
                out = res.new_empty(res.shape[0], res.shape[1], scale * h, scale * w)
            s = scale
            out[..., s * y0:s * y1, s * x0:s * x1] = res[..., s * (y0 - ya):s * (y1 - ya), s * (x0 - xa):s * (x1 - xa)]
    assert out is not None
    return out


def _endec_halo(endec: nn.Module) -> tuple[int, int]:
    """(halo, alignment) covering an encoder-decoder's receptive field (defian.nn.diendec)."""
    d = endec.half_depth
    if endec.hourglass:  # each level halves the grid: radius 2^l per conv, both ways
        return 4 * 2 ** d + 4, 2 ** d
    dil = [2 ** i if endec.kind == "diendec" else 1 for i in range(d)]
    return 2 * sum(dil) + 1, 1


@torch.no_grad()
def tiled_forward(model: nn.Module, lr: torch.Tensor, tile: int) -> torch.Tensor:
    """The forward of a DeFiAN computed stage by stage on tiles; equals ``model(lr)``.

    Args:
        model: a :class:`defian.nn.model.DeFiAN` (head, body of DeFiAMs, tail, upsampler, output).
        lr: (1, 3, h, w) RGB in [0, 1].
        tile: tile side in LR pixels (> 0).

    Returns:
        (1, 3, s h, s w), not clamped, equal to ``model(lr)`` up to float rounding.
    """
    needed = ("head", "body", "tail", "upsampler", "output", "in_mean")
    if not all(hasattr(model, n) for n in needed):
        raise TypeError(f"tiled_forward needs a DeFiAN (attributes {needed}); got {type(model).__name__}")
    x = (lr - model.in_mean) / model.in_std
    head = _tiles(model.head, x, tile, 1)  # (1, C, h, w)
    feat = head
    for m in model.body:  # DeFiAM, Eq. (6)
        f = feat
        for rcab in m.fem.blocks:  # Eq. (7): local f_FE, then the global channel attention
            r = _tiles(lambda t, b=rcab: b.conv2(b.relu(b.conv1(t))), f, tile, 2)
            f = r.mul_(rcab.ca(r)).add_(f)
        if m.endec is not None:
            lam = _tiles(m.hessian_maps, f, tile, max(m.switches.kernel_sizes))  # (1, K, h, w)
            halo, align = _endec_halo(m.endec)
            v = _tiles(m.endec, lam, tile, halo, align=align)  # (1, 1, h, w)
            if m.dac is not None:
                f = m.dac(v, feat).sigmoid_().mul_(f)  # Eqs. (20)-(22): global statistics of v and x
            else:
                f = f * v.sigmoid_()  # one map broadcast over C (defian.nn.defiam wiring)
        feat = f.add_(feat)  # f is always a fresh tensor here; head stays intact
    feat = _tiles(model.tail, feat, tile, 1).add_(head)
    y = _tiles(lambda t: model.output(model.upsampler(t)), feat, tile, 2, scale=model.scale)
    return (y - model.out_mean) / model.out_std


_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


def self_ensemble(fn: Callable[[torch.Tensor], torch.Tensor], lr: torch.Tensor) -> torch.Tensor:
    """Mean of ``T^-1 fn(T lr)`` over the 8 flips/rotations ``T`` ("x8"; not used by the paper)."""
    acc = None
    for k, flip in _DIHEDRAL:
        t = lr.flip(-1) if flip else lr
        y = fn(torch.rot90(t, k, (-2, -1)))
        y = torch.rot90(y, -k, (-2, -1))
        y = y.flip(-1) if flip else y
        acc = y if acc is None else acc.add_(y)
    assert acc is not None
    return acc / len(_DIHEDRAL)


@torch.no_grad()
def super_resolve(model: nn.Module, lr: torch.Tensor, tile: int = 0, ensemble: bool = False) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1] -> (1, 3, s h, s w), not clamped; whole image when ``tile == 0``."""
    def fn(t: torch.Tensor) -> torch.Tensor:
        return tiled_forward(model, t, tile) if tile > 0 else model(t)

    return self_ensemble(fn, lr) if ensemble else fn(lr)


def to_uint8(sr: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8: clamp, x255, round (as the released code saves)."""
    return (sr[0].float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


# --- time and memory -----------------------------------------------------------------------------
class PeakMemory:
    """Peak memory of a block in MiB: the CUDA allocator's peak, or on CPU the sampled RSS growth.

    The CPU figure samples the process RSS (``/proc/self/statm``, Linux; NaN
    elsewhere) every 2 ms after returning free heap to the OS (glibc
    ``malloc_trim``); it is approximate (short spikes can be missed) and counts
    only growth over the level before the block.
    """

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak_mb = device, float("nan")

    @staticmethod
    def _rss() -> int | None:
        try:
            return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        self._stop, self._base = threading.Event(), self._rss()
        self._top = self._base
        if self._base is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._top = max(self._top, self._rss() or 0)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
            return
        if self._base is None:
            return
        self._stop.set()
        self._thread.join()
        self._top = max(self._top, self._rss() or 0)
        self.peak_mb = (self._top - self._base) / 2**20


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def profile_inference(model: nn.Module, sizes: Sequence[tuple[int, int]], tiles: Sequence[int] = (0,),
                      device: str = "auto", repeats: int = 1) -> pd.DataFrame:
    """Inference time and peak memory per LR size and tile setting (random input).

    Returns:
        One row per (size, tile): ``lr_h, lr_w, tile, seconds`` (best of ``repeats``),
        ``peak_mb`` and ``device``.
    """
    dev = resolve_device(device)
    model = model.to(dev).eval()
    rows = []
    for h, w in sizes:
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(dev)
        for tile in tiles:
            best, peak = float("inf"), 0.0
            for _ in range(repeats):
                with PeakMemory(dev) as mem:
                    t0 = time.perf_counter()
                    super_resolve(model, x, tile)
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    best = min(best, time.perf_counter() - t0)
                peak = max(peak, mem.peak_mb)
            rows.append({"lr_h": h, "lr_w": w, "tile": tile, "seconds": best, "peak_mb": peak, "device": str(dev)})
    return pd.DataFrame(rows)
