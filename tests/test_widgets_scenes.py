"""Chapter 0: the scene renderers, the scene browser and the self-checks."""

import numpy as np
import pytest

from seglab import widgets
from seglab.check import check_count_things, check_rgb_to_id
from seglab.data import SceneDataset
from seglab.data.classes import CATEGORIES
from seglab.viz import distinct_colors, voc_palette
from seglab.viz.panoptic import colorize_panoptic
from seglab.viz.scenes import render_instances, show_tasks


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


def test_distinct_panoptic_colours_void_white_stuff_in_class_colour():
    ids = np.array([[0, 7], [9, 9]])
    info = [{"id": 7, "category_id": 2}, {"id": 9, "category_id": 5}]
    out = colorize_panoptic(ids, info, style="distinct")
    assert (out[0, 0] == 255).all()
    assert tuple(out[0, 1]) == (128, 0, 0)  # grass = semantic 1 = VOC palette entry 1
    assert tuple(out[1, 0]) == tuple(distinct_colors(1, seed=1)[0]) and (out[1, 0] == out[1, 1]).all()
    shaded = colorize_panoptic(ids, info)  # chapter 6's style: VOID cream, things shaded from their class colour
    assert tuple(shaded[0, 0]) == (224, 224, 192) and tuple(shaded[0, 1]) == (128, 0, 0)
    with pytest.raises(ValueError, match="style"):
        colorize_panoptic(ids, info, style="pastel")


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
    assert w.state["views"] == ("image", "semantic", "instance", "panoptic")
    _, instance = SceneDataset(split="val", task="instance")[3]
    _, panoptic = SceneDataset(split="val", task="panoptic")[3]
    things = {c["id"] for c in CATEGORIES if c["isthing"]}
    assert w.state["num_instances"] == instance["masks"].shape[0] == 5  # every thing segment is an instance
    assert w.state["num_segments"] == len(panoptic["segments_info"]) == 8
    assert sum(s["category_id"] in things for s in panoptic["segments_info"]) == 5
    pictures = w.state["pictures"]
    np.testing.assert_array_equal(pictures["semantic"], voc_palette()[w.state["semantic"].numpy()])
    colours = distinct_colors(5)
    for mask, colour in zip(instance["masks"].numpy().astype(bool), colours):  # later masks drawn on top
        assert (pictures["instance"][mask] == colour).all(-1).any()
    np.testing.assert_array_equal(pictures["panoptic"],
                                  colorize_panoptic(panoptic["id_map"], panoptic["segments_info"], style="distinct"))
    all_views = w.image.value
    for view in ("semantic", "panoptic"):
        w.controls["view"].value = view
        assert w.state["views"] == (view,) and list(w.state["pictures"]) == [view]
        np.testing.assert_array_equal(w.state["pictures"][view], pictures[view])  # the same panel, alone
        assert w.image.value != all_views
    assert not np.array_equal(pictures["semantic"], pictures["panoptic"])  # things split into instances


def test_checks_pass_a_right_answer_and_catch_a_wrong_one():
    right = lambda rgb: rgb.astype(np.int64) @ np.array([1, 256, 65536])
    wrong = lambda rgb: rgb.astype(np.int64) @ np.array([65536, 256, 1])
    assert check_rgb_to_id(right)
    result = check_rgb_to_id(wrong)
    assert not result and "expected" in result.message
    ds = SceneDataset(split="val", task="panoptic")
    assert check_count_things(lambda info, cats: sum(s["category_id"] >= 5 for s in info), ds)
    assert not check_count_things(lambda info, cats: len(info), ds)
