"""Self-checks for chapter 6 (panoptic quality).

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import functools
import random

import numpy as np

from seglab.check.core import CheckResult, check_answer, check_function
from seglab.metrics.panoptic import match_segments, matches_at_threshold, panoptic_quality, pq_from_counts

__all__ = ["check_pq_from_matching", "check_find_match", "check_match_image", "check_image_pq",
           "check_crowd_count", "check_double_matches", "pq_from_matching_reference", "find_match_reference",
           "HOMEWORK_CATEGORIES"]

#: The categories of the random homework images: one stuff class and two thing classes.
HOMEWORK_CATEGORIES = [{"id": 1, "name": "sky", "isthing": 0}, {"id": 5, "name": "disk", "isthing": 1},
                       {"id": 6, "name": "square", "isthing": 1}]


def pq_from_matching_reference(tp_ious, num_fp: int, num_fn: int) -> tuple[float, float, float]:
    """``(pq, sq, rq)`` of one class from the IoUs of its matched pairs and its FP and FN counts."""
    r = pq_from_counts(len(tp_ious), num_fp, num_fn, float(sum(tp_ious)))
    return r["pq"], r["sq"], r["rq"]


def check_pq_from_matching(student, *, seed: int = 0) -> CheckResult:
    """``student(tp_ious: list[float], num_fp: int, num_fn: int) -> (pq, sq, rq)`` for one class."""
    cases = [([0.9, 0.6], 1, 0), ([0.75], 1, 1), ([], 2, 3), ([0.51, 0.99, 0.7], 0, 0), ([1.0], 0, 4), ([], 0, 0)]
    rng = random.Random(seed)
    cases += [([round(rng.uniform(0.51, 1.0), 3) for _ in range(rng.randint(0, 5))], rng.randint(0, 4),
               rng.randint(0, 4)) for _ in range(8 if seed else 0)]
    return check_function(student, pq_from_matching_reference, cases, name="pq_from_matching")


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
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [_seg(3, 5), _seg(2, 1)], 2)  # stuff, IoU 3/5 once VOID leaves the union
    yield (*gt, row(4, 4, 4, 4, 4, 4, 4, 4), [_seg(4, 1)], 2)  # IoU 3 / (8 - 1 VOID): the disk pixels count, none
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
    cases = _random_images(seed + 500, 10)
    return check_function(student, _image_pq_reference, cases, name="image_pq", atol=1e-9)


def check_crowd_count(answer, *, split: str = "train") -> CheckResult:
    """A homework question: how many crowd segments the shipped scenes' ``split`` holds (chapter 6 counts them for
    the val split). Prints pass or "not yet", never the value."""
    return check_answer(answer, _crowds(split), name="crowd segments", hint="sum iscrowd over every segments_info")


@functools.lru_cache(maxsize=4)
def _crowds(split: str) -> int:
    from seglab.data.formats import load_json
    from seglab.utils import DATA_DIR

    annotations = load_json(DATA_DIR / "scenes" / "coco" / "annotations" / f"panoptic_{split}.json", "panoptic json")
    return sum(int(s.get("iscrowd", 0)) for a in annotations["annotations"] for s in a["segments_info"])


def check_double_matches(answer, *, threshold: float, trials: int = 400, seed: int = 0) -> CheckResult:
    """A homework question: chapter 6's random search ("Why IoU > 0.5 makes matching unique": 6x6 maps with ids
    0-3 of one class, ``np.random.default_rng(seed)``) run for ``trials`` images at ``threshold``: in how many
    images is some segment matched twice? Prints pass or "not yet", never the value."""
    count = _double_matches(float(threshold), int(trials), int(seed))
    return check_answer(answer, count, name="images with a double match",
                        hint="rerun the chapter's cell with the new threshold and the same seed and trials")


@functools.lru_cache(maxsize=8)
def _double_matches(threshold: float, trials: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    cats = [{"id": 1, "name": "a", "isthing": 1}]
    count = 0
    for _ in range(trials):
        gmap, pmap = rng.integers(0, 4, (2, 6, 6))
        info = lambda m: [_seg(int(i), 1) for i in np.unique(m) if i]  # noqa: E731
        pairs = match_segments(gmap, info(gmap), pmap, info(pmap), cats)["pairs"]
        several = matches_at_threshold(pairs, threshold)
        count += bool(several["gt_with_several"] or several["pred_with_several"])
    return count
