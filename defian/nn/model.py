"""DeFiAN, the detail-fidelity attention network (Section III, Fig. 2; Sec. IV-B1).

    x (B, 3, h, w) in [0, 1]
      -> normalise (mean-RGB subtraction, paper IV-A1; or ImageNet mean/std, released code)
      -> head: conv3x3 3 -> C                                     (B, C, h, w)
      -> N DeFiAMs (Eq. 6)                                        (B, C, h, w)
      -> tail: conv3x3 C -> C, plus the head's output (global skip)
      -> sub-pixel upsampler: [conv3x3 C -> 4C, PixelShuffle(2)] x log2(s), or
         conv3x3 C -> 9C, PixelShuffle(3) for s = 3; no bias, no activation
      -> output: conv3x3 C -> 3                                   (B, 3, s h, s w)
      -> de-normalise: back to the [0, 1] range (not clamped)

Facts from the released code (read, not copied): head, tail and output convs
have a bias, the upsampler convs do not; the tail + global skip is skipped there
when N = 1 (we always apply it, as Fig. 2 draws it; released checkpoints have
N = 5 or 10). The released code normalises *outside* its Generator with ImageNet
mean/std and maps the output back with ``Normalize(mean=(-2.118, -2.036,
-1.804), std=(4.367, 4.464, 4.444))``, a rounded inverse; ``normalisation=
"imagenet"`` reproduces exactly that pair, inside the model.

Presets (paper IV-B1): DeFiAN_L N=10, M=20, C=64; DeFiAN_S N=5, M=10, C=32;
RCAN_L / RCAN_S are the same trunks with the attention branch off (Fig. 10 (a),
first column of Table III). Any :class:`ModelConfig` field is a switch of
:func:`build_model`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from defian.data.statistics import DIV2K_MEAN, IMAGENET_MEAN, IMAGENET_STD
from defian.nn.defiam import AttentionSwitches, DeFiAM
from defian.nn.diendec import ENDEC_TYPES

C = TypeVar("C")
from defian.nn.hessian import canonical_variant

__all__ = ["ModelConfig", "PRESETS", "REGISTERED", "DeFiAN", "Upsampler", "build_model", "configure", "make_config",
           "register_model", "to_channels_last", "NORMALISATIONS"]

NORMALISATIONS = ("mean_rgb", "imagenet", "none")
RELEASED_OUT_MEAN = (-2.118, -2.036, -1.804)  # released code's rounded inverse Normalize
RELEASED_OUT_STD = (4.367, 4.464, 4.444)


@dataclass(frozen=True)
class ModelConfig:
    """Every architecture setting of DeFiAN; the fields are build_model's switches."""

    n_modules: int = 10  # N, DeFiAMs (paper IV-B1, DeFiAN_L)
    n_blocks: int = 20  # M, RCABs per FEM (paper IV-B1, DeFiAN_L)
    channels: int = 64  # C (paper IV-B1, DeFiAN_L)
    reduction: int = 16  # channel-attention / DAC bottleneck (RCAN [21]; released code)
    mshf: bool = True  # Table III
    kernel_sizes: tuple[int, ...] = (3, 5, 7)  # Table IV; paper III-B2
    hessian_variant: str = "paper"  # Eq. (16) with its zero vectors = the released dilated kernels ("released": alias)
    mshf_mode: str = "frozen"  # frozen stencils, zero bias; "random_bias" (released 2021), "trainable" (first upload)
    diendec: bool = True  # Table III
    endec: str = "diendec"  # Table V
    half_depth: int = 3  # d (paper Fig. 4(a); Table V)
    dac: bool = True  # Table III
    normalisation: str = "mean_rgb"  # paper IV-A1 ("subtracting the mean RGB"); released code: "imagenet"
    rgb_mean: tuple[float, float, float] = DIV2K_MEAN  # the paper's "mean RGB of the training sets" (Sec. IV-A1)

    def __post_init__(self) -> None:
        for name in ("n_modules", "n_blocks", "channels", "reduction"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.endec not in ENDEC_TYPES:
            raise ValueError(f"ModelConfig.endec={self.endec!r} is not one of {ENDEC_TYPES}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"ModelConfig.normalisation={self.normalisation!r} is not one of {NORMALISATIONS}")
        if len(self.rgb_mean) != 3:
            raise ValueError(f"ModelConfig.rgb_mean needs 3 values, got {self.rgb_mean!r}")
        # lists (e.g. from a JSON config) become tuples: the config stays hashable
        object.__setattr__(self, "rgb_mean", tuple(float(m) for m in self.rgb_mean))
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in self.kernel_sizes))
        # an alias ("released", in configs of earlier runs) becomes its reading, so equal models compare equal
        object.__setattr__(self, "hessian_variant", canonical_variant(self.hessian_variant))
        if any(k < 3 or k % 2 == 0 for k in self.kernel_sizes) or len(set(self.kernel_sizes)) != len(self.kernel_sizes):
            raise ValueError(f"ModelConfig.kernel_sizes={self.kernel_sizes!r}: need distinct odd sizes >= 3")

    @property
    def switches(self) -> AttentionSwitches:
        """The attention-branch part of the config."""
        return AttentionSwitches(
            self.mshf, self.kernel_sizes, self.hessian_variant, self.diendec, self.endec, self.half_depth, self.dac,
            self.mshf_mode,
        )


