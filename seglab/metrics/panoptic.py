"""Panoptic quality (PQ = SQ x RQ) exactly as COCO's panopticapi scores it, without multiprocessing.

Kirillov et al., "Panoptic Segmentation" (arXiv 1801.00868). An image's panoptic annotation is a pair
``(id_map int[H, W], segments_info list[dict])``: every pixel holds a segment id (0 = VOID, unlabeled) and each
segment has ``id``, ``category_id`` and, for ground truth, ``iscrowd``. The rules (panopticapi's ``pq_compute``):

* a gt segment and a predicted segment of the same category match when IoU > 0.5 (strictly), where
  ``union = |pred| + |gt| - |pred & gt| - |pred & VOID_gt|`` (pixels the gt leaves unlabeled do not count);
* crowd gt segments (``iscrowd == 1``) are never matched and never counted as FN;
* FN: an unmatched non-crowd gt segment; FP: an unmatched predicted segment, unless more than half of it lies on gt
  VOID or on crowd gt of its own category (then it is ignored);
* per class ``PQ = sum IoU(TP) / (TP + FP/2 + FN/2)``, ``SQ = sum IoU / TP``, ``RQ = TP / (TP + FP/2 + FN/2)``;
  All / Things / Stuff are plain means over the classes with ``TP + FP + FN > 0`` (``n`` counts them).

Choices where panopticapi is silent or crashes: a group with ``n == 0`` reports ``pq = sq = rq = 0.0`` (panopticapi
divides by zero); ``per_class`` lists every category, with zeros and ``tp = fp = fn = 0`` for a class absent
everywhere (as panopticapi's per-class table does); areas always come from the id maps (the ``area`` fields are not
read); when a category has several crowd gt segments in one image all of them count for the FP rule
(panopticapi keeps only the last one listed; with one crowd region per category, as COCO writes them, they agree).
"""

from __future__ import annotations

import numpy as np
import torch

from seglab.data.classes import check_categories
from seglab.utils import to_numpy

__all__ = ["OFFSET", "VOID", "panoptic_quality", "panoptic_quality_of_pairs", "match_segments", "pq_from_counts",
           "matches_at_threshold"]

OFFSET = 256**3  # pairs are counted as gt_id * OFFSET + pred_id (int64), as in panopticapi
VOID = 0


def _id_map(value, name: str) -> np.ndarray:
    """``int[H, W]`` (or a COCO ``uint8[H, W, 3]`` colour PNG array) -> ``int64[H, W]``."""
    value = to_numpy(value)
    if value.ndim == 3 and value.shape[2] == 3 and value.dtype == np.uint8:  # COCO's colours: id = R + 256 G + 256² B
        value = value.astype(np.int64) @ np.array([1, 256, 256**2], dtype=np.int64)
    if value.ndim != 2 or not (np.issubdtype(value.dtype, np.integer) or value.dtype == bool):
        raise ValueError(f"{name} must be an integer id map of shape [H, W], got {value.dtype} {value.shape}")
    value = value.astype(np.int64)
    if value.size and (value.min() < 0 or value.max() >= OFFSET):
        raise ValueError(f"{name} ids must be in 0..{OFFSET - 1}, got range {value.min()}..{value.max()}")
    return value


def _categories(categories) -> tuple[list[int], dict[int, int], np.ndarray]:
    """-> (category ids, id -> position, isthing bool[C])."""
    if isinstance(categories, dict):
        categories = [{"id": k, **v} for k, v in categories.items()]
    categories = check_categories(categories)
    ids = [int(cat["id"]) for cat in categories]
    things = [bool(cat["isthing"]) for cat in categories]
    if len(set(ids)) != len(ids):
        raise ValueError(f"categories must list each id once, got ids {ids}")
    return ids, {c: i for i, c in enumerate(ids)}, np.array(things, dtype=bool)


