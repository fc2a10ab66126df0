"""RoIPool (Fast R-CNN) and RoIAlign (Mask R-CNN, He et al. 2017, Sec. 3) in vectorised pure PyTorch.

Both ops follow torchvision's kernels (``torchvision.ops.roi_pool`` / ``roi_align``) rule for rule, so they agree
to rounding; autograd gives the backward.

* ``roi_align`` uses that bilinear interpolation is separable: the value of one sample is
  ``sum_ij wy[i] * wx[j] * F[i, j]`` and the "outside the map gives 0" rule is an AND of a y test and an x test.
  Averaging the samples of a bin therefore becomes two small matrix products per RoI,
  ``out[c] = Ay @ F_window[c] @ Ax^T / count``, with ``Ay`` (``[PH, Hw]``) and ``Ax`` (``[PW, Ww]``) the summed
  interpolation weights along each axis and ``F_window`` the part of the map the RoI touches (every RoI gets a
  window of the largest extent). Adaptive grids of different sizes are handled by masking to the largest grid: no
  loop over RoIs, bins or samples (only when the gathered windows would exceed ``_ALIGN_CHUNK_ELEMENTS`` values are
  the RoIs processed in a few chunks, to bound memory).
* ``roi_pool`` finds each bin's max (ties: the first in row-major order, as torchvision) with a masked gather over
  the largest bin, then gathers the winners with autograd, so the gradient goes to the argmax.

Why one module of about 370 lines (over the suite's 350): the two ops and chapter 5's two picture helpers
(:func:`roi_align_sampling_grid`, :func:`roi_pool_bins`) place samples and bins with the same private code
(``_roi_geometry``, ``_axis_samples``, ``_pool_bins``), which is what guarantees that the explorer draws what the op
computes; splitting them would turn that shared code into private imports across modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Union

import torch
from torch import Tensor, nn

from seglab.ops._args import _pair

__all__ = [
    "roi_align",
    "roi_pool",
    "roi_align_sampling_grid",
    "RoIAlignGrid",
    "RoIAlign",
    "RoIPool",
    "boxes_to_rois",
    "roi_pool_bins",
]

BoxesLike = Union[Tensor, Sequence[Tensor]]  # noqa: UP007 (a runtime alias)
#: roi_pool gathers at most this many elements at once (bigger RoI sets are processed in chunks of RoIs).
_POOL_CHUNK_ELEMENTS = 2**25
#: roi_align gathers at most this many feature values at once (RoI windows beyond it go in chunks of RoIs).
_ALIGN_CHUNK_ELEMENTS = 2**26


def boxes_to_rois(boxes: BoxesLike, dtype=None, device=None) -> Tensor:
    """``List[Tensor[L_i, 4]]`` (one per image) -> ``Tensor[K, 5]`` with the image index in column 0."""
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be a Tensor[K, 5] or a list of Tensor[L, 4], got shape {tuple(boxes.shape)}")
        rois = boxes
    elif isinstance(boxes, (list, tuple)):
        parts = []
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.shape[1] != 4:
                shape = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"boxes[{i}] must be a Tensor[L, 4], got {shape}")
            parts.append(torch.cat([torch.full_like(b[:, :1], i), b], dim=1))
        if not parts:
            rois = torch.zeros(0, 5, dtype=dtype or torch.float32, device=device)
        else:
            rois = torch.cat(parts, dim=0)
    else:
        raise TypeError(f"boxes must be a Tensor[K, 5] or a list of Tensor[L, 4], got {type(boxes).__name__}")
    return rois.to(dtype=dtype or rois.dtype, device=device or rois.device)


def _check_input(input: Tensor) -> None:
    if not isinstance(input, Tensor) or input.dim() != 4:
        shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"input must be a Tensor[N, C, H, W], got {shape}")


def _prepare(input: Tensor, boxes, output_size, spatial_scale) -> tuple[Tensor, tuple[int, int]]:
    """Shared argument handling of the RoI ops: checked input, ``Tensor[K, 5]`` RoIs (no gradient), ``(PH, PW)``.

    A batch index outside the batch or a ``spatial_scale`` that is not positive raises a ``ValueError`` (torchvision's
    kernels read out of bounds or flip the boxes)."""
    _check_input(input)
    try:
        positive = not isinstance(spatial_scale, bool) and float(spatial_scale) > 0  # NaN is not positive
    except (TypeError, ValueError, RuntimeError):
        positive = False
    if not positive:
        raise ValueError(f"spatial_scale must be a positive number (feature-map size / image size, e.g. 1/16), got "
                         f"{spatial_scale!r}")
    rois = boxes_to_rois(boxes, dtype=input.dtype, device=input.device).detach()  # no gradient to boxes
    if rois.shape[0]:
        batch = rois[:, 0]
        bad = (batch < 0) | (batch >= input.shape[0])
        if bad.any():  # one host sync per call
            first = int(bad.nonzero()[0, 0])
            raise ValueError(f"RoI {first} has batch index {batch[first].item():g}, but the input holds a batch of "
                             f"{input.shape[0]} (indices 0..{input.shape[0] - 1})")
    return rois, _pair(output_size, "output_size")


def _axis_samples(start: Tensor, size: Tensor, bins: int, grid: Tensor, max_grid: int):
    """Sample coordinates along one axis: ``[K, bins, max_grid]`` and the mask of real samples (``iy < grid``)."""
    bin_size = size / bins  # [K]
    b = torch.arange(bins, device=start.device, dtype=start.dtype)
    i = torch.arange(max_grid, device=start.device, dtype=start.dtype)
    g = grid.to(start.dtype).clamp(min=1)
    coords = (start[:, None, None] + b[None, :, None] * bin_size[:, None, None]
              + (i[None, None, :] + 0.5) * bin_size[:, None, None] / g[:, None, None])
    mask = (torch.arange(max_grid, device=start.device)[None, :] < grid[:, None])[:, None, :]
    return coords, mask.expand_as(coords)


def _axis_weights(coords: Tensor, mask: Tensor, length: int):
    """torchvision's bilinear rule along one axis (Sec. 1 of the kernel): indices and weights of the two neighbours.

    Returns ``low, high`` (int64) and ``w_low, w_high`` (zero for samples off the map or masked out), all shaped
    like ``coords``.
    """
    valid = mask & (coords >= -1.0) & (coords <= length)  # NaN compares False -> invalid
    c = coords.clamp(min=0)
    low = c.floor().clamp(max=length - 1).long()  # after clamp(min=0), int() is floor
    at_edge = low >= length - 1
    low = torch.where(at_edge, torch.full_like(low, length - 1), low)
    high = torch.where(at_edge, low, low + 1)
    c = torch.where(at_edge, low.to(c.dtype), c)
    frac = c - low.to(c.dtype)
    zero = torch.zeros_like(frac)
    w_low = torch.where(valid, 1.0 - frac, zero)
    w_high = torch.where(valid, frac, zero)
    low = torch.where(valid, low, torch.zeros_like(low))
    high = torch.where(valid, high, torch.zeros_like(high))
    return low, high, w_low, w_high, valid


def _roi_geometry(rois: Tensor, output_size, spatial_scale, sampling_ratio, aligned):
    """Start, size and grid of every RoI along y and x (torchvision's steps 1-4), in the rois' dtype."""
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, i] * spatial_scale - offset for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    ph, pw = output_size
    if sampling_ratio > 0:
        grid_h = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(roi_w, sampling_ratio, dtype=torch.long)
    else:
        grid_h = torch.ceil(roi_h / ph).long()
        grid_w = torch.ceil(roi_w / pw).long()
    return (y1, roi_h, grid_h), (x1, roi_w, grid_w)


def _window_weights(coords, mask, length):
    """Summed interpolation weights on a per-RoI window: ``A [K, bins, Lw]``, window starts ``[K]`` and ``Lw``."""
    low, high, w_low, w_high, valid = _axis_weights(coords, mask, length)
    k = coords.shape[0]
    big = torch.full_like(low, length)
    first = torch.where(valid, low, big).flatten(1).amin(dim=1).clamp(max=length - 1)  # [K]
    last = torch.where(valid, high, torch.full_like(high, -1)).flatten(1).amax(dim=1)
    extent = int((last - first + 1).clamp(min=1).max()) if k else 1
    extent = max(1, min(extent, length))
    a = torch.zeros(k, coords.shape[1], extent, dtype=coords.dtype, device=coords.device)
    first_b = first[:, None, None]
    a.scatter_add_(2, (low - first_b).clamp(0, extent - 1), w_low)
    a.scatter_add_(2, (high - first_b).clamp(0, extent - 1), w_high)
    return a, first, extent


def roi_align(input: Tensor, boxes: BoxesLike, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """RoIAlign with torchvision's semantics (``torchvision.ops.roi_align``).

    Args:
        input (Tensor[N, C, H, W]): feature maps.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): (batch index, x1, y1, x2, y2) in input-image coordinates.
        output_size (int or (int, int)): (PH, PW).
        spatial_scale (float): feature-map size / image size, e.g. 1/16.
        sampling_ratio (int): samples per bin along each axis; <= 0 means adaptive (``ceil(roi_size / bins)``).
        aligned (bool): shift the box by -0.5 pixel (pixel centres at integer + 0.5), no minimum size of 1.

    Returns:
        Tensor[K, C, PH, PW] in the input's dtype and on its device.
    """
    rois, (ph, pw) = _prepare(input, boxes, output_size, spatial_scale)
    n, c, h, w = input.shape
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c, ph, pw)
    (y0, rh, gh), (x0, rw, gw) = _roi_geometry(rois, (ph, pw), spatial_scale, int(sampling_ratio), aligned)
    ys, ymask = _axis_samples(y0, rh, ph, gh, max(1, int(gh.max())))
    xs, xmask = _axis_samples(x0, rw, pw, gw, max(1, int(gw.max())))
    ay, ry, hw = _window_weights(ys, ymask, h)  # [K, PH, Hw]
    ax, rx, ww = _window_weights(xs, xmask, w)  # [K, PW, Ww]
    count = (gh * gw).clamp(min=1).to(input.dtype)
    ay = ay / count[:, None, None]
    # gather each RoI's window of the map as rows of an NHWC matrix: [K, Hw, Ww, C]
    batch = rois[:, 0].long()
    rows = (ry[:, None] + torch.arange(hw, device=input.device)).clamp(max=h - 1)
    cols = (rx[:, None] + torch.arange(ww, device=input.device)).clamp(max=w - 1)
    flat = (batch[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]
    nhwc = input.permute(0, 2, 3, 1).reshape(n * h * w, c)
    chunk = max(1, _ALIGN_CHUNK_ELEMENTS // (hw * ww * c))  # one chunk unless the windows would be huge
    outs = []
    for s in range(0, k, chunk):
        sl = slice(s, s + chunk)
        window = nhwc.index_select(0, flat[sl].reshape(-1)).view(-1, hw, ww * c)
        t = torch.bmm(ay[sl], window).view(-1, ph, ww, c)  # contract y: [K, PH, Ww, C]
        outs.append(torch.matmul(ax[sl, None], t))  # contract x: [K, PH, PW, C]
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    return out.permute(0, 3, 1, 2).contiguous()


def _one_box(box, dtype=None) -> Tensor:
    """One box (x1, y1, x2, y2) as a floating ``Tensor[4]`` (``dtype``, else its own float dtype, else float64)."""
    box_t = torch.as_tensor(box, dtype=dtype)
    if not box_t.is_floating_point():
        box_t = box_t.double()
    if box_t.shape != (4,):
        raise ValueError(f"box must hold 4 numbers (x1, y1, x2, y2), got shape {tuple(box_t.shape)}")
    return box_t


class RoIAlignGrid(NamedTuple):
    """Where RoIAlign samples one box, in feature-map coordinates.

    ``y_edges`` (Tensor[PH + 1]) and ``x_edges`` (Tensor[PW + 1]): bin boundaries; ``ys`` (Tensor[PH, gh]) and
    ``xs`` (Tensor[PW, gw]): sample coordinates per bin row / column; ``points`` (Tensor[PH, PW, gh * gw, 2]):
    every sample as (x, y); ``grid``: (gh, gw); ``count``: samples averaged per bin.
    """

    y_edges: Tensor
    x_edges: Tensor
    ys: Tensor
    xs: Tensor
    points: Tensor
    grid: tuple
    count: int


def roi_align_sampling_grid(box, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
                            aligned: bool = False) -> RoIAlignGrid:
    """Bin edges and sample points of one box (x1, y1, x2, y2) exactly as :func:`roi_align` places them."""
    box_t = _one_box(box)
    ph, pw = _pair(output_size, "output_size")
    rois = torch.cat([box_t.new_zeros(1), box_t])[None]
    (y0, rh, gh), (x0, rw, gw) = _roi_geometry(rois, (ph, pw), spatial_scale, int(sampling_ratio), aligned)
    g_h, g_w = max(1, int(gh)), max(1, int(gw))
    ys, _ = _axis_samples(y0, rh, ph, gh, g_h)
    xs, _ = _axis_samples(x0, rw, pw, gw, g_w)
    ys, xs = ys[0], xs[0]
    y_edges = y0 + torch.arange(ph + 1, dtype=box_t.dtype) * (rh / ph)
    x_edges = x0 + torch.arange(pw + 1, dtype=box_t.dtype) * (rw / pw)
    yy = ys[:, None, :, None].expand(ph, pw, g_h, g_w)
    xx = xs[None, :, None, :].expand(ph, pw, g_h, g_w)
    points = torch.stack([xx, yy], dim=-1).reshape(ph, pw, g_h * g_w, 2)
    return RoIAlignGrid(y_edges, x_edges, ys, xs, points, (int(gh), int(gw)), max(int(gh) * int(gw), 1))


def _round_half_away(x: Tensor) -> Tensor:
    """C's ``round``: halves away from zero (``torch.round`` rounds halves to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _pool_bins(start: Tensor, end: Tensor, bins: int, length: int, dtype):
    """RoIPool's integer bins along one axis: ``lo, hi`` as ``[K, bins]`` (clipped to ``[0, length]``)."""
    size = (end - start + 1).clamp(min=1).to(dtype if dtype == torch.float64 else torch.float32)
    bin_size = size / bins
    p = torch.arange(bins, device=start.device, dtype=bin_size.dtype)
    lo = torch.floor(p[None] * bin_size[:, None]).long() + start[:, None]
    hi = torch.ceil((p[None] + 1) * bin_size[:, None]).long() + start[:, None]
    return lo.clamp(0, length), hi.clamp(0, length)


