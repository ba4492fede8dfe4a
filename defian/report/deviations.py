"""Where the paper, the authors' released code and this book differ: the deviations table (notebook 14).

Each :class:`Deviation` says what the paper states (section/equation), what the released code
does (github.com/YuanfeiHuang/DeFiAN, file and commit; facts read, no code copied), what this
book does, and which tests or pages check it. The *effect* column is not typed here: notebook 14
computes it (:mod:`defian.report.deviation_effects`, the run records) and :func:`table` joins it
by key, refusing a table with an effect missing. Released commits: ``299035d`` (first upload),
``f0a2efb`` (``model.py``, MSHF frozen), ``b6b5e85`` (``utils.py``), ``c8e7b31`` (``main.py``,
``option.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

__all__ = ["ITEMS", "Deviation", "table"]


@dataclass(frozen=True)
class Deviation:
    """One row of the deviations table; ``tested`` are repository paths (checked to exist by the tests)."""

    key: str
    item: str
    paper: str
    released: str
    book: str
    tested: tuple[str, ...]


ITEMS: tuple[Deviation, ...] = (
    Deviation("eq16", "Scaled G_hv (Eq. 16)",
              "Eq. (16): G_5,hv = [1,{0},-1]^T[1,{0},-1], '{0} a 3-dimension zero vector'",
              "model.py@f0a2efb MSHF: 3x3 depthwise convs, dilation = padding = (ker-1)/2",
              "the same kernels (hessian_kernels, variant 'paper'); 'undilated_hv' only to test Eq. (17)",
              ("tests/nn/test_hessian.py", "tests/runner/test_hessian_checks.py", "notebooks/01_hessian_derivation.py")),
    Deviation("mshf_params", "MSHF frozen or trainable; #Params",
              "Tables I-IV: #Params include MSHF (Table IV: +19.2K per scale, 3(9C+C) per module)",
              "model.py@f0a2efb freezes MSHF; flops_counter.py@299035d counts requires_grad only; "
              "model.py@299035d (first upload) left MSHF trainable",
              "frozen buffers; #Params by the paper's rule (complexity.count_params); mshf_mode switch",
              ("tests/nn/test_complexity.py", "tests/nn/test_hessian.py", "notebooks/04_complexity.py")),
    Deviation("mshf_bias", "MSHF bias: random frozen vs zero",
              "Eqs. (9), (14)-(16): the filters, no bias",
              "model.py@f0a2efb: Conv2d(bias=True), PyTorch's U(-1/3, 1/3) init kept, frozen",
              "zero bias (mode 'frozen'); 'random_bias' and 'trainable' in defian study (x2, 3 seeds)",
              ("tests/nn/test_hessian.py", "tests/report/test_study.py")),
    Deviation("normalisation", "Input normalisation",
              "Sec. IV-A1: subtract the training set's mean RGB",
              "main.py@c8e7b31: torchvision Normalize(ImageNet mean, std); output through a rounded inverse",
              "DIV2K mean subtracted in the model (default); normalisation='imagenet' = the released pair",
              ("tests/nn/test_model.py", "tests/nn/test_released.py")),
    Deviation("train_val", "Training vs validation target (released main.py)",
              "-",
              "main.py@c8e7b31: loss on model(normalize(LR)) vs HR; validation scores unnormalize(model(...))",
              "one normalisation inside the model, the same in training and evaluation",
              ("tests/train/test_validation.py", "tests/report/test_deviation_effects.py")),
    Deviation("ssim_y", "Luma of the released SSIM",
              "Sec. IV-A2: PSNR/SSIM on the luminance channel",
              "utils.py@299035d calc_SSIM: skimage rgb2ycbcr on [0, 255] floats / 255 = Y - 16 + 16/255",
              "metrics.PROTOCOLS: rounded Y (default), float Y ('y-unrounded'); Y - 16 only measured here",
              ("tests/report/test_deviation_effects.py", "tests/data/test_metrics.py")),
    Deviation("warm_start", "x3/x4: from scratch or from x2",
              "not stated (Sec. IV-B2: each model 6x10^5 updates)",
              "main.py@c8e7b31: every scale built from scratch (resume only from its own checkpoints)",
              "from scratch at every scale (EDSR [13] warm-starts x3/x4 from x2; not done here)",
              ("tests/train/test_config.py",)),
    Deviation("endec_skips", "ConvEnDec/HGEnDec skip connections (Table V)",
              "Fig. 4(b) after Mao et al. [35] (RED-Net: symmetric conv-deconv skips) and Newell et al. [36] "
              "(hourglass: a skip branch per resolution)",
              "not released (model.py has DiEnDec only)",
              "Table V's rows built without skips, as Fig. 4(b) draws them (equal #Params); the papers' "
              "skip variants added as 'convendec_skip'/'hgendec_skip' (identity skips, parameter-free: the same "
              "6,871 parameters at d = 3), not trained in the cpu study",
              ("tests/nn/test_diendec.py", "notebooks/11_table_5.py")),
    Deviation("patch", "Training patch size per scale",
              "Sec. IV-A1: 48x48 LR patches at every scale",
              "option.py@c8e7b31: 128x128 HR patches at every scale (LR 64, 42, 32)",
              "full/short: 48 (paper); schedule 'released': 128 // s; cpu study: 24",
              ("tests/train/test_config.py",)),
    Deviation("precision", "Arithmetic precision for 'full'",
              "not stated (a Titan X Pascal: float32)",
              "main.py@c8e7b31: float32, no autocast",
              "float32 default, as the paper; --precision bf16 available but not recommended for 'full': its "
              "effect on a trained PSNR is unmeasured (only the forward at initialisation is measured here)",
              ("tests/train/test_loop.py", "notebooks/02_hessian_verification.py")),
    Deviation("loss", "Loss reduction (Eq. 23)",
              "Eq. (23): sum over the batch of L1 norms",
              "main.py@c8e7b31: nn.L1Loss(reduction='mean')",
              "per-pixel mean (TrainConfig.loss = 'l1')",
              ("tests/train/test_loop.py", "tests/report/test_deviation_effects.py")),
    Deviation("checkpoint", "Which checkpoint is scored",
              "not stated ('convergence after 6x10^5 updates')",
              "main.py@c8e7b31 test branch: model_epoch_{best_epoch}, 'best epoch from validation PSNR' on Set5",
              "last.pt (evaluate which='last'); best.pt kept, by validation PSNR",
              ("tests/report/test_deviation_effects.py", "tests/report/test_study.py")),
    Deviation("eq12_grad", "Gradient of Eq. (12) where the eigenvalues coincide",
              "Eq. (12), no word on r = 0",
              "model.py@f0a2efb: ((fxx-fyy)**2 + 4 fxy**2) ** 0.5: NaN gradient at r = 0",
              "max_eigenvalue: minimum-norm subgradient (1/2, 1/2, 0) there",
              ("tests/nn/test_hessian.py", "notebooks/02_hessian_verification.py")),
    Deviation("lr_data", "Test LR images",
              "Sec. IV-A1: bicubic downsampling (MATLAB, byte images)",
              "main.py@c8e7b31: LR made on the fly by degradation.py's bicubic, never rounded to bytes",
              "MATLAB imresize port, rounded (protocol 'paper'); protocol 'released' reproduces the on-the-fly LR",
              ("tests/data/test_imresize.py", "tests/data/test_testsets.py", "notebooks/05_data_and_protocol.py")),
    Deviation("train_data", "Training data of the book's own numbers",
              "Sec. IV-A1: DIV2K, 800 images",
              "option.py@c8e7b31: DIV2K",
              "cpu study: the 291-image set (DIV2K is not in the development data); DIV2K when a data root has it",
              ("tests/data/test_trainset.py", "notebooks/13_cpu_study.py")),
    Deviation("lr_schedule", "Learning rate",
              "Sec. IV-B2: 1e-4, halved every 2x10^5 updates",
              "option.py@c8e7b31: 2e-4, StepLR every 100 epochs of 2000 updates (2x10^5)",
              "full/short: the paper's; schedule 'released': the released one; cpu: 2e-4 halved every 2500",
              ("tests/train/test_config.py",)),
)


def table(effects: Mapping[str, str]) -> pd.DataFrame:
    """The deviations table, one row per :data:`ITEMS` entry, with its computed ``effects[key]``.

    Raises:
        KeyError: an item has no effect, or an effect names no item (both listed).
    """
    keys = [d.key for d in ITEMS]
    missing, unknown = [k for k in keys if k not in effects], sorted(set(effects) - set(keys))
    if missing or unknown:
        raise KeyError(f"deviations.table: effects missing for {missing}, unknown keys {unknown}")
    return pd.DataFrame([{"item": d.item, "paper": d.paper, "released code": d.released, "this book": d.book,
                          "effect": effects[d.key], "tested in": ", ".join(d.tested)} for d in ITEMS])