def _segments(info, ids_in_map: np.ndarray, cat_pos: dict, which: str, image: str):
    """Validate ``segments_info`` against the ids present in the map.

    Returns ``(ids int64[S+1], category position int64[S+1], iscrowd bool[S+1])`` sorted by id, with VOID
    (category -1) in front, so ``np.searchsorted(ids, label)`` turns a map label into a row."""
    if not isinstance(info, (list, tuple)):
        raise ValueError(f"{which} segments_info of {image} must be a list of dicts, got {type(info).__name__}")
    rows = {}
    for seg in info:
        if not isinstance(seg, dict) or "id" not in seg or "category_id" not in seg:
            raise ValueError(f"{which} segments of {image} need 'id' and 'category_id', got {seg!r}")
        sid, cid = int(seg["id"]), int(seg["category_id"])
        if sid in rows:
            raise ValueError(f"{image}: {which} segment id {sid} appears twice in segments_info")
        if sid == VOID:
            raise ValueError(f"{image}: {which} segment id 0 is VOID and cannot be listed in segments_info")
        if cid not in cat_pos:
            raise ValueError(f"{image}: {which} segment {sid} has unknown category_id {cid}; known {sorted(cat_pos)}")
        rows[sid] = (cat_pos[cid], bool(int(seg.get("iscrowd", 0))) if which == "gt" else False)
    present = {int(i) for i in ids_in_map if i != VOID}
    if present - set(rows):
        raise ValueError(f"{image}: {which} segment ids {sorted(present - set(rows))} are in the id map but not in "
                         "segments_info")
    if set(rows) - present:
        raise ValueError(f"{image}: {which} segment ids {sorted(set(rows) - present)} are in segments_info but have "
                         "no pixel in the id map")
    order = sorted(rows)
    ids = np.array([VOID, *order], dtype=np.int64)
    cat = np.array([-1, *(rows[s][0] for s in order)], dtype=np.int64)
    crowd = np.array([False, *(rows[s][1] for s in order)], dtype=bool)
    return ids, cat, crowd


def _match(gt_map, gt_info, pred_map, pred_info, cat_pos, image: str) -> dict:
    """The panopticapi rules on one image, vectorised over the (gt, pred) pairs that touch."""
    gt_map, pred_map = _id_map(gt_map, f"gt id map of {image}"), _id_map(pred_map, f"pred id map of {image}")
    if gt_map.shape != pred_map.shape:
        raise ValueError(f"{image}: gt id map has shape {gt_map.shape} but pred id map has shape {pred_map.shape}")
    labels, inter = np.unique(gt_map.ravel() * OFFSET + pred_map.ravel(), return_counts=True)
    g_lab, p_lab = labels // OFFSET, labels % OFFSET
    g_ids, g_cat, g_crowd = _segments(gt_info, np.unique(g_lab), cat_pos, "gt", image)
    p_ids, p_cat, _ = _segments(pred_info, np.unique(p_lab), cat_pos, "pred", image)
    gi, pi = np.searchsorted(g_ids, g_lab), np.searchsorted(p_ids, p_lab)  # rows; 0 = VOID
    g_area = np.bincount(gi, weights=inter, minlength=len(g_ids)).astype(np.int64)
    p_area = np.bincount(pi, weights=inter, minlength=len(p_ids)).astype(np.int64)
    on_void = gi == 0
    p_void = np.bincount(pi[on_void], weights=inter[on_void], minlength=len(p_ids)).astype(np.int64)
    same = (gi > 0) & (pi > 0) & (g_cat[gi] == p_cat[pi])
    cand = same & ~g_crowd[gi]
    union = p_area[pi] + g_area[gi] - inter - p_void[pi]
    tp = cand & (2 * inter > union)  # IoU > 0.5 strictly, in exact integer arithmetic
    g_matched = np.zeros(len(g_ids), dtype=bool)
    p_matched = np.zeros(len(p_ids), dtype=bool)
    g_matched[gi[tp]] = True
    p_matched[pi[tp]] = True
    on_crowd = same & g_crowd[gi]
    p_crowd = np.bincount(pi[on_crowd], weights=inter[on_crowd], minlength=len(p_ids)).astype(np.int64)
    rows_g, rows_p = np.arange(1, len(g_ids)), np.arange(1, len(p_ids))
    fn = rows_g[~g_matched[1:] & ~g_crowd[1:]]
    ignored = 2 * (p_void + p_crowd) > p_area
    fp = rows_p[~p_matched[1:] & ~ignored[1:]]
    return {"g_ids": g_ids, "g_cat": g_cat, "p_ids": p_ids, "p_cat": p_cat, "gi": gi[cand], "pi": pi[cand],
            "inter": inter[cand], "union": union[cand], "tp": tp[cand], "fn": fn, "fp": fp,
            "ignored": rows_p[~p_matched[1:] & ignored[1:]]}


