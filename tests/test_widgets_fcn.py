"""The FCN fusion explorer (seglab/widgets/fcn.py) and the chapter-2 self-checks and renderers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_tester import random_fcn

from seglab import widgets
from seglab.check import fcn as checks
from seglab.data.classes import IGNORE_INDEX
from seglab.metrics import boundary_f1
from seglab.metrics.semantic import boundary_errors
from seglab.models import FCN
from seglab.viz.fcn import FALSE_BOUNDARY, MISSED_BOUNDARY, boundary_error_map, fcn_comparison_figure

K = 4


def _model(variant: str, seed: int) -> FCN:
    return random_fcn(K, variant, seed)  # tests/model_tester.py: the shared small FCN


@pytest.fixture(scope="module")
def explorer():
    g = torch.Generator().manual_seed(0)
    dataset = [(torch.rand(3, 64, 64, generator=g), torch.randint(0, K, (64, 64), generator=g)) for _ in range(3)]
    dataset[1][1][:8] = IGNORE_INDEX  # some ignored pixels
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
    want = (s["pred"] != target.numpy()) & (target.numpy() != IGNORE_INDEX)
    np.testing.assert_array_equal(s["errors"], want)
    assert s["pixel_accuracy"] == pytest.approx(1 - want.sum() / (target != IGNORE_INDEX).sum().item())
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


def _marked(picture):
    """The pixels a boundary-error picture colours: (yellow = false boundary, magenta = missed boundary)."""
    return (picture == FALSE_BOUNDARY).all(-1), (picture == MISSED_BOUNDARY).all(-1)


def test_boundary_error_map_marks_false_and_missed_boundaries():
    target = np.zeros((20, 20), dtype=np.int64)
    target[:, 10:] = 1
    pred = np.zeros_like(target)
    pred[:, 15:] = 1  # boundary 5 px off: beyond tolerance 2
    errors = boundary_errors(pred, target, tolerance=2)
    yellow, magenta = _marked(boundary_error_map(pred, *errors))
    # 8-neighbour inner boundaries of both classes: columns 14 | 15 in pred, 9 | 10 in the target, 5 px apart
    assert yellow[:, 14:16].all() and magenta[:, 9:11].all() and yellow.sum() + magenta.sum() == 4 * 20
    assert not any(m.any() for m in _marked(boundary_error_map(target, *boundary_errors(target, target))))
    fig = fcn_comparison_figure([torch.rand(3, 20, 20)], [target], {"a": [pred], "b": [target]},
                                {"a": [errors], "b": [boundary_errors(target, target)]})
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="no boundary errors for"):
        fcn_comparison_figure([torch.rand(3, 20, 20)], [target], {"a": [pred]}, {})


def _unmatched_reference(pred, target, tolerance):
    """The pixels boundary_f1 counts as unmatched, by its definition, pixel by pixel: a boundary pixel of class c
    (an 8-neighbour in the image is not c; ignored target pixels dropped) with no boundary pixel of class c of the
    other map within Chebyshev distance ``tolerance``."""
    h, w = pred.shape

    def boundary(labels):
        return {(y, x) for y in range(h) for x in range(w) if target[y, x] != IGNORE_INDEX and any(
            labels[y + dy, x + dx] != labels[y, x] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
            if 0 <= y + dy < h and 0 <= x + dx < w)}

    def unmatched(mine, my_labels, other, other_labels):
        out = np.zeros((h, w), dtype=bool)
        for y, x in mine:
            out[y, x] = not any(other_labels[q] == my_labels[y, x] and max(abs(q[0] - y), abs(q[1] - x)) <= tolerance
                                for q in other)
        return out

    bp, bt = boundary(pred), boundary(target)
    return bp, bt, unmatched(bp, pred, bt, target), unmatched(bt, target, bp, pred)


@pytest.mark.parametrize("seed", range(4))
def test_boundary_picture_marks_exactly_what_boundary_f1_counts(seed):
    """The yellow and magenta pixels are the metric's unmatched boundary pixels, and counting them per class gives
    back boundary_f1's per-class scores."""
    g = torch.Generator().manual_seed(seed)
    coarse = lambda: torch.randint(0, K, (6, 6), generator=g).repeat_interleave(4, 0).repeat_interleave(4, 1)  # noqa: E731
    target, pred = coarse(), coarse()
    pred[torch.rand(24, 24, generator=g) < 0.05] = 0  # some speckle
    target[:, :3] = IGNORE_INDEX
    tolerance = 1 + seed % 3
    false_pred, missed_true = boundary_errors(pred, target, tolerance=tolerance)
    yellow, magenta = _marked(boundary_error_map(pred, false_pred, missed_true))
    bp, bt, false_ref, missed_ref = _unmatched_reference(pred.numpy(), target.numpy(), tolerance)
    np.testing.assert_array_equal(false_pred.numpy(), false_ref)
    np.testing.assert_array_equal(missed_true.numpy(), missed_ref)
    np.testing.assert_array_equal(yellow | magenta, false_ref | missed_ref)  # the picture marks exactly those
    assert false_ref.any() and missed_ref.any()
    f1 = boundary_f1(pred[None], target[None], tolerance, K, reduction="none")[0]
    p, t = pred.numpy(), target.numpy()
    for c in range(K):
        n_pred = sum(p[q] == c for q in bp)
        n_true = sum(t[q] == c for q in bt)
        if not n_pred and not n_true:
            assert torch.isnan(f1[c])
            continue
        precision = 1 - (false_pred.numpy() & (p == c)).sum() / n_pred if n_pred else 0.0
        recall = 1 - (missed_true.numpy() & (t == c)).sum() / n_true if n_true else 0.0
        want = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert float(f1[c]) == pytest.approx(want, abs=1e-6)


