"""IsO without grouped convolutions: one GEMM per kernel tap over a shifted view (IKM paper, Sec. IV-E).

The IKM paper's discussion (Sec. IV-E) says a model with IKM runs slower than
without it because Algorithm 1 needs grouped convolutions (groups = batch size).
Eq. (12) shows why it need not: the modulation carries the image b, the input
channel i and the tap t = (u, v), never the output channel o,

    y_b[o, q] = sum_t sum_i W[o, i, t] A_b[i, t] x_b[i, q + d t]             (1)

so for each tap, the product of the (C_in, C_out) weight slice with A_b's
column is a per-image GEMM weight, and the input rows it multiplies are a
*shifted window* of the padded image. Store x_b padded to (H + 2p) x (W + 2p),
channels last, as one matrix of (H + 2p + 1)(W + 2p) rows by C_in columns:
the rows that output row q reads for tap (u, v) start at offset
d (u (W + 2p) + v) and run contiguously for H (W + 2p) rows. So (1) is

    Z_b  = sum_t  X_b[off_t : off_t + H (W + 2p)] @ (A_b[:, t] * W[:, :, t]^T)   (2)

nine batched GEMMs (for k = 3) accumulating in place, with no unfolded copy of
the input; Z has 2p junk columns per row (the padding), dropped at the end
(2p / W more arithmetic than a plain conv). Applying A to the *input* instead
(:func:`defian.ikm.operator.iso_conv2d` with ``method="unfold"``) needs the
k^2-times larger unfolded input, and is memory-bound on a CPU.

The backward is the same GEMMs transposed: dW[:, :, t] = sum_b A_b[:, t] *
(X_b window_t)^T dZ_b, dA_b[:, t] = sum_o W[o, :, t] (window_t^T dZ_b)[:, o],
and dX_b gathers, for each tap, the window of dZ_b shifted back by off_t times
(A_b[:, t] * W[:, :, t]^T)^T: the same shift trick, on dZ padded by off_{k^2-1} rows.

Loop order: image by image (``chunk=1``), Z_b (H (W + 2p) x C_out, a few
hundred KB) stays in cache while the k^2 products add into it; batching each
tap over the whole batch streams Z through memory k^2 times but makes k^2
calls instead of B k^2. On one thread the first order is the faster; with
several threads each small GEMM ends in a barrier of the thread pool, which
costs most when other jobs share the cores, so the default takes the first
order on one thread and the second otherwise (``benchmarks/bench_ikm.py``
times both, as taps-1 and taps-B).

Reference twin: ``iso_conv2d(..., method="grouped")`` (Algorithm 1), tested
equal in float64, forward and backward, including the gradient of A.
"""

from __future__ import annotations

import torch

from defian.ikm.inputs import IKMError, check_inputs

__all__ = ["tap_conv2d"]


def _layout(x: torch.Tensor, k: int, dilation: int) -> tuple[torch.Tensor, list[int], int, int]:
    """Padded channels-last rows of x: (B, (H + 2p + 1)(W + 2p), C_in), the tap offsets, pad, width."""
    b, c, h, w = x.shape
    pad = dilation * (k - 1) // 2
    wp = w + 2 * pad
    rows = x.new_empty(b, h + 2 * pad + 1, wp, c)  # one spare row: the last tap's window ends 2p rows + 2p late
    rows[:, :pad].zero_()
    rows[:, pad + h:].zero_()
    rows[:, pad:pad + h, :pad].zero_()
    rows[:, pad:pad + h, pad + w:].zero_()
    rows[:, pad:pad + h, pad:pad + w] = x.permute(0, 2, 3, 1)
    offsets = [dilation * (u * wp + v) for u in range(k) for v in range(k)]
    return rows.view(b, -1, c), offsets, pad, wp


def _accumulate(out: torch.Tensor, source: torch.Tensor, starts: list[int], weights: torch.Tensor,
                chunk: int) -> torch.Tensor:
    """out[b] = sum_t source[b, starts[t]:starts[t] + n] @ weights[t, b] (n = out.shape[1]).

    ``chunk`` images per batched GEMM: the whole batch in one call per tap (few
    calls, robust when other jobs share the cores), or a few images whose
    ``out`` rows stay in cache while the k^2 products add into them.
    """
    n = out.shape[1]
    for s in range(0, out.shape[0], chunk):
        o = out[s:s + chunk]
        torch.bmm(source[s:s + chunk, starts[0]:starts[0] + n], weights[0, s:s + chunk], out=o)
        for t in range(1, len(starts)):
            torch.baddbmm(o, source[s:s + chunk, starts[t]:starts[t] + n], weights[t, s:s + chunk], out=o)
    return out


