"""Joint transforms: the image and its target move together, for every task.

A transform is ``transform(image, target) -> (image, target)`` with ``image`` float[3, H, W] and ``target`` one of

* a semantic mask ``int64[H, W]`` (``IGNORE_INDEX`` = ignore; padding uses it),
* an instance dict (``boxes`` float[N, 4] xyxy, ``masks`` uint8[N, H, W], ``labels``, ``area``, ``iscrowd``, ...),
* a panoptic dict (``id_map`` int64[H, W], 0 = VOID; padding uses 0; ``segments_info``).

After a crop or a resize, instance ``boxes`` and ``area`` are recomputed from the masks (box = pixel-edge
extent of the mask, as in COCO) and instances left empty are dropped; panoptic ``segments_info`` areas and boxes
are recomputed from the id map and absent segments dropped. A flip mirrors boxes exactly. Random choices use
``torch``'s generator (``set_seed`` repeats them) or the ``generator`` passed in. Masks resize with
``nearest-exact``, images bilinearly.

Every dataset of :mod:`seglab.data` calls its ``transforms`` this way, and the other transforms follow the same
convention (:class:`seglab.data.ElasticDeform` for semantic masks, :func:`seglab.data.drop_crowd` for instances).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seglab.data.classes import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD
from seglab.data.formats import mask_to_coco_bbox, masks_to_boxes_xyxy

__all__ = ["Compose", "RandomCrop", "RandomHorizontalFlip", "RandomScale", "Normalize", "hflip", "crop", "resize",
           "masks_to_boxes_xyxy", "IMAGENET_MEAN", "IMAGENET_STD"]

_PER_INSTANCE = ("boxes", "labels", "masks", "area", "iscrowd", "scores")


def _check_image(image) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor float[3, H, W], got {type(image).__name__}")
    if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float tensor of shape [3, H, W], got {image.dtype} {tuple(image.shape)}")


def _kind(image, target) -> str:
    """'semantic' | 'instance' | 'panoptic', after checking that the target fits the image."""
    _check_image(image)
    size = tuple(image.shape[1:])
    if isinstance(target, torch.Tensor):
        if target.ndim != 2 or target.dtype != torch.int64 or tuple(target.shape) != size:
            raise ValueError(f"mask must be int64 of shape [H, W] = {list(size)}, "
                             f"got {target.dtype} {tuple(target.shape)}")
        return "semantic"
    if isinstance(target, dict) and "masks" in target:
        masks, boxes = target["masks"], target.get("boxes")
        if masks.ndim != 3 or tuple(masks.shape[1:]) != size:
            raise ValueError(f"target['masks'] must have shape [N, H, W] = [N, {size[0]}, {size[1]}], "
                             f"got {tuple(masks.shape)}")
        if boxes is not None and tuple(boxes.shape) != (masks.shape[0], 4):
            raise ValueError(f"target['boxes'] must have shape [N, 4] = [{masks.shape[0]}, 4], "
                             f"got {tuple(boxes.shape)}")
        return "instance"
    if isinstance(target, dict) and "id_map" in target:
        if target["id_map"].ndim != 2 or tuple(target["id_map"].shape) != size:
            raise ValueError(f"target['id_map'] must have shape [H, W] = {list(size)}, "
                             f"got {tuple(target['id_map'].shape)}")
        return "panoptic"
    raise TypeError("target must be a mask Tensor[H, W], an instance dict with 'masks' or a panoptic dict with "
                    f"'id_map'; got {type(target).__name__}")


def _finish(kind: str, target):
    """Recompute boxes/areas after a geometric change and drop what vanished."""
    if kind == "instance":
        masks = target["masks"]
        keep = masks.flatten(1).bool().any(1)
        out = {k: (v[keep] if k in _PER_INSTANCE and isinstance(v, torch.Tensor) else v) for k, v in target.items()}
        out["boxes"] = masks_to_boxes_xyxy(out["masks"]).to(target["boxes"].device) if "boxes" in target else None
        if "area" in target:
            out["area"] = out["masks"].flatten(1).sum(1).to(target["area"].dtype)
        return {k: v for k, v in out.items() if v is not None}
    if kind == "panoptic":
        id_map, segments = target["id_map"], []
        for seg in target["segments_info"]:
            region = id_map == seg["id"]
            area = int(region.sum())
            if area:
                segments.append(dict(seg, area=area, bbox=mask_to_coco_bbox(region)))
        return dict(target, segments_info=segments)
    return target


def _map(kind: str, target, fn):
    """Apply ``fn(plane [..., H, W], fill)`` to the target's label planes."""
    if kind == "semantic":
        return fn(target, IGNORE_INDEX)
    if kind == "instance":
        return dict(target, masks=fn(target["masks"], 0))
    return dict(target, id_map=fn(target["id_map"], 0))


