"""The IKM operator: image-specific convolutional kernel modulation (IKM paper, Sec. III-A, III-B).

Huang et al., "Image-specific Convolutional Kernel Modulation for Single Image
Super-resolution" (arXiv:2111.08362; ``shared/paper/ikm-follow-up.md``). The
text extraction of that file lost the symbols of Eqs. (7)-(15); each form below
is restated from the surviving prose and checked against the authors' released
code (YuanfeiHuang/IKM, ``src/basic_module.py`` at cf723d4 for the IKM paper,
at b76ac4f for its journal successor CoMo), read for facts only.

For an input ``x`` of shape (B, C_in, H, W) and a k x k kernel ``W`` of shape
(C_out, C_in, k, k), the contextual attention generation (CAG, Eq. 9) is

    P   = 1[x >= tau]                                  Eq. (10), principal information
    p   = AvgPool_{k x k}(P)                  (B, C_in, k, k)  Eq. (9)ii, adaptive pooling
    A   = 1 + sigmoid(k^2 softmax_{u,v}(p) - 1)        Eq. (11), proportion transformation

(softmax over the k^2 taps of each channel, "2D softmax"; the 1 + ... is the
"residual learning fashion" the paper states). The modulated kernel of image b is

    W_b[o, i, u, v] = W[o, i, u, v] * A_b[i, u, v]     Eq. (12), A repeated C_out times

so the attention carries the input channel and the tap, never the output channel:
IKM is a per-image reweighting of every kernel tap, and it adds no parameter.

Two mini-batch semantics (Sec. III-B):
    IsO (Algorithm 1): each image is convolved with its own W_b, Eq. (13); the
        gradient of W is sum_b dL/dW_b * A_b, Eq. (15). :func:`iso_conv2d`.
    GO (footnote 1): the attentions are averaged over the batch,
        Abar = mean_b A_b, and all images share W * Abar. :func:`go_conv2d`.
For B = 1 the two coincide.

Variants (:data:`VARIANTS`):
    ``"paper"``     the equations above, tau = 0 fixed (paper IV-B1; cf723d4 stores it as
                    a plain number, so no parameter). Since p lies in [0, 1], each tap's share
                    lies in [1/(1 + (k^2-1)e), e/(e + k^2-1)]: for k = 3, A lies in
                    [1.353, 1.783], and A = 1.5 on every tap when p is uniform.
    ``"released"``  CoMo (b76ac4f): A = k^2 softmax_{u,v}(p), no sigmoid and no "1 +",
                    so a uniform p gives A = 1 (the plain conv) where the paper variant
                    gives 1.5; for k = 3, A lies in [0.396, 2.283]. tau is an
                    ``nn.Parameter`` initialised to 0, one per layer.
                    It never learns: the hard threshold has no gradient, and all 144
                    thresholds of the released CoMo-S x2 weights are exactly 0.

Notes that hold for both variants:
    * A is piecewise constant in x (a comparison, then pooling), so its derivative is
      zero almost everywhere; autograd agrees (a comparison has no gradient), and
      Eq. (15) is therefore the whole gradient. The gradient of ``threshold`` is None.
    * With tau = 0, a channel that is >= 0 everywhere (any channel after a ReLU)
      gives P = 1, a uniform p, and A = 1.5 (paper) or 1 (released) on every tap:
      such a channel is only rescaled, never image-specifically.
    * The released code swaps ``weight.data`` for the modulated kernel during the
      forward and restores it before the backward; under torch 2.x on CPU that
      backward raises a shape error, so its training gradient cannot be re-run.
      Here every path is an ordinary differentiable function of W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from defian.ikm.fast import tap_conv2d
from defian.ikm.inputs import IKMError, check_inputs, check_kernel_size

__all__ = [
    "METHODS",
    "OPTIMIZATIONS",
    "VARIANTS",
    "IKMConv2d",
    "IKMError",
    "go_conv2d",
    "iso_conv2d",
    "kernel_attention",
    "modulate",
    "principal_information",
]

VARIANTS = ("paper", "released")
OPTIMIZATIONS = ("iso", "go")
METHODS = ("grouped", "taps", "unfold")  # exact implementations of IsO (benchmarks/bench_ikm.py times them)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise IKMError(f"{name}={value!r} is not one of {choices}")


def principal_information(x: torch.Tensor, threshold: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Eq. (10): 1 where ``x >= threshold``, else 0 (the released ``where(x < tau, 0, 1)``).

    Args:
        x: features, any shape.
        threshold: tau, a number or a one-element tensor.

    Returns:
        A tensor of x's shape and dtype, no gradient.
    """
    return (x.detach() >= threshold).to(x.dtype)


