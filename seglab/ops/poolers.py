"""Multi-scale RoI poolers for a feature pyramid (FPN, Lin et al. 2017): pick a level per box, pool there.

Two plain rules decide where a box is pooled (the same rules as ``torchvision.ops.MultiScaleRoIAlign``):

* the scale of a feature map is ``2 ** round(log2(map_height / image_height))`` (:func:`feature_map_scale`), with
  the largest image of the batch as the reference; the pyramid's levels run from ``-log2(scale)`` of the finest
  map to that of the coarsest (:func:`pyramid_scales`);
* a box of width ``w`` and height ``h`` goes to level ``k = floor(k0 + log2(sqrt(w * h) / canonical_scale))``
  (the FPN paper's Eq. 1, ``k0 = canonical_level``), clamped to the pyramid's levels (:func:`fpn_levels`).

:class:`MultiScaleRoIAlign` pools with seglab's :func:`~seglab.ops.roi_align` (``impl="seglab"``), torchvision's
kernel (``"torchvision"``) or, with ``impl="auto"``, the faster of the two on the features' device, decided at
every call: torchvision's kernel on CUDA (seglab's op is 3-4x slower there), seglab's elsewhere (about half the
time of torchvision's on a CPU, forward and backward). Both give the same values; ``pooler.last_impl`` says which ran.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign as _TorchvisionMultiScaleRoIAlign

from seglab.ops.roi import boxes_to_rois, roi_align, roi_pool

__all__ = ["feature_map_scale", "pyramid_scales", "fpn_levels", "MultiScaleRoIAlign", "MultiScaleRoIPool",
           "ROI_ALIGN_IMPLS", "roi_align_impl_for"]

#: What ``impl=`` of :class:`MultiScaleRoIAlign` (and ``mask_rcnn(roi_align_impl=...)``) accepts.
ROI_ALIGN_IMPLS = ("auto", "seglab", "torchvision")


def roi_align_impl_for(impl: str, device) -> str:
    """The RoIAlign op that ``impl`` runs on ``device``: ``"seglab"`` or ``"torchvision"``.

    ``"auto"`` means torchvision's kernel on CUDA and seglab's :func:`~seglab.ops.roi_align` on any other device."""
    if impl not in ROI_ALIGN_IMPLS:
        raise ValueError(f"roi_align_impl must be one of {', '.join(map(repr, ROI_ALIGN_IMPLS))}, got {impl!r}")
    if impl != "auto":
        return impl
    return "torchvision" if torch.device(device).type == "cuda" else "seglab"


def feature_map_scale(map_size: int, image_size: int) -> float:
    """``2 ** round(log2(map_size / image_size))``: a power of two, e.g. ``feature_map_scale(32, 128) == 0.25``.

    The logarithm is taken in float32 and rounded half to even, as torchvision does.
    """
    return 2 ** float(torch.tensor(float(map_size) / float(image_size)).log2().round())


def pyramid_scales(feature_sizes: Sequence, image_shapes: Sequence) -> tuple[list[float], int, int]:
    """The scale of each feature map and the pyramid's level range ``(scales, k_min, k_max)``.

    ``feature_sizes``: each map's ``(..., H, W)`` shape (finest first); ``image_shapes``: the ``(H, W)`` of every
    image in the batch. The scale is measured on the height against the largest image height (as torchvision);
    ``k_min`` / ``k_max`` are ``-log2`` of the finest / coarsest scale.
    """
    if not image_shapes:
        raise ValueError("image_shapes must hold the (height, width) of at least one image")
    if not feature_sizes:
        raise ValueError("feature_sizes must hold at least one feature map's shape")
    reference = max(int(shape[0]) for shape in image_shapes)
    scales = [feature_map_scale(int(size[-2]), reference) for size in feature_sizes]
    return scales, int(-math.log2(scales[0])), int(-math.log2(scales[-1]))


def fpn_levels(boxes: Sequence[Tensor], k_min: int, k_max: int, canonical_scale: int = 224,
               canonical_level: int = 4, eps: float = 1e-6) -> Tensor:
    """The pyramid level of every box (FPN paper, Eq. 1), counted from the finest map: ``int64[K]`` in
    ``0 .. k_max - k_min``.

    ``boxes``: one ``Tensor[L, 4]`` (x1, y1, x2, y2, image pixels) per image; ``K`` is their total.
    ``k = floor(canonical_level + log2(sqrt(area) / canonical_scale) + eps)`` clamped to ``[k_min, k_max]``.
    """
    b = torch.cat(list(boxes))
    if b.dtype not in (torch.float32, torch.float64):
        b = b.float()  # integer or half boxes: areas in float32
    size = torch.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
    level = torch.floor(canonical_level + torch.log2(size / canonical_scale) + torch.tensor(eps, dtype=size.dtype))
    return (level.clamp(min=k_min, max=k_max).to(torch.int64) - k_min).to(torch.int64)


def _multiscale_pool(pooler, x: dict, boxes: list, image_shapes: list, op, box_dtype: bool = False) -> Tensor:
    """The FPN level loop: each box pooled by ``op(feature, rois, scale)`` on the level :func:`fpn_levels` picks.

    The scales are measured on the first call and kept (as torchvision's pooler does). The RoIs are in the features'
    dtype, or with ``box_dtype`` in the boxes' own (torchvision's pooler: float32 boxes under mixed precision).
    """
    feats = [x[name] for name in pooler.featmap_names]
    if pooler.scales is None or pooler.levels is None:
        pooler.scales, k_min, k_max = pyramid_scales([f.shape for f in feats], image_shapes)
        pooler.levels = (k_min, k_max)
    rois = boxes_to_rois(list(boxes), dtype=None if box_dtype else feats[0].dtype, device=feats[0].device)
    if len(feats) == 1:
        return op(feats[0], rois, pooler.scales[0])
    levels = fpn_levels(boxes, *pooler.levels, pooler.canonical_scale, pooler.canonical_level)
    out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1], *pooler.output_size))
    for level, (feat, scale) in enumerate(zip(feats, pooler.scales)):  # a loop over the 3-5 FPN levels
        idx = torch.where(levels == level)[0]
        out[idx] = op(feat, rois[idx], scale).to(out.dtype)
    return out


class MultiScaleRoIAlign(_TorchvisionMultiScaleRoIAlign):
    """``torchvision.ops.MultiScaleRoIAlign`` (same arguments, same FPN level mapping) pooling with seglab's
    :func:`~seglab.ops.roi_align`. ``aligned`` (keyword, default False as in torchvision's Mask R-CNN) picks the
    variant. A subclass of torchvision's, so torchvision's ``MaskRCNN`` accepts it as a pooler.

    ``impl``: ``"seglab"`` (default), ``"torchvision"`` (``torchvision.ops.roi_align``, same values) or ``"auto"``
    (:func:`roi_align_impl_for`: torchvision's kernel when the features are on CUDA, seglab's otherwise, decided at
    every call, so a model moved between devices follows). ``last_impl``: the op the last call ran (None before)."""

    def __init__(self, featmap_names, output_size, sampling_ratio, *, canonical_scale=224, canonical_level=4,
                 aligned: bool = False, impl: str = "seglab"):
        super().__init__(featmap_names, output_size, sampling_ratio,
                         canonical_scale=canonical_scale, canonical_level=canonical_level)
        roi_align_impl_for(impl, "cpu")  # checks the name
        self.aligned, self.impl = aligned, impl
        self.last_impl: str | None = None
        self.levels: tuple[int, int] | None = None  # (k_min, k_max), set on the first call

    def forward(self, x: dict, boxes: list, image_shapes: list) -> Tensor:
        """``x``: name -> ``Tensor[N, C, H_l, W_l]``; ``boxes``: ``List[Tensor[L_i, 4]]``; ``image_shapes``:
        ``List[(H, W)]`` -> ``Tensor[K, C, PH, PW]``."""
        self.last_impl = roi_align_impl_for(self.impl, x[self.featmap_names[0]].device)
        if self.last_impl == "torchvision":
            from torchvision.ops import roi_align as align
        else:
            align = roi_align

        def op(feat, rois, scale):
            return align(feat, rois, self.output_size, scale, self.sampling_ratio, self.aligned)
        return _multiscale_pool(self, x, boxes, image_shapes, op, box_dtype=self.last_impl == "torchvision")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(featmap_names={self.featmap_names}, output_size={self.output_size}, "
                f"sampling_ratio={self.sampling_ratio}, impl={self.impl!r})")


class MultiScaleRoIPool(_TorchvisionMultiScaleRoIAlign):
    """A ``MultiScaleRoIAlign``-compatible pooler that uses RoIPool (the Mask R-CNN paper's ablation, Table 2c).

    ``sampling_ratio`` is accepted for compatibility and ignored. ``impl="seglab"`` uses
    :func:`~seglab.ops.roi_pool`, ``impl="torchvision"`` the native ``torchvision.ops.roi_pool`` (same values,
    faster on CPU).
    """

    def __init__(self, featmap_names, output_size, sampling_ratio=0, *, canonical_scale=224, canonical_level=4,
                 impl: str = "seglab"):
        super().__init__(featmap_names, output_size, sampling_ratio,
                         canonical_scale=canonical_scale, canonical_level=canonical_level)
        if impl not in ("seglab", "torchvision"):
            raise ValueError(f"impl must be 'seglab' or 'torchvision', got {impl!r}")
        self.impl = impl
        self.levels: tuple[int, int] | None = None  # (k_min, k_max), set on the first call

    def forward(self, x: dict, boxes: list, image_shapes: list) -> Tensor:
        if self.impl == "torchvision":
            from torchvision.ops import roi_pool as pool
        else:
            pool = roi_pool

        def op(feat, rois, scale):
            return pool(feat, rois, self.output_size, scale)
        return _multiscale_pool(self, x, boxes, image_shapes, op)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(featmap_names={self.featmap_names}, output_size={self.output_size}, "
                f"impl={self.impl!r})")
