"""Panoptic merge: things from an instance model and stuff from a semantic model, pasted into one id map.

The heuristic of Kirillov et al. (arXiv 1801.00868, section 7): sort the thing instances by confidence, paste each
one onto the pixels not yet taken (drop it when too little of it is left), then fill the remaining pixels with the
semantic model's stuff prediction and send small stuff regions to VOID (id 0). The output is COCO panoptic
``(id_map int64[H, W], segments_info)``, scored by :func:`seglab.metrics.panoptic_quality`;
:func:`seglab.data.save_coco_panoptic` writes it as COCO panoptic files for :func:`seglab.train.evaluation.pq_compute`.
"""

from __future__ import annotations

import numpy as np
import torch

from seglab.data.classes import IGNORE_INDEX, check_categories
from seglab.data.formats import mask_to_coco_bbox
from seglab.utils import to_numpy

__all__ = ["panoptic_merge", "panoptic_predict", "semantic_to_panoptic"]


def _tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        return value
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")


def panoptic_merge(semantic_probs, instances=None, categories=None, overlap_threshold: float = 0.5,
                   score_threshold: float = 0.5, stuff_area_min: int = 64, *, labels: str = "detection",
                   mask_threshold: float = 0.5):
    """Merge instance and semantic predictions into ``(id_map, segments_info)``.

    semantic_probs: ``float[K, H, W]`` probabilities (or logits) over the K categories in ``categories`` order
        (seglab: channel k = semantic label k = category id k + 1), or an ``int[H, W]`` map of those indices.
        Only the stuff channels are used: a pixel left free by the things gets the stuff class with the largest score.
    instances: ``{"masks": bool or float[N, H, W] (or [N, 1, H, W], torchvision's output; > mask_threshold is in),
        "scores": float[N], "labels": int[N]}`` or None. ``labels="detection"`` (default, Mask R-CNN's numbering):
        label j is the j-th thing category (1-based, 0 = background); ``labels="category"``: COCO category ids.
    overlap_threshold: an instance is dropped when the fraction of its mask still free is below this.
    score_threshold: instances scoring below it are skipped.
    stuff_area_min: stuff regions with fewer pixels are left VOID.
    Returns ``id_map int64[H, W]`` (0 = VOID; numpy in, numpy out; a tensor keeps its device) and ``segments_info``
    ``[{"id", "category_id", "iscrowd": 0, "isthing", "area", "bbox", "score"}]`` (things first, by score).
    """
    categories = check_categories(categories)
    sem = _tensor(semantic_probs, "semantic_probs")
    as_numpy = isinstance(semantic_probs, np.ndarray)
    if sem.ndim == 3 and sem.shape[0] == len(categories):
        stuff_rows = [k for k, c in enumerate(categories) if not c["isthing"]]
        height, width = sem.shape[1:]
    elif sem.ndim == 2 and not sem.is_floating_point():
        height, width = sem.shape
    else:
        raise ValueError(f"semantic_probs must be float[K={len(categories)}, H, W] or an int[H, W] label map, "
                         f"got {tuple(sem.shape)} {sem.dtype}")
    if not 0.0 <= overlap_threshold <= 1.0:
        raise ValueError(f"overlap_threshold must be in [0, 1], got {overlap_threshold}")
    if labels not in ("detection", "category"):
        raise ValueError(f"labels must be 'detection' or 'category', got {labels!r}")
    device = sem.device
    id_map = torch.zeros(height, width, dtype=torch.int64, device=device)
    segments = []
    things = [c["id"] for c in categories if c["isthing"]]
    if instances is not None and len(instances.get("scores", [])):
        masks = _tensor(instances["masks"], "instances['masks']").to(device)
        if masks.ndim == 4 and masks.shape[1] == 1:
            masks = masks[:, 0]
        scores = _tensor(instances["scores"], "instances['scores']").to(device).float()
        cats = _tensor(instances["labels"], "instances['labels']").tolist()
        if masks.ndim != 3 or tuple(masks.shape[1:]) != (height, width) or not len(masks) == len(scores) == len(cats):
            raise ValueError(f"instances['masks'] must be [N, {height}, {width}] with N = len(scores) = len(labels); "
                             f"got masks {tuple(masks.shape)}, {len(scores)} scores, {len(cats)} labels")
        if labels == "detection":
            if any(not 1 <= j <= len(things) for j in cats):
                raise ValueError(f"detection labels must be in 1..{len(things)}, got {sorted(set(cats))}")
            cats = [things[j - 1] for j in cats]
        elif any(c not in things for c in cats):
            raise ValueError(f"instance category ids must be thing categories {things}, got {sorted(set(cats))}")
        binary = masks if masks.dtype == torch.bool else masks > mask_threshold
        for i in torch.argsort(scores, descending=True, stable=True).tolist():
            if scores[i] < score_threshold:
                continue
            area = int(binary[i].sum())
            kept = binary[i] & (id_map == 0)
            if area == 0 or int(kept.sum()) < overlap_threshold * area:
                continue
            seg_id = len(segments) + 1
            id_map[kept] = seg_id
            segments.append({"id": seg_id, "category_id": int(cats[i]), "iscrowd": 0, "isthing": 1,
                             "area": int(kept.sum()), "bbox": mask_to_coco_bbox(kept), "score": float(scores[i])})
    if sem.ndim == 3:
        stuff_index = torch.as_tensor(stuff_rows, device=device)[sem[stuff_rows].argmax(0)] if stuff_rows else None
    else:
        stuff_index = sem.to(device).long()
    for k, cat in enumerate(categories):
        if cat["isthing"] or stuff_index is None:
            continue
        region = (stuff_index == k) & (id_map == 0)
        area = int(region.sum())
        if area == 0 or area < stuff_area_min:
            continue
        seg_id = len(segments) + 1
        id_map[region] = seg_id
        segments.append({"id": seg_id, "category_id": int(cat["id"]), "iscrowd": 0, "isthing": 0, "area": area,
                         "bbox": mask_to_coco_bbox(region), "score": 1.0})
    return (to_numpy(id_map) if as_numpy else id_map), segments


