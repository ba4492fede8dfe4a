"""The authors' released checkpoints: load them into DeFiAN, and export back.

The released files ``DeFiAN_{S,L}_x{2,3,4}.pth`` hold ``{"epoch": int,
"state_dict": ...}`` with the key names of the released ``Generator`` class
(possibly prefixed ``module.`` by DataParallel). Recorded facts about that
layout (from reading github.com/YuanfeiHuang/DeFiAN; no code copied), with
C channels, n = module index, m = block index, ker in (3, 5, 7):

==============================================  ===========================  ======================================
released key                                    shape                        ours
==============================================  ===========================  ======================================
input.{weight,bias}                             (C,3,3,3), (C,)              head
body.n.body_block.m.block.{0,2}.weight          (C,C,3,3)                    body.n.fem.blocks.m.conv{1,2}
body.n.body_block.m.calayer.{0,2}.{weight,bias} (C/16,C,1,1) / (C,C/16,1,1)  ...ca.squeeze / ...ca.excite
body.n.coder.0.encoder.{0,2,4}.{weight,bias}    (6,3,3,3) (12,6,..) (24,12)  body.n.endec.encoder.{0,1,2}
body.n.coder.0.decoder.{0,2,4}.{weight,bias}    (24,12,3,3) (12,6) (6,3)     body.n.endec.decoder.{0,1,2}
body.n.coder.0.gate.{weight,bias}               (1,3,1,1), (1,)              body.n.endec.gate
body.n.dac.0.{mean,std}.{0,2}.weight            (C/16,C,1,1), (C,C/16,1,1)   body.n.dac.{mean,std}_mlp.{0,2}
body.n.hessian{ker}.0.grad_{xx,yy,xy}.weight    (C,1,3,3), frozen stencils   body.n.mshf.weight[k, j]
body.n.hessian{ker}.0.grad_{xx,yy,xy}.bias      (C,), frozen random init     body.n.mshf.bias[k, j]
tail.{weight,bias}                              (C,C,3,3), (C,)              tail
upscale.0.{0[,2]}.weight                        (4C or 9C, C, 3, 3)          upsampler.{0[,2]}
output.{weight,bias}                            (3,C,3,3), (3,)              output
==============================================  ===========================  ======================================

Checkpoints trained with ``attention=False`` (RCAN) lack the coder, dac and
hessian keys. The Generator applies no normalisation; the released ``main.py``
feeds it ``Normalize(ImageNet mean, std)`` inputs and maps outputs back with
``Normalize((-2.118, -2.036, -1.804), (4.367, 4.464, 4.444))``. A loaded model
therefore uses ``normalisation="imagenet"``, which is exactly that pair, so that
``model(x) == unnormalize(Generator(normalize(x)))`` for x in [0, 1].
Its Generator skips the tail conv and global skip when N = 1; such models are
refused (all released checkpoints have N = 5 or 10).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from defian.atomic import atomic_file
from defian.nn.hessian import RELEASED_NAMES
from defian.nn.model import PRESETS, DeFiAN, build_model

__all__ = ["from_released", "to_released", "load_released", "save_released", "released_keys"]

_RELEASED_DEFAULTS = {  # what the released Generator fixes
    "kernel_sizes": (3, 5, 7), "hessian_variant": "paper", "endec": "diendec", "half_depth": 3, "reduction": 16,
}


def _pairs(model: DeFiAN) -> list[tuple[str, str]]:
    """(our key, released key) for every tensor outside MSHF, in state_dict order."""
    cfg, out = model.config, [("head.weight", "input.weight"), ("head.bias", "input.bias")]
    att = cfg.switches.any
    for n in range(cfg.n_modules):
        ours, rel = f"body.{n}.", f"body.{n}."
        for m in range(cfg.n_blocks):
            o, r = f"{ours}fem.blocks.{m}.", f"{rel}body_block.{m}."
            out += [(o + "conv1.weight", r + "block.0.weight"), (o + "conv2.weight", r + "block.2.weight")]
            for mine, theirs in (("squeeze", "0"), ("excite", "2")):
                out += [(f"{o}ca.{mine}.{p}", f"{r}calayer.{theirs}.{p}") for p in ("weight", "bias")]
        if att:
            for part in ("encoder", "decoder"):
                for i in range(cfg.half_depth):
                    out += [(f"{ours}endec.{part}.{i}.{p}", f"{rel}coder.0.{part}.{2 * i}.{p}")
                            for p in ("weight", "bias")]
            out += [(f"{ours}endec.gate.{p}", f"{rel}coder.0.gate.{p}") for p in ("weight", "bias")]
            for stat in ("mean", "std"):
                out += [(f"{ours}dac.{stat}_mlp.{i}.weight", f"{rel}dac.0.{stat}.{i}.weight") for i in (0, 2)]
    out += [("tail.weight", "tail.weight"), ("tail.bias", "tail.bias")]
    out += [(f"upsampler.{i}.weight", f"upscale.0.{i}.weight") for i in range(0, len(model.upsampler), 2)]
    return out + [("output.weight", "output.weight"), ("output.bias", "output.bias")]


def _check_exportable(model: DeFiAN) -> None:
    cfg = model.config
    sw = cfg.switches
    problems = [f"{k}={getattr(cfg, k)!r} (released: {v!r})"
                for k, v in _RELEASED_DEFAULTS.items() if getattr(cfg, k) != v]
    if sw.any and not (sw.mshf and sw.diendec and sw.dac):
        problems.append(f"mshf/diendec/dac = {sw.mshf}/{sw.diendec}/{sw.dac} (released: all on or all off)")
    if cfg.channels < cfg.reduction:
        problems.append(f"channels={cfg.channels} < 16 (the released bottleneck C/16 would be empty)")
    if cfg.n_modules < 2:
        problems.append("n_modules=1 (the released Generator then skips its tail and global skip)")
    if cfg.normalisation != "imagenet":
        problems.append(f"normalisation={cfg.normalisation!r} (the released pipeline uses 'imagenet')")
    if problems:
        raise ValueError("model has no released-Generator equivalent: " + "; ".join(problems))


def released_keys(model: DeFiAN) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the released state dict that ``model`` corresponds to."""
    return {k: tuple(v.shape) for k, v in to_released(model).items()}