def match_segments(gt_map, gt_segments, pred_map, pred_segments, categories=None) -> dict:
    """The matching on one image, for teaching and inspection.

    Returns ``{"pairs": [(gt_id, pred_id, iou)] for every same-category non-crowd pair that overlaps,
    "tp": [(gt_id, pred_id, iou)], "fp": [pred ids], "fn": [gt ids], "ignored": [pred ids]}``.
    """
    _, cat_pos, _ = _categories(categories)
    m = _match(gt_map, gt_segments, pred_map, pred_segments, cat_pos, "the image")
    pairs = [(int(m["g_ids"][g]), int(m["p_ids"][p]), float(i / u))
             for g, p, i, u in zip(m["gi"], m["pi"], m["inter"], m["union"])]
    return {"pairs": pairs, "tp": [pair for pair, t in zip(pairs, m["tp"]) if t],
            "fp": [int(m["p_ids"][p]) for p in m["fp"]], "fn": [int(m["g_ids"][g]) for g in m["fn"]],
            "ignored": [int(m["p_ids"][p]) for p in m["ignored"]]}


def matches_at_threshold(pairs, threshold: float) -> dict:
    """Teaching aside, not part of PQ: which pairs would "match" if the IoU threshold were ``threshold``.

    pairs: ``[(gt_id, pred_id, iou)]`` (``match_segments(...)["pairs"]``). Returns ``{"matches": pairs with
    iou > threshold, "gt_with_several": gt ids matched more than once, "pred_with_several": pred ids likewise}``.
    Above 0.5 both lists are always empty (that is why PQ needs no assignment step); below it they need not be.
    """
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    matches = [p for p in pairs if p[2] > threshold]
    several = lambda ids: sorted({i for i in ids if ids.count(i) > 1})  # noqa: E731
    return {"matches": matches, "gt_with_several": several([m[0] for m in matches]),
            "pred_with_several": several([m[1] for m in matches])}


def _count(m: dict, num_cats: int):
    """One image's matching -> per-category (tp, fp, fn, iou_sum)."""
    t = m["tp"]
    tp = np.bincount(m["g_cat"][m["gi"][t]], minlength=num_cats)
    iou = np.bincount(m["g_cat"][m["gi"][t]], weights=m["inter"][t] / m["union"][t], minlength=num_cats)
    fp = np.bincount(m["p_cat"][m["fp"]], minlength=num_cats)
    fn = np.bincount(m["g_cat"][m["fn"]], minlength=num_cats)
    return tp, fp, fn, iou


