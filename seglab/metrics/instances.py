"""Instance scores for one class of objects (nuclei): arrays in, numbers out.

A prediction is a foreground map; its instances are the connected components of the foreground
(:func:`label_components`, 4-connected by default: no border class, no watershed). Ground truth is an instance map
``int[H, W]`` (0 = background, k > 0 = object k). Objects are matched by IoU:

* **matching** at IoU > t for t >= 0.5 is unique: an object overlaps two others by more than half of their union
  at most once (the argument of the panoptic paper), so TP(t) is simply the number of pairs with IoU > t;
* **DSB 2018 score** (Caicedo et al., Nature Methods 2019): the mean over t = 0.50, 0.55, ..., 0.95 of
  ``TP(t) / (TP(t) + FP(t) + FN(t))``;
* **PQ** for the one class (Kirillov et al. 2019): ``sum of IoU over TP / (TP + FP/2 + FN/2)`` at IoU > 0.5, with
  ``SQ = sum IoU / TP`` and ``RQ = TP / (TP + FP/2 + FN/2)``; there is no void and no crowd here;
* **instance F1** at 0.5: ``2 TP / (2 TP + FP + FN)`` (= RQ), with precision and recall;
* **merged touching pairs**: two ground-truth objects *touch* when their masks are 8-adjacent (a pixel of one is
  among the 8 neighbours of a pixel of the other). A touching pair is *merged* when one predicted instance covers
  more than half of the pixels of each of the two (one component swallowed both).

When both maps are empty, the ratios are NaN (nothing to score).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from seglab.utils import integer_map, to_numpy

__all__ = ["DSB_THRESHOLDS", "label_components", "instance_ious", "touching_pairs", "merged_pairs",
           "instance_scores", "instance_scores_naive"]

#: The IoU thresholds of the 2018 Data Science Bowl score: 0.50, 0.55, ..., 0.95.
DSB_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def _instances(array, name: str) -> np.ndarray:
    return integer_map(array, name, non_negative=True)


def _pair(gt, pred):
    gt, pred = _instances(gt, "gt"), _instances(pred, "pred")
    if gt.shape != pred.shape:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} must have the same size")
    return gt, pred


def label_components(foreground, connectivity: int = 4) -> np.ndarray:
    """The connected components of ``foreground (bool or int[H, W], non-zero = object)`` as ``int64[H, W]``,
    numbered 1..N in raster order; ``connectivity`` 4 (edge neighbours) or 8 (with the diagonals)."""
    array = to_numpy(foreground)
    if array.ndim != 2:
        raise ValueError(f"foreground must be a 2-D [H, W] map, got shape {array.shape}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels, _ = ndimage.label(array != 0, structure=structure)
    return labels.astype(np.int64)


def _overlaps(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(table int64[G, P], gt_ids, pred_ids)``: pixels of each gt id (0 included) under each predicted id, the ids
    in increasing order, from one pass over the pixels."""
    gt_ids, gt_inverse = np.unique(gt, return_inverse=True)
    pred_ids, pred_inverse = np.unique(pred, return_inverse=True)
    table = np.zeros((len(gt_ids), len(pred_ids)), dtype=np.int64)
    np.add.at(table, (gt_inverse.ravel(), pred_inverse.ravel()), 1)
    return table, gt_ids, pred_ids


