"""Every released weight file loads, holds the README's parameter count, runs, and bad files get named errors.

Needs the released artifacts (``$DEFIAN_RELEASED`` or ``<repo>/../shared/released``,
see :func:`defian.paths.released_root`); skipped without them. The
parameter count of each file is computed here independently of the loaders,
from the raw arrays of the file (the way the README counts), and compared
with both the README's number and the loaded model's.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from defian import paths
from defian.zoo import (
    RELEASED,
    ReleasedWeightsError,
    como,
    fsrcnn,
    idn,
    imdn,
    lapsrn,
    load,
    srcnn,
    super_resolve,
    vdsr,
    weight_path,
)
from defian.zoo.caffe import read_caffemodel

pytestmark = pytest.mark.usefixtures("one_thread")


CASES = [(name, s) for name, spec in RELEASED.items() for s in spec.scales]


@pytest.fixture
def root(released_root: Path) -> Path:
    """The released artifacts (tests/conftest.py), under the name these tests use."""
    return released_root


def _raw_count(path: Path) -> int:
    """Scalars in a file's weight arrays, read without the zoo's converters."""
    if path.suffix == ".pth":
        return sum(v.numel() for v in torch.load(path, map_location="cpu", weights_only=True).values())
    if path.suffix == ".caffemodel":
        return sum(b.size for layer in read_caffemodel(path) for b in layer.blobs)

    def count(x: object) -> int:  # numeric arrays inside structs/cells; LapSRN's values only
        if isinstance(x, np.ndarray) and x.dtype == object:
            return sum(count(v) for v in x.ravel())
        if isinstance(x, np.ndarray) and x.dtype.names:
            names = ["value"] if "value" in x.dtype.names else list(x.dtype.names)
            return sum(count(e[n]) for e in x.ravel() for n in names)
        return x.size if isinstance(x, np.ndarray) and x.dtype.kind == "f" else 0

    data = scipy.io.loadmat(path)
    if "net" in data:  # a MatConvNet DagNN: only params.value holds weights
        return count(data["net"][0, 0]["params"])
    return sum(count(v) for k, v in data.items() if not k.startswith("__"))


@pytest.mark.parametrize("method, scale", CASES)
def test_file_loads_with_the_readme_parameter_count(root, method, scale):
    spec = RELEASED[method]
    model = load(method, scale, root)
    assert _raw_count(weight_path(method, scale, root)) == spec.params[scale]
    assert sum(p.numel() for p in model.parameters()) == spec.params[scale]
    assert not model.training and not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("method, scale", CASES)
def test_super_resolve_gives_the_upscaled_size(root, method, scale):
    spec = RELEASED[method]
    lr = np.random.default_rng(scale).integers(0, 256, (10, 13, 3), dtype=np.uint8)
    sr = super_resolve(spec, load(method, scale, root), lr, scale)
    assert sr.dtype == np.uint8 and sr.shape == (10 * scale, 13 * scale, 3)


def test_y_model_keeps_a_grey_image_grey(root):
    lr = np.full((8, 9), 120, dtype=np.uint8)
    sr = super_resolve(RELEASED["VDSR"], load("VDSR", 2, root), lr, 2)
    assert sr.shape == (16, 18)
    assert abs(int(np.median(sr)) - 120) <= 2  # a flat image stays (nearly) flat


def _w(root: Path, folder: str, name: str) -> Path:
    return root / "weights" / folder / name


@pytest.mark.parametrize("loader, folder, name, asked, message", [
    (imdn.from_file, "imdn", "IMDN_x3.pth", 2,
     r"IMDN_x3\.pth: upsampler\.0\.weight has shape \(27, 64, 3, 3\), IMDN expects \(12, 64, 3, 3\)"),
    (imdn.from_file, "imdn", "IMDN_x2.pth", 4,
     r"IMDN_x2\.pth: upsampler\.0\.weight has shape \(12, 64, 3, 3\), IMDN expects \(48, 64, 3, 3\)"),
    (como.from_file, "como", "CoMo-S_x3.pth", 2, r"CoMo-S_x3\.pth: upscale\.0\.weight has shape \(432, 1, 3, 3\)"),
    (como.from_file, "como", "CoMo-S_x2.pth", 4, r"CoMo-S_x2\.pth: not a CoMoNet file: missing \['upscale\.3\.weight'"),
    (lapsrn.from_file, "lapsrn", "LapSRN_x4.mat", 2, r"LapSRN_x4\.mat: a x4 LapSRN \(2 pyramid levels\), asked for x2"),
])
def test_wrong_scale_is_refused_with_shapes(root, loader, folder, name, asked, message):
    with pytest.raises(ReleasedWeightsError, match=message):
        loader(_w(root, folder, name), asked)


@pytest.mark.parametrize("loader, folder, name, asked, message", [
    (functools.partial(srcnn.from_file, f2=5), "srcnn", "9-5-5_imagenet_x3.mat", 2,
     r"9-5-5_imagenet_x3\.mat: its SHA-256 is that of weights/srcnn/9-5-5_imagenet_x3\.mat in the released manifest, "
     r"the released SRCNN-955 x3 weights; asked for SRCNN-955 x2"),
    (functools.partial(srcnn.from_file, f2=1), "srcnn", "9-1-5_91images_x2.mat", 4,
     r"9-1-5_91images_x2\.mat: .*weights/srcnn/9-1-5_91images_x2\.mat.*SRCNN-915 x2 weights; asked for SRCNN-915 x4"),
    (fsrcnn.from_file, "fsrcnn", "FSRCNN_x3.mat", 2,
     r"FSRCNN_x3\.mat: .*weights/fsrcnn/FSRCNN_x3\.mat.*the released FSRCNN x3 weights; asked for FSRCNN x2"),
    (fsrcnn.from_file, "fsrcnn", "FSRCNN_x2.mat", 4,
     r"FSRCNN_x2\.mat: .*weights/fsrcnn/FSRCNN_x2\.mat.*the released FSRCNN x2 weights; asked for FSRCNN x4"),
])
def test_scaleless_file_of_another_scale_is_refused_by_its_hash(root, loader, folder, name, asked, message):
    """SRCNN/FSRCNN files have the same shapes at every scale; the manifest's SHA-256 tells them apart."""
    path = _w(root, folder, name)
    with (root / "MANIFEST.tsv").open(newline="") as fh:  # the artifacts' own manifest, not the package's copy
        want = {r["dest"]: r["sha256"] for r in csv.DictReader(fh, delimiter="\t")}[f"weights/{folder}/{name}"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == want  # the file is the released one
    with pytest.raises(ReleasedWeightsError, match=message):
        loader(path, asked)


@pytest.mark.parametrize("loader, folder, name, scale, other", [
    (functools.partial(srcnn.from_file, f2=5), "srcnn", "9-5-5_imagenet_x3.mat", 3, 2),
    (fsrcnn.from_file, "fsrcnn", "FSRCNN_x3.mat", 3, 4),
])
def test_unknown_hash_loads_at_any_scale(root, tmp_path, loader, folder, name, scale, other):
    """A file not in the manifest (here the released arrays saved again: other bytes) loads as asked, as before."""
    src = _w(root, folder, name)
    own = tmp_path / name
    scipy.io.savemat(own, {k: v for k, v in scipy.io.loadmat(src).items() if not k.startswith("__")})
    assert hashlib.sha256(own.read_bytes()).hexdigest() != hashlib.sha256(src.read_bytes()).hexdigest()
    want = loader(src, scale).state_dict()
    got = loader(own, other).state_dict()
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_idn_wrong_scale_is_refused_by_its_stride(root):
    with pytest.raises(ReleasedWeightsError, match=r"IDN_x3\.caffemodel: its deconvolution 'upsample' has stride 3"):
        idn.from_file(_w(root, "idn", "IDN_x3.caffemodel"), 2, _w(root, "idn", "IDN_x2_deploy.prototxt"))


def test_wrong_method_is_refused(root):
    with pytest.raises(ReleasedWeightsError, match=r"carn_m\.pth: not a IMDN file"):
        imdn.from_file(_w(root, "carn", "carn_m.pth"), 2)
    with pytest.raises(ReleasedWeightsError, match=r"FSRCNN_x2\.mat lacks the variables \['weights_conv1'"):
        srcnn.from_file(_w(root, "fsrcnn", "FSRCNN_x2.mat"), 2)
    with pytest.raises(ReleasedWeightsError, match=r"9-1-5_91images_x2\.mat: conv2\.weight has shape \(32, 64, 1, 1\)"):
        srcnn.from_file(_w(root, "srcnn", "9-1-5_91images_x2.mat"), 2, f2=5)
    with pytest.raises(ReleasedWeightsError, match=r"lacks the variables \['model'\]"):
        vdsr.from_file(_w(root, "srcnn", "9-5-5_imagenet_x2.mat"), 2)
    with pytest.raises(ReleasedWeightsError, match=r"lacks the variables \['net'\]"):
        lapsrn.from_file(_w(root, "vdsr", "VDSR_Official.mat"), 2)
    with pytest.raises(ReleasedWeightsError, match="IMDN_x2.pth"):
        idn.from_file(_w(root, "imdn", "IMDN_x2.pth"), 2)


@pytest.mark.parametrize("method, scale", [("IMDN", 2), ("CARN-M", 2), ("SRCNN-955", 2), ("FSRCNN", 3), ("VDSR", 2),
                                           ("LapSRN", 4), ("IDN", 4)])
def test_truncated_file_is_refused(root, tmp_path, method, scale):
    src = weight_path(method, scale, root)
    folder = tmp_path / "weights" / src.parent.name
    folder.mkdir(parents=True)
    for f in src.parent.iterdir():  # deploy files stay whole
        shutil.copy(f, folder / f.name)
    cut = folder / src.name
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ReleasedWeightsError, match=rf"cannot read {cut}.*truncated or corrupt"):
        load(method, scale, tmp_path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReleasedWeightsError, match=r"IMDN x2 weights: no file at .*weights/imdn/IMDN_x2\.pth"):
        load("IMDN", 2, tmp_path)


def test_unknown_method_or_scale():
    with pytest.raises(ValueError, match="unknown released method 'EDSR'"):
        load("EDSR", 2)
    with pytest.raises(ValueError, match=r"LapSRN has released models for x\[2, 4\], not x3"):
        load("LapSRN", 3)


def test_released_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_RELEASED, str(tmp_path))
    assert paths.released_root() == tmp_path.resolve()
    monkeypatch.setenv(paths.ENV_RELEASED, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="DEFIAN_RELEASED"):
        paths.released_root()
