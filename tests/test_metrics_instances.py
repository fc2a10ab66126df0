"""Instance scores (seglab.metrics.instances): hand-made cases, the loop oracle, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seglab.metrics.instances import (
    DSB_THRESHOLDS,
    instance_ious,
    instance_scores,
    instance_scores_naive,
    label_components,
    merged_pairs,
    touching_pairs,
)


def _two_touching():
    """Two 4x4 nuclei side by side (touching along a column) and one apart."""
    gt = np.zeros((12, 16), dtype=np.int64)
    gt[2:6, 2:6] = 1
    gt[2:6, 6:10] = 2
    gt[8:11, 12:15] = 7
    return gt


def test_thresholds_are_the_dsb_ones():
    assert DSB_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_perfect_prediction_scores_one_and_no_merge():
    gt = _two_touching()
    scores = instance_scores(gt, gt * 3)  # other ids, same objects
    assert scores["dsb_score"] == scores["pq"] == scores["sq"] == scores["f1"] == 1.0
    assert (scores["tp"], scores["fp"], scores["fn"]) == (3, 0, 0)
    assert scores["touching_pairs"] == 1 and scores["merged_pairs"] == 0 and scores["merged_fraction"] == 0.0


def test_connected_components_merge_touching_nuclei():
    gt = _two_touching()
    pred = label_components(gt > 0)  # the two touching nuclei become one component
    assert pred.max() == 2 and pred.dtype == np.int64
    scores = instance_scores(gt, pred)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 2)  # the merged blob has IoU 0.5 with each: no match
    assert scores["merged_pairs"] == 1 and scores["merged_fraction"] == 1.0
    assert merged_pairs(gt, pred) == [(1, 2)]
    # DSB: 1 TP of 4 objects counted at every threshold -> 1 / (1 + 1 + 2)
    assert scores["dsb_score"] == pytest.approx(0.25)
    assert scores["pq"] == pytest.approx(1.0 / (1 + 0.5 + 1.0))


def test_dsb_counts_each_threshold():
    gt = np.zeros((10, 10), dtype=np.int64)
    gt[0:10, 0:4] = 1  # 40 pixels
    pred = np.zeros_like(gt)
    pred[0:10, 0:3] = 5  # IoU 30/40 = 0.75: a match at 0.50..0.70, not at 0.75 (strict) and above
    scores = instance_scores(gt, pred)
    assert scores["dsb_per_threshold"] == [1.0] * 5 + [0.0] * 5
    assert scores["dsb_score"] == pytest.approx(0.5)
    assert scores["pq"] == pytest.approx(0.75) and scores["sq"] == pytest.approx(0.75) and scores["f1"] == 1.0


def test_diagonal_contact_touches_and_connectivity_option():
    gt = np.zeros((6, 6), dtype=np.int64)
    gt[1:3, 1:3] = 1
    gt[3:5, 3:5] = 2  # corner to corner: 8-adjacent only
    assert touching_pairs(gt) == [(1, 2)]
    assert label_components(gt > 0).max() == 2 and label_components(gt > 0, connectivity=8).max() == 1
    gt[3:5, 3:5] = 0
    gt[4:6, 4:6] = 2  # one pixel apart diagonally: not touching
    assert touching_pairs(gt) == []


def test_merge_needs_more_than_half_of_each():
    gt = _two_touching()
    pred = np.zeros_like(gt)
    pred[2:6, 2:8] = 1  # all of nucleus 1, half of nucleus 2: not merged (half is not more than half)
    assert merged_pairs(gt, pred) == []
    pred[2:6, 2:9] = 1  # 3/4 of nucleus 2
    assert merged_pairs(gt, pred) == [(1, 2)]


def test_ious_table():
    gt = _two_touching()
    pred = np.zeros_like(gt)
    pred[2:6, 3:6] = 4
    ious, gt_ids, pred_ids = instance_ious(gt, pred)
    assert gt_ids.tolist() == [1, 2, 7] and pred_ids.tolist() == [4]
    np.testing.assert_allclose(ious[:, 0], [12 / 16, 0.0, 0.0])


def test_empty_maps():
    empty = np.zeros((5, 5), dtype=np.int64)
    scores = instance_scores(empty, empty)
    assert math.isnan(scores["dsb_score"]) and math.isnan(scores["pq"]) and scores["tp"] == 0
    gt = _two_touching()
    scores = instance_scores(gt, np.zeros_like(gt))
    assert scores["dsb_score"] == 0.0 and scores["pq"] == 0.0 and scores["fn"] == 3 and math.isnan(scores["precision"])


def _random_instances(rng, shape, count):
    labels = np.zeros(shape, dtype=np.int64)
    for k in range(1, count + 1):
        y, x = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
        h, w = rng.integers(2, 6, size=2)
        labels[y:y + h, x:x + w] = k  # later boxes paint over earlier ones: touching and cut objects
    return labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_the_loop_oracle(seed):
    rng = np.random.default_rng(seed)
    gt = _random_instances(rng, (20, 24), 9)
    pred = gt.copy()
    pred[rng.random(gt.shape) < 0.15] = 0  # drop pixels, then let the components decide the instances
    pred = label_components(pred > 0) if seed != 2 else _random_instances(rng, (20, 24), 8)
    fast, slow = instance_scores(gt, pred), instance_scores_naive(gt, pred)
    assert fast["touching_pairs"] > 0
    for key, value in slow.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(fast[key]), key
        else:
            assert fast[key] == pytest.approx(value), key


def test_bad_input_says_what_was_expected():
    gt = _two_touching()
    with pytest.raises(ValueError, match=r"gt \(12, 16\) and pred \(12, 15\) must have the same size"):
        instance_scores(gt, gt[:, 1:])
    with pytest.raises(ValueError, match="integer ids"):
        instance_scores(gt.astype(float), gt)
    with pytest.raises(ValueError, match=r"2-D \[H, W\]"):
        instance_scores(gt[None], gt[None])
    with pytest.raises(ValueError, match="negative id -1"):
        instance_scores(gt - 1, gt)
    with pytest.raises(ValueError, match=r"thresholds must lie in \[0.5, 1\)"):
        instance_scores(gt, gt, thresholds=[0.3])
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        label_components(gt, connectivity=6)
    with pytest.raises(ValueError, match=r"pair \(1, 9\) names an object that is not in gt"):
        merged_pairs(gt, gt, pairs=[(1, 9)])
