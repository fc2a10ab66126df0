"""seglab.metrics.semantic against torchmetrics, hand-computed boundary F1 and a loop oracle."""

import math

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from seglab.metrics import (
    SegmentationMeter,
    boundary_f1,
    boundary_f1_reference,
    confusion_matrix,
    mean_iou,
    pixel_accuracy,
)


def random_batch(seed, n=3, k=6, h=17, w=19, ignore_frac=0.2, absent=()):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, h, w, generator=g, dtype=torch.float64)
    targets = torch.randint(0, k, (n, h, w), generator=g)
    for c in absent:  # make class c absent from both targets and predictions
        targets[targets == c] = (c + 1) % k
        logits[:, c] = -1e9
    targets[torch.rand(n, h, w, generator=g) < ignore_frac] = 255
    return logits, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_matrix_against_loop(seed):
    logits, targets = random_batch(seed)
    preds = logits.argmax(1)
    cm = confusion_matrix(logits, targets)
    expected = torch.zeros(6, 6, dtype=torch.int64)
    for t, p in zip(targets.flatten().tolist(), preds.flatten().tolist()):
        if t != 255:
            expected[t, p] += 1
    assert cm.dtype == torch.int64 and torch.equal(cm, expected)
    assert torch.equal(confusion_matrix(preds, targets, 6), expected)


@pytest.mark.parametrize("seed, absent", [(0, ()), (1, (2,)), (2, (0, 4))])
def test_mean_iou_and_accuracy_match_torchmetrics(seed, absent):
    logits, targets = random_batch(seed, absent=absent)
    jaccard = MulticlassJaccardIndex(num_classes=6, average="macro", ignore_index=255)
    accuracy = MulticlassAccuracy(num_classes=6, average="micro", ignore_index=255)
    miou, per_class = mean_iou(logits, targets, per_class=True)
    # both leave classes absent from preds and targets out of the mean
    present = [c for c in range(6) if c not in absent]
    assert torch.isnan(per_class[list(absent)]).all() and not torch.isnan(per_class[present]).any()
    assert miou.item() == pytest.approx(jaccard(logits.argmax(1), targets).item(), abs=1e-6)
    assert pixel_accuracy(logits, targets).item() == pytest.approx(accuracy(logits.argmax(1), targets).item(), abs=1e-6)
    assert pixel_accuracy(logits.argmax(1), targets).item() == pytest.approx(pixel_accuracy(logits, targets).item())
    assert mean_iou(logits.argmax(1), targets).item() == pytest.approx(miou.item())  # num_classes inferred


def test_meter_accumulates_like_one_big_batch():
    logits, targets = random_batch(5, n=6)
    meter = SegmentationMeter(6)
    for i in range(0, 6, 2):
        meter.update(logits[i:i + 2], targets[i:i + 2])
    out = meter.compute()
    miou, per_class = mean_iou(logits, targets, per_class=True)
    assert out["mIoU"] == pytest.approx(miou.item())
    assert out["pixel_acc"] == pytest.approx(pixel_accuracy(logits, targets).item())
    assert out["per_class_iou"] == pytest.approx(per_class.tolist())
    meter.reset()
    with pytest.raises(ValueError, match="before any update"):
        meter.compute()


def test_perfect_prediction_and_ignore_everything():
    targets = torch.tensor([[[0, 1], [2, 255]]])
    assert mean_iou(targets.clone(), targets, 3).item() == 1.0
    assert pixel_accuracy(targets.clamp(max=2), targets, 3).item() == 1.0
    assert math.isnan(pixel_accuracy(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 255), 3).item())


def staircase():
    """8x8: target edge between columns 3|4; the prediction's edge moves to 6|7 from row 4 on."""
    t = torch.zeros(1, 8, 8, dtype=torch.long)
    t[0, :, 4:] = 1
    p = torch.zeros(1, 8, 8, dtype=torch.long)
    p[0, :4, 4:] = 1
    p[0, 4:, 7] = 1
    return p, t


