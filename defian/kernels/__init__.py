"""The optional accelerators, behind one facade: :func:`accelerate`.

The modules of :mod:`defian.nn` compute the paper's equations as written;
``accelerate(model)`` swaps each block for a fused twin that computes the same
function faster (C++ kernels on CPU, fused autograd functions everywhere). The
choice is made once, here, never inside a model's forward. Every fast path has
a reference twin tested equal in float64, and ``DEFIAN_CPP=0`` turns the C++
kernels off (the fused PyTorch paths still run).

Modules:
    fused: the facade: fused twins of MSHF, RCAB, channel attention, DAC and DeFiAM.
    extension: building and loading the C++ extensions (``csrc/``), and when they apply.
    mshf: the fused multi-scale Hessian filtering (forward and analytic backward).
    gate: the gated residuals that end a DeFiAM (Eqs. 6, 22) and an RCAB (Eq. 7).
    moments: the DAC's mean and standard deviation (Eqs. 20-21) in one pass.
    pooling: the global average pool with a layout-preserving backward.
"""

from __future__ import annotations

from defian.kernels.fused import accelerate as accelerate
from defian.kernels.fused import is_accelerated as is_accelerated

__all__ = ["accelerate", "is_accelerated"]