@torch.no_grad()
def panoptic_predict(semantic_model, instance_model, images, categories=None, **merge_kwargs) -> list[tuple]:
    """Run both models on ``images`` (``float[N, 3, H, W]`` or a list of ``float[3, H, W]``) and merge each image.

    semantic_model: ``images -> logits float[N, K, H, W]``; instance_model: a torchvision detection model
    (eval mode: ``list[{"masks" float[D, 1, H, W], "scores", "labels"}]``) or None for stuff only.
    ``merge_kwargs`` go to :func:`panoptic_merge`. Returns ``[(id_map int64[H, W], segments_info)]`` on the
    images' device. Both models are put in eval mode.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images must be float[N, 3, H, W] or a list of float[3, H, W], got {tuple(images.shape)}")
        images = list(images)
    semantic_model.eval()
    outputs = []
    for image in images:
        probs = semantic_model(image[None]).softmax(1)[0]
        instances = None
        if instance_model is not None:
            instance_model.eval()
            instances = instance_model([image])[0]
        outputs.append(panoptic_merge(probs, instances, categories, **merge_kwargs))
    return outputs


def semantic_to_panoptic(semantic, categories=None, ignore_index: int = IGNORE_INDEX):
    """A semantic label map ``int[H, W]`` -> ``(id_map, segments_info)`` with one segment per class present.

    Useful as a baseline: a semantic model cannot separate touching things, so each thing class becomes one segment.
    """
    categories = check_categories(categories)
    sem = _tensor(semantic, "semantic").long()
    id_map = torch.zeros_like(sem)
    segments = []
    for k, cat in enumerate(categories):
        region = sem == k
        if ignore_index != k and bool(region.any()):
            id_map[region] = len(segments) + 1
            segments.append({"id": len(segments) + 1, "category_id": int(cat["id"]), "iscrowd": 0,
                             "isthing": int(cat["isthing"]), "area": int(region.sum()),
                             "bbox": mask_to_coco_bbox(region)})
    return (to_numpy(id_map) if isinstance(semantic, np.ndarray) else id_map), segments
