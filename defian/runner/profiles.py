"""Execution profiles: every knob that changes between CI and the paper.

A profile is a flat set of named values. Each notebook declares, in its
``parameters`` cell, the subset it uses, under the same names; the book runner
(:mod:`defian.runner.book`) injects exactly that subset, so a value lives here once
and nowhere else.

Profiles, from cheapest to the paper's own:

``smoke``  CI on 2 CPU cores: tiny models, seconds of training.
``cpu``    a scaled-down study that a 2-core machine finishes in about half a day (measured: notebook 13).
``short``  the paper's model-analysis setting (Sec. IV-D): 5x10^4 updates, GPU.
``full``   the paper's schedule (Sec. IV-B2): 6x10^5 updates, GPU.

Each section below is owned by one group of notebooks; ``cpu``, ``short`` and
``full`` are derived from the profile before them, so a reader sees only what
changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

NAMES = ("smoke", "cpu", "short", "full")


@dataclass(frozen=True)
class Profile:
    """All profile values. Field names equal the notebooks' parameter names."""

    # --- common ---
    profile: str  # the profile's name, shown on every page it produced
    data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data
    device: str = "auto"  # "auto" picks CUDA when present, else CPU
    seed: int = 0

    # --- Hessian filtering (notebooks 01-02) ---
    hessian_samples: int = 200_000  # random 2x2 matrices checked against eigvalsh (notebook 02)
    hessian_bench_quick: bool = True  # benchmarks/bench_mshf.py --quick: a small tensor, a check only
    hessian_bench_rounds: int = 2  # interleaved timing rounds, minimum taken (benchmark and Fig. 12)
    hessian_fig12_max_size: int = 4  # Fig. 12 spatial sweep 1, 2, 4, ... up to this (paper: 8)
    hessian_loop_max_pixels: int = 64  # per-pixel solver loop (Eq. 24) only up to C*H*W pixels

    # --- model and complexity (notebooks 03-04) ---
    blocks_crop: int = 96  # side of the LR image crop whose features notebook 03 runs through the blocks

    # --- data and protocol (notebook 05) ---
    compare_sets: str = "Set5,Set14"  # sets scored under the alternative LR/metric conventions (empty: all present)

    # --- training (notebooks 06-07) ---
    train_schedule: str = "smoke"  # defian.train.config schedule notebook 06 trains (DeFiAN_S vs RCAN_S, x2)
    full_schedule: str = "smoke"  # schedule notebook 07 trains for DeFiAN_S/L; "" = read existing run records only
    full_scales: str = "2,3,4"  # scales notebook 07 covers (Tables I-II columns)

    # --- tables and figures (notebooks 08-12) ---
    eval_limit: int = 1  # images per test set scored for Tables I-V (0 = all; smoke: the first one)
    ablation_schedule: str = "smoke"  # schedule of the Table III-V runs (paper IV-D: 5x10^4 updates, "short")
    ablation_model: str = "defian_s"  # preset whose size those runs take (paper IV-D: DeFiAN_L, "defian_l")
    ablation_updates: int = 10  # cut each Table III-V run to this many updates (0 = as the schedule says)
    ablation_train: bool = True  # train missing Table III-V runs in the notebook (False: read records only)
    fig_crop: int = 64  # side of the LR centre crop the figures are drawn on (0 = the whole image)
    bench_lr_side: int = 32  # LR side of the inference time/memory measurement (notebook 08)

    # --- DeFiAN at any scale (notebook 20) ---
    lfr_schedule: str = "smoke"  # schedule of the LFR study records notebook 20 reads (defian.lfr.study)
    lfr_train: bool = True  # notebook 20 trains a tiny LFR model in place (False: read committed records only)
    lfr_train_updates: int = 600  # its updates (constant learning rate: the smoke schedule's halving stops it)
    lfr_eval_limit: int = 1  # images of the first test set on notebook 20's PSNR-vs-scale curve (0 = all)
    lfr_crop: int = 128  # HR centre crop of those images (0 = whole images)

    # --- Part II: image-specific kernel modulation (notebook 17) ---
    ikm_eval_limit: int = 1  # Set5 images notebook 17 scores released CoMo-S x2 on (0 = all; smoke: the first)

    # --- the released artifacts (notebook 16) ---
    released_methods: str = "SRCNN-915,FSRCNN"  # released models notebook 16 scores ("" = all of defian.zoo.RELEASED)
    released_sets: str = "Set5"  # benchmark sets it scores them on ("" = every set under the data root)
    released_scales: str = "2"  # scales it scores ("" = 2,3,4)


