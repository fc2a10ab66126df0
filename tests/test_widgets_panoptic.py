"""panoptic_explorer: controls change the state as they should; perturb_segment edits one segment."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.data import perturb_segment


@pytest.fixture(scope="module")
def dataset(make_test_scenes):
    from seglab.data import SceneDataset

    root = make_test_scenes(num_train=0, num_val=3, size=64, seed=2)  # tests/conftest.py
    return SceneDataset(root, split="val", task="panoptic")


def test_perturb_segment_operations():
    ids = np.zeros((8, 8), dtype=np.int64)
    ids[:, :4], ids[:, 4:] = 1, 2
    ids[2:5, 1:3] = 3
    info = [{"id": i, "category_id": 1 if i < 3 else 5} for i in (1, 2, 3)]
    out, _ = perturb_segment(ids, info, 3, "dilate", 1)
    assert (out == 3).sum() > 6 and (ids == 3).sum() == 6  # the input is not modified
    out, _ = perturb_segment(ids, info, 3, "erode", 1)
    assert (out == 3).sum() == 0 and (out == 0).sum() == 6
    out, new_info = perturb_segment(ids, info, 3, "shift right", 2)
    assert (out == 3).sum() == 6 and out[2, 3] == 3 and out[2, 1] == 0
    out, new_info = perturb_segment(ids, info, 3, "drop")
    assert 3 not in out and [s["id"] for s in new_info] == [1, 2]
    out, new_info = perturb_segment(ids, info, 1, "merge with", other_id=2)
    assert set(np.unique(out)) == {1, 3} and len(new_info) == 2
    with pytest.raises(ValueError, match="second, different segment"):
        perturb_segment(ids, info, 1, "merge with", other_id=1)
    with pytest.raises(ValueError, match="segment_id 9"):
        perturb_segment(ids, info, 9, "drop")


def test_explorer_controls_update_state(dataset):
    from seglab.widgets import panoptic_explorer

    w = panoptic_explorer(dataset)
    assert list(w.controls)[0] == "index"
    assert w.state["pq"] == 1.0 and w.state["fp"] == 0 and w.state["fn"] == 0  # gt against itself
    first_image = w.image.value
    w.controls["index"].value = 1
    assert w.state["index"] == 1 and w.image.value != first_image
    thing = w.controls["segment"].value
    assert {s["id"]: s["category_id"] for s in w.state["pred"][1]}[thing] >= 5  # a thing is selected first
    w.controls["operation"].value = "drop"
    assert w.state["fn"] == 1 and w.state["rq"] < 1.0 and thing not in w.state["pred"][0]
    w.controls["operation"].value = "shift right"
    w.controls["amount"].value = 12
    assert w.state["fp"] >= 1 and w.state["fn"] >= 1
    w.controls["operation"].value = "dilate"
    w.controls["amount"].value = 1  # the 1-px VOID band around each gt thing absorbs this: IoU stays 1
    assert w.state["sq"] == 1.0
    w.controls["amount"].value = 3
    assert w.state["tp"] >= 1 and 0 < w.state["sq"] < 1.0
    w.controls["operation"].value = "merge with"
    w.controls["other"].value = thing
    assert "second, different segment" in w.state["error"]


def test_threshold_aside_shows_non_unique_matches_below_half(dataset):
    from seglab.widgets import panoptic_explorer

    w = panoptic_explorer(dataset)
    w.controls["operation"].value = "dilate"
    w.controls["amount"].value = 3
    pq_before = w.state["pq"]
    w.controls["threshold"].value = 0.05
    assert w.state["pq"] == pq_before  # the aside never changes PQ
    assert w.state["aside"]["gt_with_several"] or w.state["aside"]["pred_with_several"]
    w.controls["threshold"].value = 0.5
    assert not w.state["aside"]["gt_with_several"] and not w.state["aside"]["pred_with_several"]


def test_explorer_reads_the_shipped_scenes_or_says_how_to_make_them(monkeypatch, tmp_path):
    import seglab.utils
    from seglab.widgets import panoptic_explorer

    w = panoptic_explorer()  # data/scenes is in the repository
    assert len(w.dataset) > 0 and "error" not in w.state and w.state["pq"] == 1.0
    monkeypatch.setattr(seglab.utils, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"make data"):
        panoptic_explorer()


def test_match_picture_shows_the_whole_table(dataset):
    """A table taller than the panels (many pairs and classes, as on a real prediction) is not cut off: the picture
    grows, and the last line (the threshold aside the slider moves) is drawn."""
    from seglab.data.classes import CATEGORIES
    from seglab.metrics.panoptic import match_segments
    from seglab.viz.panoptic import panoptic_match_picture

    image, target = dataset[0]
    gt = (target["id_map"], target["segments_info"])
    match = match_segments(*gt, *gt, CATEGORIES)
    short = panoptic_match_picture(image, gt, gt, match, table="one line")
    rows = [f"line {i}" for i in range(60)]
    tall = panoptic_match_picture(image, gt, gt, match, table="\n".join(rows[:-1] + ["aside, IoU > 0.55"]))
    assert tall.shape[0] > short.shape[0] and tall.shape[1] == short.shape[1]
    bottom_text = tall[-40:, short.shape[1] - 330:]
    assert (bottom_text < 128).any(), "the table's last line is not drawn"

