"""The FCN fusion explorer (seglab/widgets/fcn.py) and the chapter-2 self-checks and renderers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab import widgets
from seglab.check import fcn as checks
from seglab.models import FCN
from seglab.viz.fcn import boundary_error_map, fcn_comparison_figure, label_boundaries

K = 4


def _model(variant: str, seed: int) -> FCN:
    torch.manual_seed(seed)
    model = FCN(K, variant, width=0.125, fc6_kernel=1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and not name.startswith("up"):
                p.normal_(0, 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def explorer():
    g = torch.Generator().manual_seed(0)
    dataset = [(torch.rand(3, 64, 64, generator=g), torch.randint(0, K, (64, 64), generator=g)) for _ in range(3)]
    dataset[1][1][:8] = 255  # some ignored pixels
    models = {"FCN-32s": _model("32s", 0), "FCN-8s": _model("8s", 1)}
    return widgets.fcn_fusion_explorer(models, dataset)


def test_starts_with_the_finest_model_and_all_streams(explorer):
    s = explorer.state
    assert "error" not in s
    assert s["model"] == "FCN-8s" and s["streams"] == ("32s", "pool4", "pool3")
    assert s["pred"].shape == (64, 64) and s["errors"].dtype == bool
    assert explorer.image.value[:4] == b"\x89PNG"


def test_image_slider_changes_the_picture_and_prediction(explorer):
    before, png = explorer.state["pred"].copy(), explorer.image.value
    explorer.controls["image"].value = 2
    assert explorer.state["index"] == 2
    assert explorer.image.value != png
    assert not np.array_equal(explorer.state["pred"], before)
    explorer.controls["image"].value = 0


def test_dropping_a_stream_changes_the_prediction(explorer):
    full = explorer.state["pred"].copy()
    explorer.controls["fuse_pool3"].value = False
    assert explorer.state["streams"] == ("32s", "pool4")
    assert not np.array_equal(explorer.state["pred"], full)
    explorer.controls["fuse_pool3"].value = True
    np.testing.assert_array_equal(explorer.state["pred"], full)


def test_error_map_matches_prediction(explorer):
    explorer.controls["image"].value = 1
    s = explorer.state
    _, target = explorer.dataset[1]
    want = (s["pred"] != target.numpy()) & (target.numpy() != 255)
    np.testing.assert_array_equal(s["errors"], want)
    assert s["pixel_accuracy"] == pytest.approx(1 - want.sum() / (target != 255).sum().item())
    explorer.controls["image"].value = 0


def test_invalid_combinations_show_a_message(explorer):
    explorer.controls["model"].value = "FCN-32s"
    assert "no pool4, pool3 stream" in explorer.state["error"]
    explorer.controls["fuse_pool4"].value = False
    explorer.controls["fuse_pool3"].value = False
    assert "error" not in explorer.state and explorer.state["streams"] == ("32s",)
    explorer.controls["fuse_32s"].value = False
    assert "at least one stream" in explorer.state["error"]
    for s in ("32s", "pool4", "pool3"):
        explorer.controls[f"fuse_{s}"].value = True
    explorer.controls["model"].value = "FCN-8s"
    assert "error" not in explorer.state


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="non-empty"):
        widgets.fcn_fusion_explorer({}, [(torch.rand(3, 32, 32), torch.zeros(32, 32, dtype=torch.long))])
    with pytest.raises(TypeError, match="seglab.models.FCN"):
        widgets.fcn_fusion_explorer({"x": torch.nn.Conv2d(3, 3, 1)}, [(torch.rand(3, 32, 32), None)])


def test_boundary_error_map_marks_false_and_missed_boundaries():
    target = np.zeros((20, 20), dtype=np.int64)
    target[:, 10:] = 1
    pred = np.zeros_like(target)
    pred[:, 15:] = 1  # boundary 5 px off: beyond tolerance 2
    pic = boundary_error_map(pred, target, tolerance=2)
    assert (pic[:, 14:16] == [255, 220, 0]).all(-1).any() and (pic[:, 9:11] == [255, 0, 255]).all(-1).any()
    assert not (boundary_error_map(target, target) == [255, 0, 255]).all(-1).any()
    assert label_boundaries(target).sum() == 2 * 20
    fig = fcn_comparison_figure([torch.rand(3, 20, 20)], [target], {"a": [pred], "b": [target]})
    assert len(fig.axes) == 6


def test_self_checks_accept_references_and_reject_wrong_answers():
    assert checks.check_fc_to_conv(checks.fc_to_conv_reference)
    assert not checks.check_fc_to_conv(lambda w, c, k: w.reshape(w.shape[0], *k, c).permute(0, 3, 1, 2))
    assert checks.check_stream_sizes(checks.stream_sizes_reference)
    assert not checks.check_stream_sizes(lambda h, w: [(h // s, w // s) for s in (8, 16, 32)])
    assert checks.check_fuse_8s(checks.fuse_8s_reference)
    wrong = lambda a, b, c: torch.nn.functional.interpolate(a, scale_factor=32, mode="bilinear")  # noqa: E731
    assert not checks.check_fuse_8s(wrong)