class _TapConv(torch.autograd.Function):
    """Eq. (2) of the module docstring, with its hand-written backward."""

    @staticmethod
    def forward(ctx, x, weight, attention, dilation, chunk):
        b, c_in, h, w = x.shape
        c_out, k = weight.shape[0], weight.shape[2]
        rows, offsets, _, wp = _layout(x, k, dilation)
        taps = weight.permute(2, 3, 1, 0).reshape(k * k, c_in, c_out)  # W[:, :, t]^T
        a = attention.reshape(b, c_in, k * k).permute(2, 0, 1)  # (T, B, C_in)
        per_image = (a.unsqueeze(-1) * taps.unsqueeze(1)).contiguous()  # (T, B, C_in, C_out): BLAS-ready batches
        z = x.new_empty(b, h, wp, c_out)  # returned whole: autograd forbids in-place ops on a view made here
        _accumulate(z.view(b, h * wp, c_out), rows, offsets, per_image, chunk)
        ctx.save_for_backward(rows, weight, attention)
        ctx.geometry, ctx.chunk = (h, w, wp, offsets), chunk
        return z  # with the 2p junk columns per row

    @staticmethod
    def backward(ctx, grad_z):
        rows, weight, attention = ctx.saved_tensors
        h, w, wp, offsets = ctx.geometry
        b, c_in = rows.shape[0], rows.shape[2]
        c_out, k = weight.shape[0], weight.shape[2]
        pad, span, reach = (wp - w) // 2, h * wp, offsets[-1]
        # dZ with `reach` zero rows on both sides, so that every tap reads a window of it
        gz = grad_z.new_empty(b, reach + span + reach, c_out)
        gz[:, :reach].zero_()
        gz[:, reach + span:].zero_()
        gz[:, reach:reach + span] = grad_z.reshape(b, span, c_out)  # zero on the junk columns (sliced off)
        dz = gz[:, reach:reach + span]
        taps = weight.permute(2, 3, 1, 0).reshape(k * k, c_in, c_out)
        a = attention.reshape(b, c_in, k * k).permute(2, 0, 1)  # (T, B, C_in)
        need_x, need_w, need_a = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_a = None
        if need_w or need_a:
            g = grad_z.new_empty(k * k, b, c_in, c_out)  # G[t, b] = window_t(x_b)^T dZ_b
            for s in range(0, b, ctx.chunk):
                for t, off in enumerate(offsets):
                    torch.bmm(rows[s:s + ctx.chunk, off:off + span].transpose(1, 2), dz[s:s + ctx.chunk],
                              out=g[t, s:s + ctx.chunk])
            if need_w:
                grad_w = (a.unsqueeze(-1) * g).sum(1).reshape(k, k, c_in, c_out).permute(3, 2, 0, 1)
            if need_a:
                grad_a = (g * taps.unsqueeze(1)).sum(-1).permute(1, 2, 0).reshape(b, c_in, k, k)
        if need_x:
            # padded row r receives dZ row r - off_t through tap t; keep the interior rows only
            per_image_t = (a.unsqueeze(-2) * taps.transpose(1, 2).unsqueeze(1)).contiguous()  # (T, B, C_out, C_in)
            first = pad * wp + pad  # padded row of pixel (0, 0)
            starts = [reach + first - off for off in offsets]
            grad_rows = _accumulate(grad_z.new_empty(b, span, c_in), gz, starts, per_image_t, ctx.chunk)
            grad_x = grad_rows.view(b, h, wp, c_in)[:, :, :w].permute(0, 3, 1, 2)
        return grad_x, grad_w, grad_a, None, None


def tap_conv2d(x: torch.Tensor, weight: torch.Tensor, attention: torch.Tensor, bias: torch.Tensor | None = None,
               dilation: int = 1, chunk: int | None = None) -> torch.Tensor:
    """IsO by per-tap GEMMs: y_b = conv(x_b, W * A_b), 'same' padding, stride 1 (module docstring).

    Exact in any floating dtype (sums in a different order than a convolution:
    float32 results differ from ``F.conv2d`` by rounding only). Differentiable
    in x, weight, attention and bias.

    Args:
        x: (B, C_in, H, W).
        weight: W, (C_out, C_in, k, k), k odd.
        attention: A, (B, C_in, k, k).
        bias: (C_out,) or None.
        dilation: d; padding d (k - 1) / 2.
        chunk: images per batched GEMM; any value gives the same result (tested). Default:
            1 on one thread, else the whole batch (module docstring).

    Returns:
        (B, C_out, H, W), strided in channels-last order (no copy to NCHW); call
        ``.contiguous()`` where a dense NCHW tensor is needed.

    Raises:
        IKMError: an input whose shape does not fit the others, or a bad ``dilation``/``chunk``
            (:func:`defian.ikm.inputs.check_inputs`, as :func:`defian.ikm.operator.iso_conv2d`).
    """
    check_inputs(x, weight, attention, bias, dilation)
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise IKMError(f"chunk must be a positive integer (images per GEMM) or None, got {chunk!r}")
    if chunk is None:  # see the module docstring: per image on one thread, the whole batch on several
        chunk = 1 if torch.get_num_threads() == 1 else x.shape[0]
    z = _TapConv.apply(x, weight, attention, dilation, chunk)  # (B, H, W + 2p, C_out)
    y = z[:, :, :x.shape[3]].permute(0, 3, 1, 2)  # drop the junk columns: a channels-last-ordered view
    return y if bias is None else y + bias.view(1, -1, 1, 1)