def kernel_attention(x: torch.Tensor, kernel_size: int, variant: str = "paper",
                     threshold: float | torch.Tensor = 0.0) -> torch.Tensor:
    """The contextual attention generation (CAG), Eqs. (9)-(11).

    Args:
        x: input features, shape (B, C_in, H, W); any H, W >= 1 (adaptive pooling,
            whose windows overlap when H or W is not a multiple of k).
        kernel_size: k, odd and >= 1.
        variant: ``"paper"`` or ``"released"`` (module docstring).
        threshold: tau of Eq. (10).

    Returns:
        A, shape (B, C_in, k, k), x's dtype, detached (zero derivative, see module docstring).
    """
    _check_choice("variant", variant, VARIANTS)
    if x.dim() != 4:
        raise IKMError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    k = check_kernel_size(kernel_size)
    if h % k == 0 and w % k == 0:  # equal windows: count the principal pixels on the boolean map (one pass)
        marks = (x.detach() >= threshold).reshape(b, c, k, h // k, k, w // k)
        p = marks.sum((3, 5), dtype=x.dtype).reshape(b, c, k * k) / ((h // k) * (w // k))
    else:
        p = F.adaptive_avg_pool2d(principal_information(x, threshold), k).reshape(b, c, k * k)
    share = torch.softmax(p, dim=2)
    if variant == "paper":
        a = 1.0 + torch.sigmoid(k * k * share - 1.0)
    else:
        a = k * k * share
    return a.reshape(b, c, k, k)


def modulate(weight: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Eq. (12): the modulated kernels W_b = W * A_b (A repeated over C_out).

    Args:
        weight: W, shape (C_out, C_in, k, k).
        attention: A, shape (B, C_in, k, k), or (C_in, k, k) for one shared attention.

    Returns:
        Shape (B, C_out, C_in, k, k), or (C_out, C_in, k, k) for a shared attention.
    """
    if attention.shape[-3:] != weight.shape[1:]:
        raise IKMError(f"attention shape {tuple(attention.shape)} does not match kernel {tuple(weight.shape)}")
    return weight * attention.unsqueeze(-4)


def iso_conv2d(x: torch.Tensor, weight: torch.Tensor, attention: torch.Tensor, bias: torch.Tensor | None = None,
               dilation: int = 1, method: str = "grouped") -> torch.Tensor:
    """IsO, Algorithm 1: image b is convolved with its own W_b = W * A_b ('same' padding, stride 1).

    All methods compute the same function (tested equal in float64, forward and backward):
        ``"grouped"``  Algorithm 1 as printed: B stacked kernels, one convolution with groups=B.
                       The default (``benchmarks/bench_ikm.py`` times all three against
                       the plain convolution).
        ``"taps"``     A applied to the per-tap weight slices, then one GEMM per tap over a
                       shifted view of the padded input (:mod:`defian.ikm.fast`): no grouped
                       convolution and no unfolded copy, for where grouped convolutions are
                       slow (the paper's Sec. IV-E).
        ``"unfold"``   A applied to the unfolded input taps, then one shared GEMM with W
                       (k^2 times the input in memory: the slowest).

    Args:
        x: (B, C_in, H, W).
        weight: W, (C_out, C_in, k, k), k odd.
        attention: A, (B, C_in, k, k).
        bias: (C_out,) or None.
        dilation: d; the padding is d (k - 1) / 2.
        method: one of :data:`METHODS`.

    Returns:
        (B, C_out, H, W).
    """
    _check_choice("method", method, METHODS)
    k, half = check_inputs(x, weight, attention, bias, dilation)
    pad = dilation * half
    b, c_in, h, w = x.shape
    c_out = weight.shape[0]
    if method == "taps":
        return tap_conv2d(x, weight, attention, bias, dilation)
    if method == "unfold":
        cols = F.unfold(x, k, dilation=dilation, padding=pad)  # (B, C_in k k, H W), (i, u, v) order
        y = weight.reshape(c_out, -1) @ (cols * attention.reshape(b, -1, 1))  # (B, C_out, H W)
        y = y.reshape(b, c_out, h, w)
        return y if bias is None else y + bias.view(1, -1, 1, 1)
    kernels = modulate(weight, attention).reshape(b * c_out, c_in, k, k)  # Eq. (12), stacked
    y = F.conv2d(x.reshape(1, b * c_in, h, w), kernels, None if bias is None else bias.repeat(b),
                 padding=pad, dilation=dilation, groups=b)  # Eq. (13)
    return y.reshape(b, c_out, h, w)


def go_conv2d(x: torch.Tensor, weight: torch.Tensor, attention: torch.Tensor, bias: torch.Tensor | None = None,
              dilation: int = 1) -> torch.Tensor:
    """GO (the paper's footnote 1): one kernel W * mean_b(A_b) shared by the whole batch.

    For a batch of one image, mean_b(A_b) = A_1 and GO is IsO exactly (same output, same
    gradients; tested): the two semantics differ only for B >= 2, so a batch of one is
    valid input for both, never an error.

    Args:
        x: (B, C_in, H, W).
        weight: W, (C_out, C_in, k, k).
        attention: A, (B, C_in, k, k); averaged over B here.
        bias: (C_out,) or None.
        dilation: d; the padding is d (k - 1) / 2.

    Returns:
        (B, C_out, H, W).
    """
    _, half = check_inputs(x, weight, attention, bias, dilation)
    return F.conv2d(x, modulate(weight, attention.mean(0)), bias, padding=dilation * half, dilation=dilation)


class IKMConv2d(nn.Module):
    """A k x k convolution C_in -> C_out whose kernel IKM modulates per image (Eqs. 9-13).

    Holds exactly the parameters of ``nn.Conv2d(c_in, c_out, k, padding=d (k-1)/2,
    dilation=d, bias=bias)`` (``weight``, ``bias``) for ``variant="paper"``; the
    released variant adds its one-element ``threshold``.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: k, odd and >= 1.
        dilation: d (the IKM paper's Table IV varies it); padding keeps H x W.
        bias: add a learned bias (the IKM paper's dense units have none).
        variant: ``"paper"`` or ``"released"``.
        optimization: ``"iso"`` (Algorithm 1) or ``"go"`` (footnote 1).
        method: IsO implementation, one of :data:`METHODS` (all exact, see :func:`iso_conv2d`).
        threshold: tau of Eq. (10) (paper IV-B1: 0).
        modulate: False gives the plain convolution (the "vanilla" rows of Table III).

    Raises:
        IKMError: a bad argument (names it), or an input whose channels are not ``in_channels``.

    At batch size 1, ``optimization="iso"`` and ``"go"`` compute the same function (the mean of
    one attention is itself); they differ from B = 2 on (:func:`go_conv2d`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1,
                 bias: bool = False, variant: str = "paper", optimization: str = "iso", method: str = "grouped",
                 threshold: float = 0.0, modulate: bool = True) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("dilation", dilation)):
            if not isinstance(value, int) or value < 1:
                raise IKMError(f"{name} must be a positive integer, got {value!r}")
        check_kernel_size(kernel_size)
        _check_choice("variant", variant, VARIANTS)
        _check_choice("optimization", optimization, OPTIMIZATIONS)
        _check_choice("method", method, METHODS)
        self.in_channels, self.out_channels, self.kernel_size, self.dilation = (in_channels, out_channels,
                                                                                kernel_size, dilation)
        self.variant, self.optimization, self.method, self.modulate = variant, optimization, method, modulate
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)  # its initialisation
        self.weight = conv.weight
        self.register_parameter("bias", conv.bias)  # None when bias=False, as in nn.Conv2d
        self.threshold: float | nn.Parameter = (nn.Parameter(torch.full((1,), float(threshold)))
                                                 if variant == "released" else float(threshold))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """A of Eq. (11) for ``x`` (B, C_in, H, W): (B, C_in, k, k)."""
        return kernel_attention(x, self.kernel_size, self.variant, self.threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise IKMError(f"IKMConv2d expects (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        pad = self.dilation * (self.kernel_size - 1) // 2
        if not self.modulate:
            return F.conv2d(x, self.weight, self.bias, padding=pad, dilation=self.dilation)
        a = self.attention(x)
        if self.optimization == "go":
            return go_conv2d(x, self.weight, a, self.bias, self.dilation)
        return iso_conv2d(x, self.weight, a, self.bias, self.dilation, self.method)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"bias={self.bias is not None}, variant={self.variant}, optimization={self.optimization}, "
                f"method={self.method}, modulate={self.modulate}")
