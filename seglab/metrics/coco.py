"""COCO-style instance evaluation (AP, AP50, AP75) with pycocotools' ``COCOeval``, built in memory.

The ground truth comes from a detection dataset (items ``(image, target)`` in torchvision's convention), a list of
such targets, a COCO instances JSON path or a ``pycocotools.coco.COCO``; predictions are the outputs of a
torchvision detection model (``{"boxes", "labels", "scores", "masks"}``), one per ground-truth image.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from seglab.data.formats import rle_encode
from seglab.utils import to_numpy

__all__ = ["coco_map", "coco_from_targets", "predictions_to_coco"]

_STATS = {"AP": 0, "AP50": 1, "AP75": 2, "AP_small": 3, "AP_medium": 4, "AP_large": 5}


def _xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = boxes.reshape(-1, 4).astype(np.float64)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def coco_from_targets(targets, image_ids=None):
    """A ``pycocotools.coco.COCO`` built in memory from torchvision-style targets.

    ``targets``: a sequence of dicts with ``boxes`` (Tensor[G, 4] xyxy), ``labels`` (Tensor[G]) and, for ``segm``,
    ``masks`` (uint8[G, H, W]); optional ``iscrowd``, ``area``, ``image_id`` (else the position is the id).
    The labels are used as category ids.
    """
    from pycocotools.coco import COCO

    images, annotations, categories = [], [], set()
    for pos, target in enumerate(targets):
        image_id = int(target.get("image_id", pos)) if image_ids is None else int(image_ids[pos])
        boxes, labels = to_numpy(target["boxes"]).reshape(-1, 4), to_numpy(target["labels"]).reshape(-1)
        masks = to_numpy(target["masks"]) if "masks" in target else None
        if masks is not None:
            h, w = masks.shape[-2:]
        else:
            h, w = int(np.ceil(boxes[:, 3].max(initial=1))), int(np.ceil(boxes[:, 2].max(initial=1)))
        images.append({"id": image_id, "height": int(h), "width": int(w)})
        crowd = to_numpy(target.get("iscrowd", np.zeros(len(labels)))).reshape(-1)
        for j, (box, label) in enumerate(zip(_xywh(boxes), labels)):
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                   "bbox": box.tolist(), "iscrowd": int(crowd[j])}
            if masks is not None:
                ann["segmentation"] = rle_encode(masks[j] > 0)
                ann["area"] = float((masks[j] > 0).sum())
            else:
                ann["area"] = float(box[2] * box[3])
            annotations.append(ann)
            categories.add(int(label))
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations,
                    "categories": [{"id": c, "name": str(c)} for c in sorted(categories)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def predictions_to_coco(predictions, image_ids, label_map=None, mask_threshold: float = 0.5) -> list:
    """Model outputs (one dict per image, aligned with ``image_ids``) -> COCO result dicts (bbox and RLE masks)."""
    results = []
    for image_id, pred in zip(image_ids, predictions):
        boxes, labels, scores = (to_numpy(pred[k]) for k in ("boxes", "labels", "scores"))
        masks = to_numpy(pred["masks"]) if "masks" in pred else None
        if masks is not None and masks.ndim == 4:
            masks = masks[:, 0]
        for j, (box, label, score) in enumerate(zip(_xywh(boxes), labels.reshape(-1), scores.reshape(-1))):
            cat = int(label) if label_map is None else int(label_map[int(label)])
            res = {"image_id": int(image_id), "category_id": cat, "bbox": box.tolist(), "score": float(score)}
            if masks is not None:
                res["segmentation"] = rle_encode(masks[j] > mask_threshold)
            results.append(res)
    return results


def _ground_truth(ground_truth):
    """-> (COCO object, image ids in prediction order, default label map)."""
    from pycocotools.coco import COCO

    if isinstance(ground_truth, COCO):
        coco = ground_truth
    elif isinstance(ground_truth, (str, Path)):
        path = Path(ground_truth)
        if not path.is_file():
            raise ValueError(f"ground_truth path {str(path)!r} is not a COCO instances JSON file")
        coco = COCO()
        coco.dataset = json.loads(path.read_text())
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
    else:
        if hasattr(ground_truth, "__getitem__") and len(ground_truth) and isinstance(ground_truth[0], tuple):
            targets = [ground_truth[i][1] for i in range(len(ground_truth))]  # a dataset of (image, target)
        else:
            targets = list(ground_truth)
        coco = coco_from_targets(targets)
        return coco, [img["id"] for img in coco.dataset["images"]], None
    ids = [img["id"] for img in coco.dataset["images"]]
    cats = sorted(c["id"] for c in coco.dataset.get("categories", []))
    return coco, ids, {i + 1: c for i, c in enumerate(cats)}  # torchvision's contiguous labels 1..K


def coco_map(predictions, ground_truth, iou_type="segm", label_map=None, mask_threshold: float = 0.5,
             class_agnostic: bool = False) -> dict:
    """COCO mask or box AP with pycocotools: ``{"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large"}``.

    Args:
        predictions: one output dict per image, in the ground truth's image order, or a dict ``image_id -> output``.
        ground_truth: a dataset of ``(image, target)``, a list of targets, a COCO JSON path or a ``COCO`` object.
        iou_type: ``"segm"``, ``"bbox"`` or a list of both (then the result is ``{iou_type: {...}}``).
        label_map: model label -> category id. Default: identity for targets; for a JSON, labels 1..K map to the
            sorted category ids (torchvision's contiguous labels).
        mask_threshold: a predicted mask pixel belongs to the instance when its probability exceeds this.
        class_agnostic: ignore the classes (COCOeval's ``useCats = 0``): every detection may match every ground-truth
            instance, so the score says how well boxes or masks fit, whatever class they were given.

    No predictions at all give AP = 0; an image set without ground truth gives NaN (COCO's -1).
    """
    if isinstance(iou_type, (list, tuple)):
        return {t: coco_map(predictions, ground_truth, t, label_map, mask_threshold, class_agnostic) for t in iou_type}
    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"iou_type must be 'segm' or 'bbox' (or a list of them), got {iou_type!r}")
    from pycocotools.cocoeval import COCOeval

    coco, ids, default_map = _ground_truth(ground_truth)
    label_map = default_map if label_map is None else label_map
    if isinstance(predictions, dict):
        ids = [i for i in ids if i in predictions]
        predictions = [predictions[i] for i in ids]
    predictions = list(predictions)
    if len(predictions) != len(ids):
        raise ValueError(f"predictions must hold one output per ground-truth image: got {len(predictions)} "
                         f"for {len(ids)} images")
    results = predictions_to_coco(predictions, ids, label_map, mask_threshold)
    if not results:
        return {name: 0.0 for name in _STATS}
    with contextlib.redirect_stdout(io.StringIO()):
        detections = coco.loadRes(results)
        evaluator = COCOeval(coco, detections, iou_type)
        evaluator.params.imgIds = ids
        evaluator.params.useCats = 0 if class_agnostic else 1
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    return {name: (float(stats[i]) if stats[i] >= 0 else float("nan")) for name, i in _STATS.items()}