def pq_from_counts(tp, fp, fn, iou_sum) -> dict:
    """One class's ``{"pq", "sq", "rq"}`` from its counts and the summed IoU of its TPs (zeros when all are 0)."""
    tp, fp, fn, iou_sum = int(tp), int(fp), int(fn), float(iou_sum)
    if min(tp, fp, fn) < 0 or iou_sum < 0 or iou_sum > tp + 1e-9:
        raise ValueError(f"counts must be >= 0 and 0 <= iou_sum <= tp, got tp={tp} fp={fp} fn={fn} iou_sum={iou_sum}")
    denom = tp + 0.5 * fp + 0.5 * fn
    if denom == 0:
        return {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    return {"pq": iou_sum / denom, "sq": iou_sum / tp if tp else 0.0, "rq": tp / denom}


def _summarise(ids, things, tp, fp, fn, iou) -> dict:
    per_class = {c: {**pq_from_counts(tp[k], fp[k], fn[k], iou[k]), "tp": int(tp[k]), "fp": int(fp[k]),
                     "fn": int(fn[k])} for k, c in enumerate(ids)}
    result = {}
    for group, keep in (("All", np.ones_like(things)), ("Things", things), ("Stuff", ~things)):
        counted = [per_class[c] for k, c in enumerate(ids) if keep[k] and tp[k] + fp[k] + fn[k] > 0]
        n = len(counted)
        result[group] = {key: (sum(r[key] for r in counted) / n if n else 0.0) for key in ("pq", "sq", "rq")}
        result[group]["n"] = n
    result["per_class"] = per_class
    return result


def _id_map_and_segments(item, which: str, index: int):
    if isinstance(item, dict) and "id_map" in item and "segments_info" in item:
        return item["id_map"], item["segments_info"]
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    raise ValueError(f"{which}[{index}] must be a pair (id_map, segments_info) or a dict with those keys")


def panoptic_quality(gt, pred, categories=None) -> dict:
    """PQ, SQ and RQ with panopticapi's semantics, as fractions in [0, 1].

    gt, pred: sequences of per-image pairs ``(id_map int[H, W], segments_info list[dict])`` (numpy or torch; a dict
        with keys ``id_map``/``segments_info`` also works, and a single pair is taken as one image).
    categories: list of ``{"id", "name", "isthing"}`` (default: seglab's 8 scene classes).
    Returns ``{"All"|"Things"|"Stuff": {"pq", "sq", "rq", "n"}, "per_class": {category_id: {"pq", "sq", "rq",
    "tp", "fp", "fn"}}}``.
    """
    ids, cat_pos, things = _categories(categories)
    single = lambda x: isinstance(x, dict) or (  # noqa: E731
        isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], (np.ndarray, torch.Tensor)))
    gt, pred = ([x] if single(x) else list(x) for x in (gt, pred))
    if len(gt) != len(pred):
        raise ValueError(f"gt has {len(gt)} images but pred has {len(pred)}")
    pairs = ((f"image {index}", _id_map_and_segments(g, "gt", index), _id_map_and_segments(p, "pred", index))
             for index, (g, p) in enumerate(zip(gt, pred)))
    return _score(pairs, ids, cat_pos, things)


def _score(pairs, ids, cat_pos, things) -> dict:
    """Sum the matches of every ``(image, (gt_map, gt_segments), (pred_map, pred_segments))`` and summarise."""
    totals = [np.zeros(len(ids), dtype=np.int64) for _ in range(3)] + [np.zeros(len(ids))]
    for image, (gt_map, gt_segments), (pred_map, pred_segments) in pairs:
        m = _match(gt_map, gt_segments, pred_map, pred_segments, cat_pos, image)
        for total, part in zip(totals, _count(m, len(ids))):
            total += part
    return _summarise(ids, things, *totals)


def panoptic_quality_of_pairs(pairs, categories=None) -> dict:
    """:func:`panoptic_quality` over an iterable of ``(image name, (gt id_map, gt segments_info), (pred id_map, pred
    segments_info))``, consumed one image at a time (a whole data set's id maps need not fit in memory); the image
    name goes into error messages. What :func:`seglab.train.evaluation.pq_compute` scores files with."""
    ids, cat_pos, things = _categories(categories)
    return _score(pairs, ids, cat_pos, things)


def __getattr__(name):
    if name == "pq_compute":  # moved to seglab.train.evaluation (it reads files); this name works for one release
        import warnings

        warnings.warn("seglab.metrics.pq_compute moved to seglab.train.evaluation.pq_compute (metrics score arrays; "
                      "reading COCO files is the evaluator's); the old name works for this release",
                      DeprecationWarning, stacklevel=2)
        from seglab.train.evaluation import pq_compute  # layers: deprecated forwarder

        return pq_compute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