def _chain(*steps: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Derive each profile from the one before it: smoke, cpu, short, full."""
    out, acc = {}, {}
    for name, step in zip(NAMES, steps, strict=True):
        acc = {**acc, **step}
        out[name] = dict(acc)
    return out


# Each section: the smoke values, then only what cpu, short and full change.
_COMMON = _chain({}, {}, {}, {})
_HESSIAN = _chain(  # smoke: seconds; cpu and up: the full benchmark and Fig. 12 sweep
    {"hessian_samples": 200_000, "hessian_bench_quick": True, "hessian_bench_rounds": 2,
     "hessian_fig12_max_size": 4, "hessian_loop_max_pixels": 64},
    {"hessian_samples": 2_000_000, "hessian_bench_quick": False, "hessian_bench_rounds": 10,
     "hessian_fig12_max_size": 64, "hessian_loop_max_pixels": 1024},
    {},
    {},
)
_MODEL = _chain({"blocks_crop": 48}, {"blocks_crop": 96}, {"blocks_crop": 128}, {})  # smoke: a 48 x 48 crop
_DATA = _chain({"compare_sets": "Set5,Set14"}, {"compare_sets": ""}, {}, {})  # smoke: two small sets
_TRAINING = _chain(  # smoke: tiny models in seconds; cpu: the 2-core study (07 needs a GPU: records only)
    {"train_schedule": "smoke", "full_schedule": "smoke", "full_scales": "2,3,4"},
    {"train_schedule": "cpu", "full_schedule": ""},
    {"train_schedule": "short", "full_schedule": "short"},
    {"full_schedule": "full"},
)
_TABLES = _chain(  # smoke: tiny runs trained in place; cpu: committed records only; short/full: the paper's IV-D runs
    {"eval_limit": 1, "ablation_schedule": "smoke", "ablation_model": "defian_s", "ablation_updates": 10,
     "ablation_train": True, "fig_crop": 64, "bench_lr_side": 32},
    {"eval_limit": 0, "ablation_schedule": "cpu", "ablation_updates": 0, "ablation_train": False, "fig_crop": 0,
     "bench_lr_side": 180},
    {"ablation_schedule": "short", "ablation_model": "defian_l", "ablation_train": True},
    {},  # full: Tables III-V stay at the paper's 5x10^4-update setting (Sec. IV-D)
)

_LFR = _chain(  # smoke: a tiny model trained in place, one cropped image; cpu and up: the committed records
    {"lfr_schedule": "smoke", "lfr_train": True, "lfr_train_updates": 600, "lfr_eval_limit": 1, "lfr_crop": 128},
    {"lfr_schedule": "cpu", "lfr_train": False, "lfr_eval_limit": 0, "lfr_crop": 0},
    {},  # short/full: Part III has only the reduced (cpu) study
    {},
)

_RELEASED = _chain(  # smoke: the two lightest models on Set5 x2, in seconds; cpu and up: every model, set, scale
    {"released_methods": "SRCNN-915,FSRCNN", "released_sets": "Set5", "released_scales": "2"},
    {"released_methods": "", "released_sets": "", "released_scales": ""},
    {},
    {},
)

_IKM = _chain(  # smoke: CoMo-S x2 on the first Set5 image (seconds); cpu and up: all of Set5
    {"ikm_eval_limit": 1},
    {"ikm_eval_limit": 0},
    {},
    {},
)

PROFILES: dict[str, Profile] = {
    name: Profile(
        profile=name,
        **_COMMON[name],
        **_HESSIAN[name],
        **_MODEL[name],
        **_DATA[name],
        **_TRAINING[name],
        **_TABLES[name],
        **_LFR[name],
        **_RELEASED[name],
        **_IKM[name],
    )
    for name in NAMES
}


def get(name: str) -> Profile:
    """Return the profile called ``name``; the error lists the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(NAMES)}") from None


def values(name: str) -> dict[str, Any]:
    """The profile's values as a plain dict (what the runner injects)."""
    return dataclasses.asdict(get(name))
