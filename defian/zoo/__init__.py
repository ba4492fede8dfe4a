"""The released models of the methods DeFiAN compares with, re-implemented in PyTorch (issue #19).

Each method module holds one network written from its paper, a converter
from its authors' released file format and, in its docstring, where its test
pipeline differs from DeFiAN's protocol:

Methods:
    srcnn: SRCNN 9-5-5 / 9-1-5 (MATLAB ``.mat``; Y, bicubic input).
    fsrcnn: FSRCNN (MATLAB ``.mat``; Y, LR input, deconvolution).
    vdsr: VDSR (MATLAB ``.mat``, ``VDSR_Official.mat``; Y, bicubic input, residual).
    lapsrn: LapSRN x2/x4 (MatConvNet DagNN ``.mat``; Y, Laplacian pyramid).
    idn: IDN (Caffe ``.caffemodel`` + deploy ``.prototxt``; Y, LR input, bicubic skip).
    carn: CARN-M (PyTorch; RGB, mean shift inside, one model for x2/x3/x4).
    imdn: IMDN (PyTorch, ``module.`` keys; RGB).
    como: CoMo-S (PyTorch; RGB, per-image kernel modulation).

File formats:
    matlab: ``.mat`` variables, cell arrays, MatConvNet DagNN objects (scipy).
    caffe: protobuf wire-format reader for ``.caffemodel``, text parser for ``.prototxt``.
    pytorch: ``.pth`` state dicts and the checked copy of any state dict into a model.

Pipeline and bookkeeping:
    errors: :class:`ReleasedWeightsError`, raised for a missing, truncated or mismatching file.
    known: a file's SHA-256 against the released manifest (SRCNN/FSRCNN files hold no scale).
    colour: MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` on doubles.
    pipeline: :func:`super_resolve`, uint8 LR to uint8 SR as each method's test script.
    authors: each method's own evaluation (:func:`authors_psnr_ssim`), to explain gaps.
    registry: :data:`RELEASED` (method -> :class:`ReleasedModel`), :func:`load`.
"""

from __future__ import annotations

from defian.zoo.authors import authors_pair as authors_pair
from defian.zoo.authors import authors_psnr_ssim as authors_psnr_ssim
from defian.zoo.errors import ReleasedWeightsError as ReleasedWeightsError
from defian.zoo.pipeline import super_resolve as super_resolve
from defian.zoo.registry import RELEASED as RELEASED
from defian.zoo.registry import ReleasedModel as ReleasedModel
from defian.zoo.registry import load as load
from defian.zoo.registry import weight_path as weight_path

__all__ = ["RELEASED", "ReleasedModel", "ReleasedWeightsError", "authors_pair", "authors_psnr_ssim", 
           "load", "super_resolve", "weight_path"]
