"""The visible self-checks (seed 0, what a student sees) carry the edge cases of issue 30: an absent class in mean
IoU, the minimum 1x1 RoI, a prediction mostly on VOID (and on a crowd), VOID in the union of a match; and the
homework's variants reject the lecture's answer. Each planted mistake is right everywhere else, so only its edge case
can catch it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.check import fcn, panoptic, roi, segnet, unet
from seglab.check.core import check_function
from seglab.data.classes import IGNORE_INDEX


def _mean_iou_over_all_classes(preds, targets, num_classes):
    kept = targets != IGNORE_INDEX
    t, p = targets[kept], preds[kept]
    ious = [((t == c) & (p == c)).sum().item() / max(((t == c) | (p == c)).sum().item(), 1) for c in range(num_classes)]
    return sum(ious) / num_classes


def _mean_iou_counting_ignored_predictions(preds, targets, num_classes):
    present = set(preds.unique().tolist()) | (set(targets.unique().tolist()) - {IGNORE_INDEX})
    kept = targets != IGNORE_INDEX
    t, p = targets[kept], preds[kept]
    ious = [((t == c) & (p == c)).sum().item() / max(((t == c) | (p == c)).sum().item(), 1) for c in present]
    return sum(ious) / len(ious)


def _no_minimum_roi(box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    import math

    oh, ow = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (v * spatial_scale - off for v in box)
    bw, bh = (x2 - x1) / ow, (y2 - y1) / oh
    gh = sampling_ratio if sampling_ratio > 0 else math.ceil(bh)
    gw = sampling_ratio if sampling_ratio > 0 else math.ceil(bw)
    return torch.tensor([[x1 + pw * bw + (ix + 0.5) * bw / gw, y1 + ph * bh + (iy + 0.5) * bh / gh]
                         for iy in range(gh) for ix in range(gw)], dtype=torch.float64)


def _roi_bin_without_minimum(fmap, box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    points = _no_minimum_roi(box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned)
    read = roi._channels_reference if fmap.dim() == 3 else roi.bilinear_sample_reference
    return torch.stack([read(fmap, float(y), float(x)) for x, y in points]).mean(dim=0)


def _match_with_void_in_union(gt_map, gt_segments, pred_map, pred_segments):
    pairs = []
    for g in gt_segments:
        if g.get("iscrowd", 0):
            continue
        for p in pred_segments:
            if p["category_id"] != g["category_id"]:
                continue
            in_g, in_p = gt_map == g["id"], pred_map == p["id"]
            inter = (in_g & in_p).sum()
            if 2 * inter > (in_g | in_p).sum():
                pairs.append((g["id"], p["id"]))
    return sorted(pairs)


def _find_with_void_in_union(gt_map, gt_segments, pred_map, pred_segments, gt_id):
    return next((p for g, p in _match_with_void_in_union(gt_map, gt_segments, pred_map, pred_segments) if g == gt_id),
                None)


def _image_pq_counting_void_predictions(gt_map, gt_segments, pred_map, pred_segments):
    from seglab.metrics.panoptic import match_segments, pq_from_counts

    tp = match_segments(gt_map, gt_segments, pred_map, pred_segments, panoptic.HOMEWORK_CATEGORIES)["tp"]
    stats = {}
    for g, _, iou in tp:
        cat = next(s["category_id"] for s in gt_segments if s["id"] == g)
        stats.setdefault(cat, [0, 0, 0, 0.0])
        stats[cat][0] += 1
        stats[cat][3] += iou
    for s in gt_segments:
        if not s.get("iscrowd", 0) and s["id"] not in {g for g, _, _ in tp}:
            stats.setdefault(s["category_id"], [0, 0, 0, 0.0])[2] += 1
    for s in pred_segments:  # every unmatched prediction is an FP: the mistake
        if s["id"] not in {p for _, p, _ in tp}:
            stats.setdefault(s["category_id"], [0, 0, 0, 0.0])[1] += 1
    scores = [pq_from_counts(*v) for v in stats.values()]
    return tuple(float(np.mean([r[k] for r in scores])) for k in ("pq", "sq", "rq"))


MISTAKES = [
    ("mean IoU over all num_classes", fcn.check_mean_iou, _mean_iou_over_all_classes, {}),
    ("mean IoU with a class seen only under void", fcn.check_mean_iou, _mean_iou_counting_ignored_predictions, {}),
    ("no minimum 1x1 RoI (sample points)", roi.check_bin_sample_points, _no_minimum_roi, {}),
    ("no minimum 1x1 RoI (rectangular)", roi.check_bin_sample_points, _no_minimum_roi, {"rectangular": True}),
    ("no minimum 1x1 RoI (one bin)", roi.check_roi_align_bin, _roi_bin_without_minimum, {}),
    ("no minimum 1x1 RoI (one bin, channels)", roi.check_roi_align_bin, _roi_bin_without_minimum, {"channels": True}),
    ("VOID kept in the union (find_match)", panoptic.check_find_match, _find_with_void_in_union, {}),
    ("VOID kept in the union (match_image)", panoptic.check_match_image, _match_with_void_in_union, {}),
    ("a prediction mostly on VOID or crowd counted as FP", panoptic.check_image_pq,
     _image_pq_counting_void_predictions, {}),
    ("the lecture's channels-first reshape", fcn.check_fc_to_conv, fcn.fc_to_conv_reference, {"channels_last": True}),
    ("the first two distances, not the nearest two", unet.check_border_weight,
     lambda d, w0, s: unet._border_weight(d[0], d[1], w0, s), {"from_all": True}),
    ("the lecture's FCN-8s upsampling by 8", fcn.check_fuse_4s,
     lambda a, b, c, d: torch.nn.functional.interpolate(fcn.fuse_4s_reference(a, b, c, d), scale_factor=0.5,
                                                        mode="bilinear", align_corners=False), {}),
    ("the encoder's 2-bit bytes rounded up once", segnet.check_index_bytes,
     lambda shape, levels: (segnet._encoder_bytes_reference(shape, levels)[0],
                            (2 * sum(shape[0] * shape[1] * (shape[2] >> k) * (shape[3] >> k)
                                     for k in range(1, levels + 1)) + 7) // 8), {"levels": True}),
]


@pytest.mark.parametrize("what, check, wrong, kwargs", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_the_visible_check_catches_the_edge_case_with_a_counterexample(what, check, wrong, kwargs):
    result = check(wrong, **kwargs)  # seed 0: what the student sees
    assert not result, what
    assert "input:" in result.message and "expected:" in result.message


def test_the_planted_mistakes_are_right_away_from_the_edge_case():
    """Each mistake above agrees with the reference on a plain case, so it is the edge case that catches it."""
    preds = torch.tensor([[[0, 1, 2], [2, 1, 0]]])
    targets = torch.tensor([[[0, 1, 2], [2, 0, 0]]])
    assert check_function(_mean_iou_over_all_classes, fcn._mean_iou_reference, [(preds, targets, 3)])
    box = (10.0, 20.0, 50.0, 44.0)
    assert check_function(_no_minimum_roi, roi.bin_sample_points_reference, [(box, 2, 1, 0, 2, 1.0, False)])
    row = lambda *v: np.array([v], dtype=np.int64)  # noqa: E731
    segs = [{"id": 1, "category_id": 5, "iscrowd": 0}]
    assert check_function(_match_with_void_in_union, panoptic._match_image_reference,
                          [(row(1, 1, 1, 0), segs, row(3, 3, 3, 0), [{"id": 3, "category_id": 5}])])


def test_find_match_comment_and_case_agree_on_three_quarters():
    import inspect

    source = inspect.getsource(panoptic._cases)
    assert "IoU 3/4 once VOID leaves the union" in source and "3/5" not in source
    cases = list(panoptic._cases())
    gt, gt_segments, pred, pred_segments, gt_id = cases[3]
    in_g, in_p = gt == gt_id, pred == 2
    union = in_g.sum() + in_p.sum() - (in_g & in_p).sum() - (in_p & (gt == 0)).sum()
    assert (in_g & in_p).sum() / union == 0.75
