"""Self-checks for chapter 6 (panoptic quality)."""

from __future__ import annotations

import numpy as np

from seglab.check.core import CheckResult, check_function
from seglab.metrics.panoptic import match_segments, pq_from_counts

__all__ = ["check_pq_from_matching", "check_find_match", "pq_from_matching_reference", "find_match_reference"]


def pq_from_matching_reference(tp_ious, num_fp: int, num_fn: int) -> tuple[float, float, float]:
    """``(pq, sq, rq)`` of one class from the IoUs of its matched pairs and its FP and FN counts."""
    r = pq_from_counts(len(tp_ious), num_fp, num_fn, float(sum(tp_ious)))
    return r["pq"], r["sq"], r["rq"]


def check_pq_from_matching(student) -> CheckResult:
    """``student(tp_ious: list[float], num_fp: int, num_fn: int) -> (pq, sq, rq)`` for one class."""
    cases = [([0.9, 0.6], 1, 0), ([0.75], 1, 1), ([], 2, 3), ([0.51, 0.99, 0.7], 0, 0), ([1.0], 0, 4), ([], 0, 0)]
    return check_function(student, pq_from_matching_reference, cases, name="pq_from_matching")


def find_match_reference(gt_map, gt_segments, pred_map, pred_segments, gt_id: int):
    """The id of the predicted segment matched to gt segment ``gt_id`` under COCO's rules, or None."""
    for g, p, _ in match_segments(gt_map, gt_segments, pred_map, pred_segments)["tp"]:
        if g == gt_id:
            return p
    return None


def _cases():
    def seg(i, c, crowd=0):
        return {"id": i, "category_id": c, "iscrowd": crowd}

    row = lambda *v: np.array([v], dtype=np.int64)  # noqa: E731
    gt = (row(1, 1, 1, 1, 2, 2, 2, 0), [seg(1, 5), seg(2, 1)])
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [seg(3, 5), seg(2, 1)], 1)  # IoU 3/4: a match
    yield (*gt, row(3, 3, 2, 2, 2, 2, 2, 2), [seg(3, 5), seg(2, 1)], 1)  # IoU exactly 1/2: none
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [seg(3, 6), seg(2, 1)], 1)  # wrong category: none
    yield (*gt, row(3, 3, 3, 2, 2, 2, 2, 2), [seg(3, 5), seg(2, 1)], 2)  # stuff, IoU 3/5 once VOID leaves the union
    yield (*gt, row(4, 4, 4, 4, 4, 4, 4, 4), [seg(4, 1)], 2)  # IoU 3 / (8 - 1 VOID): the disk pixels count, none
    crowd = (row(1, 1, 1, 1, 2, 2, 2, 2), [seg(1, 5, crowd=1), seg(2, 1)])
    yield (*crowd, row(3, 3, 3, 3, 2, 2, 2, 2), [seg(3, 5), seg(2, 1)], 1)  # crowd gt is never matched


def check_find_match(student) -> CheckResult:
    """``student(gt_map, gt_segments, pred_map, pred_segments, gt_id) -> pred id or None`` (IoU > 0.5, same
    category, VOID of the gt out of the union, crowd gt never matched)."""
    return check_function(student, find_match_reference, list(_cases()), name="find_match")