def test_boundary_f1_hand_computed():
    p, t = staircase()
    f1 = boundary_f1(p, t, tolerance=1, reduction="none")
    # class 0: Bp = col 3 rows 0-3, row 4 cols 3-6, col 6 rows 5-7 (11 px); Bt = col 3 (8 px).
    # within 1 px: 6 of Bp (col 3 rows 0-3, (4,3), (4,4)); 6 of Bt (rows 0-5) -> P = 6/11, R = 6/8
    # class 1: Bp = col 4 rows 0-3, (3,5), (3,6), (3,7), col 7 rows 4-7 (11 px); Bt = col 4 (8 px): P = 5/11, R = 5/8
    f = lambda p_, r_: 2 * p_ * r_ / (p_ + r_)
    assert f1[0].tolist() == pytest.approx([f(6 / 11, 6 / 8), f(5 / 11, 5 / 8)], abs=1e-6)
    assert boundary_f1(p, t, tolerance=1).item() == pytest.approx((f(6 / 11, 6 / 8) + f(5 / 11, 5 / 8)) / 2, abs=1e-6)
    # an edge off by 3 columns: nothing within 2 px, everything within 3 px
    shifted = torch.zeros(1, 8, 8, dtype=torch.long)
    shifted[0, :, 7:] = 1
    assert boundary_f1(shifted, t, tolerance=2).item() == 0.0
    assert boundary_f1(shifted, t, tolerance=3).item() == 1.0
    # the image frame is no boundary: a one-class image has none, so no pair counts
    assert math.isnan(boundary_f1(torch.zeros_like(t), torch.zeros_like(t)).item())


def test_boundary_f1_ignored_pixels_and_missing_class():
    p, t = staircase()
    t2 = t.clone()
    t2[0, 4:] = 255  # ignore the lower half; void counts as "outside" a mask, so row 3 of the target is boundary
    # class 0: Bt = row 3 cols 0-3 + col 3 rows 0-3 (7 px), Bp = col 3 rows 0-3 (4 px): P = 1, R = 4/7
    # class 1: Bt = Bp = col 4 rows 0-3 + row 3 cols 5-7 (7 px): F1 = 1
    assert boundary_f1(p, t2, tolerance=0, reduction="none")[0].tolist() == pytest.approx([8 / 11, 1.0])
    blank = torch.zeros_like(t)  # class 1 missing from the prediction: its F1 is 0
    assert boundary_f1(blank, t, tolerance=2, reduction="none")[0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("seed, tol", [(0, 0), (1, 1), (2, 2)])
def test_boundary_f1_matches_loop_oracle(seed, tol):
    g = torch.Generator().manual_seed(seed)
    small = torch.randint(0, 4, (2, 4, 5), generator=g)
    t = small.repeat_interleave(3, 1).repeat_interleave(3, 2)  # blobs, not noise
    p = torch.roll(t, shifts=(1, 2), dims=(1, 2))
    t[:, :2, :] = 255
    fast = boundary_f1(p, t, tol, num_classes=4, reduction="none")
    slow = boundary_f1_reference(p, t, tol, num_classes=4)
    assert torch.allclose(fast, slow, equal_nan=True)
    logits = torch.nn.functional.one_hot(p, 4).permute(0, 3, 1, 2).float()
    assert torch.allclose(boundary_f1(logits, t, tol, reduction="none"), slow, equal_nan=True)


def test_bad_inputs():
    logits, targets = random_batch(0)
    with pytest.raises(ValueError, match="do not fit targets"):
        confusion_matrix(logits[..., :-1], targets)
    with pytest.raises(ValueError, match="do not match targets"):
        mean_iou(logits.argmax(1)[:, :-1], targets, 6)
    bad = targets.clone()
    bad[0, 0, 0] = 7
    with pytest.raises(ValueError, match="targets contain label 7"):
        mean_iou(logits, bad)
    with pytest.raises(ValueError, match="preds contain label 9"):
        confusion_matrix(torch.full_like(targets, 9), targets, 6)
    with pytest.raises(TypeError, match="integer class labels"):
        mean_iou(logits, targets.float())
    with pytest.raises(ValueError, match="num_classes=5"):
        confusion_matrix(logits, targets, 5)
    with pytest.raises(ValueError, match="num_classes is needed"):
        confusion_matrix(targets, targets)
    with pytest.raises(ValueError, match="tolerance"):
        boundary_f1(logits, targets, tolerance=-1)
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationMeter(0)


@pytest.mark.gpu
def test_cuda_matches_cpu(no_tf32):  # TF32 off (conftest.no_tf32); counts are exact, F1 to float32 rounding
    logits, targets = random_batch(3)
    cm = confusion_matrix(logits.cuda(), targets.cuda())
    assert cm.device.type == "cuda" and torch.equal(cm.cpu(), confusion_matrix(logits, targets))
    assert torch.allclose(boundary_f1(logits.cuda(), targets.cuda(), reduction="none").cpu(),
                          boundary_f1(logits, targets, reduction="none"), equal_nan=True)
    meter = SegmentationMeter(6)
    meter.update(logits.cuda(), targets.cuda())
    assert meter.compute()["mIoU"] == pytest.approx(mean_iou(logits, targets).item())
