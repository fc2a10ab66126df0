"""Max pooling that remembers where each maximum was, and unpooling that puts values back there.

SegNet (Badrinarayanan, Kendall and Cipolla, TPAMI 2017, arXiv 1511.00561) keeps only these positions from the
encoder and uses them to upsample in the decoder. The ``*_naive`` functions below are readable oracles that match
``F.max_pool2d(..., return_indices=True)`` and ``F.max_unpool2d`` exactly:

* an index is a position in the flattened input plane of one (sample, channel): ``row * W + col``;
* ties: the first maximum in row-major window order wins (a later equal value does not replace it), measured
  on CPU with PyTorch 2.14; a NaN always wins (the last NaN in the window, like PyTorch's CPU kernel);
* ``output_size`` of unpooling may be ``None`` (``(H - 1) * stride + kernel``), ``(H, W)``, ``(N, C, H, W)`` or a
  ``torch.Size``; like PyTorch it must lie strictly within ``stride`` of the default size.

``pack_pool_indices`` stores the position inside each 2x2 window in 2 bits (four windows a byte), the encoding
the SegNet paper uses for its memory argument; ``unpack_pool_indices`` recovers PyTorch's indices from it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from seglab.ops._args import _pair

__all__ = [
    "max_pool2d_with_indices_naive",
    "max_unpool2d_naive",
    "unpool_output_size",
    "pack_pool_indices",
    "unpack_pool_indices",
]


def _as_4d(x: Tensor, name: str) -> tuple[Tensor, bool]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        return x.unsqueeze(0), True
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W] or [C, H, W], got {tuple(x.shape)}")
    return x, False


def max_pool2d_with_indices_naive(x: Tensor, kernel_size=2, stride=None) -> tuple[Tensor, Tensor]:
    """Max pooling that also returns where each maximum was (no padding, floor mode).

    Args:
        x (Tensor[N, C, H, W] or Tensor[C, H, W]): any real dtype, any device.
        kernel_size (int or (int, int)): window size ``(kH, kW)``.
        stride (int or (int, int) or None): step between windows; ``None`` means ``kernel_size``.

    Returns:
        values (Tensor[N, C, Ho, Wo]): the maxima, ``x.dtype``; ``Ho = (H - kH) // sH + 1``.
        indices (Tensor[N, C, Ho, Wo], int64): ``row * W + col`` of each maximum in its input plane.
    """
    x4, squeezed = _as_4d(x, "x")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(kernel_size if stride is None else stride, "stride")
    n, c, h, w = x4.shape
    if h < kh or w < kw:
        raise ValueError(f"x of spatial size {h}x{w} is smaller than kernel_size {kh}x{kw}")
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    values = torch.empty((n, c, ho, wo), dtype=x4.dtype, device=x4.device)
    indices = torch.empty((n, c, ho, wo), dtype=torch.int64, device=x4.device)
    for i in range(ho):
        for j in range(wo):
            best = x4[:, :, i * sh, j * sw].clone()
            where = torch.full_like(best, i * sh * w + j * sw, dtype=torch.int64)
            for di in range(kh):
                for dj in range(kw):
                    if di == 0 and dj == 0:
                        continue
                    r, col = i * sh + di, j * sw + dj
                    value = x4[:, :, r, col]
                    # strictly greater: the first maximum stays (PyTorch's tie rule); a NaN always replaces
                    take = (value > best) | torch.isnan(value) if value.is_floating_point() else value > best
                    best = torch.where(take, value, best)
                    where = torch.where(take, torch.full_like(where, r * w + col), where)
            values[:, :, i, j] = best
            indices[:, :, i, j] = where
    if squeezed:
        return values[0], indices[0]
    return values, indices


def unpool_output_size(input_size, kernel_size=2, stride=None, output_size=None) -> tuple[int, int]:
    """The spatial ``(H, W)`` that unpooling produces, with ``F.max_unpool2d``'s rules.

    ``input_size``: the pooled map's shape (the last two entries are used). ``output_size``: ``None``,
    ``(H, W)``, ``(N, C, H, W)`` or ``torch.Size``; it must satisfy ``default - stride < size < default + stride``.
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    strides = _pair(kernel_size if stride is None else stride, "stride")
    h_in, w_in = int(input_size[-2]), int(input_size[-1])
    default = ((h_in - 1) * strides[0] + kh, (w_in - 1) * strides[1] + kw)
    if output_size is None:
        return default
    if isinstance(output_size, Tensor) or not isinstance(output_size, (tuple, list, torch.Size)):
        raise ValueError(f"output_size must be None, (H, W), (N, C, H, W) or a torch.Size, got {output_size!r}")
    size = list(output_size)
    if len(size) == 4:
        size = size[2:]
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        raise ValueError(f"output_size must hold 2 or 4 ints, got {output_size!r}")
    for d in range(2):
        low, high = default[d] - strides[d], default[d] + strides[d]
        if not low < size[d] < high:
            raise ValueError(
                f"output_size {tuple(output_size)}: spatial dim {d} must be strictly between {low} and {high} "
                f"(the pooled size {h_in}x{w_in} comes from inputs of {low + 1}..{high - 1})"
            )
    return size[0], size[1]


