"""Execution profiles: every knob that changes between CI and the paper.

A profile is a flat set of named values. Each notebook declares, in its
``parameters`` cell, the subset it uses, under the same names; the book runner
(:mod:`defian.book`) injects exactly that subset, so a value lives here once
and nowhere else.

Profiles, from cheapest to the paper's own:

``smoke``  CI on 2 CPU cores: tiny models, seconds of training.
``cpu``    a scaled-down study that a 2-core machine finishes in about two hours.
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

    # --- model and complexity (notebooks 03-04) ---

    # --- data and protocol (notebook 05) ---

    # --- training (notebooks 06-07) ---

    # --- tables and figures (notebooks 08-12) ---


def _chain(*steps: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Derive each profile from the one before it: smoke, cpu, short, full."""
    out, acc = {}, {}
    for name, step in zip(NAMES, steps, strict=True):
        acc = {**acc, **step}
        out[name] = dict(acc)
    return out


# Each section: the smoke values, then only what cpu, short and full change.
_COMMON = _chain({}, {}, {}, {})
_HESSIAN = _chain({}, {}, {}, {})
_MODEL = _chain({}, {}, {}, {})
_DATA = _chain({}, {}, {}, {})
_TRAINING = _chain({}, {}, {}, {})
_TABLES = _chain({}, {}, {}, {})

PROFILES: dict[str, Profile] = {
    name: Profile(
        profile=name,
        **_COMMON[name],
        **_HESSIAN[name],
        **_MODEL[name],
        **_DATA[name],
        **_TRAINING[name],
        **_TABLES[name],
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
