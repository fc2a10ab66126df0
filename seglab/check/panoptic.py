"""Self-checks for chapter 6 (panoptic quality).

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import random

import numpy as np

from seglab.check.core import CheckResult, check_function
from seglab.check.rules import Rule, obey
from seglab.metrics.panoptic import match_segments, panoptic_quality, pq_from_counts

__all__ = ["check_pq_from_matching", "check_pq_by_kind", "check_find_match", "check_match_image", "check_image_pq",
           "pq_from_matching_reference", "find_match_reference", "HOMEWORK_CATEGORIES", "PQ_RULE"]

#: Every part (and the lecture's exercises): matching and PQ counted by hand.
PQ_RULE = Rule("panoptic quality", ("panopticapi.*", "torchmetrics.*"), "seglab.metrics.panoptic "
               "(match_segments, pq_from_counts, panoptic_quality) is what you re-implement.")

#: The categories of the random homework images: one stuff class and two thing classes.
HOMEWORK_CATEGORIES = [{"id": 1, "name": "sky", "isthing": 0}, {"id": 5, "name": "disk", "isthing": 1},
                       {"id": 6, "name": "square", "isthing": 1}]


def pq_from_matching_reference(tp_ious, num_fp: int, num_fn: int) -> tuple[float, float, float]:
    """``(pq, sq, rq)`` of one class from the IoUs of its matched pairs and its FP and FN counts."""
    r = pq_from_counts(len(tp_ious), num_fp, num_fn, float(sum(tp_ious)))
    return r["pq"], r["sq"], r["rq"]


def check_pq_from_matching(student, *, seed: int = 0) -> CheckResult:
    """``student(tp_ious: list[float], num_fp: int, num_fn: int) -> (pq, sq, rq)`` for one class."""
    if (broken := obey(student, PQ_RULE, name="pq_from_matching")) is not None:
        return broken
    cases = [([0.9, 0.6], 1, 0), ([0.75], 1, 1), ([], 2, 3), ([0.51, 0.99, 0.7], 0, 0), ([1.0], 0, 4), ([], 0, 0)]
    rng = random.Random(seed)
    cases += [([round(rng.uniform(0.51, 1.0), 3) for _ in range(rng.randint(0, 5))], rng.randint(0, 4),
               rng.randint(0, 4)) for _ in range(8 if seed else 0)]
    return check_function(student, pq_from_matching_reference, cases, name="pq_from_matching")


def pq_by_kind_reference(stats) -> dict[str, tuple[float, float, float]]:
    """``{"All", "Things", "Stuff"} -> (pq, sq, rq)`` from ``stats``, one ``(isthing, tp_ious, num_fp, num_fn)`` a
    category: the means over the categories of each group that have a TP, FP or FN ((0, 0, 0) for none)."""
    groups = {"All": [], "Things": [], "Stuff": []}
    for isthing, tp_ious, num_fp, num_fn in stats:
        if len(tp_ious) + num_fp + num_fn:
            score = pq_from_matching_reference(tp_ious, num_fp, num_fn)
            groups["All"].append(score)
            groups["Things" if isthing else "Stuff"].append(score)
    return {k: tuple(sum(s[i] for s in v) / len(v) for i in range(3)) if v else (0.0, 0.0, 0.0)
            for k, v in groups.items()}


def check_pq_by_kind(student, *, seed: int = 0) -> CheckResult:
    """The homework's variant: ``student(stats) -> {"All": (pq, sq, rq), "Things": ..., "Stuff": ...}`` where
    ``stats`` lists ``(isthing, tp_ious, num_fp, num_fn)`` for each category (see :func:`pq_by_kind_reference`):
    categories without TP, FP or FN are left out of the means, and a group with none scores (0, 0, 0)."""
    if (broken := obey(student, PQ_RULE, name="pq_by_kind")) is not None:
        return broken
    cases = [([(True, [0.9, 0.6], 1, 0), (False, [0.75], 1, 1), (True, [], 2, 3)],),
             ([(True, [0.51], 0, 0), (False, [], 0, 0), (False, [1.0, 0.8], 0, 4)],),  # a category with nothing
             ([(True, [0.7], 1, 1), (True, [], 0, 0)],),  # no stuff at all
             ([(False, [], 0, 0)],)]
    rng = random.Random(seed)
    for _ in range(6 if seed else 0):
        cases.append(([(rng.random() < 0.5, [round(rng.uniform(0.51, 1.0), 3) for _ in range(rng.randint(0, 3))],
                        rng.randint(0, 3), rng.randint(0, 3)) for _ in range(rng.randint(1, 5))],))
    return check_function(student, lambda stats: dict(pq_by_kind_reference(stats)), cases, name="pq_by_kind")


def find_match_reference(gt_map, gt_segments, pred_map, pred_segments, gt_id: int):
    """The id of the predicted segment matched to gt segment ``gt_id`` under COCO's rules, or None."""
    for g, p, _ in match_segments(gt_map, gt_segments, pred_map, pred_segments)["tp"]:
        if g == gt_id:
            return p
    return None


