"""Released MATLAB weight files (``.mat``, MATLAB 5.0 format) read with :func:`scipy.io.loadmat`.

Three layouts occur in ``weights/``:

* plain variables (SRCNN: ``weights_conv1`` ... ``biases_conv3``) and cell
  arrays (FSRCNN: ``weights_conv{i}``; VDSR: ``model.weight{i}``), read by
  :func:`read_mat`, :func:`cell` and :func:`struct_field`;
* a MatConvNet ``DagNN`` object saved with ``saveobj`` (LapSRN): a struct
  ``net`` with ``params`` (name, value), ``layers`` (name, type, inputs,
  outputs, params, block), read by :func:`read_dagnn`.

Conventions the models rely on, all of MATLAB's and not of the files:

* an array keeps MATLAB's index order: ``a[i, j]`` is ``A(i+1, j+1)``, so a
  filter stored ``(FH, FW, ...)`` has its rows first, as an image ``(H, W)``;
* a vector reshaped in MATLAB (``reshape(v, 9, 9)``) is column-major:
  :func:`matlab_reshape` does the same;
* trailing singleton dimensions are dropped by MATLAB when saving (VDSR's
  last filter is ``(3, 3, 64)``, meaning ``(3, 3, 64, 1)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from defian.zoo.errors import ReleasedWeightsError, require_file

__all__ = ["DagLayer", "DagNN", "cell", "matlab_reshape", "read_dagnn", "read_mat", "struct_field"]


def read_mat(path: str | Path, what: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Variables of a ``.mat`` file (MATLAB 5.0), without the ``__header__`` entries.

    Args:
        path: The file.
        what: What it should hold (e.g. ``"SRCNN 9-5-5 x2 weights"``), for messages.
        required: Variable names the file must have.

    Raises:
        ReleasedWeightsError: Missing, truncated or corrupt file, or a required
            variable absent (a file of another method).
    """
    path = require_file(path, what)
    try:
        data = scipy.io.loadmat(path)
    except Exception as err:  # noqa: BLE001 (scipy raises OSError/ValueError/TypeError on cut files)
        raise ReleasedWeightsError(f"{what}: cannot read {path} (truncated or corrupt file?): {err}") from err
    data = {k: v for k, v in data.items() if not k.startswith("__")}
    absent = [name for name in required if name not in data]
    if absent:
        raise ReleasedWeightsError(f"{what}: {path} lacks the variables {absent}; it holds {sorted(data)}"
                                   " (a file of another method?)")
    return data


def cell(value: np.ndarray) -> list[np.ndarray]:
    """Elements of a MATLAB cell array (an object array), in MATLAB's linear order."""
    return [np.asarray(v) for v in np.asarray(value, dtype=object).ravel(order="F")]


def struct_field(value: np.ndarray, name: str) -> np.ndarray:
    """Field ``name`` of a 1x1 MATLAB struct as loaded by scipy (a structured array)."""
    return np.asarray(value).ravel()[0][name]


def matlab_reshape(v: np.ndarray, *shape: int) -> np.ndarray:
    """MATLAB's ``reshape(v, shape)``: column-major (Fortran) order."""
    return np.reshape(np.asarray(v), shape, order="F")


@dataclass(frozen=True)
class DagLayer:
    """One layer of a MatConvNet DagNN: its type, wiring, parameter names and settings."""

    name: str
    type: str  # e.g. "dagnn.Conv", "dagnn.ConvTranspose", "dagnn.ReLU", "dagnn.Sum"
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: tuple[str, ...]
    block: dict[str, np.ndarray] = field(default_factory=dict)  # pad, crop, upsample, leak, size, ...


@dataclass(frozen=True)
class DagNN:
    """A saved MatConvNet DagNN: named parameter arrays and the layer list."""

    params: dict[str, np.ndarray]
    layers: dict[str, DagLayer]


def _strings(value: np.ndarray) -> tuple[str, ...]:
    return tuple(str(np.asarray(v).ravel()[0]) for v in np.asarray(value, dtype=object).ravel() if np.asarray(v).size)


def read_dagnn(path: str | Path, what: str) -> DagNN:
    """The ``net`` struct of a MatConvNet DagNN saved with ``saveobj`` (as LapSRN's files).

    Raises:
        ReleasedWeightsError: Missing/corrupt file, or no ``net`` with ``params`` and ``layers``.
    """
    net = read_mat(path, what, required=("net",))["net"]
    names = np.asarray(net).dtype.names or ()
    if "params" not in names or "layers" not in names:
        raise ReleasedWeightsError(f"{what}: {path}: 'net' has fields {names}, not a MatConvNet DagNN")
    params = {str(p["name"].ravel()[0]): np.asarray(p["value"]) for p in struct_field(net, "params").ravel()}
    layers = {}
    for e in struct_field(net, "layers").ravel():
        blk = e["block"].ravel()[0] if e["block"].size else None
        block = {} if blk is None else {n: np.asarray(blk[n]) for n in blk.dtype.names if n != "opts"}
        name = str(e["name"].ravel()[0])
        layers[name] = DagLayer(name, str(e["type"].ravel()[0]), _strings(e["inputs"]), _strings(e["outputs"]),
                                _strings(e["params"]), block)
    return DagNN(params, layers)