_OFF = {"mshf": False, "diendec": False, "dac": False}
#: Named presets (paper IV-B1; RCAN = attention off, Fig. 10 (a)).
PRESETS: dict[str, dict[str, Any]] = {
    "defian_l": {"n_modules": 10, "n_blocks": 20, "channels": 64},
    "defian_s": {"n_modules": 5, "n_blocks": 10, "channels": 32},
    "rcan_l": {"n_modules": 10, "n_blocks": 20, "channels": 64, **_OFF},
    "rcan_s": {"n_modules": 5, "n_blocks": 10, "channels": 32, **_OFF},
}


class Upsampler(nn.Sequential):
    """Sub-pixel upsampler (Shi et al. [29]) as in the released code.

    Args:
        channels (int): C.
        scale (int): 3 or a power of two.
    """

    def __init__(self, channels: int, scale: int) -> None:
        if scale == 3:
            layers: list[nn.Module] = [nn.Conv2d(channels, 9 * channels, 3, padding=1, bias=False), nn.PixelShuffle(3)]
        elif scale >= 2 and scale & (scale - 1) == 0:
            layers = []
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(channels, 4 * channels, 3, padding=1, bias=False), nn.PixelShuffle(2)]
        else:
            raise ValueError(f"scale must be 3 or a power of two, got {scale}")
        super().__init__(*layers)


