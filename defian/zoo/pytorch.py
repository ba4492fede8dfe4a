"""Released PyTorch state dicts, and the checked copy of any state dict into a model.

:func:`read_state_dict` opens a ``.pth`` file written by ``torch.save`` with
``weights_only=True`` (no code from the file is run), accepts either a bare
state dict or ``{"state_dict": ...}``, and strips a DataParallel ``module.``
prefix (IMDN's files carry one on every key).

:func:`assign` is used by every loader of :mod:`defian.zoo`, whatever the
file format: the loader first turns the file into a dict keyed by *our*
parameter names, then :func:`assign` checks that the keys are exactly the
model's and every shape agrees before anything is copied. A file of another
method fails on the keys; a file of another scale fails on a shape (the
upsampler), and the message names the file, the key, the expected and the
found shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from defian.zoo.errors import ReleasedWeightsError, require_file

__all__ = ["assign", "file_numel", "read_state_dict"]


def read_state_dict(path: str | Path, what: str = "PyTorch weights") -> dict[str, torch.Tensor]:
    """Tensors of a released ``.pth`` file, ``module.`` prefixes removed.

    Args:
        path: The file.
        what: What it should hold, for error messages.

    Returns:
        ``{key: tensor}`` in file order.

    Raises:
        ReleasedWeightsError: Missing, truncated or corrupt file, or one that
            holds no state dict.
    """
    path = require_file(path, what)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (RuntimeError for a cut zip archive, UnpicklingError for a cut pickle)
        raise ReleasedWeightsError(f"{what}: cannot read {path} (truncated or corrupt file?): {err}") from err
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ReleasedWeightsError(f"{what}: {path} holds a {type(obj).__name__}, not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def file_numel(state: Mapping[str, torch.Tensor | np.ndarray]) -> int:
    """Number of scalars in a file's arrays (the README's "#params" of a released file)."""
    return int(sum(np.asarray(v).size if isinstance(v, np.ndarray) else v.numel() for v in state.values()))


def assign(model: nn.Module, state: Mapping[str, torch.Tensor | np.ndarray], source: str | Path) -> nn.Module:
    """Copy ``state`` into ``model`` after checking keys and shapes.

    Buffers the file does not hold (fixed constants a module registers
    itself, e.g. CoMo-S's normalisation) are exempt from the key check when
    ``model`` lists them in an attribute ``_not_in_file`` (a tuple of keys).

    Args:
        model: The freshly built model.
        state: ``{our key: tensor or array}`` made from the file.
        source: The file, named in error messages.

    Returns:
        ``model``, in eval mode, parameters frozen (inference only).

    Raises:
        ReleasedWeightsError: Keys differ (another method's file) or a shape
            differs (another scale's file); the message names file, key and shapes.
    """
    own = model.state_dict()
    exempt = set(getattr(model, "_not_in_file", ()))
    missing = sorted(set(own) - set(state) - exempt)
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ReleasedWeightsError(
            f"{source}: not a {type(model).__name__} file: missing {missing[:4]}{'...' if len(missing) > 4 else ''}"
            f" ({len(missing)} in all), unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}"
            f" ({len(unexpected)} in all)")
    for key, value in state.items():
        found = tuple(value.shape)
        if tuple(own[key].shape) != found:
            raise ReleasedWeightsError(
                f"{source}: {key} has shape {found}, {type(model).__name__} expects {tuple(own[key].shape)}"
                " (a file of another scale or variant?)")
    tensors = {k: torch.as_tensor(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
               for k, v in state.items()}
    with torch.no_grad():
        for key, value in tensors.items():
            own[key].copy_(value.to(own[key].dtype))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
