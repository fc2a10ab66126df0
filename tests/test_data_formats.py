"""The one home of each small format helper: boxes from masks, COCO I/O helpers, ImageNet statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision.ops import masks_to_boxes

from seglab.data import IMAGENET_MEAN, IMAGENET_STD, drop_crowd, save_coco_panoptic
from seglab.data.formats import mask_to_box, mask_to_coco_bbox, masks_to_boxes_xyxy, read_rgb_image, rgb_to_id


def random_masks(seed: int, n: int = 6, h: int = 13, w: int = 17) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(n, h, w, generator=g) < 0.08
    masks[torch.arange(n), torch.randint(0, h, (n,), generator=g), torch.randint(0, w, (n,), generator=g)] = True
    return masks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_to_box_is_torchvision_plus_one_at_x2_y2(seed):
    masks = random_masks(seed)
    expected = masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # torchvision: x2 = last column
    torch.testing.assert_close(masks_to_boxes_xyxy(masks), expected)
    for mask, box in zip(masks, expected.int().tolist()):
        assert mask_to_box(mask) == box  # tensor in
        assert mask_to_box(mask.numpy()) == box  # NumPy in
        x1, y1, x2, y2 = box
        assert mask_to_coco_bbox(mask.numpy()) == [x1, y1, x2 - x1, y2 - y1]
    assert masks_to_boxes_xyxy(masks).dtype == torch.float32


def test_mask_to_box_single_pixel_and_bad_input():
    mask = np.zeros((5, 6), dtype=bool)
    mask[2, 4] = True
    assert mask_to_box(mask) == [4, 2, 5, 3] and mask_to_coco_bbox(mask) == [4, 2, 1, 1]
    with pytest.raises(ValueError, match="empty"):
        mask_to_box(np.zeros((5, 6), dtype=bool))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        mask_to_box(np.ones((2, 5, 6), dtype=bool))


def test_imagenet_statistics_have_one_home():
    from seglab.data import classes, transforms

    assert transforms.IMAGENET_MEAN is classes.IMAGENET_MEAN is IMAGENET_MEAN
    assert transforms.IMAGENET_STD is classes.IMAGENET_STD is IMAGENET_STD
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)


def test_drop_crowd_keeps_only_single_objects():
    target = {"boxes": torch.rand(3, 4), "labels": torch.tensor([1, 2, 3]), "masks": torch.zeros(3, 4, 4),
              "area": torch.ones(3), "iscrowd": torch.tensor([0, 1, 0]), "image_id": 7}
    image = torch.zeros(3, 4, 4)
    out_image, out = drop_crowd(image, target)
    assert out_image is image and out["labels"].tolist() == [1, 3] and out["iscrowd"].tolist() == [0, 0]
    assert out["masks"].shape == (2, 4, 4) and out["image_id"] == 7 and target["labels"].tolist() == [1, 2, 3]
    no_crowd_field = {k: v for k, v in target.items() if k != "iscrowd"}
    assert drop_crowd(image, no_crowd_field)[1]["labels"].tolist() == [1, 2, 3]


def test_save_coco_panoptic_round_trip(tmp_path):
    id_map = torch.tensor([[1 * 256, 5 * 256 + 1], [0, 5 * 256 + 1]])
    info = [{"id": 256, "category_id": 1}, {"id": 5 * 256 + 1, "category_id": 5, "score": np.float32(0.5)}]
    path = save_coco_panoptic([{"image_id": 3, "id_map": id_map, "segments_info": info}], tmp_path / "p.json",
                              tmp_path / "png")
    data = json.loads(path.read_text())
    annotation = data["annotations"][0]
    assert annotation["file_name"] == "000003.png" and annotation["segments_info"][1]["score"] == 0.5
    np.testing.assert_array_equal(rgb_to_id(read_rgb_image(tmp_path / "png" / "000003.png")), id_map.numpy())
    with pytest.raises(ValueError, match="image_id"):
        save_coco_panoptic([{"id_map": id_map}], tmp_path / "q.json", tmp_path / "png")
    with pytest.raises(ValueError, match="categories"):
        save_coco_panoptic([], tmp_path / "q.json", tmp_path / "png", categories=[{"id": 1}])