def roi_pool_bins(box, output_size, spatial_scale: float = 1.0, height: int | None = None,
                  width: int | None = None):
    """RoIPool's integer cells for one box: ``(rows [PH, 2], cols [PW, 2])``, each bin covering rows
    ``[lo, hi)`` and columns ``[lo, hi)`` of the feature map (clipped at 0, and to ``height`` / ``width`` when
    given)."""
    box_t = _one_box(box, torch.float64)
    ph, pw = _pair(output_size, "output_size")
    x1, y1, x2, y2 = _round_half_away(box_t * spatial_scale).long()
    big = 2**31
    rows = _pool_bins(y1[None], y2[None], ph, height if height is not None else big, torch.float64)
    cols = _pool_bins(x1[None], x2[None], pw, width if width is not None else big, torch.float64)
    return torch.stack([rows[0][0], rows[1][0]], 1), torch.stack([cols[0][0], cols[1][0]], 1)


def roi_pool(input: Tensor, boxes: BoxesLike, output_size, spatial_scale: float = 1.0) -> Tensor:
    """RoIPool with torchvision's semantics (``torchvision.ops.roi_pool``): the max over each quantized bin.

    Args:
        input (Tensor[N, C, H, W]): feature maps.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): (batch index, x1, y1, x2, y2) in input-image coordinates.
        output_size (int or (int, int)): (PH, PW).
        spatial_scale (float): feature-map size / image size.

    Returns:
        Tensor[K, C, PH, PW]; empty bins give 0. The gradient goes to each bin's argmax (the first in row-major order).
    """
    rois, (ph, pw) = _prepare(input, boxes, output_size, spatial_scale)
    n, c, h, w = input.shape
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c, ph, pw)
    x1, y1, x2, y2 = (_round_half_away(rois[:, i] * spatial_scale).long() for i in range(1, 5))
    hlo, hhi = _pool_bins(y1, y2, ph, h, input.dtype)  # [K, PH]
    wlo, whi = _pool_bins(x1, x2, pw, w, input.dtype)  # [K, PW]
    bh, bw = max(1, int((hhi - hlo).max())), max(1, int((whi - wlo).max()))
    per_roi = ph * pw * bh * bw * c
    chunk = max(1, _POOL_CHUNK_ELEMENTS // per_roi)
    nhwc = input.permute(0, 2, 3, 1).reshape(n * h * w, c)
    winners = []
    with torch.no_grad():  # chunks of RoIs only bound the memory of the gathered bins
        for s in range(0, k, chunk):
            sl = slice(s, s + chunk)
            winners.append(_pool_argmax(nhwc, rois[sl, 0].long(), hlo[sl], hhi[sl], wlo[sl], whi[sl], h, w, bh, bw))
    flat_idx, empty = (torch.cat(t) for t in zip(*winners))  # [K, PH, PW, C]
    out = nhwc.reshape(-1).gather(0, flat_idx.reshape(-1)).view(k, ph, pw, c)
    out = torch.where(empty, torch.zeros_like(out), out)
    return out.permute(0, 3, 1, 2).contiguous()


def _pool_argmax(nhwc, batch, hlo, hhi, wlo, whi, h, w, bh, bw):
    c = nhwc.shape[1]
    dy = torch.arange(bh, device=nhwc.device)
    dx = torch.arange(bw, device=nhwc.device)
    rows = hlo[:, :, None] + dy  # [K, PH, bh]
    cols = wlo[:, :, None] + dx  # [K, PW, bw]
    rvalid = rows < hhi[:, :, None]
    cvalid = cols < whi[:, :, None]
    pix = (batch[:, None, None, None, None] * h + rows.clamp(max=h - 1)[:, :, None, :, None]) * w \
        + cols.clamp(max=w - 1)[:, None, :, None, :]  # [K, PH, PW, bh, bw]
    valid = rvalid[:, :, None, :, None] & cvalid[:, None, :, None, :]
    vals = nhwc.index_select(0, pix.reshape(-1)).view(*pix.shape, c)
    vals = vals.masked_fill(~valid[..., None], float("-inf")).flatten(3, 4)  # [K, PH, PW, bh*bw, C]
    best = vals.argmax(dim=3)  # first maximum in row-major order, like torchvision
    pix_best = pix.flatten(3).gather(3, best)  # [K, PH, PW, C]
    flat_idx = pix_best * c + torch.arange(c, device=nhwc.device)
    empty = ~valid.flatten(3).any(dim=3)[..., None].expand_as(flat_idx)
    return flat_idx, empty


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align`."""

    def __init__(self, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False):
        super().__init__()
        self.output_size = _pair(output_size, "output_size")
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois: BoxesLike) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})")


class RoIPool(nn.Module):
    """Module form of :func:`roi_pool`."""

    def __init__(self, output_size, spatial_scale: float = 1.0):
        super().__init__()
        self.output_size = _pair(output_size, "output_size")
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: BoxesLike) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"
