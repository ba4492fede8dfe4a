"""Interpretable Hessian filtering (Sec. III-B, Eqs. 8-18).

* :func:`hessian_kernels`: the second-derivative kernels ``G_hh, G_vv, G_hv`` of
  Eq. (9) and their scaled versions for ``ker = 3, 5, 7`` (Eqs. 14-17). Eq. (16)
  reads ``G_5,hv = [1, {0}, -1]^T [1, {0}, -1]`` "where {0} represents a
  3-dimension zero vector", i.e. the outer product of ``[1, 0, 0, 0, -1]``: every
  3x3 stencil of Eq. (9) spreads to the offsets ``{-d, 0, d}``, ``d = (ker-1)/2``,
  the sampling set of Eq. (17). That is tap for tap the released code's dilated
  convolutions (variant ``"paper"``, the default; ``"released"`` is accepted as
  its alias). One other reading is kept, under a name that says what it is:

  - ``"undilated_hv"``: ``G_hv`` left as the 3x3 stencil at every scale (Eq. (16)
    with the zero vector dropped). It samples the diagonal neighbours, outside
    Eq. (17)'s set (notebook 01 shows it).

* :func:`hessian_filter`: the filtered maps ``g_hh, g_vv, g_hv`` of one scale.
* :func:`max_eigenvalue`: Eq. (12), with a backward that is finite everywhere.
* :class:`MSHF`: multi-scale Hessian filtering with the channel average of
  Eq. (18); the fast path is :mod:`defian.kernels.mshf`, the straightforward one
  :func:`mshf_reference`.

Facts read from the released code (not copied; commit f0a2efb, 2021-08-06):

* per scale ``ker``, three ``nn.Conv2d(C, C, kernel_size=3, padding=p,
  dilation=p, groups=C, bias=True)`` with ``p = (ker-1)//2`` (zero padding),
  named ``grad_xx``, ``grad_yy``, ``grad_xy``; weights set to
  ``w[:, :, 1, :] = [1, -2, 1]`` (xx), ``w[:, :, :, 1] = [1, -2, 1]`` (yy),
  corners ``[[1, ., -1], [., ., .], [-1, ., 1]]`` (xy); the biases keep
  PyTorch's default random init ``U(-1/3, 1/3)`` (fan-in 9) and are never zeroed;
* all of them frozen (``requires_grad = False``) in the 2021 version; in the
  first upload (299035d, 2020-09-26) the freezing lines were commented out, so
  these weights and biases were trainable there;
* lambda = ``((fxx + fyy) + ((fxx - fyy) ** 2 + 4 * fxy ** 2) ** 0.5) / 2``,
  no epsilon, no clamp; its gradient is NaN where the discriminant is 0;
* each ``MSHF(ker)`` is wrapped in ``nn.Sequential`` as ``hessian{ker}`` of a
  DeFiAM module, and the module takes ``torch.mean(.., dim=1, keepdim=True)``
  of each before concatenating the three maps (Eq. 18's input);
* the released complexity counter counts only parameters with
  ``requires_grad``; the frozen MSHF convolutions hold
  ``3 * (9C + C)`` values per scale (see :func:`released_param_count`);
* the first upload's ``test.py`` loads checkpoints with
  ``load_state_dict(..., strict=False)``, so missing MSHF keys would pass silently.

Numerics (notebook 02): with the released random biases the discriminant is
positive on flat regions in float32; under bfloat16 autocast it is exactly 0 at a
few pixels per million, where the released formula's gradient is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = [
    "MSHF",
    "MSHF_MODES",
    "VARIANTS",
    "VARIANT_ALIASES",
    "canonical_variant",
    "compact_stencils",
    "dilations",
    "hessian_filter",
    "hessian_kernels",
    "max_eigenvalue",
    "max_eigenvalue_eigvalsh",
    "max_eigenvalue_plain",
    "mshf_reference",
    "released_param_count",
]

#: Readings of the scaled kernels (module docstring): ``"paper"``, Eq. (16) with its zero vectors, which is
#: the released code's dilated convolutions; ``"undilated_hv"``, ``G_hv`` kept 3x3 (Eq. (16) misread).
VARIANTS = ("paper", "undilated_hv")
#: Other accepted names: ``"released"`` (configs written when the released kernels were thought to differ
#: from the paper's) is the same reading as ``"paper"``.
VARIANT_ALIASES = {"released": "paper"}
#: What the MSHF filters are during training (the deviations chapter's MSHF question): ``"frozen"`` stencils
#: with zero bias (this book); ``"random_bias"``, frozen stencils with a Conv2d's random bias (the released
#: code of 2021); ``"trainable"``, stencils and that bias as trained parameters (the first upload).
MSHF_MODES = ("frozen", "random_bias", "trainable")
#: Released conv names, in the order ``G_hh, G_vv, G_hv`` (released code).
RELEASED_NAMES = ("grad_xx", "grad_yy", "grad_xy")


def canonical_variant(variant: str) -> str:
    """The name in :data:`VARIANTS` of ``variant`` (an alias of :data:`VARIANT_ALIASES` maps to its reading).

    Raises:
        ValueError: ``variant`` is neither a variant nor an alias; the message lists both.
    """
    name = VARIANT_ALIASES.get(variant, variant)
    if name not in VARIANTS:
        raise ValueError(f"hessian variant must be one of {VARIANTS} (or an alias in {sorted(VARIANT_ALIASES)}), "
                         f"got {variant!r}")
    return name


def _check(ker: int, variant: str) -> tuple[int, str]:
    name = canonical_variant(variant)
    if not isinstance(ker, int) or ker < 3 or ker % 2 == 0:
        raise ValueError(f"kernel size ker must be an odd int >= 3, got {ker!r}")
    return (ker - 1) // 2, name


def dilations(ker: int, variant: str = "paper") -> tuple[int, int]:
    """Dilations ``(delta, eps)`` of the 3x3 taps of ``G_hh``/``G_vv`` and ``G_hv``.

    Args:
        ker: kernel size, odd, >= 3 (Eqs. 14-17 use 3, 5, 7).
        variant: ``"paper"`` (Eq. 16 with its zero vectors, as the released code:
            ``eps = delta = (ker-1)/2``) or ``"undilated_hv"`` (``eps = 1``).
    """
    delta, name = _check(ker, variant)
    return delta, (1 if name == "undilated_hv" else delta)


def compact_stencils() -> Tensor:
    """The 3x3 taps of Eq. (9): a (3, 3, 3) float64 tensor ``[G_hh, G_vv, G_hv]``."""
    g = torch.zeros(3, 3, 3, dtype=torch.float64)
    g[0, 1] = torch.tensor([1.0, -2.0, 1.0])
    g[1] = g[0].T
    g[2] = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]])
    return g


def _spread(taps: Tensor, dil: int, ker: int) -> Tensor:
    """Place 3x3 taps at offsets ``{-dil, 0, dil}`` of a centred ker x ker grid."""
    out = torch.zeros(ker, ker, dtype=taps.dtype)
    idx = torch.tensor([-dil, 0, dil]) + (ker - 1) // 2
    out[idx[:, None], idx[None, :]] = taps
    return out


def hessian_kernels(ker: int, variant: str = "paper") -> tuple[Tensor, Tensor, Tensor]:
    """The scaled second-derivative kernels ``G_ker,hh``, ``G_ker,vv``, ``G_ker,hv``.

    Implements Eq. (9) (``ker = 3``) and Eqs. (14), (16) for larger ``ker``: with
    ``z`` the zero vector of ``ker - 2`` entries, ``G_hh = [1, z', -2, z', 1]``
    (``z'`` of ``(ker-3)/2`` entries), ``G_vv = G_hh^T`` and
    ``G_hv = [1, z, -1]^T [1, z, -1]``. The kernels are applied by
    cross-correlation (``F.conv2d``); all three are symmetric under a half turn,
    so convolution gives the same result.

    Args:
        ker: kernel size, odd, >= 3.
        variant: ``"paper"`` (default) or ``"undilated_hv"`` (see the module docstring).

    Returns:
        Three (ker, ker) float64 tensors.
    """
    delta, eps = dilations(ker, variant)
    g = compact_stencils()
    return _spread(g[0], delta, ker), _spread(g[1], delta, ker), _spread(g[2], eps, ker)


class _MaxEigenvalue(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
        in_a, in_b, in_c = a.dtype, b.dtype, c.dtype
        dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), c.dtype)
        dtype = torch.promote_types(dtype, torch.float32)  # bf16/f16 -> float32
        with torch.autocast(device_type=a.device.type, enabled=False):
            a, b, c = a.to(dtype), b.to(dtype), c.to(dtype)
            d = 0.5 * a - 0.5 * b  # halves first: no overflow for huge entries
            r = torch.hypot(d, c)  # sqrt(d^2 + c^2) without overflow or underflow
            lam = 0.5 * a + 0.5 * b + r
        ctx.save_for_backward(d, c, r)
        ctx.shapes, ctx.dtypes = (a.shape, b.shape, c.shape), (in_a, in_b, in_c)
        return lam

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        d, c, r = ctx.saved_tensors
        with torch.autocast(device_type=g.device.type, enabled=False):
            t = g.to(r.dtype) / r.clamp_min(torch.finfo(r.dtype).tiny)  # d/r, c/r: 0 where r = 0
            gp = t * d
            grads = (0.5 * (g + gp), 0.5 * (g - gp), t * c)
        return tuple(
            gr.sum_to_size(shape).to(dt) for gr, shape, dt in zip(grads, ctx.shapes, ctx.dtypes, strict=True)
        )


def max_eigenvalue(gxx: Tensor, gyy: Tensor, gxy: Tensor) -> Tensor:
    """Largest eigenvalue of ``[[gxx, gxy], [gxy, gyy]]``, element-wise.

    Implements Eq. (12): ``lambda = (gxx + gyy)/2 + sqrt((gxx - gyy)^2 + 4 gxy^2)/2``,
    computed as ``(gxx+gyy)/2 + hypot((gxx-gyy)/2, gxy)``.

    The backward is finite everywhere. Where ``r = hypot((gxx-gyy)/2, gxy) > 0``
    it is the exact gradient ``(1/2 + d/(2r), 1/2 - d/(2r), gxy/r)`` with
    ``d = (gxx-gyy)/2``. Where the eigenvalues coincide (``r = 0``, e.g. any
    flat region) lambda is not differentiable; there the backward returns
    ``(1/2, 1/2, 0)``: the minimum-norm element of the subdifferential (lambda
    is convex in the entries), the mean of the two eigenvalues' gradients,
    and the limit of the gradient averaged over all directions of approach.
    The plain formula's gradient there is ``inf * 0 = NaN``.

    Args:
        gxx, gyy, gxy: broadcastable tensors (the filtered maps of Eq. 9).
            bfloat16/float16 inputs (e.g. under ``torch.autocast``) are
            computed in float32.

    Returns:
        Tensor of the broadcast shape, in the inputs' promoted dtype (at least
        float32).
    """
    for name, t in (("gxx", gxx), ("gyy", gyy), ("gxy", gxy)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"max_eigenvalue: {name} must be a floating-point tensor, got {type(t).__name__}")
    return _MaxEigenvalue.apply(gxx, gyy, gxy)


def max_eigenvalue_plain(gxx: Tensor, gyy: Tensor, gxy: Tensor) -> Tensor:
    """Eq. (12) written as the released code writes it (NaN gradient where r = 0)."""
    return ((gxx + gyy) + ((gxx - gyy) ** 2 + 4 * (gxy**2)) ** 0.5) / 2


def max_eigenvalue_eigvalsh(gxx: Tensor, gyy: Tensor, gxy: Tensor) -> Tensor:
    """Largest eigenvalue per element by an eigen-solver (``torch.linalg.eigvalsh``).

    The per-pixel solver of Eq. (24) (the paper used the now-removed ``torch.eig``).
    """
    h = torch.stack([torch.stack([gxx, gxy], -1), torch.stack([gxy, gyy], -1)], -2)  # (..., 2, 2)
    return torch.linalg.eigvalsh(h)[..., -1]


def hessian_filter(x: Tensor, ker: int = 3, variant: str = "paper") -> tuple[Tensor, Tensor, Tensor]:
    """The filtered maps ``g_hh, g_vv, g_hv`` of one scale (Eqs. 9, 14, 16), zero padding.

    Args:
        x: (B, C, H, W) features or images; each channel is filtered alone.
        ker: kernel size (3, 5, 7, ...).
        variant: ``"paper"`` (default) or ``"undilated_hv"``.

    Returns:
        Three (B, C, H, W) tensors, the entries of the Hessian of Eq. (8).
    """
    taps, pairs = compact_stencils().to(x), dilations(ker, variant)
    C = x.shape[1]
    return tuple(F.conv2d(x, taps[j].expand(C, 1, 3, 3), padding=dl, dilation=dl, groups=C)
                 for j, dl in enumerate((pairs[0], pairs[0], pairs[1])))


def mshf_reference(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    pairs: Sequence[tuple[int, int]],
    plain: bool = False,
) -> Tensor:
    """Straightforward MSHF: three depthwise convolutions per scale, Eq. (12), channel mean.

    This is the released design's computation (used as the reference in tests
    and benchmarks, and for weights that are not the standard stencils).

    Args:
        x: (B, C, H, W) features.
        weight: (K, 3, C, 3, 3) taps of ``G_hh, G_vv, G_hv`` per scale and channel.
        bias: (K, 3, C) per-channel biases.
        pairs: per scale the dilations ``(delta, eps)`` (see :func:`dilations`).
        plain: use the released formula (:func:`max_eigenvalue_plain`) instead of
            :func:`max_eigenvalue`.

    Returns:
        (B, K, H, W) channel-averaged lambda maps (Eq. 18's input).
    """
    C = x.shape[1]
    eig = max_eigenvalue_plain if plain else max_eigenvalue
    maps = []
    for k, (delta, eps) in enumerate(pairs):
        w, b = weight[k].to(x.dtype), bias[k].to(x.dtype)
        g = [F.conv2d(x, w[j, :, None], b[j], padding=dl, dilation=dl, groups=C)
             for j, dl in enumerate((delta, delta, eps))]
        maps.append(eig(*g).mean(1))
    return torch.stack(maps, 1)


def released_param_count(channels: int, kernel_sizes: Sequence[int] = (3, 5, 7)) -> int:
    """Values held by the released MSHF convolutions of one DeFiAM module.

    Per scale three depthwise 3x3 convolutions with bias over ``channels``:
    ``3 * (9 * channels + channels)`` (released code; frozen there, so its
    counter, which counts ``requires_grad`` parameters only, leaves them out).
    """
    return len(tuple(kernel_sizes)) * 3 * (9 * channels + channels)


class MSHF(nn.Module):
    """Multi-scale Hessian filtering: channel-averaged lambda maps (Sec. III-B2, Eq. 18 input).

    The frozen filters are buffers: ``weight`` (K, 3, C, 3, 3), the 3x3 taps of
    ``G_hh, G_vv, G_hv`` per scale and channel (applied with dilations
    :func:`dilations`), and ``bias`` (K, 3, C), zero unless loaded from a
    released checkpoint (:meth:`load_released`). Their element count equals
    :func:`released_param_count`. The forward is the reference computation
    (:func:`mshf_reference`: nine depthwise convolutions and Eq. 12);
    :func:`defian.kernels.accelerate` swaps in the fused one
    (:func:`defian.kernels.mshf.mshf_fused`) when the taps are the standard ones.

    Args:
        channels: C, channels of the input feature.
        kernel_sizes: scales ``ker`` (paper: 3, 5, 7).
        variant: ``"paper"`` (Eq. 16 with its zero vectors: all kernels dilated, as the
            released code; alias ``"released"``) or ``"undilated_hv"``.
        mode: one of :data:`MSHF_MODES`; ``"trainable"`` makes ``weight`` and ``bias``
            parameters (same state-dict keys), the others keep them buffers.
    """

    def __init__(self, channels: int, kernel_sizes: Sequence[int] = (3, 5, 7), variant: str = "paper",
                 mode: str = "frozen") -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"MSHF: channels must be a positive int, got {channels!r}")
        if len(tuple(kernel_sizes)) == 0:
            raise ValueError("MSHF: kernel_sizes must name at least one scale")
        self.channels, self.variant = channels, canonical_variant(variant)
        self.kernel_sizes = tuple(kernel_sizes)
        self.pairs = tuple(dilations(k, self.variant) for k in self.kernel_sizes)
        K = len(self.kernel_sizes)
        taps = compact_stencils().float()[None, :, None].expand(K, 3, channels, 3, 3).contiguous()
        if mode not in MSHF_MODES:
            raise ValueError(f"MSHF: mode must be one of {MSHF_MODES}, got {mode!r}")
        self.mode = mode
        bias = torch.zeros(K, 3, channels)
        if mode != "frozen":
            # a Conv2d's default bias init for a depthwise 3x3 (fan-in 9): U(-1/3, 1/3). fork_rng: the draw leaves
            # the global stream alone, so every other weight of a seeded model is the frozen variant's
            with torch.random.fork_rng(devices=[]):
                bias.uniform_(-1 / 3, 1 / 3)
        if mode == "trainable":  # the first upload: the stencils as an initialisation, trained with the rest
            self.weight = nn.Parameter(taps.clone())
            self.bias = nn.Parameter(bias)
        else:
            self.register_buffer("weight", taps.clone())
            self.register_buffer("bias", bias)
        self.register_buffer("_standard", taps, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, K, H, W) maps ``[mean_c lambda_ker]`` (Eqs. 12, 18)."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"MSHF: expected (B, {self.channels}, H, W) input, got {tuple(x.shape)}")
        return mshf_reference(x, self.weight, self.bias, self.pairs)

    def has_standard_taps(self) -> bool:
        """Whether ``weight`` holds the stencils of Eqs. (14)-(17) (the fused path needs them)."""
        return torch.equal(self.weight, self._standard)

    def reference(self, x: Tensor, plain: bool = False) -> Tensor:
        """The maps by :func:`mshf_reference` whatever the forward is (``plain``: the released formula)."""
        return mshf_reference(x, self.weight, self.bias, self.pairs, plain=plain)

    @torch.no_grad()
    def load_released(self, state: Mapping[str, Tensor], prefix: str = "") -> None:
        """Copy a released checkpoint's MSHF tensors into ``weight`` and ``bias``.

        Reads ``{prefix}hessian{ker}.0.grad_{xx,yy,xy}.{weight,bias}`` (weights
        (C, 1, 3, 3), biases (C,)), e.g. ``prefix="body.0."`` for the first DeFiAM.
        """
        for k, ker in enumerate(self.kernel_sizes):
            for j, name in enumerate(RELEASED_NAMES):
                for field, dest, shape in (("weight", self.weight[k, j], (self.channels, 1, 3, 3)),
                                           ("bias", self.bias[k, j], (self.channels,))):
                    key = f"{prefix}hessian{ker}.0.{name}.{field}"
                    if key not in state:
                        raise KeyError(f"MSHF.load_released: checkpoint has no {key!r}")
                    if tuple(state[key].shape) != shape:
                        raise ValueError(f"MSHF.load_released: {key!r} has shape {tuple(state[key].shape)}, "
                                         f"expected {shape}")
                    dest.copy_(state[key].reshape(dest.shape))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_sizes={self.kernel_sizes}, variant={self.variant!r}, mode={self.mode!r}"
