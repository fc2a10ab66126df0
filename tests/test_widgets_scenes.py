"""Chapter 0: the scene renderers, the scene browser and the self-checks."""

import numpy as np
import pytest

from seglab import widgets
from seglab.check import check_count_things, check_rgb_to_id
from seglab.data import SceneDataset
from seglab.viz.scenes import distinct_colors, render_instances, render_panoptic, show_tasks


def test_render_instances_gives_each_object_its_colour():
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[0, :2, :2] = 1
    masks[1, 2:, 2:] = 1
    out = render_instances(masks)
    colours = distinct_colors(2)
    assert (out[0, 0] == colours[0]).all() and (out[3, 3] == colours[1]).all()
    assert (out[0, 3] == 40).all()
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        render_instances(np.zeros((4, 4)))


def test_render_panoptic_void_is_white_and_stuff_uses_class_colour():
    ids = np.array([[0, 7], [9, 9]])
    info = [{"id": 7, "category_id": 2}, {"id": 9, "category_id": 5}]
    out = render_panoptic(ids, info)
    assert (out[0, 0] == 255).all()
    assert tuple(out[0, 1]) == (128, 0, 0)  # grass = semantic 1 = VOC palette entry 1
    assert (out[1, 0] == out[1, 1]).all() and not (out[1, 0] == 255).all()


def test_show_tasks_rejects_unknown_views():
    ds = SceneDataset(split="val", task="semantic")
    image, semantic = ds[0]
    inst = SceneDataset(split="val", task="instance")[0][1]
    pan = SceneDataset(split="val", task="panoptic")[0][1]
    assert len(show_tasks(image, semantic, inst, pan).axes) == 4
    with pytest.raises(ValueError, match="unknown view"):
        show_tasks(image, semantic, inst, pan, views=("depth",))


def test_scene_browser_follows_its_controls():
    w = widgets.scene_browser()
    assert set(w.controls) == {"index", "view"}
    first = w.state["image"]
    png = w.image.value
    w.controls["index"].value = 3
    assert w.state["index"] == 3 and not (w.state["image"] == first).all()
    assert w.image.value != png
    w.controls["view"].value = "panoptic"
    assert w.state["values"]["view"] == "panoptic"
    assert w.state["num_segments"] >= w.state["num_instances"]


def test_checks_pass_a_right_answer_and_catch_a_wrong_one():
    right = lambda rgb: rgb.astype(np.int64) @ np.array([1, 256, 65536])
    wrong = lambda rgb: rgb.astype(np.int64) @ np.array([65536, 256, 1])
    assert check_rgb_to_id(right)
    result = check_rgb_to_id(wrong)
    assert not result and "expected" in result.message
    ds = SceneDataset(split="val", task="panoptic")
    assert check_count_things(lambda info, cats: sum(s["category_id"] >= 5 for s in info), ds)
    assert not check_count_things(lambda info, cats: len(info), ds)
