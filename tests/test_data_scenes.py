"""The scene generator: determinism, the three formats agree with each other and with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.data import SceneDataset
from seglab.data.classes import CATEGORIES, IGNORE_INDEX, NUM_CLASSES, THING_CLASSES
from seglab.data.formats import (
    decode_segmentation,
    encode_palette_png,
    id_to_rgb,
    read_label_png,
    read_rgb_image,
    rgb_to_id,
    rle_decode,
    rle_encode,
    voc_palette_array,
)
from seglab.data.scenes import make_scenes, render_scene, scene_rng
from seglab.utils import DATA_DIR

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")

SHIPPED = DATA_DIR / "scenes"
VOC = Path("VOCdevkit") / "VOC2012"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes") / "small"
    make_scenes(root, 12, 4, size=128, seed=3)
    return root


def test_same_arguments_give_identical_bytes(small, tmp_path):
    again = make_scenes(tmp_path / "again", 12, 4, size=128, seed=3)
    a, b = _files(small), _files(again)
    assert sorted(a) == sorted(b)
    assert len(a) == 1 + 16 * 4 + 2 * 2 + 2  # scenes.json, 4 files per scene, 4 JSONs, 2 split lists
    assert all(a[name] == b[name] for name in a)


def test_other_seed_differs_and_scenes_do_not_depend_on_counts(small, tmp_path):
    other = _files(make_scenes(tmp_path / "other", 2, 1, size=128, seed=4))
    fewer = _files(make_scenes(tmp_path / "fewer", 2, 1, size=128, seed=3))
    ours = _files(small)
    name = str(VOC / "JPEGImages" / "train_00001.jpg")
    assert other[name] != ours[name]
    assert fewer[name] == ours[name]
    val_objects = str(VOC / "SegmentationObject" / "val_00000.png")
    assert fewer[val_objects] == ours[val_objects]


def test_regenerating_into_its_own_folder_works_but_foreign_folders_are_refused(tmp_path):
    root = tmp_path / "d"
    make_scenes(root, 2, 1)
    make_scenes(root, 1, 1)  # replaces the earlier copy
    assert len(list((root / VOC / "JPEGImages").iterdir())) == 2
    foreign = tmp_path / "foreign"
    (foreign / "VOCdevkit").mkdir(parents=True)
    with pytest.raises(ValueError, match="did not write"):
        make_scenes(foreign, 1, 1)


@pytest.mark.parametrize("kwargs, name", [({"num_train": -1}, "num_train"), ({"num_val": 1.5}, "num_val"),
                                          ({"size": 16}, "size"), ({"seed": -2}, "seed")])
def test_make_scenes_bad_arguments(tmp_path, kwargs, name):
    args = dict(num_train=1, num_val=1, size=128, seed=0) | kwargs
    with pytest.raises(ValueError, match=name):
        make_scenes(tmp_path / "x", **args)


def test_palette_has_one_home_and_png_round_trip():
    from seglab.viz import voc_palette

    assert voc_palette is voc_palette_array  # viz draws with the palette the data files are written with
    labels = np.random.default_rng(0).integers(0, 256, (7, 9)).astype(np.uint8)
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(encode_palette_png(labels)))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), labels)
    np.testing.assert_array_equal(np.array(image.getpalette(), dtype=np.uint8).reshape(-1, 3), voc_palette_array())


def test_panoptic_id_colour_round_trip():
    ids = np.random.default_rng(1).integers(0, 256**3, (5, 6))
    rgb = id_to_rgb(ids)
    r, g, b = (rgb[..., c].astype(np.int64) for c in range(3))
    np.testing.assert_array_equal(r + 256 * g + 65536 * b, ids)
    np.testing.assert_array_equal(rgb_to_id(rgb), ids)
    with pytest.raises(ValueError, match="ids must be in"):
        id_to_rgb(np.array([[256**3]]))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        rgb_to_id(np.zeros((4, 4)))


def test_render_scene_contents():
    for index in range(20):
        scene = render_scene(scene_rng(0, "train", index), 128)
        assert scene["image"].shape == (128, 128, 3) and scene["image"].dtype == np.uint8
        assert set(np.unique(scene["stuff"])) <= {0, 1, 2, 3}
        assert sum(1 for t in scene["things"] if not t["iscrowd"]) >= 1
        for thing in scene["things"]:
            assert thing["label"] in THING_CLASSES
            assert thing["mask"].sum() >= 36
        # the band is 1 px wide: it never contains a pixel of the topmost thing
        top = scene["things"][-1]["mask"]
        assert not (scene["band"] & top).any()
        assert set(np.unique(scene["semantic"])) <= set(range(NUM_CLASSES)) | {IGNORE_INDEX}
        assert 0 < scene["band"].mean() < 0.2


def test_instances_json_matches_pycocotools_and_voc_objects(small):
    from pycocotools import mask as mask_util
    from pycocotools.coco import COCO

    coco = COCO(str(small / "coco" / "annotations" / "instances_train.json"))
    assert sorted(coco.getCatIds()) == [c["id"] for c in CATEGORIES if c["isthing"]]
    names = (small / VOC / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    assert len(names) == 12 and len(coco.getImgIds()) == 12
    for image_id in coco.getImgIds():
        info = coco.loadImgs(image_id)[0]
        name = Path(info["file_name"]).stem
        assert name == names[image_id - 1] and (small / VOC / "JPEGImages" / info["file_name"]).is_file()
        objects = read_label_png(small / VOC / "SegmentationObject" / f"{name}.png")
        semantic = read_label_png(small / VOC / "SegmentationClass" / f"{name}.png")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))
        assert anns and set(np.unique(objects)) <= set(range(len(anns) + 1)) | {255}
        for k, ann in enumerate(anns, start=1):
            mask = coco.annToMask(ann)
            np.testing.assert_array_equal(mask, rle_decode(ann["segmentation"]))
            assert ann["area"] == mask.sum() == mask_util.area(coco.annToRLE(ann))
            np.testing.assert_allclose(ann["bbox"], mask_util.toBbox(coco.annToRLE(ann)))
            # the VOC object PNG is the same mask minus the void band; the class PNG carries its class
            visible = objects != 255
            np.testing.assert_array_equal((objects == k), mask.astype(bool) & visible)
            assert (semantic[objects == k] == ann["category_id"] - 1).all()


def test_panoptic_png_matches_segments_info_and_voc(small):
    for split in ("train", "val"):
        data = json.loads((small / "coco" / "annotations" / f"panoptic_{split}.json").read_text())
        assert [c["isthing"] for c in data["categories"]] == [c["isthing"] for c in CATEGORIES]
        for ann in data["annotations"]:
            ids = rgb_to_id(read_rgb_image(small / "coco" / f"panoptic_{split}" / ann["file_name"]))
            semantic = read_label_png(small / VOC / "SegmentationClass" / ann["file_name"])
            present = set(np.unique(ids).tolist()) - {0}
            assert present == {s["id"] for s in ann["segments_info"]}
            stuff_seen = []
            for seg in ann["segments_info"]:
                region = ids == seg["id"]
                assert seg["area"] == region.sum()
                ys, xs = np.nonzero(region)
                assert seg["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
                assert (semantic[region] == seg["category_id"] - 1).all()
                if not CATEGORIES[seg["category_id"] - 1]["isthing"]:
                    stuff_seen.append(seg["category_id"])
            assert len(stuff_seen) == len(set(stuff_seen))  # one segment per stuff class
            np.testing.assert_array_equal(ids == 0, semantic == 255)  # VOID exactly on the VOC band


def test_writers_reject_wrong_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"labels must be a uint8 array of shape \[H, W\], got int64"):
        encode_palette_png(np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"mask must have shape \[H, W\]"):
        rle_encode(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"ids must be an integer array of shape \[H, W\]"):
        id_to_rgb(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="size must be an int >= 32"):
        render_scene(scene_rng(0, "train", 0), 16)


def test_rle_round_trip_and_bad_input():
    mask = np.random.default_rng(2).random((13, 17)) > 0.5
    rle = rle_encode(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [13, 17]
    np.testing.assert_array_equal(rle_decode(rle), mask)
    with pytest.raises(ValueError, match="rle must be a dict"):
        rle_decode([1, 2])


def test_decode_segmentation_polygons_and_rle():
    from pycocotools import mask as mask_util

    polygons = [[1.0, 1.0, 6.0, 1.0, 6.0, 4.0, 1.0, 4.0], [0.0, 7.0, 3.0, 7.0, 0.0, 9.0]]
    mask = decode_segmentation(polygons, 10, 8)
    assert mask.shape == (10, 8) and mask.dtype == np.uint8
    expected = mask_util.decode(mask_util.merge(mask_util.frPyObjects(polygons, 10, 8)))
    np.testing.assert_array_equal(mask, expected)
    assert mask[2, 3] == 1 and mask[6, 6] == 0
    np.testing.assert_array_equal(decode_segmentation(rle_encode(mask), 10, 8), mask)
    with pytest.raises(ValueError, match=r"expected \(4, 4\)"):
        decode_segmentation(rle_encode(mask), 4, 4)
    with pytest.raises(ValueError, match="RLE dict or a list of polygons"):
        decode_segmentation("abc", 4, 4)


def test_shipped_dataset_is_small_complete_and_has_crowds():
    if not SHIPPED.is_dir():
        pytest.skip("data/scenes not generated")
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total < 20 * 2**20
    params = json.loads((SHIPPED / "scenes.json").read_text())
    assert (params["num_train"], params["num_val"], params["num_test"], params["size"], params["seed"]) == \
        (400, 100, 100, 128, 0)
    test = json.loads((SHIPPED / "coco" / "annotations" / "instances_test.json").read_text())
    val = json.loads((SHIPPED / "coco" / "annotations" / "instances_val.json").read_text())
    assert [im["id"] for im in test["images"]] == list(range(501, 601))  # after train's and val's ids
    assert {im["id"] for im in val["images"]} == set(range(401, 501))
    instances = json.loads((SHIPPED / "coco" / "annotations" / "instances_train.json").read_text())
    assert len(instances["images"]) == 400
    crowd_images = {a["image_id"] for a in instances["annotations"] if a["iscrowd"]}
    assert 0.02 < len(crowd_images) / 400 < 0.2
    per_image = np.bincount([a["image_id"] for a in instances["annotations"] if not a["iscrowd"]], minlength=401)[1:]
    assert per_image.min() >= 1 and per_image.max() <= 5
    assert min(a["area"] for a in instances["annotations"]) >= 36
    assert min(min(a["bbox"][2:]) for a in instances["annotations"] if not a["iscrowd"]) >= 6


@pytest.mark.slow
def test_regenerating_the_shipped_dataset_gives_identical_bytes(tmp_path):
    if not SHIPPED.is_dir():
        pytest.skip("data/scenes not generated")
    params = json.loads((SHIPPED / "scenes.json").read_text())
    fresh = make_scenes(tmp_path / "scenes", params["num_train"], params["num_val"], params["size"], params["seed"],
                        num_test=params["num_test"])
    shipped, regenerated = _files(SHIPPED), _files(fresh)
    assert sorted(shipped) == sorted(regenerated)
    different = [name for name in shipped if shipped[name] != regenerated[name]]
    assert not different, f"{len(different)} files differ, e.g. {different[:3]}"


def test_the_test_split_is_new_scenes_and_changes_no_train_or_val_file(small, tmp_path):
    """A held-out test split: its own random streams, so adding it leaves every train and val byte as it was."""
    with_test = _files(make_scenes(tmp_path / "with_test", 12, 4, size=128, seed=3, num_test=3))
    without = _files(small)
    added = sorted(set(with_test) - set(without))
    assert all("test" in name for name in added) and len(added) == 3 * 4 + 3  # jpg, 2 masks, panoptic png; 3 lists
    assert all(with_test[n] == without[n] for n in without if n != "scenes.json")
    assert json.loads(with_test["scenes.json"])["num_test"] == 3
    assert "num_test" not in json.loads(without["scenes.json"])
    test_images = SceneDataset(tmp_path / "with_test", "test")
    assert len(test_images) == 3 and test_images.image_ids == [17, 18, 19]  # after 12 train and 4 val
    val_images = SceneDataset(tmp_path / "with_test", "val")
    assert not any(torch.equal(test_images[i][0], val_images[j][0]) for i in range(3) for j in range(4))