@torch.no_grad()
def to_released(model: DeFiAN) -> dict[str, torch.Tensor]:
    """Export ``model`` as a released-Generator state dict (no ``module.`` prefix).

    Raises:
        ValueError: the model's config has no released equivalent (names the field).
    """
    _check_exportable(model)
    ours = model.state_dict()
    out = {rel: ours[mine].detach().clone() for mine, rel in _pairs(model)}
    for n, mod in enumerate(model.body):
        if mod.mshf is None:
            continue
        for k, ker in enumerate(mod.mshf.kernel_sizes):
            for j, name in enumerate(RELEASED_NAMES):
                key = f"body.{n}.hessian{ker}.0.{name}."
                out[key + "weight"] = mod.mshf.weight[k, j].reshape(-1, 1, 3, 3).clone()
                out[key + "bias"] = mod.mshf.bias[k, j].clone()
    return out


def _strip(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # a whole checkpoint {"epoch", "state_dict"}
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"released state dict entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k[7:] if k.startswith("module.") else k] = v
    return out


def _infer(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Read N, M, C, attention and the upsampler's scale off the key names and shapes."""
    if "input.weight" not in state:
        raise ValueError(f"not a released DeFiAN state dict: no 'input.weight' (keys start {sorted(state)[:5]})")
    c = state["input.weight"].shape[0]
    mods = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.0\.body_block\.(\d+)\.", k))}
    if not mods or not blocks:
        raise ValueError("not a released DeFiAN state dict: no body.<n>.body_block.<m> keys")
    up = [state[f"upscale.0.{i}.weight"].shape[0] for i in (0, 2, 4) if f"upscale.0.{i}.weight" in state]
    if up == [9 * c]:
        scale = 3
    elif up and all(u == 4 * c for u in up):
        scale = 2 ** len(up)
    else:
        raise ValueError(f"released upsampler 'upscale.0.*' has output widths {up}; expected [4C]*k or [9C] with C={c}")
    att = "body.0.coder.0.gate.weight" in state
    return {"n_modules": max(mods) + 1, "n_blocks": max(blocks) + 1, "channels": c, "attention": att, "scale": scale}


def _preset_of(found: dict[str, Any]) -> str | None:
    for name, p in PRESETS.items():
        on = p.get("mshf", True)
        if (p["n_modules"], p["n_blocks"], p["channels"], on) == (
            found["n_modules"], found["n_blocks"], found["channels"], found["attention"]
        ):
            return name
    return None


@torch.no_grad()
def from_released(state_dict: Mapping[str, Any], *, scale: int, preset: str | None = None) -> DeFiAN:
    """Build a DeFiAN whose forward equals the released Generator's (with main.py's normalisation).

    Args:
        state_dict: the released ``state_dict`` (optionally ``module.``-prefixed,
            or the whole ``{"epoch", "state_dict"}`` checkpoint).
        scale: the upscaling factor the checkpoint must have.
        preset: if given ("defian_s", "defian_l", "rcan_s", "rcan_l"), the
            checkpoint must have that preset's N, M, C and attention.

    Returns:
        A DeFiAN in eval mode, ``normalisation="imagenet"``.

    Raises:
        ValueError: wrong scale, wrong preset, missing / unexpected keys or
            wrong shapes; the message names what was expected.
    """
    state = _strip(state_dict)
    found = _infer(state)
    desc = f"N={found['n_modules']}, M={found['n_blocks']}, C={found['channels']}, attention={found['attention']}"
    if found["scale"] != scale:
        raise ValueError(f"checkpoint is a x{found['scale']} model (its upscale.0 layout), expected x{scale}")
    name = _preset_of(found)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        if name != preset:
            want = PRESETS[preset]
            raise ValueError(
                f"checkpoint has {desc}; preset {preset!r} expects N={want['n_modules']}, "
                f"M={want['n_blocks']}, C={want['channels']}, attention={want.get('mshf', True)}"
            )
    if found["n_modules"] < 2:
        raise ValueError("released Generator with N=1 skips its tail conv and global skip; not supported")
    att = found["attention"]
    model = build_model(
        name or "defian_l", scale, n_modules=found["n_modules"], n_blocks=found["n_blocks"],
        channels=found["channels"], mshf=att, diendec=att, dac=att, normalisation="imagenet",
    )
    expected = released_keys(model)
    extra = sorted(k for k in set(state) - set(expected) if not re.match(r"upscale\.[1-9]\d*\.", k))
    missing = sorted(set(expected) - set(state))
    if missing or extra:
        raise ValueError(
            f"checkpoint ({desc}, x{scale}) does not match the released layout: "
            f"missing {missing[:6]}{' ...' if len(missing) > 6 else ''}, "
            f"unexpected {extra[:6]}{' ...' if len(extra) > 6 else ''}"
        )
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise ValueError(f"released key {k!r} has shape {tuple(state[k].shape)}, expected {shape}")
    ours = {mine: state[rel] for mine, rel in _pairs(model)}
    result = model.load_state_dict(ours, strict=False)
    leftover = [k for k in result.missing_keys if not re.match(r"body\.\d+\.mshf\.", k)]
    if leftover or result.unexpected_keys:
        raise RuntimeError(f"internal key map incomplete: {leftover} / {result.unexpected_keys}")
    for n, mod in enumerate(model.body):
        if mod.mshf is not None:
            mod.mshf.load_released(state, prefix=f"body.{n}.")
    return model.eval()


def load_released(path: str | os.PathLike[str], *, scale: int, preset: str | None = None) -> DeFiAN:
    """Load a released ``.pth`` file (``torch.load(weights_only=True)``: no pickled code runs).

    Args:
        path: e.g. ``DeFiAN_L_x3.pth``. When the file name has that pattern and
            ``preset`` is None, the preset and scale it names are checked too.
        scale: the upscaling factor expected.
        preset: optional preset the checkpoint must match.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a released checkpoint, or the wrong scale / preset.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"released checkpoint {str(path)!r} does not exist")
    m = re.fullmatch(r"DeFiAN_([SL])_x(\d)\.pth", path.name)
    if m:
        if int(m.group(2)) != scale:
            raise ValueError(f"{path.name} is named as a x{m.group(2)} checkpoint, expected x{scale}")
        named = f"defian_{m.group(1).lower()}"
        if preset is not None and preset != named:
            raise ValueError(f"{path.name} is named as {named!r}, expected preset {preset!r}")
        preset = named
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (any unpickling failure means "not such a file")
        raise ValueError(f"{str(path)!r} is not a plain-tensor PyTorch checkpoint: {err}") from None
    if not isinstance(obj, Mapping) or not any(k in obj for k in ("state_dict", "input.weight", "module.input.weight")):
        keys = sorted(obj)[:6] if isinstance(obj, Mapping) else type(obj).__name__
        raise ValueError(
            f"{str(path)!r}: expected a dict with 'epoch' and 'state_dict' (released DeFiAN checkpoint), got {keys}"
        )
    try:
        return from_released(obj, scale=scale, preset=preset)
    except ValueError as err:
        raise ValueError(f"{str(path)!r}: {err}") from None


def save_released(model: DeFiAN, path: str | os.PathLike[str], epoch: int = 0) -> Path:
    """Write ``{"epoch", "state_dict": to_released(model)}`` atomically (temp file + os.replace)."""
    path = Path(path)
    with atomic_file(path) as fh:
        torch.save({"epoch": int(epoch), "state_dict": to_released(model)}, fh)
    return path
