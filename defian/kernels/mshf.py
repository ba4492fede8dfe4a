"""Fused multi-scale Hessian filtering (Sec. III-B2, Eqs. 12 and 14-18).

This module is the fast path behind :class:`defian.nn.hessian.MSHF`. For every
scale it computes the channel mean of the largest Hessian eigenvalue,

    mean_c lambda = mean_c (a + b)/2 + mean_c sqrt(d^2 + c^2),   d = (a - b)/2,

with ``a = G_hh*x``, ``b = G_vv*x``, ``c = G_hv*x`` (Eq. 12), without any
convolution and with a hand-written backward. What makes it fast:

1. *No convolutions.* The kernels of Eqs. (14)-(17) are 3- and 4-tap
   difference stencils, so each filtered map is a sum of shifted slices of one
   zero-padded copy of ``x``; ``d`` needs no centre tap at all (the ``-2x``
   of ``G_hh`` and ``G_vv`` cancels) and ``G_hv`` is separable
   (``[1, 0, -1]^T [1, 0, -1]``), so it costs two slice subtractions.
2. *The linear part is channel-averaged first.* ``mean_c (a + b)/2`` equals
   half the dilated 5-point Laplacian of ``mean_c x``, a one-channel map, so
   only the non-linear ``sqrt(d^2 + c^2)`` is computed per channel.
3. *An analytic backward with few temporaries.* The filters are frozen, so
   only ``dx`` is needed; since every stencil is symmetric under a half turn,
   the adjoint of "stencil on zero-padded input" is the same stencil on the
   zero-padded gradient. The backward writes ``g d / r`` and ``g c / r`` into
   one zero-bordered buffer and gathers shifted slices from it, instead of
   replaying nine convolutions' backward passes and ~27 element-wise ops.
4. *Chunked, recomputed, allocation-free.* The work runs over blocks of
   about :data:`CHUNK_ELEMENTS` (batch samples, or channel groups of one
   sample) whose scratch buffers (:class:`_Workspace`) are allocated once per
   call and written with ``out=``, so they stay in cache and never fault in
   fresh pages. The backward recomputes ``d, c, r`` instead of storing them:
   only ``x`` is kept for the backward.
5. *Finite by construction.* ``1/r`` is taken as ``rsqrt(max(r^2, tiny))``:
   where the two eigenvalues coincide (``r = 0``, so ``d = c = 0``) the
   gradient of the square-root term is 0, i.e. the minimum-norm subgradient
   (see :func:`defian.nn.hessian.max_eigenvalue`); for ``r^2 < tiny`` the factor
   ``d/max(r, sqrt(tiny))`` stays below 1.

The squares ``d^2 + c^2`` are formed directly (faster than ``hypot``): they
overflow only for features above ~1e19 in float32, far outside any network's
range; :func:`defian.nn.hessian.max_eigenvalue` uses ``hypot`` for arbitrary input.

bfloat16/float16 inputs (``torch.autocast``) are computed in float32 and the
result is returned in float32; the input gradient is returned in the input's
dtype.

On CPU the same computation runs, by default, as a C++ kernel
(``defian/kernels/csrc/mshf_cpu.cpp``, :mod:`defian.kernels.extension`): one pass over a
channels-last input for the forward (bands of rows) and one for the backward
(down each sample's rows, ``g d / r`` and ``g c / r`` held in a ring of
``2P + 1`` rows), the channel mean a vector reduction over contiguous channels.
It takes a fraction of the time of the chunked PyTorch path above
(``benchmarks/bench_mshf.py``, column ``mshf_vs_pytorch_path``), which stays the
reference, the path on other devices and the fallback. Both agree to rounding
(``tests/nn/test_hessian.py``, float64).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from defian.kernels import extension

__all__ = ["mshf_fused"]


#: Target size, per intra-op thread, of the blocks the work is split into
#: (elements of one zero-padded chunk): each thread's share of a chunk's scratch
#: buffers then stays in its core's cache (tuned on one thread: 2**17 and 2**18
#: are best, 2**15 and 2**20 about 30% slower).
CHUNK_ELEMENTS = 2**17


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision inputs, else the input's own dtype."""
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