def max_unpool2d_naive(x: Tensor, indices: Tensor, output_size=None, kernel_size=2, stride=None) -> Tensor:
    """Put each value back at the position its index names; everything else is zero.

    Args:
        x (Tensor[N, C, h, w] or Tensor[C, h, w]): pooled values, any dtype.
        indices (Tensor[N, C, h, w], int64): from max pooling; positions in the flattened output plane.
        output_size: ``None``, ``(H, W)``, ``(N, C, H, W)`` or ``torch.Size`` (see :func:`unpool_output_size`).
        kernel_size, stride: of the pooling that made ``indices`` (only used to check/derive the size).

    Returns:
        Tensor[N, C, H, W] with ``x.dtype`` on ``x.device``: a sparse map (at most ``h * w`` non-zeros a plane).
    """
    x4, squeezed = _as_4d(x, "x")
    if not isinstance(indices, Tensor):
        raise TypeError(f"indices must be a torch.Tensor, got {type(indices).__name__}")
    if indices.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {tuple(x.shape)}, got {tuple(indices.shape)}")
    if indices.dtype != torch.int64:
        raise ValueError(f"indices must be int64 (as max pooling returns them), got {indices.dtype}")
    out_h, out_w = unpool_output_size(x4.shape, kernel_size, stride, output_size)
    n, c = x4.shape[:2]
    idx = indices.reshape(n, c, -1).to(x4.device)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= out_h * out_w):
        raise ValueError(
            f"indices must lie in [0, {out_h * out_w}) for an output of {out_h}x{out_w}, "
            f"got {int(idx.min())}..{int(idx.max())}"
        )
    out = torch.zeros((n, c, out_h * out_w), dtype=x4.dtype, device=x4.device)
    out.scatter_(2, idx, x4.reshape(n, c, -1))
    out = out.reshape(n, c, out_h, out_w)
    return out[0] if squeezed else out


def pack_pool_indices(indices: Tensor, input_width: int) -> Tensor:
    """Encode 2x2/stride-2 pooling indices as 2 bits a window (the SegNet paper's storage), 4 windows a byte.

    Args:
        indices (Tensor[..., h, w], int64): from ``F.max_pool2d(x, 2, 2, return_indices=True)``.
        input_width (int): ``W`` of the pooled input (needed to turn a flat index back into (row, col)).

    Returns:
        Tensor[ceil(numel / 4)] uint8: the position inside each window, ``2 * (row % 2) + (col % 2)``.
    """
    if not isinstance(indices, Tensor) or indices.dtype != torch.int64:
        raise ValueError("indices must be an int64 tensor from 2x2 max pooling")
    if not isinstance(input_width, int) or input_width < 2 * indices.shape[-1]:
        raise ValueError(f"input_width must be an int >= 2 * w = {2 * indices.shape[-1]}, got {input_width!r}")
    h, w = indices.shape[-2:]
    rows = torch.arange(h, device=indices.device).view(h, 1)
    cols = torch.arange(w, device=indices.device).view(1, w)
    dr = indices // input_width - 2 * rows
    dc = indices % input_width - 2 * cols
    if not indices.is_meta and ((dr < 0) | (dr > 1) | (dc < 0) | (dc > 1)).any():  # meta: shapes only
        raise ValueError("indices do not come from 2x2 windows with stride 2 on an input of this width")
    code = (2 * dr + dc).to(torch.uint8).flatten()
    pad = (-code.numel()) % 4
    code = torch.cat([code, code.new_zeros(pad)]).view(-1, 4)
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=code.device)
    return (code << shifts).sum(dim=1, dtype=torch.uint8)


def unpack_pool_indices(packed: Tensor, shape, input_width: int) -> Tensor:
    """Inverse of :func:`pack_pool_indices`: ``uint8[ceil(numel/4)]`` -> int64 indices of ``shape`` ``[..., h, w]``."""
    if not isinstance(packed, Tensor) or packed.dtype != torch.uint8 or packed.dim() != 1:
        raise ValueError("packed must be a 1-D uint8 tensor from pack_pool_indices")
    shape = tuple(int(s) for s in shape)
    count = math.prod(shape)
    if packed.numel() != (count + 3) // 4:
        raise ValueError(f"packed holds {packed.numel()} bytes; shape {shape} needs {(count + 3) // 4}")
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=packed.device)
    code = ((packed.view(-1, 1) >> shifts) & 3).flatten()[:count].to(torch.int64).view(shape)
    h, w = shape[-2:]
    rows = torch.arange(h, device=packed.device).view(h, 1)
    cols = torch.arange(w, device=packed.device).view(1, w)
    return (2 * rows + code // 2) * input_width + 2 * cols + code % 2