class DeFiAN(nn.Module):
    """The network of Fig. 2.

    Args:
        config (ModelConfig): architecture.
        scale (int): upscaling factor s.
    """

    def __init__(self, config: ModelConfig, scale: int) -> None:
        super().__init__()
        self.config, self.scale = config, scale
        c = config.channels
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(
            *[DeFiAM(c, config.n_blocks, config.switches, config.reduction) for _ in range(config.n_modules)]
        )
        self.tail = nn.Conv2d(c, c, 3, padding=1)
        self.upsampler = Upsampler(c, scale)
        self.output = nn.Conv2d(c, 3, 3, padding=1)
        in_mean, in_std, out_mean, out_std = _normalisation(config)
        # fixed tensors: buffers, not saved in state_dict (the config carries them)
        self.register_buffer("in_mean", in_mean, persistent=False)
        self.register_buffer("in_std", in_std, persistent=False)
        self.register_buffer("out_mean", out_mean, persistent=False)
        self.register_buffer("out_std", out_std, persistent=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise and apply the head: (B, 3, h, w) in [0, 1] -> (B, C, h, w), the first DeFiAM's input."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DeFiAN expects (B, 3, h, w) RGB input, got shape {tuple(x.shape)}")
        return self.head((x - self.in_mean) / self.in_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) RGB in [0, 1] -> (B, 3, s h, s w), same range, not clamped."""
        head = self.embed(x)  # (B, C, h, w)
        feat = self.tail(self.body(head)) + head  # global skip
        y = self.output(self.upsampler(feat))  # (B, 3, s h, s w)
        return (y - self.out_mean) / self.out_std


def _normalisation(cfg: ModelConfig) -> tuple[torch.Tensor, ...]:
    """(in_mean, in_std, out_mean, out_std), each (1, 3, 1, 1): x_n = (x - m)/s, out = (y - m')/s'."""

    def t(v: tuple[float, ...]) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1)

    zeros, ones = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if cfg.normalisation == "imagenet":
        return t(IMAGENET_MEAN), t(IMAGENET_STD), t(RELEASED_OUT_MEAN), t(RELEASED_OUT_STD)
    if cfg.normalisation == "mean_rgb":
        neg = tuple(-m for m in cfg.rgb_mean)
        return t(cfg.rgb_mean), t(ones), t(neg), t(ones)
    return t(zeros), t(ones), t(zeros), t(ones)


def configure(config_class: type[C], presets: Mapping[str, Mapping[str, Any]], name: str, /, *,
              error: type[Exception] = ValueError, kind: str = "model", **switches: Any) -> C:
    """A preset of a config dataclass with ``switches`` overriding its fields; bad names listed in the error.

    Args:
        config_class: the dataclass (e.g. :class:`ModelConfig`).
        presets: name -> field values (e.g. :data:`PRESETS`).
        name: the preset.
        error: the exception class raised (a sub-package's own ValueError subclass).
        kind: what a preset is called in the message ("model", "U-HDN training preset").
        **switches: fields to override.

    Raises:
        ValueError (``error``): an unknown preset (the message lists the presets) or an
            unknown field (the message lists the valid ones).
    """
    if name not in presets:
        raise error(f"unknown {kind} {name!r}; choose one of {', '.join(presets)}")
    fields = {f.name for f in dataclasses.fields(config_class)}
    bad = sorted(set(switches) - fields)
    if bad:
        raise error(f"unknown switch(es) {bad} for {name!r}; valid switches: {sorted(fields)}")
    return config_class(**{**presets[name], **switches})


def make_config(name: str, **switches: Any) -> ModelConfig:
    """The preset ``name`` with ``switches`` overriding any ModelConfig field."""
    return configure(ModelConfig, PRESETS, name, **switches)


#: Model families other sub-packages add (:func:`register_model`): name -> builder(scale, **switches).
#: This package imports none of them; a family is there once its module has been imported.
REGISTERED: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, builder: Callable[..., nn.Module]) -> None:
    """Let :func:`build_model` (hence the trainer and the evaluation) build ``name`` with ``builder``.

    ``build_model(name, scale, **switches)`` then returns ``builder(scale, **switches)``: a
    module taking (B, 3, h, w) RGB in [0, 1] to (B, 3, s h, s w), as :class:`DeFiAN` does.
    Registering a name again replaces its builder (a module reloaded).

    Raises:
        ValueError: ``name`` is one of DeFiAN's :data:`PRESETS`.
    """
    if name in PRESETS:
        raise ValueError(f"model name {name!r} is a DeFiAN preset and cannot be registered")
    REGISTERED[name] = builder


def build_model(name: str, scale: int, **switches: Any) -> nn.Module:
    """Build a named preset, with any :class:`ModelConfig` field overridden.

    A name given to :func:`register_model` builds that family instead (its own switches).

    Args:
        name: "defian_s", "defian_l", "rcan_s" or "rcan_l", or a registered name.
        scale: 2, 3 or 4 (any power of two works).
        **switches: ModelConfig fields, e.g. ``n_modules=1, n_blocks=1,
            channels=8`` (tiny test model), ``mshf=False``, ``kernel_sizes=(3, 5)``,
            ``endec="hgendec", half_depth=2``, ``normalisation="imagenet"``.

    Returns:
        A DeFiAN in train mode on the CPU; ``.config`` and ``.scale`` hold its settings.
    """
    if name in REGISTERED:
        return REGISTERED[name](scale, **switches)
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join([*PRESETS, *REGISTERED])}")
    return DeFiAN(make_config(name, **switches), scale)


@torch.no_grad()
def to_channels_last(model: nn.Module) -> nn.Module:
    """Store the 4-D parameters and buffers (convolution weights) in NHWC order, in place.

    ``model.to(memory_format=torch.channels_last)`` cannot be used: it also
    converts 5-D tensors and fails on the MSHF's (K, 3, C, 3, 3) filter buffers.
    The values are unchanged; convolutions fed NHWC input then run without
    reordering (measured 1.2x faster per training update on a 2-core CPU,
    ``benchmarks/bench_train.py --layout``).

    Returns:
        ``model`` itself.
    """
    for t in (*model.parameters(), *model.buffers()):
        if t.dim() == 4:
            t.data = t.data.contiguous(memory_format=torch.channels_last)
    return model