def _laplacian(img: Tensor, delta: int) -> Tensor:
    """Dilated 5-point Laplacian ``(G_hh + G_vv) * img`` with zero padding.

    Args:
        img: (B, 1, H, W) map.
        delta: dilation of the stencil.

    Returns:
        (B, 1, H, W) map.
    """
    H, W = img.shape[-2:]
    p = F.pad(img, (delta, delta, delta, delta))
    rows, cols = slice(delta, delta + H), slice(delta, delta + W)
    out = p[..., rows, 0:W] + p[..., rows, 2 * delta : 2 * delta + W]
    out += p[..., 0:H, cols]
    out += p[..., 2 * delta : 2 * delta + H, cols]
    out -= 4 * img
    return out


def _chunks(B: int, C: int, plane: int) -> list[tuple[slice, slice]]:
    """Split (B, C) into equal-ish blocks of about CHUNK_ELEMENTS padded elements per thread."""
    per_sample, target = C * plane, CHUNK_ELEMENTS * torch.get_num_threads()
    if per_sample <= target:
        nb = max(1, target // per_sample)
        nb = -(-B // -(-B // nb))  # even split of the batch
        return [(slice(b, min(b + nb, B)), slice(0, C)) for b in range(0, B, nb)]
    nc = -(-C // -(-C // max(1, target // plane)))  # even split of the channels
    return [(slice(b, b + 1), slice(c, min(c + nc, C))) for b in range(B) for c in range(0, C, nc)]


class _Workspace:
    """Scratch buffers for one chunk shape, and the shifted views the stencils read.

    ``xp`` holds the zero-padded chunk, ``xh`` half of it (``d`` is read from
    ``xh``); ``dc`` = [d, c]; ``e`` the horizontal difference of ``G_hv``; ``r``
    the square-root term. The borders of ``xp``/``xh`` (and of ``pq`` in the
    backward) are zeroed once and never written, which is the zero padding.
    """

    def __init__(self, bc: int, cc: int, H: int, W: int, P: int, pairs, dtype, device, backward: bool) -> None:
        z = dict(dtype=dtype, device=device)
        self.xp = torch.zeros(bc, cc, H + 2 * P, W + 2 * P, **z)
        self.xh = torch.zeros_like(self.xp)
        self.xp_in, self.xh_in = (t[..., P : P + H, P : P + W] for t in (self.xp, self.xh))
        self.dc = torch.empty(2, bc, cc, H, W, **z)
        self.r = torch.empty(bc, cc, H, W, **z)
        self.e = torch.empty(bc, cc, H + 2 * max(e for _, e in pairs), W, **z)
        self.rs = torch.empty(bc, H, W, **z)
        self.views = [self._views(self.xh, self.xp, dl, eps, P, H, W) for dl, eps in pairs]
        if backward:
            self.pq = torch.zeros(2, bc, cc, H + 2 * P, W + 2 * P, **z)
            self.pq_in = self.pq[..., P : P + H, P : P + W]
            self.acc = torch.empty(bc, cc, H, W, **z)
            self.adj = [self._views(self.pq[0], self.pq[1], dl, eps, P, H, W) for dl, eps in pairs]

    def _views(self, half: Tensor, full: Tensor, dl: int, eps: int, P: int, H: int, W: int) -> tuple[Tensor, ...]:
        rows, cols, ext = slice(P, P + H), slice(P, P + W), slice(P - eps, P + H + eps)
        e = self.e[..., : H + 2 * eps, :]
        return (half[..., rows, P - dl : P - dl + W], half[..., rows, P + dl : P + dl + W],  # left, right
                half[..., P - dl : P - dl + H, cols], half[..., P + dl : P + dl + H, cols],  # up, down
                full[..., ext, P - eps : P - eps + W], full[..., ext, P + eps : P + eps + W], e,
                e[..., :H, :], e[..., 2 * eps :, :])

    def terms(self, k: int, bd: Tensor | None, bc: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """d, c and r^2 = d^2 + c^2 of scale k for the loaded chunk (Eq. 12)."""
        left, right, up, down, el, er, e, e_top, e_bot = self.views[k]
        d, c, r = self.dc[0], self.dc[1], self.r
        torch.add(left, right, out=d).sub_(up).sub_(down)  # (G_hh - G_vv)/2 * x, no centre tap
        torch.sub(el, er, out=e)  # G_hv is separable: horizontal difference ...
        torch.sub(e_top, e_bot, out=c)  # ... then vertical
        if bd is not None:
            d.add_(bd)
            c.add_(bc)
        torch.mul(d, d, out=r).addcmul_(c, c)
        return d, c, r


def _kernel_args(bias: Tensor | None, K: int, C: int, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """The kernel's (K, C) biases of d and c and its (K,) bias of the linear part (zeros without bias)."""
    if bias is None:
        z = torch.zeros(K, C, dtype=dtype)
        return z, z, torch.zeros(K, dtype=dtype)
    b = bias.to(dtype)
    return ((0.5 * (b[:, 0] - b[:, 1])).contiguous(), b[:, 2].contiguous(),
            (0.5 * (b[:, 0] + b[:, 1])).mean(1).contiguous())


class _FusedMSHF(torch.autograd.Function):
    """Channel-averaged lambda maps of several scales; see the module docstring."""

    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor | None, pairs: tuple[tuple[int, int], ...]) -> Tensor:
        kernel = extension.kernel("mshf_cpu") if x.device.type == "cpu" else None
        ctx.pairs, ctx.kernel, ctx.dtype = pairs, kernel, x.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            if kernel is None:
                x = x.contiguous()  # NCHW planes: one copy of an NHWC input beats strided reads
                ctx.save_for_backward(x, bias)  # everything else is recomputed chunk by chunk
                return _forward(x, bias, pairs)
            nhwc = x.to(_compute_dtype(x.dtype)).permute(0, 2, 3, 1).contiguous()  # no copy for channels-last
            ctx.save_for_backward(nhwc, bias)
            dl, ep = ([p[i] for p in pairs] for i in (0, 1))
            return kernel.forward(nhwc, dl, ep, *_kernel_args(bias, len(pairs), x.shape[1], nhwc.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        x, bias = ctx.saved_tensors
        with torch.autocast(device_type=grad.device.type, enabled=False):
            if ctx.kernel is None:
                return _backward(x, bias, ctx.pairs, grad), None, None
            dl, ep = ([p[i] for p in ctx.pairs] for i in (0, 1))
            gx = ctx.kernel.backward(x, grad.to(x.dtype).contiguous(), dl, ep,
                                     *_kernel_args(bias, len(ctx.pairs), x.shape[3], x.dtype)[:2])
            return gx.permute(0, 3, 1, 2).to(ctx.dtype), None, None  # (B, C, H, W), channels-last strides


def _channel_biases(bias: Tensor | None, dtype: torch.dtype) -> tuple[Tensor, Tensor] | None:
    """The (K, C, 1, 1) per-channel biases of d and c: ``(b_hh - b_vv)/2`` and ``b_hv`` (None without bias)."""
    if bias is None:
        return None
    b = bias.to(dtype)  # released convs carry a frozen per-channel bias
    return (0.5 * (b[:, 0] - b[:, 1]))[..., None, None], b[:, 2, :, None, None]


def _block_biases(biases: tuple[Tensor, Tensor] | None, k: int, cs: slice) -> tuple[Tensor | None, Tensor | None]:
    """Scale ``k``'s biases of d and c for the channels ``cs`` of a block, (C', 1, 1) each (None, None without)."""
    return (biases[0][k, cs], biases[1][k, cs]) if biases is not None else (None, None)


def _linear_part(x: Tensor, bias: Tensor | None, pairs: tuple[tuple[int, int], ...], dtype: torch.dtype) -> Tensor:
    """(B, K, H, W) maps ``mean_c (a + b)/2`` (Eqs. 12, 18): half the dilated Laplacian of ``mean_c x``, plus bias."""
    B, _, H, W = x.shape
    xbar = x.mean(1, keepdim=True, dtype=dtype)  # (B, 1, H, W): the linear part is averaged first
    b = bias.to(dtype) if bias is not None else None
    out = torch.empty((B, len(pairs), H, W), dtype=dtype, device=x.device)
    for k, (dl, _) in enumerate(pairs):
        out[:, k : k + 1] = 0.5 * _laplacian(xbar, dl) + (0.5 * (b[k, 0] + b[k, 1]).mean() if b is not None else 0)
    return out


def _loaded_blocks(x: Tensor, pairs: tuple[tuple[int, int], ...], dtype: torch.dtype,
                   backward: bool) -> Iterator[tuple[slice, slice, _Workspace]]:
    """Each (batch, channel) block of ``x`` with its workspace, loaded: ``xp`` = x and ``xh`` = x/2 in zero borders.

    CPU: cache-sized blocks (:func:`_chunks`); other devices: one block (fewer kernel launches).
    One workspace per block shape, reused by every block of that shape.
    """
    B, C, H, W = x.shape
    P = max(max(pair) for pair in pairs)
    blocks = _chunks(B, C, (H + 2 * P) * (W + 2 * P)) if x.device.type == "cpu" else [(slice(0, B), slice(0, C))]
    spaces: dict[tuple[int, int], _Workspace] = {}
    for bs, cs in blocks:
        shape = (bs.stop - bs.start, cs.stop - cs.start)
        if shape not in spaces:
            spaces[shape] = _Workspace(*shape, H, W, P, pairs, dtype, x.device, backward=backward)
        ws = spaces[shape]
        ws.xp_in.copy_(x[bs, cs])
        torch.mul(ws.xp_in, 0.5, out=ws.xh_in)
        yield bs, cs, ws


def _forward(x: Tensor, bias: Tensor | None, pairs: tuple[tuple[int, int], ...]) -> Tensor:
    """(B, K, H, W) maps ``mean_c lambda`` (Eqs. 12, 18): the linear part, plus ``mean_c sqrt(d^2 + c^2)`` by blocks."""
    C = x.shape[1]
    dtype = _compute_dtype(x.dtype)
    biases = _channel_biases(bias, dtype)
    out = _linear_part(x, bias, pairs, dtype)
    for bs, cs, ws in _loaded_blocks(x, pairs, dtype, backward=False):
        for k in range(len(pairs)):
            _, _, r = ws.terms(k, *_block_biases(biases, k, cs))
            torch.sum(r.sqrt_(), 1, out=ws.rs)
            out[bs, k].add_(ws.rs, alpha=1.0 / C)
    return out


def _add_adjoint(ws: _Workspace, k: int, acc: Tensor, g: Tensor, bd: Tensor | None, bc: Tensor | None,
                 tiny: float) -> None:
    """Add scale ``k``'s square-root term's share of dx for the loaded block to ``acc`` (``k == 0``: overwrite it).

    ``g``: the block's (b, 1, H, W) gradient of the channel mean's terms, ``grad_k / C``.
    The gradient of ``sqrt(d^2 + c^2)`` is ``g d / r`` through the d stencil and ``g c / r``
    through the G_hv stencil (Eqs. 14-17); both stencils are their own adjoints.
    """
    _, _, r = ws.terms(k, bd, bc)
    # t = g / r with r floored at sqrt(tiny): finite, and 0 * t = 0 where d = c = 0
    t = r.clamp_min_(tiny).rsqrt_().mul_(g)
    torch.mul(ws.dc, t, out=ws.pq_in)  # [g d / r, g c / r] inside a zero border
    left, right, up, down, ql, qr, e, e_top, e_bot = ws.adj[k]
    if k == 0:
        torch.add(left, right, alpha=1.0, out=acc).mul_(0.5)
    else:
        acc.add_(left, alpha=0.5).add_(right, alpha=0.5)
    acc.sub_(up, alpha=0.5).sub_(down, alpha=0.5)  # adjoint of d = (x_l + x_r - x_u - x_d)/2
    torch.sub(ql, qr, out=e)
    acc.add_(e_top).sub_(e_bot)  # adjoint of the G_hv stencil (it is its own adjoint)


def _backward(x: Tensor, bias: Tensor | None, pairs: tuple[tuple[int, int], ...], grad: Tensor) -> Tensor:
    """The input gradient for ``grad``, (B, K, H, W) of the maps: the adjoint of :func:`_forward`, block by block."""
    C = x.shape[1]
    dtype = _compute_dtype(x.dtype)
    tiny = torch.finfo(dtype).tiny
    biases = _channel_biases(bias, dtype)
    g = grad.to(dtype) * (1.0 / C)  # (B, K, H, W): d(mean_c)/d(channel)
    gbar = sum(0.5 * _laplacian(g[:, k : k + 1], dl) for k, (dl, _) in enumerate(pairs))  # (B, 1, H, W)
    gx = torch.empty_like(x)
    direct = gx.dtype == dtype  # accumulate straight into gx
    for bs, cs, ws in _loaded_blocks(x, pairs, dtype, backward=True):
        acc = gx[bs, cs] if direct else ws.acc
        for k in range(len(pairs)):
            _add_adjoint(ws, k, acc, g[bs, k : k + 1], *_block_biases(biases, k, cs), tiny)
        acc.add_(gbar[bs])  # the linear part's adjoint
        if not direct:
            gx[bs, cs] = acc
    return gx


def mshf_fused(x: Tensor, dilations: Sequence[tuple[int, int]], bias: Tensor | None = None) -> Tensor:
    """Channel-averaged largest Hessian eigenvalue at several scales, fused.

    Implements Eq. (12) with the stencils of Eqs. (14)-(17) and the channel
    average of Eq. (18). Equal (to rounding) to nine depthwise convolutions
    followed by Eq. (12) and a channel mean; see :func:`defian.nn.hessian.mshf_reference`.

    Args:
        x: (B, C, H, W) feature map, any floating dtype.
        dilations: one ``(delta, eps)`` pair per scale: the dilation of
            ``G_hh``/``G_vv`` and of ``G_hv`` (both ``(ker-1)/2`` in Eq. (16) and the
            released code; ``eps = 1`` for :func:`defian.nn.hessian.dilations`' ``"undilated_hv"``).
        bias: optional (K, 3, C) per-channel biases of ``G_hh, G_vv, G_hv``
            (the released convolutions' frozen biases); ``None`` means zero.

    Returns:
        (B, K, H, W) maps ``[mean_c lambda_ker for ker in scales]``, float32 for
        half-precision inputs, else the input's dtype.
    """
    if x.dim() != 4:
        raise ValueError(f"mshf_fused: x must be (B, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"mshf_fused: x must be floating point, got {x.dtype}")
    pairs = tuple((int(a), int(b)) for a, b in dilations)
    if not pairs or min(min(p) for p in pairs) < 1:
        raise ValueError(f"mshf_fused: dilations must be positive (delta, eps) pairs, got {dilations!r}")
    if bias is not None and tuple(bias.shape) != (len(pairs), 3, x.shape[1]):
        raise ValueError(f"mshf_fused: bias must be ({len(pairs)}, 3, {x.shape[1]}), got {tuple(bias.shape)}")
    return _FusedMSHF.apply(x, bias, pairs)
