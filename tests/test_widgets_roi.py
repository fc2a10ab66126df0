"""The chapter 5 explorers: state follows the sliders; the values equal torchvision's; bad boxes give a message."""

import pytest
import torch
from fakes import FakeDetector

from seglab import widgets
from seglab.check.roi import (
    bilinear_sample_reference,
    bin_sample_points_reference,
    check_bilinear_sample,
    check_bin_sample_points,
)


def test_roi_align_explorer_state_follows_sliders():
    w = widgets.roi_align_explorer()
    assert "error" not in w.state
    assert w.state["max_abs_diff"] < 1e-10 and w.state["max_abs_diff_pool"] < 1e-10
    assert w.state["align"].shape == (2, 2) and w.state["grid"].grid == (2, 2)
    before = w.state["align"].clone()
    png = w.image.value
    w.controls["x1"].value = 2.0  # the first slider changes the picture
    assert not torch.equal(before, w.state["align"]) and w.image.value != png
    w.controls["output_size"].value = 3
    assert w.state["align"].shape == (3, 3) and w.state["pool"].shape == (3, 3)
    w.controls["sampling_ratio"].value = 0  # adaptive
    assert w.state["grid"].grid == (3, 4)  # ceil((38 - 9) / 4 / 3), ceil((45 - 2) / 4 / 3)
    w.controls["aligned"].value = True
    w.controls["spatial_scale"].value = 0.5
    assert w.state["max_abs_diff"] < 1e-10 and w.state["max_abs_diff_pool"] < 1e-10


def test_roi_align_explorer_misalignment_for_known_boxes():
    w = widgets.roi_align_explorer()
    # box (13, 9, 45, 38) at scale 1/4 is (3.25, 2.25, 11.25, 9.5) on the map; RoIPool rounds it to (3, 2, 11, 10)
    # and starts its 2 bins at columns 3, 7 and rows 2, 6, the exact bins at 3.25, 7.25 and 2.25, 5.875:
    # the worst edge is 0.25 map pixels = 1 input pixel off
    assert w.state["misalignment_px"] == pytest.approx(1.0)
    assert w.state["pool_cols"][:, 0].tolist() == [3, 7] and w.state["pool_rows"][:, 0].tolist() == [2, 6]
    for name, value in (("x1", 0.0), ("y1", 0.0), ("x2", 28.0), ("y2", 28.0)):
        w.controls[name].value = value
    # (0, 0, 7, 7) on the map: RoIPool's 8 cells split 0 | 4, the exact edges 0 | 3.5: 0.5 map px = 2 input px
    assert w.state["misalignment_px"] == pytest.approx(2.0)
    w.controls["spatial_scale"].value = 1.0  # 29 cells split 0 | 14, exactly the box's 0 | 14: aligned
    assert w.state["misalignment_px"] == 0.0


def test_roi_align_explorer_corners_stay_ordered_and_bad_features():
    """Moving a corner past the other pushes it along: the box is never inverted, the picture never blank."""
    w = widgets.roi_align_explorer(torch.rand(8, 8))
    w.controls["x2"].value = 0.0  # past x1 = 13: x1 follows
    assert w.controls["x1"].value == 0.0 and "error" not in w.state and w.state["box"][0] == w.state["box"][2] == 0
    w.controls["y1"].value = 40.0  # past y2 = 38: y2 follows
    assert w.controls["y2"].value == 40.0 and "error" not in w.state
    w.controls["x2"].value = 30.0
    assert "error" not in w.state and w.state["box"] == (0.0, 40.0, 30.0, 40.0)
    with pytest.raises(ValueError, match="features must be"):
        widgets.roi_align_explorer(torch.rand(8))


def test_self_checks_pass_on_references_and_fail_on_wrong_answers():
    assert check_bilinear_sample(bilinear_sample_reference)
    assert not check_bilinear_sample(lambda f, y, x: f[int(y), int(x)] if 0 <= y < 5 and 0 <= x < 7 else 0.0)
    assert check_bin_sample_points(bin_sample_points_reference)

    def off_by_half(*args):
        return bin_sample_points_reference(*args) + 0.5

    assert not check_bin_sample_points(off_by_half)


def test_mask_rcnn_explorer_threshold_and_image():
    data = [(torch.rand(3, 64, 64), {"boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0]]), "labels": torch.tensor([1]),
                                     "masks": torch.ones(1, 64, 64, dtype=torch.uint8)}) for _ in range(2)]
    w = widgets.mask_rcnn_explorer(FakeDetector(), data)
    assert w.state["kept"] == 1 and w.state["num_detections"] == 2
    png = w.image.value
    w.controls["score_threshold"].value = 0.2
    assert w.state["kept"] == 2 and w.state["labels"] == [1, 2]
    w.controls["image"].value = 1
    assert w.image.value != png and "error" not in w.state


def test_mask_rcnn_explorer_runs_the_neighbours_after_drawing():
    """Issue 27: the next image's detections are ready before the slider moves there (a move only redraws)."""
    data = [(torch.rand(3, 64, 64), {"boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0]]), "labels": torch.tensor([1]),
                                     "masks": torch.ones(1, 64, 64, dtype=torch.uint8)}) for _ in range(4)]
    model = FakeDetector()
    calls = []
    forward = model.forward
    model.forward = lambda images, *args: (calls.append(len(images)), forward(images, *args))[1]
    w = widgets.mask_rcnn_explorer(model, data)
    assert sorted(w._cache) == [0, 1] and len(calls) == 2  # image 0 drawn, image 1 ready
    w.controls["image"].value = 1
    assert len(calls) == 3 and sorted(w._cache) == [0, 1, 2] and "error" not in w.state  # only image 2 ran
    w.controls["image"].value = 2
    assert len(calls) == 4 and w.state["num_targets"] == 1