def instance_ious(gt, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ious float64[G, P], gt_ids int64[G], pred_ids int64[P])``: the IoU of every ground-truth object with every
    predicted one (ids in increasing order, 0 left out), from one pass over the pixels."""
    table, gt_ids, pred_ids = _overlaps(*_pair(gt, pred))
    areas_gt, areas_pred = table.sum(1), table.sum(0)
    keep_gt, keep_pred = gt_ids != 0, pred_ids != 0
    inter = table[keep_gt][:, keep_pred].astype(np.float64)
    union = areas_gt[keep_gt][:, None] + areas_pred[keep_pred][None, :] - inter
    ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return ious, gt_ids[keep_gt], pred_ids[keep_pred]


def touching_pairs(gt) -> list[tuple[int, int]]:
    """The pairs ``(a, b)``, ``a < b``, of ground-truth objects whose masks are 8-adjacent, sorted."""
    gt = _instances(gt, "gt")
    pairs = set()
    # each neighbour relation once: right, down, down-right, down-left
    for a, b in ((gt[:, :-1], gt[:, 1:]), (gt[:-1, :], gt[1:, :]), (gt[:-1, :-1], gt[1:, 1:]),
                 (gt[:-1, 1:], gt[1:, :-1])):
        hit = (a > 0) & (b > 0) & (a != b)
        for x, y in zip(a[hit].tolist(), b[hit].tolist()):
            pairs.add((min(x, y), max(x, y)))
    return sorted(pairs)


def merged_pairs(gt, pred, pairs=None) -> list[tuple[int, int]]:
    """The touching pairs (``pairs``, default :func:`touching_pairs` of ``gt``) that one predicted instance merges:
    the same predicted object covers more than half of the pixels of each of the two."""
    gt, pred = _pair(gt, pred)
    pairs = touching_pairs(gt) if pairs is None else [tuple(map(int, p)) for p in pairs]
    if not pairs:
        return []
    table, gt_ids, pred_ids = _overlaps(gt, pred)
    row = {int(i): k for k, i in enumerate(gt_ids)}
    covering = {}  # gt id -> the predicted id covering more than half of it (at most one), or None
    for gid, k in row.items():
        counts = table[k].copy()
        counts[pred_ids == 0] = 0
        best = int(np.argmax(counts))
        covering[gid] = int(pred_ids[best]) if 2 * counts[best] > table[k].sum() else None
    merged = []
    for a, b in pairs:
        if a not in row or b not in row:
            raise ValueError(f"pair {(a, b)} names an object that is not in gt")
        if covering[a] is not None and covering[a] == covering[b]:
            merged.append((a, b))
    return merged


def _summary(ious: np.ndarray, num_gt: int, num_pred: int, thresholds) -> dict:
    nan = float("nan")
    per_threshold = []
    for t in thresholds:
        tp = int((ious > t).sum())
        denominator = tp + (num_pred - tp) + (num_gt - tp)
        per_threshold.append(tp / denominator if denominator else nan)
    matched = ious[ious > 0.5]
    tp = len(matched)
    fp, fn = num_pred - tp, num_gt - tp
    half = tp + 0.5 * fp + 0.5 * fn
    return {
        "dsb_score": float(np.mean(per_threshold)) if per_threshold else nan,
        "pq": float(matched.sum() / half) if half else nan,
        "sq": float(matched.mean()) if tp else nan,
        "rq": tp / half if half else nan,
        "f1": tp / half if half else nan,
        "precision": tp / num_pred if num_pred else nan,
        "recall": tp / num_gt if num_gt else nan,
        "tp": tp, "fp": fp, "fn": fn, "num_gt": num_gt, "num_pred": num_pred,
        "dsb_per_threshold": [float(v) for v in per_threshold],
    }


def instance_scores(gt, pred, thresholds=DSB_THRESHOLDS) -> dict:
    """Score predicted instances ``pred (int[H, W])`` against ``gt (int[H, W])`` (0 = background in both).

    Returns ``{"dsb_score", "pq", "sq", "rq", "f1", "precision", "recall", "tp", "fp", "fn", "num_gt", "num_pred",
    "dsb_per_threshold", "touching_pairs", "merged_pairs", "merged_fraction"}`` (TP/FP/FN at IoU > 0.5;
    ``thresholds`` must all be >= 0.5 so that matching is unique). Pass ``label_components(foreground)`` as
    ``pred`` to score a semantic prediction.
    """
    thresholds = [float(t) for t in thresholds]
    if any(not 0.5 <= t < 1.0 for t in thresholds):
        raise ValueError(f"thresholds must lie in [0.5, 1) (matching is unique only above 0.5), got {thresholds}")
    ious, gt_ids, pred_ids = instance_ious(gt, pred)
    scores = _summary(ious, len(gt_ids), len(pred_ids), thresholds)
    pairs = touching_pairs(gt)
    merged = merged_pairs(gt, pred, pairs)
    scores.update(touching_pairs=len(pairs), merged_pairs=len(merged),
                  merged_fraction=len(merged) / len(pairs) if pairs else float("nan"))
    return scores


def instance_scores_naive(gt, pred, thresholds=DSB_THRESHOLDS) -> dict:
    """Loop oracle for :func:`instance_scores`: a boolean mask per object, IoU pair by pair, adjacency and coverage
    pixel by pixel (slow; for tests on small maps)."""
    gt, pred = _pair(gt, pred)
    gt_ids = [int(i) for i in np.unique(gt) if i != 0]
    pred_ids = [int(i) for i in np.unique(pred) if i != 0]
    ious = np.zeros((len(gt_ids), len(pred_ids)))
    for i, g in enumerate(gt_ids):
        for j, p in enumerate(pred_ids):
            a, b = gt == g, pred == p
            ious[i, j] = (a & b).sum() / (a | b).sum()
    scores = _summary(ious, len(gt_ids), len(pred_ids), [float(t) for t in thresholds])
    height, width = gt.shape
    pairs = set()
    for y in range(height):
        for x in range(width):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < height and 0 <= xx < width and 0 < gt[y, x] < gt[yy, xx]:
                        pairs.add((int(gt[y, x]), int(gt[yy, xx])))
    merged = 0
    for a, b in pairs:
        for p in pred_ids:
            if 2 * ((gt == a) & (pred == p)).sum() > (gt == a).sum() and \
                    2 * ((gt == b) & (pred == p)).sum() > (gt == b).sum():
                merged += 1
    scores.update(touching_pairs=len(pairs), merged_pairs=merged,
                  merged_fraction=merged / len(pairs) if pairs else float("nan"))
    return scores
