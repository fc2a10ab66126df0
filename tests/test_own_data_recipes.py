"""The *_voc and *_coco recipes on a lecturer's own data set: a few quick steps from the command line and from Python
on small VOC- and COCO-layout folders written by seglab's own writers (21 VOC classes; COCO's 80 categories with
their gaps in the ids), the stages of FCN-8s trained in order, and clear errors for bad folders."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from seglab.data.formats import encode_palette_png, read_label_png
from seglab.models import load_pretrained
from seglab.models.manifest import read_manifest
from seglab.train.__main__ import main
from seglab.train.recipes import RECIPES, SHIPPED_RECIPES, run_recipe

#: Scene class -> a VOC class (0 background; the things become VOC objects): 21 classes with gaps, as real VOC.
VOC_OF_SCENE = np.array([0, 0, 0, 0, 15, 5, 9, 20] + [0] * 247 + [255], dtype=np.uint8)
#: COCO's 80 category ids (1..90 with the gaps of the real file); the scenes' 4 things become 4 of them.
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
COCO_OF_SCENE = {5: 1, 6: 18, 7: 44, 8: 90}


@pytest.fixture(scope="module")
def scenes(make_test_scenes):
    return make_test_scenes(8, 3, size=64, seed=5)  # tests/conftest.py: made once per session


@pytest.fixture(scope="module")
def voc(scenes, tmp_path_factory):
    """A VOC 2012 folder (VOCdevkit/VOC2012) whose masks use 21-class VOC labels and 255 borders."""
    root = tmp_path_factory.mktemp("voc")
    target = root / "VOCdevkit" / "VOC2012"
    shutil.copytree(scenes / "VOCdevkit" / "VOC2012", target)
    for mask in (target / "SegmentationClass").glob("*.png"):
        mask.write_bytes(encode_palette_png(VOC_OF_SCENE[read_label_png(mask)]))
    return root


@pytest.fixture(scope="module")
def coco(scenes, tmp_path_factory):
    """A COCO folder: train2017/, val2017/ and annotations/instances_{train,val}2017.json with 80 categories."""
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    categories = [{"id": i, "name": f"category{i}", "supercategory": "thing"} for i in COCO_IDS]
    for split in ("train", "val"):
        data = json.loads((scenes / "coco" / "annotations" / f"instances_{split}.json").read_text())
        (root / f"{split}2017").mkdir()
        for image in data["images"]:
            shutil.copy(scenes / "VOCdevkit" / "VOC2012" / "JPEGImages" / image["file_name"], root / f"{split}2017")
        for ann in data["annotations"]:
            ann["category_id"] = COCO_OF_SCENE[ann["category_id"]]
        data["categories"] = categories
        (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(data))
    return root


def test_the_own_data_recipes_ship_nothing_and_need_their_folder(tmp_path):
    own = [n for n in RECIPES if n not in SHIPPED_RECIPES]
    assert sorted(own) == ["fcn16s_voc", "fcn32s_voc", "fcn8s_voc", "mask_rcnn_coco", "segnet_voc", "unet_voc"]
    with pytest.raises(ValueError, match=r"--data PATH"):
        run_recipe("unet_voc", quick=True, out_dir=tmp_path, device="cpu", progress=False)
    assert RECIPES["fcn8s_voc"].model_args["width"] == 1.0 and RECIPES["fcn8s_voc"].model_args["num_classes"] == 21
    assert RECIPES["mask_rcnn_coco"].model_args == {"num_classes": 81, "backbone": "resnet50_fpn"}


@pytest.mark.slow
def test_fcn8s_voc_trains_its_stages_in_order_from_the_command_line(voc, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["--recipe", "fcn8s_voc", "--quick", "--data", str(voc), "--out-dir", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    manifest = read_manifest(out)
    assert sorted(manifest) == ["fcn16s_voc", "fcn32s_voc", "fcn8s_voc"]  # 32s -> 16s -> 8s, as the paper
    entry = manifest["fcn8s_voc"]
    assert entry["command"] == f"python -m seglab.train --recipe fcn8s_voc --data {voc} --quick"
    assert entry["data"]["source"] == "voc" and entry["data"]["num_val"] == 3
    assert len(entry["metrics"]["per_class_iou"]) == 21 and 0 <= entry["metrics"]["mIoU"] <= 1
    model = load_pretrained("fcn8s_voc", weights_dir=out)
    assert model.variant == "8s" and not model.training
    assert '"recipe": "fcn32s_voc"' in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unet_voc", "segnet_voc"])
def test_a_voc_recipe_runs_from_python(name, voc, tmp_path):
    recipe = dataclasses.replace(RECIPES[name], data_root=str(voc))
    entry = run_recipe(recipe, quick=True, out_dir=tmp_path, device="cpu", progress=False)
    assert entry["data"]["num_train"] == 8 and len(entry["metrics"]["per_class_iou"]) == 21
    model = load_pretrained(name, weights_dir=tmp_path)
    assert model(__import__("torch").zeros(1, 3, 64, 96)).shape == (1, 21, 64, 96)


@pytest.mark.slow
def test_mask_rcnn_coco_runs_from_the_command_line(coco, tmp_path):
    out = tmp_path / "runs"
    assert main(["--recipe", "mask_rcnn_coco", "--quick", "--data", str(coco), "--annotations",
                 str(coco / "annotations"), "--out-dir", str(out), "--quiet", "--device", "cpu"]) == 0
    entry = read_manifest(out)["mask_rcnn_coco"]
    assert entry["model_args"]["backbone"] == "resnet50_fpn" and entry["model_args"]["num_classes"] == 81
    assert entry["data"]["annotations"] == str(coco / "annotations")
    assert set(entry["metrics"]) == {"mask", "box", "mask_class_agnostic"}


def test_bad_folders_are_named_and_nothing_written_is_replaced(voc, coco, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    (out / "manifest.json").write_text('{"keep": {"file": "keep.pt"}}\n')
    (out / "unet_voc.pt").write_bytes(b"earlier weights")
    broken = tmp_path / "broken"
    shutil.copytree(voc, broken)
    shutil.rmtree(broken / "VOCdevkit" / "VOC2012" / "ImageSets")
    with pytest.raises(FileNotFoundError, match="ImageSets/Segmentation"):
        main(["--recipe", "unet_voc", "--quick", "--data", str(broken), "--out-dir", str(out), "--quiet"])
    mask = next((voc / "VOCdevkit" / "VOC2012" / "SegmentationClass").glob("*.png"))
    bad = tmp_path / "bad"
    shutil.copytree(voc, bad)
    labels = read_label_png(mask).copy()
    labels[0, 0] = 42  # not a VOC class
    (bad / "VOCdevkit" / "VOC2012" / "SegmentationClass" / mask.name).write_bytes(encode_palette_png(labels))
    with pytest.raises(ValueError, match=rf"{mask.name}.*label\(s\) \[42\] outside the classes 0..20"):
        run_recipe(dataclasses.replace(RECIPES["unet_voc"], data_root=str(bad)), quick=True, out_dir=out,
                   device="cpu", progress=False)
    with pytest.raises(FileNotFoundError, match="instances_train"):
        main(["--recipe", "mask_rcnn_coco", "--quick", "--data", str(coco), "--annotations", str(tmp_path),
              "--out-dir", str(out), "--quiet"])
    with pytest.raises(SystemExit, match="--data is for the \\*_voc"):
        main(["--recipe", "unet", "--quick", "--data", str(voc), "--out-dir", str(out), "--quiet"])
    assert (out / "manifest.json").read_text() == '{"keep": {"file": "keep.pt"}}\n'  # as it was
    assert (out / "unet_voc.pt").read_bytes() == b"earlier weights"
