"""seglab.metrics.coco_map (pycocotools COCOeval built in memory)."""

import json

import pytest
import torch

from seglab.metrics import coco_map


def targets(n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        masks = torch.zeros(2, 64, 64, dtype=torch.uint8)
        x, y = (int(v) for v in torch.randint(0, 20, (2,), generator=gen))
        masks[0, y:y + 20, x:x + 25] = 1
        masks[1, 40:60, 40:58] = 1
        boxes = torch.tensor([[x, y, x + 25, y + 20], [40, 40, 58, 60]], dtype=torch.float32)
        out.append({"boxes": boxes, "labels": torch.tensor([1, 2]), "masks": masks, "image_id": 10 + i})
    return out


def perfect(ts):
    return [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(2),
             "masks": t["masks"][:, None].float()} for t in ts]


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_perfect_predictions_score_one(iou_type):
    ts = targets()
    r = coco_map(perfect(ts), ts, iou_type)
    assert r["AP"] == pytest.approx(1.0) and r["AP50"] == pytest.approx(1.0) and r["AP75"] == pytest.approx(1.0)


def test_empty_and_wrong_predictions_score_zero():
    ts = targets()
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long), "scores": torch.zeros(0),
              "masks": torch.zeros(0, 1, 64, 64)} for _ in ts]
    assert coco_map(empty, ts)["AP"] == 0.0
    wrong = perfect(ts)
    for p in wrong:
        p["labels"] = torch.tensor([2, 1])  # right shapes, swapped classes
    assert coco_map(wrong, ts, ["segm", "bbox"])["segm"]["AP"] == 0.0


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_class_agnostic_ignores_labels_and_equals_scoring_one_merged_class(iou_type):
    ts = targets()
    preds = perfect(ts)
    preds[0]["labels"] = torch.tensor([2, 1])  # image 0: right shapes, swapped classes
    preds[1]["boxes"] = preds[1]["boxes"] + 6  # image 1: both instances shifted
    preds[1]["masks"] = torch.roll(preds[1]["masks"], (6, 6), (2, 3))
    assert coco_map(preds, ts, iou_type)["AP"] < 0.9
    merged = coco_map(preds, ts, iou_type, class_agnostic=True)

    def one(items):
        return [{**d, "labels": torch.ones_like(d["labels"])} for d in items]
    by_hand = coco_map(one(preds), one(ts), iou_type)
    assert merged == pytest.approx(by_hand, nan_ok=True)
    assert coco_map(perfect(ts), ts, iou_type, class_agnostic=True)["AP"] == pytest.approx(1.0)
    wrong = perfect(ts)
    for p in wrong:
        p["labels"] = torch.tensor([2, 1])
    assert coco_map(wrong, ts, iou_type, class_agnostic=True)["AP"] == pytest.approx(1.0)


def test_half_overlapping_mask_counts_at_iou_50_not_75():
    ts = targets(1)
    pred = perfect(ts)[0]
    masks = pred["masks"].clone()
    masks[1, 0, 40:60, 40:58] = 0
    masks[1, 0, 40:60, 40:52] = 1  # IoU 12/18 = 0.67 for the second instance
    pred["masks"] = masks
    r = coco_map([pred], ts, "segm")
    assert r["AP50"] == pytest.approx(1.0) and r["AP75"] == pytest.approx(0.5)


def test_json_ground_truth_with_contiguous_labels(tmp_path):
    from seglab.metrics.coco import coco_from_targets

    ts = targets()
    gt = coco_from_targets([{**t, "labels": t["labels"] + 4} for t in ts]).dataset  # categories 5 and 6
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(gt))
    assert coco_map(perfect(ts), path)["AP"] == pytest.approx(1.0)  # labels 1, 2 -> categories 5, 6
    preds = {10 + i: p for i, p in enumerate(perfect(ts))}
    assert coco_map(preds, str(path), "bbox")["AP75"] == pytest.approx(1.0)


def test_bad_arguments():
    ts = targets()
    with pytest.raises(ValueError, match="iou_type must be"):
        coco_map(perfect(ts), ts, "keypoints")
    with pytest.raises(ValueError, match="one output per ground-truth image"):
        coco_map(perfect(ts)[:2], ts)
    with pytest.raises(ValueError, match="ground_truth path"):
        coco_map(perfect(ts), "/nonexistent.json")
