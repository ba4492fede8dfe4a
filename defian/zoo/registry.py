"""The released models the book scores: one explicit entry per method, and :func:`load`.

:data:`RELEASED` maps a method name to a :class:`ReleasedModel`: where its
files lie under ``<root>/weights/<folder>/``, how its test pipeline runs
(:mod:`defian.zoo.pipeline`), how its authors evaluated it
(:mod:`defian.zoo.authors`), the parameter counts the released files hold
(``../shared/released/README.md``) and the Set5 row printed for it.

The root of the released artifacts is :func:`defian.paths.released_root`:
``$DEFIAN_RELEASED`` if set, else ``<repository>/../shared/released``, else
``None`` (then :func:`load` needs an explicit ``root``; the files are
downloaded by ``defian data download released``).

Printed rows (``printed``: Set5 PSNR/SSIM per scale) come from DeFiAN's
Table II (:mod:`defian.report.paper_tables` holds the whole table; a test
checks these entries against it) or, for IMDN, from the IKM paper's Table I.
Table II's "SRCNN" row prints 8.0 K parameters, the 9-1-5 model's count, next
to the 9-5-5 (ImageNet) model's PSNRs: the row is kept with ``SRCNN-955``.
CARN-M's row is the CARN paper's (Table II of DeFiAN compares the full
CARN, which is not released), read from the table image its repository
ships; CoMo-S has no printed row available.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from defian import paths
from defian.zoo import carn, como, fsrcnn, idn, imdn, lapsrn, srcnn, vdsr
from defian.zoo.errors import ReleasedWeightsError, require_file

__all__ = ["RELEASED", "ReleasedModel", "load", "weight_path"]

#: Environment variable naming the folder that holds ``weights/`` (and ``images/``).


@dataclass(frozen=True)
class ReleasedModel:
    """What the book needs to know to load, run and judge one released method.

    Attributes:
        name: Key in :data:`RELEASED`.
        paper: The method's paper.
        folder: Folder under ``<root>/weights/``.
        files: Scale -> file name in ``folder`` (one file may serve several scales).
        build: ``(path, scale) -> nn.Module`` (the method module's ``from_file``).
        colour: ``"y"`` (luma only, Cb/Cr bicubic) or ``"rgb"``.
        upsampling: ``"pre"`` (the network takes the bicubic-upsampled luma) or ``"post"`` (the LR image).
        bicubic_skip: The network also takes the bicubic-upsampled luma and adds it (IDN).
        input_range: Inputs are in ``[0, input_range]`` (every released model: 1.0).
        mean: How the authors' code handles the image mean.
        quantize: ``"round"`` or ``"floor"`` (output to uint8, as the authors' code).
        authors_lr: How the authors made LR for their own numbers: ``"uint8-rgb"`` (MATLAB
            bicubic of the uint8 RGB image, as the book), ``"float-rgb"`` (of the double RGB,
            never rounded), ``"float-y"`` (of the rounded HR luma, in float), ``None`` (unknown).
        authors_y: Their Y: ``"rounded"`` (uint8, as the book), ``"float"`` (from the uint8 RGB,
            not rounded), ``"direct"`` (the network's luma rounded, no RGB), ``None`` (unknown).
        params: Scale -> numbers in the released file (the README's #params).
        printed: Scale -> printed Set5 ``(PSNR, SSIM)``.
        printed_source: Where ``printed`` comes from.
        paper_row: The row's method name in DeFiAN's Table II, if it has one.
    """

    name: str
    paper: str
    folder: str
    files: Mapping[int, str]
    build: Callable[[Path, int], nn.Module]
    colour: str
    upsampling: str
    bicubic_skip: bool = False
    input_range: float = 1.0
    mean: str = "none"
    quantize: str = "round"
    authors_lr: str | None = None
    authors_y: str | None = None
    params: Mapping[int, int] = field(default_factory=dict)
    printed: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    printed_source: str = ""
    paper_row: str | None = None

    @property
    def scales(self) -> tuple[int, ...]:
        """Scales with a released model."""
        return tuple(sorted(self.files))


def _build_idn(path: Path, scale: int) -> nn.Module:
    return idn.from_file(path, scale, path.with_name(f"IDN_x{scale}_deploy.prototxt"))


_TABLE_II = "DeFiAN Table II"
_Y_MATLAB = dict(colour="y", input_range=1.0, mean="none (Y in [16, 235] / 255)", quantize="round")

RELEASED: dict[str, ReleasedModel] = {
    "SRCNN-955": ReleasedModel(
        "SRCNN-955", "Dong et al., TPAMI 2016 (9-5-5, ImageNet)", "srcnn",
        {s: f"9-5-5_imagenet_x{s}.mat" for s in (2, 3, 4)}, functools.partial(srcnn.from_file, f2=5),
        upsampling="pre", authors_lr="float-y", authors_y="direct", **_Y_MATLAB,
        params={2: 57281, 3: 57281, 4: 57281},
        printed={2: (36.66, 0.9542), 3: (32.75, 0.9090), 4: (30.49, 0.8629)},
        printed_source=f"{_TABLE_II} 'SRCNN' (whose 8.0 K #Params is the 9-1-5 model's)", paper_row="SRCNN"),
    "SRCNN-915": ReleasedModel(
        "SRCNN-915", "Dong et al., ECCV 2014 (9-1-5, 91 images)", "srcnn",
        {s: f"9-1-5_91images_x{s}.mat" for s in (2, 3, 4)}, functools.partial(srcnn.from_file, f2=1),
        upsampling="pre", authors_lr="float-y", authors_y="direct", **_Y_MATLAB,
        params={2: 8129, 3: 8129, 4: 8129}, printed_source="not printed in ../shared/paper"),
    "FSRCNN": ReleasedModel(
        "FSRCNN", "Dong, Loy, Tang, ECCV 2016", "fsrcnn", {s: f"FSRCNN_x{s}.mat" for s in (2, 3, 4)},
        fsrcnn.from_file, upsampling="post", authors_lr="float-y", authors_y="direct", **_Y_MATLAB,
        params={2: 12644, 3: 12644, 4: 12644},
        printed={2: (36.98, 0.9556), 3: (33.16, 0.9140), 4: (30.70, 0.8657)}, printed_source=_TABLE_II,
        paper_row="FSRCNN"),
    "VDSR": ReleasedModel(
        "VDSR", "Kim, Lee, Lee, CVPR 2016", "vdsr", {s: "VDSR_Official.mat" for s in (2, 3, 4)},
        vdsr.from_file, upsampling="pre", authors_lr="float-y", authors_y="direct", **_Y_MATLAB,
        params={2: 665921, 3: 665921, 4: 665921},
        printed={2: (37.53, 0.9587), 3: (33.66, 0.9213), 4: (31.35, 0.8838)}, printed_source=_TABLE_II,
        paper_row="VDSR"),
    "LapSRN": ReleasedModel(
        "LapSRN", "Lai et al., CVPR 2017", "lapsrn", {2: "LapSRN_x2.mat", 4: "LapSRN_x4.mat"},
        lapsrn.from_file, upsampling="post", authors_lr="float-rgb", authors_y="float", **_Y_MATLAB,
        params={2: 407441, 4: 814242},
        printed={2: (37.52, 0.9591), 4: (31.52, 0.8854)},
        printed_source=f"{_TABLE_II} (its x3 row has no released model)", paper_row="LapSRN"),
    "IDN": ReleasedModel(
        "IDN", "Hui, Wang, Gao, CVPR 2018", "idn", {s: f"IDN_x{s}.caffemodel" for s in (2, 3, 4)},
        _build_idn, upsampling="post", bicubic_skip=True, authors_lr="float-y", authors_y="direct", **_Y_MATLAB,
        params={2: 552769, 3: 552769, 4: 552769},
        printed={2: (37.83, 0.9600), 3: (34.12, 0.9253), 4: (31.81, 0.8903)}, printed_source=_TABLE_II,
        paper_row="IDN"),
    "CARN-M": ReleasedModel(
        "CARN-M", "Ahn, Kang, Sohn, ECCV 2018 (the mobile model)", "carn", {s: "carn_m.pth" for s in (2, 3, 4)},
        carn.from_file, colour="rgb", upsampling="post", mean=f"subtracted inside the network {carn.MEAN}",
        quantize="floor", authors_lr="uint8-rgb", authors_y="rounded",
        params={2: 414811, 3: 414811, 4: 414811},
        printed={2: (37.53, 0.9583), 3: (33.99, 0.9236), 4: (31.92, 0.8903)},
        printed_source="CARN paper's table, as the image assets/table.png of nmhkahn/CARN-pytorch@40d3514"
                       " (DeFiAN's Table II compares the full CARN, not released)"),
    "IMDN": ReleasedModel(
        "IMDN", "Hui, Gao, Yang, Wang, ACM MM 2019", "imdn", {s: f"IMDN_x{s}.pth" for s in (2, 3, 4)},
        imdn.from_file, colour="rgb", upsampling="post", authors_lr="uint8-rgb", authors_y="float",
        params={2: 694404, 3: 703059, 4: 715176},
        printed={2: (38.00, 0.9605), 3: (34.36, 0.9270), 4: (32.21, 0.8946)},
        printed_source="IKM paper (../shared/paper/ikm-follow-up.md) Table I"),
    "CoMo-S": ReleasedModel(
        "CoMo-S", "Huang et al., TCSVT 2024 (CoMoNet-S)", "como", {s: f"CoMo-S_x{s}.pth" for s in (2, 3, 4)},
        como.from_file, colour="rgb", upsampling="post", mean=f"(x - {como.MEAN}) / {como.STD} inside the model",
        authors_lr="uint8-rgb", authors_y="float", params={2: 722259, 3: 874179, 4: 760851},
        printed_source="not printed in ../shared/paper (the IKM paper's U-HDN+IKM is another model)"),
}


def _spec(method: str) -> ReleasedModel:
    try:
        return RELEASED[method]
    except KeyError:
        raise ValueError(f"unknown released method {method!r}; choose one of {', '.join(RELEASED)}") from None


def weight_path(method: str, scale: int, root: str | Path | None = None) -> Path:
    """Path of the released file of ``method`` at ``scale`` under ``root`` (default :func:`defian.paths.released_root`).

    Raises:
        ValueError: Unknown method, or no released model at ``scale``.
        ReleasedWeightsError: No root found.
    """
    spec = _spec(method)
    if scale not in spec.files:
        raise ValueError(f"{method} has released models for x{list(spec.scales)}, not x{scale}")
    root = paths.released_root(root)
    if root is None:
        raise ReleasedWeightsError(f"no released artifacts found: set ${paths.ENV_RELEASED}, put them in "
                                   f"{paths.ROOT.parent / 'shared' / 'released'}, "
                                   "or run `defian data download released`")
    return root / "weights" / spec.folder / spec.files[scale]


def load(method: str, scale: int, root: str | Path | None = None) -> nn.Module:
    """Build ``method``'s model for ``scale`` and load its released weights (eval mode, frozen, CPU).

    Args:
        method: A key of :data:`RELEASED`.
        scale: One of its ``scales``.
        root: Folder holding ``weights/`` (default :func:`defian.paths.released_root`).

    Raises:
        ValueError: Unknown method or scale.
        ReleasedWeightsError: Missing, truncated or mismatching file (named in the message).
    """
    path = require_file(weight_path(method, scale, root), f"{method} x{scale} weights")
    return _spec(method).build(path, scale)
