"""DeFiAN reproduced: Huang et al., "Interpretable Detail-Fidelity Attention
Network for Single Image Super-Resolution", IEEE TIP 30 (2021) 2325-2339.

The package computes; the notebooks in ``notebooks/`` narrate and call it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["build_model", "__version__"]


def build_model(name: str, scale: int, **switches: Any):  # noqa: ANN201 (torch.nn.Module)
    """Build a named model preset; see :func:`defian.nn.model.build_model`."""
    from defian.nn.model import build_model as _build

    return _build(name, scale, **switches)