def _seg(i, c, crowd=0):
    return {"id": i, "category_id": c, "iscrowd": crowd}


def _cases():
    row = lambda *v: np.array([v], dtype=np.int64)  # noqa: E731
    gt = (row(1, 1, 1, 1, 2, 2, 2, 0), [_seg(1, 5), _seg(2, 1)])
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [_seg(3, 5), _seg(2, 1)], 1)  # IoU 3/4: a match
    yield (*gt, row(3, 3, 2, 2, 2, 2, 2, 2), [_seg(3, 5), _seg(2, 1)], 1)  # IoU exactly 1/2: none
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [_seg(3, 6), _seg(2, 1)], 1)  # wrong category: none
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [_seg(3, 5), _seg(2, 1)], 2)  # stuff, IoU 3/4 once VOID leaves the union
    yield (*gt, row(4, 4, 4, 4, 4, 4, 4, 4), [_seg(4, 1)], 2)  # IoU 3 / (8 - 1 VOID): the disk pixels count, none
    voided = (row(1, 1, 0, 0, 0, 2, 2, 2), [_seg(1, 5), _seg(2, 1)])
    # IoU 2/2 with VOID out of the union (a match), 2/5 with it in: only code that removes VOID finds the match
    yield (*voided, row(3, 3, 3, 3, 3, 2, 2, 2), [_seg(3, 5), _seg(2, 1)], 1)
    crowd = (row(1, 1, 1, 1, 2, 2, 2, 2), [_seg(1, 5, crowd=1), _seg(2, 1)])
    yield (*crowd, row(3, 3, 3, 3, 2, 2, 2, 2), [_seg(3, 5), _seg(2, 1)], 1)  # crowd gt is never matched


def random_panoptic_pair(rng: random.Random, height: int = 6, width: int = 8):
    """A small random ``(gt_map, gt_segments, pred_map, pred_segments)`` over :data:`HOMEWORK_CATEGORIES`: sky,
    up to three rectangles of things (one may be crowd), VOID pixels, and a prediction that moves, relabels and
    re-categorises some of them."""
    gt = np.ones((height, width), dtype=np.int64)  # segment 1: sky
    segments = [_seg(1, 1)]
    for k in range(2, 2 + rng.randint(1, 3)):
        y, x = rng.randrange(height - 1), rng.randrange(width - 1)
        gt[y:y + rng.randint(1, 4), x:x + rng.randint(1, 5)] = k
    for k in sorted(set(np.unique(gt).tolist()) - {1}):
        segments.append(_seg(k, rng.choice([5, 6]), crowd=int(rng.random() < 0.15)))
    void = np.array([[rng.random() < 0.12 for _ in range(width)] for _ in range(height)])
    gt[void] = 0
    pred = gt.copy()
    pred[void] = 1
    if rng.random() < 0.5:  # shift everything by one pixel
        pred = np.roll(pred, rng.choice([-1, 1]), axis=rng.choice([0, 1]))
    noise = np.array([[rng.random() < 0.2 for _ in range(width)] for _ in range(height)])
    pred[noise] = [rng.choice([0, 1, 2, 9]) for _ in range(int(noise.sum()))]
    cat_of = {s["id"]: s["category_id"] for s in segments}
    pred_segments = []
    for k in sorted(set(np.unique(pred).tolist()) - {0}):
        category = cat_of.get(k, 5) if rng.random() < 0.8 else rng.choice([1, 5, 6])
        pred_segments.append(_seg(k, category))
    gt_segments = [s for s in segments if (gt == s["id"]).any()]
    return gt, gt_segments, pred, [{k: v for k, v in s.items() if k != "iscrowd"} for s in pred_segments]


