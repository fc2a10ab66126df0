"""seglab.widgets.unpool_explorer: the controls change what is rendered; bad settings give a message."""

import torch
import torch.nn.functional as F

from seglab import widgets
from seglab.widgets.segnet import PATTERNS, make_pattern


def test_default_state_matches_torch():
    w = widgets.unpool_explorer()
    x = w.state["x"]
    values, indices = F.max_pool2d(x[None], 2, 2, return_indices=True)
    assert torch.equal(w.state["indices"], indices[0]) and torch.equal(w.state["pooled"], values[0])
    assert torch.equal(w.state["sparse"], F.max_unpool2d(values, indices, 2, 2, output_size=x.shape)[0])
    assert w.state["dense"] is not None and (w.state["dense"] != 0).sum() > (w.state["sparse"] != 0).sum()
    assert len(w.image.value) > 1000  # a PNG was rendered


def test_first_slider_changes_the_image():
    w = widgets.unpool_explorer()
    before = w.image.value
    w.controls["size"].value = 6
    assert w.state["x"].shape == (6, 6) and w.image.value != before


def test_window_stride_and_pattern_controls():
    w = widgets.unpool_explorer(size=9)
    w.controls["window"].value = 3
    w.controls["stride"].value = 3
    assert w.state["indices"].shape == (3, 3) and w.state["uncovered"] == 0
    w.controls["stride"].value = 4
    assert w.state["uncovered"] > 0 and "never looked at" in w.state["message"]
    w.controls["stride"].value = 1
    assert w.state["distinct"] < w.state["indices"].numel()  # overlapping windows share maxima
    w.controls["pattern"].value = "constant (all ties)"
    w.controls["window"].value = 2
    w.controls["stride"].value = 2
    # ties: the first cell of each window (row-major) is kept, as in PyTorch
    assert w.state["indices"][0].tolist() == [0, 2, 4, 6]
    w.controls["densify"].value = False
    assert w.state["dense"] is None


def test_invalid_window_shows_message():
    w = widgets.unpool_explorer(size=3)
    w.controls["window"].value = 4
    assert "larger than" in w.state["error"]
    w.controls["window"].value = 2
    assert "error" not in w.state


def test_patterns():
    for name in PATTERNS:
        assert make_pattern(name, 5).shape == (5, 5)
    try:
        make_pattern("zigzag", 4)
    except ValueError as exc:
        assert "pattern must be one of" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_self_checks_pass_on_solutions_and_fail_on_mistakes():
    from seglab.check import check_index_bytes, check_max_pool_with_indices, check_max_unpool
    from seglab.ops import max_pool2d_with_indices_naive, max_unpool2d_naive

    assert check_max_unpool(lambda v, i, size: max_unpool2d_naive(v, i, size))
    assert not check_max_unpool(lambda v, i, size: F.interpolate(v, size=size, mode="nearest"))
    assert check_max_pool_with_indices(max_pool2d_with_indices_naive)
    last_tie = lambda x: max_pool2d_with_indices_naive(x.flip(-1).flip(-2))  # noqa: E731
    assert not check_max_pool_with_indices(last_tie)

    def index_bytes(shape):
        n, c, h, w = shape
        windows = n * c * (h // 2) * (w // 2)
        return 8 * windows, (2 * windows + 7) // 8

    assert check_index_bytes(index_bytes)
    assert not check_index_bytes(lambda shape: (8 * shape[0] * shape[1] * shape[2] * shape[3] // 4, 0))