def test_self_checks_accept_references_and_reject_wrong_answers():
    assert checks.check_fc_to_conv(checks.fc_to_conv_reference)
    assert not checks.check_fc_to_conv(lambda w, c, k: w.reshape(w.shape[0], *k, c).permute(0, 3, 1, 2))
    assert checks.check_stream_sizes(checks.stream_sizes_reference)
    assert not checks.check_stream_sizes(lambda h, w: [(h // s, w // s) for s in (8, 16, 32)])
    assert checks.check_fuse_8s(checks.fuse_8s_reference)
    wrong = lambda a, b, c: torch.nn.functional.interpolate(a, scale_factor=32, mode="bilinear")  # noqa: E731
    assert not checks.check_fuse_8s(wrong)


def test_neighbours_are_ready_and_the_cached_streams_are_fcn_stream_scores():
    """Issue 27: every model runs once per image, the next image before the slider moves there; the decoded
    streams equal fcn_stream_scores, and the accuracy shown is seglab.metrics.pixel_accuracy's."""
    from seglab.metrics import pixel_accuracy
    from seglab.models.fcn import fcn_stream_scores

    g = torch.Generator().manual_seed(1)
    dataset = [(torch.rand(3, 64, 64, generator=g), torch.randint(0, K, (64, 64), generator=g)) for _ in range(4)]
    explorer = widgets.fcn_fusion_explorer({"FCN-32s": _model("32s", 0), "FCN-8s": _model("8s", 1)}, dataset)
    assert sorted(explorer._cache) == [0, 1]
    runs = []
    for model in explorer.models.values():
        model.stream_scores = lambda images, _f=model.stream_scores: (runs.append(1), _f(images))[1]
    explorer.controls["image"].value = 1
    assert len(runs) == 2 and 2 in explorer._cache  # the two models ran on image 2 only, after drawing image 1
    for model in explorer.models.values():
        del model.stream_scores
    image, target = explorer.dataset[1]
    with torch.no_grad():
        want = fcn_stream_scores(explorer.models["FCN-8s"].eval(), image[None])
    for name, scores in explorer.state["stream_scores"].items():
        np.testing.assert_array_equal(scores, want[name][0].numpy())
    assert explorer.state["pixel_accuracy"] == pytest.approx(
        float(pixel_accuracy(torch.from_numpy(explorer.state["pred"]), target, K)))
