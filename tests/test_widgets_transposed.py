"""Chapter 1 explorers: moving a control changes the state; invalid settings give a message, not an exception."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab import widgets
from seglab.ops import UPSAMPLING_METHODS


@pytest.fixture(scope="module")
def explorer():
    return widgets.transposed_conv_explorer()


def test_explorer_first_slider_changes_the_image(explorer):
    before = explorer.image.value
    explorer.controls["input_size"].value = 4
    assert explorer.image.value != before
    assert explorer.state["X"].shape == (4, 4) and explorer.controls["cell"].max == 15
    explorer.controls["input_size"].value = 3


@pytest.mark.parametrize("name,value", [("kernel_size", 4), ("stride", 3), ("padding", 1), ("dilation", 2)])
def test_controls_change_state_consistently(explorer, name, value):
    old = explorer.controls[name].value
    explorer.controls[name].value = value
    try:
        st = explorer.state
        assert "error" not in st
        v = st["values"]
        n, k, s, p, op, d = (v[key] for key in ("input_size", "kernel_size", "stride", "padding", "output_padding",
                                                 "dilation"))
        want = F.conv_transpose2d(st["X"][None, None], st["K"][None, None], stride=s, padding=p, output_padding=op,
                                  dilation=d)[0, 0]
        torch.testing.assert_close(st["Y"], want)
        torch.testing.assert_close(st["MT"] @ st["X"].flatten(), want.flatten())  # x' = M^T y
        assert st["output_size"] == tuple(want.shape)
        assert st["counts"].shape == want.shape
    finally:
        explorer.controls[name].value = old


def test_cell_selects_footprint_and_column(explorer):
    explorer.controls["cell"].value = 4
    st = explorer.state
    assert st["cell"] == 4
    col = st["MT"][:, 4] * st["X"].flatten()[4]
    torch.testing.assert_close(st["footprint"].flatten(), col)
    assert st["footprint"].abs().sum() > 0


def test_output_padding_is_bounded_by_pytorchs_rule(explorer):
    """output_padding < max(stride, dilation): the slider cannot go further, and the rule is said on screen."""
    c = explorer.controls
    c["stride"].value, c["dilation"].value = 2, 1
    c["output_padding"].value = 2  # beyond the bound: the slider stops at 1
    assert c["output_padding"].value == 1 == c["output_padding"].max and "error" not in explorer.state
    assert "output_padding &lt; max(stride, dilation)" in explorer.message.value
    c["stride"].value = 3
    assert c["output_padding"].max == 2
    c["output_padding"].value = 2
    n, k, p = c["input_size"].value, c["kernel_size"].value, c["padding"].value
    assert explorer.state["Y"].shape == ((n - 1) * 3 - 2 * p + k - 1 + 2 + 1,) * 2 and "error" not in explorer.state
    c["stride"].value = 1  # the bound drops to 0 and output_padding follows, in one valid redraw
    assert c["output_padding"].value == 0 and "error" not in explorer.state
    assert explorer.state["Y"].shape == (n - 1 - 2 * p + k - 1 + 1,) * 2
    c["stride"].value = 2


def test_an_empty_output_keeps_the_last_picture_and_says_why(explorer):
    c = explorer.controls
    c["padding"].value = 0
    c["input_size"].value = 1
    c["kernel_size"].value = 1
    before = explorer.state["picture"].copy()
    png = explorer.image.value
    c["padding"].value = 2
    assert "padding" in explorer.state["error"] and "padding" in explorer.message.value
    assert explorer.image.value == png and np.array_equal(explorer.state["picture"], before)  # never blank
    assert explorer.state["Y"].shape == (1, 1) and explorer.state["drawn_values"]["padding"] == 0
    c["padding"].value = 0
    assert "error" not in explorer.state
    c["input_size"].value, c["kernel_size"].value = 3, 3


def test_upsampling_explorer_methods():
    w = widgets.upsampling_explorer()
    assert w.state["output"].shape == w.state["target"].shape
    before = w.image.value
    w.controls["scale"].value = 4
    assert w.image.value != before and w.state["low"].shape[-1] * 4 == w.state["target"].shape[-1]
    errors = {}
    for method in UPSAMPLING_METHODS:
        w.controls["method"].value = method
        assert "error" not in w.state, w.state.get("error")
        errors[method] = w.state["mse"]
    # bilinear init behaves like bilinear interpolation; a random kernel does much worse (checkerboard)
    assert errors["transposed conv, random init"] > 3 * errors["transposed conv, bilinear init"]
    assert errors["transposed conv, least-squares fit"] <= errors["transposed conv, bilinear init"] + 1e-6


def test_upsampling_explorer_custom_image_and_bad_input():
    img = np.random.default_rng(0).random((50, 40))
    w = widgets.upsampling_explorer(img)
    assert w.state["target"].shape == (1, 48, 36)
    with pytest.raises(ValueError, match="image"):
        widgets.upsampling_explorer(np.zeros((10, 10)))
