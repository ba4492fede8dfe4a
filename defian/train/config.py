"""The training configuration: one object, saved with every run (Sec. IV-B2).

:class:`TrainConfig` holds every knob of a training run. Its defaults are the
paper's schedule (Sec. IV-A1 and IV-B2); each default says where it comes from.
The schedules are named instances derived from one another with
:func:`dataclasses.replace`, so a reader sees only what changes:

``FULL``      the paper: Adam(0.9, 0.999), lr 1e-4 halved every 2x10^5 updates,
              6x10^5 updates, batch 16, 48x48 LR patches, L1 loss (Eq. 23).
``SHORT``     as ``FULL`` but 5x10^4 updates (the model-analysis setting, Sec. IV-D).
``CPU``       a scaled-down DeFiAN_S study a 2-core CPU finishes in about two hours
              (sizes chosen from a measurement; notebook 06 gives the reasoning).
``SMOKE``     a tiny model and a few dozen updates, for CI.
``RELEASED``  the released code's own recipe (``option.py``/``main.py``), a
              documented alternative that is never mixed into the others:
              lr 2e-4, 128-pixel HR patches, ImageNet mean/std normalisation,
              StepLR stepped per epoch (100 epochs of 2000 updates = 2x10^5 updates).

The CLI (``defian train``) is generated from the fields, so every field is also a
flag: ``--schedule cpu --model rcan_s --lr 2e-4 --switch n_modules=2``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any

MODELS = ("defian_s", "defian_l", "rcan_s", "rcan_l")
PRECISIONS = ("fp32", "bf16", "fp16")


#: Modules that register model families with :func:`defian.nn.model.register_model` (Part II's
#: U-HDN): imported the first time a name outside :data:`MODELS` is asked for, so every entry point
#: (``defian train``, ``python -m defian.train``, evaluation of a record) knows them.
MODEL_FAMILIES = ("defian.ikm.trainable",)


def model_names() -> tuple[str, ...]:
    """:data:`MODELS` and the registered families (:data:`MODEL_FAMILIES` imported first)."""
    for family in MODEL_FAMILIES:
        importlib.import_module(family)
    from defian.nn.model import REGISTERED

    return MODELS + tuple(REGISTERED)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run; ``dataclasses.asdict`` of it is saved as config.json."""

    # --- model ---
    model: str = "defian_s"  # preset name for defian.nn.model.build_model (paper IV-B1), or a registered one
    scale: int = 2  # upscaling factor x2/x3/x4 (paper IV-A1)
    switches: dict[str, Any] = field(default_factory=dict)  # build_model switches, e.g. n_modules (paper Fig. 11)
    # --- data ---
    data_root: str = ""  # "" -> $DEFIAN_DATA, else the embedded default data (defian.paths)
    patch: int = 48  # LR patch side; HR patch is scale*patch (paper IV-A1); released code: 128 // scale
    augment: bool = True  # random flips + 90-degree rotations (paper IV-A1)
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    # --- optimisation (paper IV-B2, Eq. 23) ---
    batch: int = 16  # global mini-batch K, split over DDP ranks (paper IV-B2)
    updates: int = 600_000  # total mini-batch updates (paper IV-B2)
    lr: float = 1e-4  # initial learning rate (paper IV-B2); released code: 2e-4
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas (paper IV-B2 cites Adam [46] defaults)
    eps: float = 1e-8  # Adam epsilon (torch default; released code leaves it default)
    lr_step: int = 200_000  # halve the lr every lr_step updates (paper IV-B2)
    lr_gamma: float = 0.5  # "halved" (paper IV-B2); released code lr_gamma=0.5
    lr_step_unit: str = "update"  # "update" (paper) or "epoch" (released code: StepLR per epoch)
    epoch_updates: int = 2000  # updates per "epoch" when lr_step_unit="epoch" (released code iter_epoch)
    loss: str = "l1"  # mean absolute error, Eq. (23) (mean over pixels, as released code's L1Loss)
    grad_clip: float = 0.0  # clip the global grad norm to this value; 0 = off (not in the paper)
    ema: float = 0.0  # EMA decay of the weights, e.g. 0.999; 0 = off (not in the paper)
    seed: int = 0  # seeds model init, patch sampling and augmentation (released code: 1)
    # --- validation and records ---
    val_every: int = 5_000  # validate every K updates (released code: Set5 each 2000-update epoch)
    val_set: str = "Set5"  # small validation set (released code option.py data_test)
    val_images: int = 5  # at most this many images of val_set (all of Set5)
    val_crop: int = 0  # centre-crop HR to this side before validating; 0 = whole image
    log_every: int = 100  # append a metrics.csv row every this many updates
    ckpt_every: int = 5_000  # write last.pt every this many updates
    tensorboard: bool = False  # also log to TensorBoard (only if it is installed)
    progress: bool = True  # tqdm progress bar (rank 0 only)
    # --- devices (CUDA paths; CPU ignores the CUDA-only ones) ---
    device: str = "auto"  # "auto": CUDA when present, else CPU
    threads: int = 0  # CPU intra-op threads (torch.set_num_threads); 0 = torch's default, one per core
    precision: str = "fp32"  # "bf16" autocast (CPU or CUDA), "fp16" autocast + GradScaler (CUDA)
    channels_last: bool = True  # NHWC memory format for weights and input batches (CPU and CUDA)
    compile: bool = False  # torch.compile the model
    schedule: str = "full"  # the named schedule this config was derived from (recorded only)

    def __post_init__(self) -> None:
        names = MODELS if self.model in MODELS else model_names()
        checks = {
            # a DeFiAN preset needs no family (and no torch import) to be checked
            f"model (choose one of {', '.join(names)})": self.model in names,
            "scale (choose 2, 3 or 4)": self.scale in (2, 3, 4),
            f"precision (choose one of {', '.join(PRECISIONS)})": self.precision in PRECISIONS,
            "lr_step_unit": self.lr_step_unit in ("update", "epoch"),
            "loss": self.loss == "l1",
            "patch": self.patch >= 4,
            "batch": self.batch >= 1,
            "updates": self.updates >= 1,
            "lr": self.lr > 0,
            "lr_step": self.lr_step >= 1,
            "val_every (must be >= 0)": self.val_every >= 0,
            "log_every": self.log_every >= 1,
            "ckpt_every (must be >= 1)": self.ckpt_every >= 1,
            "threads": self.threads >= 0,
            "ema": 0.0 <= self.ema < 1.0,
            "grad_clip": self.grad_clip >= 0,
            # rows, validations and checkpoints fall on the same grid, so a resume restarts a clean row
            "ckpt_every (must be a multiple of log_every)": self.log_every >= 1 and self.ckpt_every % self.log_every == 0,
            "val_every (must be a multiple of log_every)": self.log_every >= 1 and self.val_every % self.log_every == 0,
        }
        for what, ok in checks.items():
            if not ok:
                name, _, rule = what.partition(" ")
                rule = rule.replace("log_every", f"log_every={self.log_every}")
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r} is not valid" + (f" {rule}" if rule else ""))
        object.__setattr__(self, "betas", tuple(self.betas))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}")
        return cls(**d)


