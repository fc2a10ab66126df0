"""Transposed convolution three ways: as a scatter-add loop, as the transpose of convolution's matrix, and built in.

A convolution is linear, so for one image ``conv2d(x) == M @ x.flatten()`` for a matrix ``M`` that only depends on the
weight and the sizes (:func:`conv2d_matrix`). The transposed convolution with the same weight is ``M.T @ y`` (Dumoulin &
Visin, "A guide to convolution arithmetic", arXiv 1603.07285); it is also the gradient of the convolution with respect
to its input. The loops here (``*_naive``) are oracles for teaching and tests; ``F.conv_transpose2d`` is the real op.
Weight layouts follow PyTorch: ``conv2d`` weight ``[C_out, C_in/groups, kH, kW]``, ``conv_transpose2d`` weight
``[C_in, C_out/groups, kH, kW]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seglab.ops._args import _pair

__all__ = [
    "trans_conv_naive",
    "conv_transpose2d_naive",
    "conv2d_matrix",
    "conv_transpose2d_matmul",
    "conv_transpose2d_output_size",
    "conv2d_output_size",
    "bilinear_kernel",
    "bilinear_upsampler",
    "overlap_count",
]


def _check_output_padding(output_padding, stride, dilation) -> None:
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation (PyTorch's rule), got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )


def conv_transpose2d_output_size(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """``H_out = (H_in - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1`` (per dimension).

    Arguments are ints or ``(h, w)`` pairs; returns an int when all of them are ints, else a tuple ``(h, w)``.
    Raises ``ValueError`` for an output_padding PyTorch rejects and for an empty output.
    """
    size = _pair(input_size, "input_size", 1)
    k, s = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    p, op, d = _pair(padding, "padding", 0), _pair(output_padding, "output_padding", 0), _pair(dilation, "dilation", 1)
    _check_output_padding(op, s, d)
    out = tuple((n - 1) * s_ - 2 * p_ + d_ * (k_ - 1) + op_ + 1 for n, k_, s_, p_, op_, d_ in zip(size, k, s, p, op, d))
    if min(out) < 1:
        raise ValueError(
            f"padding={padding} removes the whole output: input_size={input_size}, kernel_size={kernel_size}, "
            f"stride={stride} give an output of size {out}"
        )
    args = (input_size, kernel_size, stride, padding, output_padding, dilation)
    return out if any(isinstance(a, (tuple, list, torch.Size)) for a in args) else out[0]


def conv2d_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """``H_out = (H_in + 2*padding - dilation*(kernel_size - 1) - 1) // stride + 1`` (per dimension), as ``conv2d``.

    Arguments are ints or ``(h, w)`` pairs; returns an int when all of them are ints, else a tuple ``(h, w)``.
    Raises ``ValueError`` (naming ``input_size``) when the output would be empty.
    """
    size = _pair(input_size, "input_size", 1)
    k, s = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    p, d = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    out = tuple((n + 2 * p_ - d_ * (k_ - 1) - 1) // s_ + 1 for n, k_, s_, p_, d_ in zip(size, k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"input_size={input_size} is smaller than the dilated kernel {kernel_size} "
                         f"with padding={padding}: the convolution's output would be empty")
    args = (input_size, kernel_size, stride, padding, dilation)
    return out if any(isinstance(a, (tuple, list, torch.Size)) for a in args) else out[0]


def trans_conv_naive(X: Tensor, K: Tensor, stride=1, padding=0) -> Tensor:
    """The scatter-add definition for one channel: ``X (Tensor[h, w])``, ``K (Tensor[kh, kw])`` ->
    ``Tensor[(h-1)*s + kh - 2p, (w-1)*s + kw - 2p]``.

    Each input element ``X[i, j]`` times the whole kernel is added into the output at ``(i*s, j*s)``; then
    ``padding`` rows and columns are removed from each border (padding shrinks a transposed convolution's output).
    """
    if not isinstance(X, Tensor) or X.dim() != 2:
        raise ValueError(f"X must be a 2-D tensor [h, w], got {getattr(X, 'shape', type(X))}")
    if not isinstance(K, Tensor) or K.dim() != 2:
        raise ValueError(f"K must be a 2-D tensor [kh, kw], got {getattr(K, 'shape', type(K))}")
    (sh, sw), (ph, pw) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    h, w = X.shape
    kh, kw = K.shape
    conv_transpose2d_output_size((h, w), (kh, kw), (sh, sw), (ph, pw))  # validates: non-empty output
    Y = torch.zeros((h - 1) * sh + kh, (w - 1) * sw + kw, dtype=torch.promote_types(X.dtype, K.dtype), device=X.device)
    for i in range(h):
        for j in range(w):
            Y[i * sh : i * sh + kh, j * sw : j * sw + kw] += X[i, j] * K
    return Y[ph : Y.shape[0] - ph, pw : Y.shape[1] - pw]


def _check_transposed_args(x: Tensor, weight: Tensor, groups: int) -> tuple[Tensor, bool]:
    if not isinstance(x, Tensor) or x.dim() not in (3, 4):
        raise ValueError(f"input must be a tensor [N, C_in, H, W] or [C_in, H, W], got {getattr(x, 'shape', x)}")
    if not isinstance(weight, Tensor) or weight.dim() != 4:
        raise ValueError(f"weight must be a tensor [C_in, C_out/groups, kH, kW], got "
                         f"{getattr(weight, 'shape', weight)}")
    if not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"groups must be a positive int dividing weight.shape[0]={weight.shape[0]}, got {groups!r}")
    unbatched = x.dim() == 3
    x = x.unsqueeze(0) if unbatched else x
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"input has {x.shape[1]} channels but weight expects {weight.shape[0]} (weight.shape[0])")
    return x, unbatched


def conv_transpose2d_naive(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Loop over input elements; same arguments and result as ``torch.nn.functional.conv_transpose2d``.

    ``x (Tensor[N, C_in, H, W])`` (or unbatched ``[C_in, H, W]``), ``weight (Tensor[C_in, C_out/groups, kH, kW])``,
    ``bias (Tensor[C_out])`` -> ``Tensor[N, C_out, H_out, W_out]``. Element ``x[n, c, i, j]`` adds
    ``x[n, c, i, j] * weight[c]`` into the uncropped output at rows ``i*s + a*d``, columns ``j*s + b*d``;
    the result keeps rows ``p .. p + H_out - 1`` (output_padding extends the bottom/right side).
    """
    x, unbatched = _check_transposed_args(x, weight, groups)
    s, p = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    op, d = _pair(output_padding, "output_padding", 0), _pair(dilation, "dilation", 1)
    n, c_in, h, w = x.shape
    c_in_g, c_out_g, kh, kw = weight.shape[0] // groups, weight.shape[1], weight.shape[2], weight.shape[3]
    h_out, w_out = conv_transpose2d_output_size((h, w), (kh, kw), s, p, op, d)
    span_h, span_w = d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1
    full = x.new_zeros(n, c_out_g * groups, max(p[0] + h_out, (h - 1) * s[0] + span_h),
                       max(p[1] + w_out, (w - 1) * s[1] + span_w))
    for b in range(n):
        for c in range(c_in):
            g = c // c_in_g
            for i in range(h):
                for j in range(w):
                    rows = slice(i * s[0], i * s[0] + span_h, d[0])
                    cols = slice(j * s[1], j * s[1] + span_w, d[1])
                    full[b, g * c_out_g : (g + 1) * c_out_g, rows, cols] += x[b, c, i, j] * weight[c]
    out = full[:, :, p[0] : p[0] + h_out, p[1] : p[1] + w_out]
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def conv2d_matrix(weight, input_size, stride=1, padding=0, dilation=1, *, groups=1, sparse=False) -> Tensor:
    """The matrix ``M`` of ``F.conv2d(x, weight, stride=..., padding=..., dilation=..., groups=...)`` for one image.

    ``weight (Tensor[C_out, C_in/groups, kH, kW])`` (a 2-D ``[kH, kW]`` kernel means one channel in and out),
    ``input_size`` an int or ``(H, W)`` -> ``M (Tensor[C_out*H_out*W_out, C_in*H*W])`` in the weight's dtype and
    device, with ``conv2d(x)[0].flatten() == M @ x[0].flatten()``. Row ``(o, i, j)`` holds the kernel placed at
    output pixel ``(i, j)``; zero padding just drops the taps that fall outside the input.
    ``M.T`` is the transposed convolution with the same weight back to size ``input_size`` (see
    :func:`conv_transpose2d_matmul` for how ``output_padding`` picks that size). ``sparse=True`` returns a
    coalesced sparse COO tensor: it stores ``C_out*C_in/groups*kH*kW*H_out*W_out`` values instead of every zero.
    """
    if not isinstance(weight, Tensor) or weight.dim() not in (2, 4):
        raise ValueError(f"weight must be a tensor [C_out, C_in/groups, kH, kW] or [kH, kW], got "
                         f"{getattr(weight, 'shape', weight)}")
    weight = weight.view(1, 1, *weight.shape) if weight.dim() == 2 else weight
    if not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"groups must be a positive int dividing weight.shape[0]={weight.shape[0]}, got {groups!r}")
    (h, w), s = _pair(input_size, "input_size", 1), _pair(stride, "stride", 1)
    p, d = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    c_out, c_in_g, kh, kw = weight.shape
    h_out, w_out = conv2d_output_size(input_size, (kh, kw), stride, padding, dilation)
    dev, c_out_g = weight.device, c_out // groups
    o = torch.arange(c_out, device=dev).view(-1, 1, 1, 1, 1, 1, 1)
    ci = (torch.arange(c_in_g, device=dev) + 0 * o).view(c_out, c_in_g, 1, 1, 1, 1, 1)
    ci = ci + (o // c_out_g) * c_in_g  # the input channel in the full (all-groups) input
    a = torch.arange(kh, device=dev).view(1, 1, -1, 1, 1, 1, 1)
    b = torch.arange(kw, device=dev).view(1, 1, 1, -1, 1, 1, 1)
    i = torch.arange(h_out, device=dev).view(1, 1, 1, 1, -1, 1, 1)
    j = torch.arange(w_out, device=dev).view(1, 1, 1, 1, 1, -1, 1)
    r, c = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + b * d[1]  # input pixel that tap (a, b) reads
    shape = (c_out, c_in_g, kh, kw, h_out, w_out, 1)
    rows = ((o * h_out + i) * w_out + j).expand(shape)
    cols = ((ci * h + r) * w + c).expand(shape)
    vals = weight.view(c_out, c_in_g, kh, kw, 1, 1, 1).expand(shape)
    keep = ((r >= 0) & (r < h) & (c >= 0) & (c < w)).expand(shape)
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    size = (c_out * h_out * w_out, c_in_g * groups * h * w)
    if sparse:
        indices = torch.stack([rows, cols])
        return torch.sparse_coo_tensor(indices, vals, size, device=dev, check_invariants=False).coalesce()
    return weight.new_zeros(size).index_put((rows, cols), vals, accumulate=True)


def conv_transpose2d_matmul(y, weight, stride=1, padding=0, output_padding=0, dilation=1, *, groups=1, sparse=False):
    """``conv_transpose2d`` as ``M.T @ y.flatten()`` with ``M = conv2d_matrix(weight, output size, ...)``.

    ``y (Tensor[N, C_in, H, W])`` or ``[C_in, H, W]``, ``weight (Tensor[C_in, C_out/groups, kH, kW])`` ->
    ``Tensor[N, C_out, H_out, W_out]``. A stride-``s`` convolution maps ``s`` different input sizes to the same
    output size (the division rounds down), so "the transpose" alone does not fix the size:
    ``output_padding`` picks the input size ``H_out`` (:func:`conv_transpose2d_output_size`), and ``M`` is built
    for that size. When ``output_padding >= stride`` (allowed if it is below the dilation) that convolution's
    output has more rows than ``y``: only the columns of ``M.T`` for ``y``'s rows are used (``y`` padded with zeros).
    """
    y, unbatched = _check_transposed_args(y, weight, groups)
    size = conv_transpose2d_output_size(tuple(y.shape[2:]), tuple(weight.shape[2:]), stride, padding,
                                        output_padding, dilation)
    # The same tensor read as a conv2d weight [C_out', C_in'/groups, kH, kW] maps the C_out channels back to C_in.
    M = conv2d_matrix(weight, size, stride, padding, dilation, groups=groups, sparse=sparse)
    n, c_in, hy, wy = y.shape
    h_conv, w_conv = conv2d_output_size(size, tuple(weight.shape[2:]), stride, padding, dilation)
    y_full = y.new_zeros(n, c_in, h_conv, w_conv)  # == y unless output_padding >= stride
    y_full[:, :, :hy, :wy] = y
    flat = y_full.reshape(n, -1).T  # [C_in*h_conv*w_conv, N]
    x = (M.t() @ flat).T if not sparse else torch.sparse.mm(M.t(), flat).T
    out = x.reshape(n, -1, *size)
    return out[0] if unbatched else out


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int, *, dtype=torch.float32, device=None):
    """Weights ``Tensor[in_channels, out_channels, k, k]`` that make ``conv_transpose2d`` bilinear upsampling.

    The FCN / d2l construction: ``factor = (k + 1) // 2``, centre ``factor - 1`` (odd k) or ``factor - 0.5`` (even k),
    ``filt[a, b] = (1 - |a - centre| / factor) * (1 - |b - centre| / factor)`` placed on the channel diagonal
    (channel ``c`` upsamples channel ``c``; other entries are 0). With ``stride=s``, ``kernel_size=2s - s % 2`` and
    ``padding=ceil((s - 1) / 2)`` the result equals ``F.interpolate(scale_factor=s, mode="bilinear")`` away from
    the border.
    """
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("kernel_size", kernel_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    f1 = 1 - (og - centre).abs() / factor
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size, dtype=torch.float64)
    diag = torch.arange(min(in_channels, out_channels))
    weight[diag, diag] = f1[:, None] * f1[None, :]
    return weight.to(dtype=dtype, device=device)


def bilinear_upsampler(channels: int, scale: int, *, trainable: bool = True) -> nn.ConvTranspose2d:
    """An ``nn.ConvTranspose2d`` (no bias) that upsamples ``channels`` maps by an integer ``scale`` exactly as
    bilinear interpolation in the interior (kernel ``2*scale - scale % 2``, padding ``ceil((scale - 1) / 2)``)."""
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    k, p = 2 * scale - scale % 2, math.ceil((scale - 1) / 2)
    layer = nn.ConvTranspose2d(channels, channels, k, stride=scale, padding=p, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, channels, k))
    layer.weight.requires_grad_(trainable)
    return layer


def overlap_count(input_size, kernel_size, stride, *, device=None) -> Tensor:
    """How many kernel placements hit each output pixel of a transposed convolution (no padding, dilation 1):
    ``int64[H_out, W_out]`` with ``H_out = (H - 1)*stride + kernel_size``. Uneven counts (kernel size not divisible
    by the stride) are the checkerboard of Odena et al. 2016. Sizes are ints or ``(h, w)`` pairs.
    """
    size, k, s = _pair(input_size, "input_size", 1), _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    counts = []
    for n, k_, s_ in zip(size, k, s):
        c = torch.zeros((n - 1) * s_ + k_, dtype=torch.int64, device=device)
        for i in range(n):  # one placement per input element, along this axis
            c[i * s_ : i * s_ + k_] += 1
        counts.append(c)
    return counts[0][:, None] * counts[1][None, :]
