"""#Params and #FLOPs as the IKM paper counts them (Sec. IV-A, Tables I-V).

The paper: "#FLOPs indicates the number of operations by Multi-Adds"; its
released code (YuanfeiHuang/IKM@cf723d4 ``main.py``) counts with a THOP-style
``profile_origin`` on one LR input of (480 // s) x (360 // s) pixels, i.e. an
output of 480 x 360 (the DeFiAN counter's convention too, :mod:`defian.nn.complexity`).
That counter hooks leaf modules only: every ``nn.Conv2d`` adds, per output
element, C_in / groups x k^2 multiply-adds plus one addition for a bias
(``count_convNd`` of THOP 0.0.31); ReLU, pixel shuffle and the IKM attention
count zero. Parameters are all of a leaf module's parameters.

:func:`count` runs the model on the meta device with forward hooks on
``nn.Conv2d`` and :class:`IKMConv2d` (counted as the convolution it modulates:
IKM adds no parameter and, as printed in Table III, "+0" FLOPs).

:data:`PAPER` holds every printed number this module reproduces; the IKM notebook
and ``tests/ikm/test_ikm_complexity.py`` compare them digit by digit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from defian.ikm.operator import IKMConv2d
from defian.nn.complexity import lr_size

__all__ = ["CONVENTIONS", "HR_SIZE", "PAPER", "PAPER_TABLE_III", "PAPER_TABLE_III_ADDED", "Complexity", "count",
           "count_params", "printed"]

HR_SIZE = (480, 360)  # released main.py: input (480 // s, 360 // s)
CONVENTIONS = ("thop", "macs")

#: Printed (#Params in K, #FLOPs in G) of the IKM paper, keyed by (preset, attention, scale).
PAPER: dict[tuple[str, str, int], tuple[float, float]] = {
    ("U-HDN", "ikm", 2): (1390.9, 60.3),  # Table I
    ("U-HDN", "ikm", 3): (1402.4, 27.2),
    ("U-HDN", "ikm", 4): (1400.1, 15.7),
    ("U-HDNL", "ikm", 2): (10900.0, 471.5),  # Table II: 10.9M
    ("U-HDN_V1", "ikm", 2): (1390.9, 60.3),  # Sec. IV-D4
    ("U-HDN_V2", "ikm", 2): (1401.3, 60.8),
    ("U-HDN_V3", "ikm", 2): (1401.3, 60.8),
    ("U-HDN_uniform", "ikm", 2): (1380.3, 60.0),  # Table V, without the hourglass
    ("U-HDB_x1", "vanilla", 2): (384.9, 16.9),  # Table III
}


#: Table III's printed (#Params in K, #FLOPs in G) of each backbone with vanilla convolutions (x2, one block),
#: and what CA / SA add to it (IKM adds "+0" / "+0"); keyed by :data:`defian.ikm.backbones.BACKBONES` names.
PAPER_TABLE_III: dict[str, tuple[float, float]] = {
    "RB": (362.1, 15.8), "DB": (382.3, 16.7), "RDB": (411.0, 18.0), "U-HDB": (384.9, 16.9)}
PAPER_TABLE_III_ADDED: dict[str, dict[str, tuple[float, float]]] = {
    "RB": {"ca": (19.4, 0.0), "sa": (9.62, 0.42), "ikm": (0.0, 0.0)},
    **{name: {"ca": (2.61, 0.0), "sa": (1.29, 0.06), "ikm": (0.0, 0.0)} for name in ("DB", "RDB", "U-HDB")}}


@dataclass(frozen=True)
class Complexity:
    """Counts of one model at one scale."""

    params: int
    macs: int  # multiply-adds of every convolution
    bias: int  # one addition per output element of each convolution with a bias
    lr_size: tuple[int, int]

    def flops(self, convention: str = "thop") -> int:
        """#FLOPs: ``"thop"`` = macs + bias (the released counter), ``"macs"`` = macs only."""
        if convention not in CONVENTIONS:
            raise ValueError(f"convention={convention!r} is not one of {CONVENTIONS}")
        return self.macs + (self.bias if convention == "thop" else 0)


def count_params(model: nn.Module) -> int:
    """All parameters (the released counter sums leaf modules' parameters: the same here)."""
    return sum(p.numel() for p in model.parameters())


def count(model: nn.Module, scale: int, hr_size: tuple[int, int] = HR_SIZE) -> Complexity:
    """Count ``model`` on one LR input of (hr_size[0] // scale, hr_size[1] // scale) pixels.

    Runs a meta-device copy (shapes only), so a U-HDNL costs well under a second.

    Args:
        model: any module mapping (1, 3, h, w) to an image.
        scale: s; must divide both sides of ``hr_size``.
        hr_size: the output size (paper: 480 x 360).

    Returns:
        A :class:`Complexity`.
    """
    lr = lr_size(model, scale, hr_size)
    meta = copy.deepcopy(model).to("meta").eval()
    for m in meta.modules():
        if isinstance(m, IKMConv2d):
            m.modulate = False  # same convolution shapes, fewer meta operations; IKM counts as its conv
    totals = {"macs": 0, "bias": 0}

    def hook(m: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
        c_in_per_group, kh, kw = m.weight.shape[1:]
        totals["macs"] += out.numel() * c_in_per_group * kh * kw
        if m.bias is not None:
            totals["bias"] += out.numel()

    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, IKMConv2d))]
    try:
        with torch.no_grad():
            meta(torch.empty(1, 3, *lr, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return Complexity(count_params(model), totals["macs"], totals["bias"], lr)


def printed(c: Complexity, convention: str = "thop") -> tuple[float, float]:
    """(#Params in K, #FLOPs in G) rounded to one decimal, as the tables print them."""
    return round(c.params / 1e3, 1), round(c.flops(convention) / 1e9, 1)