#: The paper's schedule (Sec. IV-A1, IV-B2): all defaults above.
FULL = TrainConfig(schedule="full")
#: Model-analysis setting (Sec. IV-D): 5x10^4 updates; the lr never reaches its first halving.
SHORT = dataclasses.replace(FULL, schedule="short", updates=50_000, val_every=2_500, ckpt_every=2_500)
#: Scaled-down DeFiAN_S for under an hour per model on 2 CPU cores (notebook 06 gives the reasoning
#: and the measurement): C = 32 and the attention branch kept, N=3 modules of M=5 RCABs, 24x24 LR
#: patches, 6,000 updates; lr 2e-4 (released code) halved every 2,500 updates (the paper's shape, compressed).
CPU = dataclasses.replace(
    SHORT, schedule="cpu", switches={"n_modules": 3, "n_blocks": 5}, patch=24, updates=6_000,
    lr=2e-4, lr_step=2_500, val_every=500, val_crop=128, log_every=50, ckpt_every=500,
)
#: CI: a tiny model, a few dozen updates, seconds.
SMOKE = dataclasses.replace(
    CPU, schedule="smoke", switches={"n_modules": 1, "n_blocks": 1, "channels": 8}, patch=12, batch=4,
    updates=40, lr=1e-3, lr_step=30, val_every=20, val_images=2, val_crop=48, log_every=5, ckpt_every=20,
    progress=False, threads=1,  # a tiny model has nothing to parallelise; on shared cores 2 threads ran 3x slower
)
#: The released code's recipe (option.py, main.py): a documented alternative, x2 shown.
RELEASED = dataclasses.replace(
    FULL, schedule="released", lr=2e-4, patch=128 // 2, lr_step_unit="epoch", lr_step=100,
    epoch_updates=2_000, switches={"normalisation": "imagenet"}, seed=1,
)

#: Named schedules, greppable: the CLI's --schedule and the notebooks' train_schedule.
SCHEDULES: dict[str, TrainConfig] = {"full": FULL, "short": SHORT, "cpu": CPU, "smoke": SMOKE, "released": RELEASED}


def schedule(name: str, **overrides: Any) -> TrainConfig:
    """The named schedule with ``overrides`` applied (``dataclasses.replace``).

    For ``released``, ``patch`` follows the scale (128-pixel HR patches) unless given.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    base = SCHEDULES[name]
    if name == "released" and "patch" not in overrides:
        overrides["patch"] = 128 // overrides.get("scale", base.scale)
    return dataclasses.replace(base, **overrides)


def parse_switch(text: str) -> tuple[str, Any]:
    """``--switch KEY=VALUE``: the value as JSON (numbers, booleans, lists) or else as a bare string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--switch expects KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as imagenet
    return key, value


def field_comments() -> dict[str, str]:
    """Each TrainConfig field's source comment (the CLI's help text), read from this file."""
    src = inspect.getsource(TrainConfig)
    return dict(re.findall(r"^    (\w+): [^#\n]*#\s*(.*)$", src, flags=re.MULTILINE))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per TrainConfig field (defaults None = "keep the schedule's")."""
    parser.add_argument("--schedule", default="full", choices=sorted(SCHEDULES), help="named schedule to start from")
    helps = field_comments()
    for f in dataclasses.fields(TrainConfig):
        if f.name == "schedule":
            continue
        flag, text = "--" + f.name.replace("_", "-"), helps.get(f.name, "").replace("%", "%%")
        if f.name == "switches":
            parser.add_argument("--switch", dest="switches", action="append", type=parse_switch, default=None,
                                metavar="KEY=VALUE", help="build_model switch, repeatable, e.g. n_modules=3")
        elif f.type in ("bool", bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif f.name == "betas":
            parser.add_argument(flag, dest=f.name, type=float, nargs=2, default=None, metavar=("B1", "B2"), help=text)
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            parser.add_argument(flag, dest=f.name, type=kind, default=None, help=text)


def from_arguments(args: argparse.Namespace) -> TrainConfig:
    """Build the config from parsed flags: the schedule, then every flag that was given."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"schedule"}
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if "switches" in overrides:
        overrides["switches"] = {**SCHEDULES[args.schedule].switches, **dict(overrides["switches"])}
    return schedule(args.schedule, **overrides)
