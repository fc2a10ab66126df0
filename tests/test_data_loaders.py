"""Datasets (all tasks), the VOC/COCO loaders, agreement with torchvision and d2l, joint transforms, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.data import COCOInstances, COCOPanoptic, SceneDataset, VOCSegmentation, detection_collate
from seglab.data.classes import CATEGORIES, NUM_CLASSES, NUM_THINGS
from seglab.data.formats import encode_palette_png, rle_encode, voc_palette_array
from seglab.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    crop,
    hflip,
    masks_to_boxes_xyxy,
    resize,
)
from seglab.utils import DATA_DIR

VOC = Path("VOCdevkit") / "VOC2012"


@pytest.fixture
def root(scenes):
    return scenes  # tests/conftest.py: 6 train and 2 val scenes, 128 px, seed 5


@pytest.fixture
def scratch(root, tmp_path):
    """A private copy to damage."""
    return Path(shutil.copytree(root, tmp_path / "copy"))


def test_semantic_task(root):
    ds = SceneDataset(root, "train", "semantic")
    assert len(ds) == 6 and ds.num_classes == NUM_CLASSES == 8 and ds.categories == CATEGORIES
    assert ds.image_ids == list(range(1, 7)) and SceneDataset(root, "val").image_ids == [7, 8]
    image, mask = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, 128, 128)
    assert 0 <= image.min() and image.max() <= 1 and image.std() > 0.05
    assert mask.dtype == torch.int64 and mask.shape == (128, 128)
    values = set(mask.unique().tolist())
    assert values <= set(range(8)) | {255} and 255 in values and values & {4, 5, 6, 7}


def test_instance_task(root):
    ds, semantic_ds = SceneDataset(root, "train", "instance"), SceneDataset(root, "train")
    for index in range(len(ds)):
        image, target = ds[index]
        n = len(target["labels"])
        assert n >= 1 and target["image_id"] == ds.image_ids[index]
        assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (n, 4)
        assert target["labels"].dtype == torch.int64
        assert 1 <= target["labels"].min() and target["labels"].max() <= NUM_THINGS
        assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (n, 128, 128)
        assert target["area"].dtype == torch.float32 and target["iscrowd"].dtype == torch.int64
        torch.testing.assert_close(target["boxes"], masks_to_boxes_xyxy(target["masks"]))
        torch.testing.assert_close(target["area"], target["masks"].flatten(1).sum(1).float())
        # instance labels agree with the semantic mask (off the void band)
        semantic = semantic_ds[index][1]
        for mask, label in zip(target["masks"].bool(), target["labels"]):
            on = mask & (semantic != 255)
            assert (semantic[on] == label + 3).all()  # detection label 1..4 -> semantic 4..7


def test_panoptic_task_and_loader(root):
    ds = SceneDataset(root, "val", "panoptic")
    image, target = ds[1]
    assert target["id_map"].dtype == torch.int64 and target["id_map"].shape == (128, 128)
    assert target["image_id"] == 8
    ids = {s["id"] for s in target["segments_info"]}
    assert set(target["id_map"].unique().tolist()) - {0} == ids
    for seg in target["segments_info"]:
        assert set(seg) >= {"id", "category_id", "iscrowd", "area", "bbox"}
    direct = COCOPanoptic(root / "coco/annotations/panoptic_val.json", root / VOC / "JPEGImages",
                          root / "coco/panoptic_val")
    image2, target2 = direct[1]
    torch.testing.assert_close(image, image2)
    assert torch.equal(target["id_map"], target2["id_map"]) and target["segments_info"] == target2["segments_info"]
    assert [c["isthing"] for c in direct.categories] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_detection_collate_and_dataloader(root):
    loader = torch.utils.data.DataLoader(SceneDataset(root, "train", "instance"), batch_size=4,
                                         collate_fn=detection_collate)
    images, targets = next(iter(loader))
    assert isinstance(images, list) and len(images) == 4 and len(targets) == 4
    assert all(isinstance(t, dict) and "boxes" in t for t in targets)
    assert detection_collate([]) == ([], [])
    with pytest.raises(ValueError, match="pairs"):
        detection_collate([1, 2])


@pytest.mark.parametrize("sub", [".", "VOCdevkit/VOC2012"])
def test_voc_loader_accepts_both_roots_and_equals_scene_dataset(root, sub):
    voc = VOCSegmentation(root / sub, "train", num_classes=NUM_CLASSES)
    scenes = SceneDataset(root, "train")
    assert voc.names == scenes.names == [f"train_{i:05d}" for i in range(6)]
    for a, b in zip(voc[2], scenes[2]):
        assert torch.equal(a, b)


def test_torchvision_voc_reads_our_layout(root):
    import torchvision

    tv = torchvision.datasets.VOCSegmentation(str(root), year="2012", image_set="train")
    ours = VOCSegmentation(root, "train", num_classes=NUM_CLASSES)
    assert len(tv) == len(ours)
    for index in (0, 5):
        image, target = tv[index]
        assert target.mode == "P"
        expected_image, expected_mask = ours[index]
        np.testing.assert_array_equal(np.asarray(target), expected_mask.numpy())
        expected_bytes = (expected_image * 255).round().byte().numpy()
        np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1), expected_bytes)


@pytest.mark.slow  # importing d2l costs ~5 s
def test_d2l_reads_our_layout_and_agrees(root):
    import d2l.torch as d2l

    features, labels = d2l.read_voc_images(str(root / VOC), is_train=True)
    ours = VOCSegmentation(root, "train", num_classes=NUM_CLASSES)
    assert len(features) == len(labels) == len(ours) == 6
    palette = torch.from_numpy(voc_palette_array().astype(np.int64))
    for index in range(len(ours)):
        image, mask = ours[index]
        # d2l decodes with torchvision.io; JPEG decoders may round differently by a grey level or two
        assert (features[index].float() - image * 255).abs().mean() < 1.0
        colours = labels[index].permute(1, 2, 0).long()  # d2l labels are RGB colours [3, H, W]
        assert torch.equal(colours, palette[mask])
        # d2l's own colour -> index map knows the 21 VOC colours; it sends void (224, 224, 192) to 0
        d2l_indices = d2l.voc_label_indices(labels[index], d2l.voc_colormap2label())
        keep = mask != 255
        assert torch.equal(d2l_indices[keep].long(), mask[keep])


def test_coco_instances_loader_reads_polygons(scratch):
    import json

    path = scratch / "coco/annotations/instances_val.json"
    data = json.loads(path.read_text())
    data["annotations"] = [{"id": 1, "image_id": 7, "category_id": 6, "iscrowd": 0, "area": 100.0,
                            "bbox": [10.0, 20.0, 10.0, 10.0], "segmentation": [[10, 20, 20, 20, 20, 30, 10, 30]]}]
    path.write_text(json.dumps(data))
    _, target = COCOInstances(path, scratch / VOC / "JPEGImages")[0]
    assert target["labels"].tolist() == [2] and target["masks"].shape == (1, 128, 128)
    assert target["masks"][0, 20:30, 10:20].all() and target["masks"].sum() >= 100
    data["annotations"][0]["segmentation"] = rle_encode(np.ones((64, 64), dtype=np.uint8))
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"annotation 1 in .*instances_val\.json: segmentation has size"):
        COCOInstances(path, scratch / VOC / "JPEGImages")[0]


def test_coco_instances_loader_and_label_map(root):
    ds = COCOInstances(root / "coco/annotations/instances_train.json", root / VOC / "JPEGImages")
    assert ds.label_of == {5: 1, 6: 2, 7: 3, 8: 4}
    image, target = ds[0]
    scene_image, scene_target = SceneDataset(root, "train", "instance")[0]
    assert torch.equal(image, scene_image) and torch.equal(target["masks"], scene_target["masks"])


# ---------------------------------------------------------------- transforms


def _sample(root, task, index=1):
    return SceneDataset(root, "train", task)[index]


def test_flip_moves_boxes_with_masks_and_twice_is_identity(root):
    image, target = _sample(root, "instance")
    flipped_image, flipped = hflip(image, target)
    torch.testing.assert_close(flipped["boxes"], masks_to_boxes_xyxy(flipped["masks"]))
    assert torch.equal(flipped_image, image.flip(-1))
    back_image, back = hflip(flipped_image, flipped)
    assert torch.equal(back_image, image) and torch.equal(back["boxes"], target["boxes"])
    always = RandomHorizontalFlip(p=1.0)
    assert torch.equal(always(image, target)[1]["masks"], target["masks"].flip(-1))


def test_crop_pads_masks_with_255_and_ids_with_0(root):
    image, mask = _sample(root, "semantic")
    out_image, out_mask = crop(image, mask, -3, 120, 20, 16)
    assert out_image.shape == (3, 20, 16) and out_mask.shape == (20, 16)
    assert (out_mask[:3] == 255).all() and (out_mask[:, 8:] == 255).all() and (out_image[:, :3] == 0).all()
    assert torch.equal(out_mask[3:, :8], mask[:17, 120:])
    image, target = _sample(root, "panoptic")
    big = RandomCrop(160)(image, target)[1]
    assert big["id_map"].shape == (160, 160) and (big["id_map"][128:] == 0).all()
    assert sum(s["area"] for s in big["segments_info"]) == int((big["id_map"] != 0).sum())


def test_crop_and_scale_keep_instances_consistent(root):
    image, target = _sample(root, "instance", 3)
    torch.manual_seed(0)
    for transform in (RandomCrop(48), RandomScale(0.5, 1.5), Compose([RandomScale(0.6, 1.4), RandomCrop(64)])):
        out_image, out = transform(image, target)
        n = len(out["labels"])
        assert out["masks"].shape == (n, *out_image.shape[1:]) and out["boxes"].shape == (n, 4)
        assert bool(out["masks"].flatten(1).any(1).all())  # empty instances were dropped
        torch.testing.assert_close(out["boxes"], masks_to_boxes_xyxy(out["masks"]))
        torch.testing.assert_close(out["area"], out["masks"].flatten(1).sum(1).float())
        assert out["masks"].dtype == torch.uint8 and out_image.dtype == torch.float32


def test_same_seed_same_transform_for_semantic_and_panoptic(root):
    transform = Compose([RandomScale(0.7, 1.3), RandomCrop(96), RandomHorizontalFlip()])
    image, mask = _sample(root, "semantic", 4)
    _, target = _sample(root, "panoptic", 4)
    torch.manual_seed(7)
    image_a, mask_a = transform(image, mask)
    torch.manual_seed(7)
    image_b, pan = transform(image, target)
    assert torch.equal(image_a, image_b)
    lookup = {s["id"]: s["category_id"] - 1 for s in pan["segments_info"]}
    expected = torch.full_like(pan["id_map"], 255)
    for segment_id, label in lookup.items():
        expected[pan["id_map"] == segment_id] = label
    assert torch.equal(mask_a, expected)


def test_dataset_applies_joint_transforms(root):
    transform = Compose([RandomCrop(64), RandomHorizontalFlip()])
    for task in ("semantic", "instance", "panoptic"):
        image, target = SceneDataset(root, "train", task, transforms=transform)[0]
        assert image.shape == (3, 64, 64)
        plane = target if task == "semantic" else target["masks"] if task == "instance" else target["id_map"]
        assert plane.shape[-2:] == (64, 64)


def test_resize_and_normalize():
    image = torch.rand(3, 10, 12, dtype=torch.float64)
    mask = torch.randint(0, 8, (10, 12))
    out_image, out_mask = resize(image, mask, (20, 24))
    assert out_image.dtype == torch.float64 and out_mask.dtype == torch.int64
    assert torch.equal(out_mask, mask.repeat_interleave(2, 0).repeat_interleave(2, 1))
    normed, same = Normalize(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(image, mask)
    torch.testing.assert_close(normed, (image - 0.5) / 0.25)
    assert same is mask


def test_transform_bad_input():
    image, mask = torch.rand(3, 8, 8), torch.zeros(8, 8, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"image must be a float tensor of shape \[3, H, W\]"):
        hflip(torch.zeros(3, 8, 8, dtype=torch.uint8), mask)
    with pytest.raises(ValueError, match=r"image must be a float tensor of shape \[3, H, W\]"):
        hflip(torch.rand(8, 8), mask)
    with pytest.raises(ValueError, match=r"mask must be int64 of shape \[H, W\] = \[8, 8\]"):
        hflip(image, torch.zeros(8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"mask must be int64 of shape \[H, W\] = \[8, 8\]"):
        RandomCrop(4)(image, torch.zeros(7, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"target\['masks'\] must have shape"):
        hflip(image, {"masks": torch.zeros(2, 4, 4, dtype=torch.uint8), "boxes": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match=r"target\['boxes'\] must have shape \[N, 4\] = \[2, 4\]"):
        hflip(image, {"masks": torch.zeros(2, 8, 8, dtype=torch.uint8), "boxes": torch.zeros(3, 4)})
    with pytest.raises(TypeError, match="target must be"):
        hflip(image, [1, 2])
    with pytest.raises(TypeError, match="image must be a torch.Tensor"):
        hflip(np.zeros((3, 8, 8)), mask)
    with pytest.raises(ValueError, match="min_scale"):
        RandomScale(2.0, 1.0)
    with pytest.raises(ValueError, match="p must be in"):
        RandomHorizontalFlip(1.5)


@pytest.mark.gpu
def test_transforms_keep_device(root):
    image, target = _sample(root, "instance")
    image = image.cuda()
    target = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in target.items()}
    out_image, out = Compose([RandomScale(), RandomCrop(64), RandomHorizontalFlip()])(image, target)
    assert out_image.is_cuda and out["masks"].is_cuda and out["boxes"].is_cuda


# ---------------------------------------------------------------- bad input


def test_wrong_split_and_task_say_what_is_allowed(root):
    with pytest.raises(ValueError, match=r"split must be 'train', 'val' or 'test', got 'holdout'"):
        SceneDataset(root, "holdout")
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'val'\] \(lists in "):
        SceneDataset(root, "test")  # made without a test split (make_scenes(..., num_test=0))
    with pytest.raises(ValueError, match=r"task must be one of \('semantic', 'instance', 'panoptic'\)"):
        SceneDataset(root, "train", "depth")
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'val'\]"):
        VOCSegmentation(root, "trainval")
    with pytest.raises(FileNotFoundError, match="make data"):
        SceneDataset(root / "nowhere")
    with pytest.raises(FileNotFoundError, match="not a VOC 2012 folder"):
        VOCSegmentation(root / "coco")


def test_missing_and_corrupt_images_name_the_file(scratch):
    ds = SceneDataset(scratch, "train")
    missing = scratch / VOC / "JPEGImages" / "train_00001.jpg"
    kept = missing.read_bytes()
    missing.unlink()
    with pytest.raises(FileNotFoundError, match="train_00001.jpg"):
        ds[1]  # deleted after the dataset was made: named when read
    listed = r"1 image file\(s\) listed in .*train\.txt not found .*train_00001\.jpg"
    with pytest.raises(FileNotFoundError, match=listed):
        SceneDataset(scratch, "train")  # a new dataset checks every listed file up front
    missing.write_bytes(kept)
    corrupt = scratch / VOC / "JPEGImages" / "train_00002.jpg"
    corrupt.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=r"corrupt.*|train_00002\.jpg"):
        ds[2]
    with pytest.raises(ValueError, match="train_00002.jpg"):
        SceneDataset(scratch, "train", "instance")[2]
    truncated = scratch / VOC / "SegmentationClass" / "train_00003.png"
    truncated.write_bytes(truncated.read_bytes()[:40])
    with pytest.raises(ValueError, match="train_00003.png"):
        ds[3]


@pytest.mark.parametrize("part", ["ImageSets", "SegmentationClass", "JPEGImages"])
def test_a_voc_folder_without_a_part_names_it_and_the_layout(scratch, part):
    shutil.rmtree(scratch / VOC / part)
    lacks = "ImageSets/Segmentation/" if part == "ImageSets" else part + "/"
    with pytest.raises(FileNotFoundError, match=rf"is not a VOC 2012 folder: .*VOC2012 has no {lacks}.*expected "
                                                rf"VOC2012/JPEGImages/NAME\.jpg, VOC2012/SegmentationClass/NAME\.png"):
        VOCSegmentation(scratch)
    with pytest.raises(FileNotFoundError, match=r"VOC root .*nowhere not found: expected a folder with VOC2012/"):
        VOCSegmentation(scratch / "nowhere")


def test_a_missing_mask_or_an_empty_split_names_the_file(scratch):
    (scratch / VOC / "SegmentationClass" / "train_00003.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 mask file\(s\) listed in .*train\.txt not found "
                                                r"\(e\.g\. .*SegmentationClass/train_00003\.png\); expected VOC2012/"):
        VOCSegmentation(scratch, "train")
    (scratch / VOC / "ImageSets" / "Segmentation" / "val.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"split file .*val\.txt lists no image; expected one NAME a line"):
        VOCSegmentation(scratch, "val")


def test_a_voc_mask_value_outside_the_21_classes_names_the_file(scratch):
    path = scratch / VOC / "SegmentationClass" / "train_00002.png"
    labels = np.zeros((128, 128), dtype=np.uint8)
    labels[0, 0] = 30
    path.write_bytes(encode_palette_png(labels))
    with pytest.raises(ValueError, match=r"train_00002\.png has label\(s\) \[30\] outside the classes 0\.\.20 "
                                         r"\(and 255 = ignore\)"):
        VOCSegmentation(scratch, "train")[2]


def _edit_json(path, edit):
    import json

    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_coco_readers_name_the_missing_folder_or_file_and_the_layout(scratch):
    annotations, images = scratch / "coco" / "annotations", scratch / VOC / "JPEGImages"
    with pytest.raises(FileNotFoundError, match=r"image_dir .*nowhere not found: expected the folder that holds the "
                                                r"images named in .*instances_val\.json \(an annotation JSON"):
        COCOInstances(annotations / "instances_val.json", scratch / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"annotation file .*instances_test\.json not found: expected an annot"):
        COCOInstances(annotations / "instances_test.json", images)
    with pytest.raises(FileNotFoundError, match=r"panoptic_dir .*nowhere not found: expected the folder of id PNGs"):
        COCOPanoptic(annotations / "panoptic_val.json", images, scratch / "nowhere")
    (images / "val_00001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 image file\(s\) listed in .*instances_val\.json not found "
                                                r"\(e\.g\. .*val_00001\.jpg\); expected an annotation JSON"):
        COCOInstances(annotations / "instances_val.json", images)
    (scratch / "coco" / "panoptic_train" / "train_00004.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 panoptic PNG\(s\) listed in .*panoptic_train\.json not found "
                                                r"\(e\.g\. .*train_00004\.png\)"):
        COCOPanoptic(annotations / "panoptic_train.json", images, scratch / "coco" / "panoptic_train")


def test_coco_readers_refuse_unknown_categories_and_images_when_opened(scratch):
    annotations, images = scratch / "coco" / "annotations", scratch / VOC / "JPEGImages"
    _edit_json(annotations / "instances_train.json", lambda d: d["annotations"][0].update(category_id=99))
    with pytest.raises(ValueError, match=r"annotation 1 in .*instances_train\.json has category_id 99, not one of "
                                         r"the file's categories \[5, 6, 7, 8\]"):
        COCOInstances(annotations / "instances_train.json", images)
    _edit_json(annotations / "instances_train.json", lambda d: d["annotations"][0].update(category_id=5, image_id=77))
    with pytest.raises(ValueError, match=r"annotation 1 in .*instances_train\.json refers to image_id 77, which is "
                                         r"not in its 'images' list"):
        COCOInstances(annotations / "instances_train.json", images)
    _edit_json(annotations / "panoptic_val.json", lambda d: d["annotations"][0]["segments_info"][0].update(
        category_id=0))
    with pytest.raises(ValueError, match=r"segment \d+ of image 7 in .*panoptic_val\.json has category_id 0, not one "
                                         r"of the file's categories \[1, 2, 3, 4, 5, 6, 7, 8\]"):
        COCOPanoptic(annotations / "panoptic_val.json", images, scratch / "coco" / "panoptic_val")
    _edit_json(annotations / "instances_val.json", lambda d: d.pop("categories"))
    with pytest.raises(ValueError, match=r"instances_val\.json has no 'categories' list; expected an annotation JSON"):
        COCOInstances(annotations / "instances_val.json", images)


def test_mask_label_outside_the_classes_is_reported_with_label_and_file(scratch):
    path = scratch / VOC / "SegmentationClass" / "train_00004.png"
    labels = np.zeros((128, 128), dtype=np.uint8)
    labels[5, 5] = 9
    labels[6, 6] = 255  # ignore is allowed
    path.write_bytes(encode_palette_png(labels))
    with pytest.raises(ValueError, match=r"train_00004\.png has label\(s\) \[9\] outside the classes 0\.\.7"):
        SceneDataset(scratch, "train")[4]
    assert VOCSegmentation(scratch, "train")[4][1].max() == 255  # 21 VOC classes: 9 is a valid VOC label


def test_wrong_mask_size_and_unknown_panoptic_id(scratch):
    path = scratch / VOC / "SegmentationClass" / "train_00000.png"
    path.write_bytes(encode_palette_png(np.zeros((64, 128), dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"train_00000\.png has size \(64, 128\), expected the image size \(128, 128"):
        SceneDataset(scratch, "train")[0]
    from PIL import Image

    png = scratch / "coco" / "panoptic_train" / "train_00001.png"
    Image.fromarray(np.full((128, 128, 3), 7, dtype=np.uint8)).save(png)
    with pytest.raises(ValueError, match=r"train_00001\.png has segment id\(s\) \[460551\] missing"):
        SceneDataset(scratch, "train", "panoptic")[1]
    (scratch / "coco" / "annotations" / "instances_val.json").write_text("{not json")
    with pytest.raises(ValueError, match="instances_val.json"):
        SceneDataset(scratch, "val", "instance")


def test_shipped_scenes_follow_the_contract():
    if not (DATA_DIR / "scenes").is_dir():
        pytest.skip("data/scenes not generated")
    assert len(SceneDataset(split="train")) == 400 and len(SceneDataset(split="val", task="panoptic")) == 100
    image, target = SceneDataset(split="val", task="instance")[0]
    assert image.shape == (3, 128, 128) and target["image_id"] == 401