def hflip(image: torch.Tensor, target):
    """Mirror left-right; boxes ``(x1, y1, x2, y2)`` -> ``(W - x2, y1, W - x1, y2)``."""
    kind = _kind(image, target)
    target = _map(kind, target, lambda plane, fill: plane.flip(-1))
    if kind == "instance" and "boxes" in target:
        width = image.shape[-1]
        boxes = target["boxes"]
        target["boxes"] = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    elif kind == "panoptic":
        target = _finish(kind, target)
    return image.flip(-1), target


def crop(image: torch.Tensor, target, top: int, left: int, height: int, width: int, fill: float = 0.0):
    """Cut ``[top:top+height, left:left+width]``; parts outside the image are padded (image with ``fill``,
    semantic masks with ``IGNORE_INDEX``, instance masks and panoptic ids with 0)."""
    kind = _kind(image, target)
    if min(height, width) < 1:
        raise ValueError(f"crop size must be positive, got height={height}, width={width}")
    H, W = image.shape[1:]

    def cut(plane, value):
        pad = (max(0, -left), max(0, left + width - W), max(0, -top), max(0, top + height - H))  # l, r, t, b
        if any(pad):
            plane = F.pad(plane, pad, mode="constant", value=value)
        y0, x0 = top + pad[2], left + pad[0]
        return plane[..., y0:y0 + height, x0:x0 + width]

    return cut(image, fill), _finish(kind, _map(kind, target, cut))


def resize(image: torch.Tensor, target, size: tuple[int, int]):
    """Resize to ``size = (height, width)``: image bilinearly, label planes with ``nearest-exact``."""
    kind = _kind(image, target)
    height, width = int(size[0]), int(size[1])
    if min(height, width) < 1:
        raise ValueError(f"size must be positive (height, width), got {size}")

    def scale(plane, fill):
        if plane.numel() == 0:
            return plane.new_zeros(*plane.shape[:-2], height, width)
        flat = plane.reshape(-1, 1, *plane.shape[-2:]).double()
        out = F.interpolate(flat, size=(height, width), mode="nearest-exact")
        return out.reshape(*plane.shape[:-2], height, width).to(plane.dtype)

    new_image = F.interpolate(image[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    return new_image, _finish(kind, _map(kind, target, scale))


class Compose:
    """Apply joint transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"transforms must be callables (image, target) -> (image, target), got {t!r}")

    def __call__(self, image, target):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


def _rand(generator) -> float:
    return float(torch.rand((), generator=generator))


class RandomHorizontalFlip:
    """Flip with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.generator = p, generator

    def __call__(self, image, target):
        _kind(image, target)
        return hflip(image, target) if _rand(self.generator) < self.p else (image, target)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop:
    """Crop a random ``size`` (int or (h, w)) window; a smaller image is padded bottom/right first
    (image with ``fill``, semantic mask with ``IGNORE_INDEX``, instance masks / panoptic ids with 0)."""

    def __init__(self, size, fill: float = 0.0, generator: torch.Generator | None = None):
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be a positive int or (height, width), got {size}")
        self.size, self.fill, self.generator = size, fill, generator

    def __call__(self, image, target):
        _kind(image, target)
        H, W = image.shape[1:]
        h, w = self.size
        top = int(torch.randint(0, max(H - h, 0) + 1, (), generator=self.generator))
        left = int(torch.randint(0, max(W - w, 0) + 1, (), generator=self.generator))
        return crop(image, target, top, left, h, w, self.fill)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"


class RandomScale:
    """Resize by a factor drawn uniformly from ``[min_scale, max_scale]`` (same factor for height and width)."""

    def __init__(self, min_scale: float = 0.75, max_scale: float = 1.25, generator: torch.Generator | None = None):
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.generator = min_scale, max_scale, generator

    def __call__(self, image, target):
        _kind(image, target)
        factor = self.min_scale + (self.max_scale - self.min_scale) * _rand(self.generator)
        H, W = image.shape[1:]
        return resize(image, target, (max(1, round(H * factor)), max(1, round(W * factor))))

    def __repr__(self) -> str:
        return f"RandomScale({self.min_scale}, {self.max_scale})"


class Normalize:
    """``(image - mean) / std`` per channel (ImageNet statistics by default); the target is untouched."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std must have 3 entries with std > 0, got {mean}, {std}")
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, image, target=None):
        _check_image(image)
        mean = torch.tensor(self.mean, dtype=image.dtype, device=image.device)[:, None, None]
        std = torch.tensor(self.std, dtype=image.dtype, device=image.device)[:, None, None]
        return (image - mean) / std, target

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"
