"""U-Net explorers (state follows the sliders; invalid sizes give a message) and the chapter's self-checks."""

import numpy as np
import pytest
import torch

from seglab import widgets
from seglab.check import check_border_weight, check_center_crop, check_valid_output_size
from seglab.data.classes import IGNORE_INDEX


def small_scene():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 48, 48, generator=g)
    mask = torch.zeros(48, 48, dtype=torch.int64)
    mask[10:30, 12:36] = 5
    mask[:, :6] = IGNORE_INDEX
    return image, mask


def test_elastic_explorer_follows_sliders():
    w = widgets.elastic_explorer(*small_scene())
    assert "error" not in w.state and w.state["labels_kept"]
    first = w.state["image"].clone()
    png = w.image.value
    w.controls["std"].value = 12.0  # first slider changes the picture
    assert w.image.value != png and not torch.equal(w.state["image"], first)
    assert w.state["labels_kept"] and set(w.state["mask"].unique().tolist()) <= {0, 5, IGNORE_INDEX}
    shift = w.state["max_displacement"]
    w.controls["seed"].value = 3
    assert w.state["max_displacement"] != shift
    w.controls["std"].value = 0.0
    assert w.state["max_displacement"] == 0.0 and torch.allclose(w.state["image"], small_scene()[0], atol=1e-5)
    w.controls["grid"].value = 5
    assert w.state["displacement"].shape == (2, 48, 48)


def test_elastic_explorer_default_scene():
    w = widgets.elastic_explorer()
    assert w.state["image"].shape[0] == 3 and w.state["mask"].dim() == 2


def test_unet_size_explorer_valid_invalid_and_same():
    w = widgets.unet_size_explorer()
    assert w.state["valid"] and w.state["output_size"] == 388
    assert w.state["crops"] == {3: 4, 2: 16, 1: 40, 0: 88}
    png = w.image.value
    w.controls["input_size"].value = 570
    assert not w.state["valid"] and "556" in w.state["error"] and "572" in w.state["error"]
    assert w.image.value != png  # the picture shows where it breaks
    w.controls["padding"].value = "same"
    assert w.state["valid"] and w.state["output_size"] == 570 and "error" not in w.state
    w.controls["depth"].value = 2
    w.controls["padding"].value = "valid"
    w.controls["input_size"].value = 60
    assert w.state["valid"] and w.state["output_size"] == 20
    assert len([lv for lv in w.state["levels"] if lv["stage"] == "decoder"]) == 2


def test_checks_pass_on_solutions_and_fail_on_mistakes():
    def output_size(size, depth):
        for _ in range(depth):
            size = (size - 4) // 2
        size -= 4
        for _ in range(depth):
            size = 2 * size - 4
        return size

    assert check_valid_output_size(output_size)
    assert not check_valid_output_size(lambda s, d: s - 184)

    def crop(x, h, w):
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        return x[..., top:top + h, left:left + w]

    assert check_center_crop(crop)
    wrong = check_center_crop(lambda x, h, w: x[..., :h, :w])
    assert not wrong and "differ" in wrong.message

    import math

    assert check_border_weight(lambda d1, d2, w0, s: w0 * math.exp(-((d1 + d2) ** 2) / (2 * s**2)))
    assert not check_border_weight(lambda d1, d2, w0, s: w0 * math.exp(-(d1**2 + d2**2) / (2 * s**2)))


@pytest.mark.parametrize("size,depth,padding,output", [
    (16, 4, "valid", None), (17, 4, "valid", None), (100, 4, "valid", None), (188, 4, "valid", 4),
    (572, 4, "valid", 388), (16, 4, "same", 16), (17, 4, "same", 17), (16, 5, "same", None),
    (60, 2, "valid", 20), (61, 2, "valid", None), (16, 1, "valid", None), (20, 1, "valid", 4),
])
def test_size_explorer_knows_which_sizes_fit(size, depth, padding, output):
    """The sizes a U-Net takes: valid ones report the paper's output size, the others name the nearest that fit."""
    w = widgets.unet_size_explorer()
    w.controls["depth"].value = depth
    w.controls["padding"].value = padding
    w.controls["input_size"].value = size
    if output is None:
        assert not w.state["valid"] and "nearest valid input sizes" in w.state["error"]
        assert w.state["levels"][0]["size"] == (size - (4 if padding == "valid" else 0),) * 2  # drawn up to the break
    else:
        assert w.state["valid"] and "error" not in w.state and w.state["output_size"] == output


def test_weight_map_explorer_matches_unet_weight_map_for_every_setting():
    from seglab.losses import unet_weight_map
    from seglab.widgets.unet import weight_map_explorer

    instances = np.zeros((24, 30), dtype=np.int64)
    instances[4:12, 3:12], instances[4:12, 14:22], instances[15:21, 5:25] = 1, 2, 3  # gaps of 2 and 3 px
    image = torch.rand(1, 24, 30)
    w = weight_map_explorer(image, instances)
    for w0, sigma in ((10.0, 5.0), (3.0, 2.0), (0.0, 7.5)):
        with w.hold():
            w.controls["w0"].value, w.controls["sigma"].value = w0, sigma
        w.refresh()
        want = unet_weight_map(torch.from_numpy(instances), w0=w0, sigma=sigma, dtype=torch.float64).numpy()
        assert np.allclose(w.state["weights"], want) and w.state["max_weight"] == pytest.approx(want.max())
    assert w.state["gap_pixels"] == 0 and "w0=0.0" in w.state["pytorch"]  # no border term without w0


def test_weight_map_explorer_opens_on_real_touching_nuclei():
    from seglab.metrics.instances import touching_pairs
    from seglab.widgets import weight_map_explorer

    w = weight_map_explorer()
    assert len(touching_pairs(w.instances)) == 7 and w.state["gap_pixels"] > 200
    before, gaps = w.state["border"].copy(), w.state["gap_pixels"]
    w.controls["sigma"].value = 2.0  # a narrower band: fewer background pixels weigh more than 1
    assert (w.state["border"] <= before + 1e-9).all() and w.state["gap_pixels"] < gaps / 2