def check_find_match(student, *, seed: int = 0) -> CheckResult:
    """``student(gt_map, gt_segments, pred_map, pred_segments, gt_id) -> pred id or None`` (IoU > 0.5, same
    category, VOID of the gt out of the union, crowd gt never matched)."""
    if (broken := obey(student, PQ_RULE, name="find_match")) is not None:
        return broken
    cases = list(_cases())
    rng = random.Random(seed)
    for _ in range(6 if seed else 0):
        gt, gt_segments, pred, pred_segments = random_panoptic_pair(rng)
        cases.append((gt, gt_segments, pred, pred_segments, rng.choice(gt_segments)["id"]))
    return check_function(student, find_match_reference, cases, name="find_match")


def _match_image_reference(gt_map, gt_segments, pred_map, pred_segments):
    tp = match_segments(gt_map, gt_segments, pred_map, pred_segments, HOMEWORK_CATEGORIES)["tp"]
    return sorted((g, p) for g, p, _ in tp)


def _random_images(seed: int, count: int):
    rng = random.Random(1000 + seed)
    return [random_panoptic_pair(rng, rng.randint(4, 8), rng.randint(5, 9)) for _ in range(count)]


def check_match_image(student, *, seed: int = 0) -> CheckResult:
    """``student(gt_map, gt_segments, pred_map, pred_segments) -> sorted list of (gt_id, pred_id)``: every matched
    pair of one image under COCO's rules (same category, IoU > 0.5 with the gt's VOID pixels out of the union,
    crowd gt never matched)."""
    if (broken := obey(student, PQ_RULE, name="match_image")) is not None:
        return broken
    cases = [case[:4] for case in _cases()] + _random_images(seed, 8)
    return check_function(student, _match_image_reference, cases, name="match_image")


def _image_pq_reference(gt_map, gt_segments, pred_map, pred_segments):
    r = panoptic_quality([(gt_map, gt_segments)], [(pred_map, pred_segments)], HOMEWORK_CATEGORIES)["All"]
    return r["pq"], r["sq"], r["rq"]


def check_image_pq(student, *, seed: int = 0) -> CheckResult:
    """``student(gt_map, gt_segments, pred_map, pred_segments) -> (pq, sq, rq)`` of one image, averaged over the
    categories of :data:`HOMEWORK_CATEGORIES` that have a TP, FP or FN (panopticapi's rules: crowd gt is never an
    FN; an unmatched prediction is not an FP when more than half of it lies on gt VOID or on crowd gt of its
    category)."""
    if (broken := obey(student, PQ_RULE, name="image_pq")) is not None:
        return broken
    cases = _void_and_crowd_images() + _random_images(seed + 500, 10)
    return check_function(student, _image_pq_reference, cases, name="image_pq")


def _void_and_crowd_images():
    """Two images every seed shows: a predicted disk mostly on gt VOID, and one mostly on a crowd disk; neither is
    an FP (panopticapi), so code that counts them gets another mean."""
    gt = np.ones((4, 6), dtype=np.int64)
    gt[0:2, 0:3] = 0
    pred = np.ones((4, 6), dtype=np.int64)
    pred[0:2, 0:3] = 7
    pred[2, 0] = 7  # 6 of its 7 pixels on VOID
    on_void = (gt, [_seg(1, 1)], pred, [_seg(1, 1), _seg(7, 5)])
    gt2 = np.ones((4, 6), dtype=np.int64)
    gt2[1:3, 2:5] = 4  # a crowd of disks
    gt2[0, 5] = 3
    pred2 = gt2.copy()
    pred2[1:3, 2:5] = 8
    pred2[3, 2] = 8  # 6 of its 7 pixels on the crowd
    on_crowd = (gt2, [_seg(1, 1), _seg(3, 5), _seg(4, 5, crowd=1)], pred2, [_seg(1, 1), _seg(3, 5), _seg(8, 5)])
    return [on_void, on_crowd]
