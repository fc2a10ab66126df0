"""Every explorer (issue 16): each control at each extreme, then all at their minima and all at their maxima, leaves
``state`` holding the arrays of the picture on screen (never blank, no exception escapes or is only logged); the
PyTorch line shown, executed, gives the values drawn; explorers that take a model default to the shipped weights
and say so clearly when those are missing."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import ipywidgets as W
import numpy as np
import pytest
import torch
from fakes import FakeDetector
from model_tester import random_fcn
from PIL import Image

from seglab import widgets
from seglab.ops import UPSAMPLING_METHODS
from seglab.widgets.base import Explorer

K = 4


def _tiny_fcn_setup():
    g = torch.Generator().manual_seed(0)
    dataset = [(torch.rand(3, 64, 64, generator=g), torch.randint(0, K, (64, 64), generator=g)) for _ in range(3)]
    models = {f"FCN-{variant}": random_fcn(K, variant, seed) for seed, variant in enumerate(("32s", "8s"))}
    return models, dataset  # tests/model_tester.py: the shared small FCN


def _instance_data(n=3):
    return [(torch.rand(3, 64, 64), {"boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0]]), "labels": torch.tensor([1]),
                                     "masks": torch.ones(1, 64, 64, dtype=torch.uint8)}) for _ in range(n)]


BUILDERS = {
    "scene_browser": lambda: widgets.scene_browser(),
    "transposed_conv_explorer": lambda: widgets.transposed_conv_explorer(),
    "upsampling_explorer": lambda: widgets.upsampling_explorer(),
    "fcn_fusion_explorer": lambda: widgets.fcn_fusion_explorer(*_tiny_fcn_setup()),
    "elastic_explorer": lambda: widgets.elastic_explorer(),
    "unet_size_explorer": lambda: widgets.unet_size_explorer(),
    "weight_map_explorer": lambda: widgets.weight_map_explorer(),  # the real nuclei
    "unpool_explorer": lambda: widgets.unpool_explorer(),
    "roi_align_explorer": lambda: widgets.roi_align_explorer(),
    "mask_rcnn_explorer": lambda: widgets.mask_rcnn_explorer(FakeDetector(), _instance_data()),
    "panoptic_explorer": lambda: widgets.panoptic_explorer(),
}
#: The arrays each explorer's picture is drawn from (besides ``state["picture"]`` itself).
PICTURE_KEYS = {
    "scene_browser": ["image", "semantic", "pictures"],
    "transposed_conv_explorer": ["X", "K", "Y", "counts", "footprint", "MT"],
    "upsampling_explorer": ["low", "output", "target"],
    "fcn_fusion_explorer": ["pred", "errors", "stream_scores"],
    "elastic_explorer": ["image", "mask", "displacement"],
    "unet_size_explorer": ["levels"],
    "weight_map_explorer": ["weights", "border"],
    "unpool_explorer": ["x", "pooled", "indices", "sparse"],
    "roi_align_explorer": ["align", "pool", "grid", "pool_rows", "pool_cols"],
    "mask_rcnn_explorer": ["image", "output", "boxes", "scores"],
    "panoptic_explorer": ["pred", "match", "result"],
}


def test_every_explorer_is_covered():
    assert set(BUILDERS) == set(PICTURE_KEYS) == set(widgets.__all__)


def _selection(control) -> bool:
    return hasattr(control, "index") and hasattr(control, "options")  # dropdowns, toggles, selection sliders


def _to_end(control, end: str) -> None:
    """Set a control to its minimum or maximum (first / last option; False / True); bounds are read now, since
    some follow other controls."""
    if isinstance(control, W.Checkbox):
        control.value = end == "max"
    elif _selection(control):
        control.index = 0 if end == "min" else len(control.options) - 1
    else:
        control.value = getattr(control, end)


def _assert_shows_a_picture(w, name, what):
    st = w.state
    assert "exception" not in st, f"{name} {what}: {st['exception']}"
    picture = st.get("picture")
    assert isinstance(picture, np.ndarray) and picture.dtype == np.uint8 and picture.ndim == 3, f"{name} {what}"
    assert picture.shape[2] == 3 and min(picture.shape[:2]) > 20 and picture.std() > 0, f"{name} {what}: blank"
    shown = np.asarray(Image.open(io.BytesIO(w.image.value)).convert("RGB"))
    assert np.array_equal(shown, picture), f"{name} {what}: the image on screen is not state['picture']"
    for key in PICTURE_KEYS[name]:
        assert st.get(key) is not None, f"{name} {what}: state has no {key!r}"
    if "error" in st and name != "unet_size_explorer":  # a refused setting: the last picture stays, with the reason
        assert st["error"] in w.message.value or st["error"][:40] in w.message.value.replace("&#x27;", "'")
        assert st["drawn_values"] is not None


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_control_at_its_extremes_keeps_a_picture(name, caplog):
    caplog.set_level(logging.WARNING)
    w = BUILDERS[name]()
    _assert_shows_a_picture(w, name, "at build")
    for cname, control in w.controls.items():
        start = control.index if _selection(control) else control.value
        for end in ("min", "max"):
            _to_end(control, end)
            _assert_shows_a_picture(w, name, f"with {cname}={control.value!r} ({end})")
        if _selection(control):
            control.index = min(start, len(control.options) - 1)
        else:
            control.value = start
        _assert_shows_a_picture(w, name, f"with {cname} back to {control.value!r}")
    for end in ("min", "max"):
        for cname, control in w.controls.items():
            _to_end(control, end)
            _assert_shows_a_picture(w, name, f"with every control at its {end} (up to {cname})")
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not logged, f"{name}: errors were logged: {[r.getMessage() for r in logged]}"


def test_a_bug_in_render_is_shown_not_raised_or_only_logged():
    class Broken(Explorer):
        def render(self, values):
            if values["n"] > 1:
                raise RuntimeError("boom")
            return np.full((30, 30, 3), 200, dtype=np.uint8), {"n": values["n"]}

    w = Broken({"n": W.IntSlider(value=1, min=0, max=3)})
    w.controls["n"].value = 2  # no exception escapes
    assert w.state["exception"] == "RuntimeError: boom" and "boom" in w.message.value
    assert w.state["picture"].shape == (30, 30, 3) and w.state["n"] == 1  # the last picture stays
    w.controls["n"].value = 0
    assert "exception" not in w.state and w.state["n"] == 0


def test_invalid_initial_settings_are_refused_at_build():
    with pytest.raises(ValueError, match="larger than"):
        widgets.unpool_explorer(size=3, window=4)


# --------------------------------------------------------------------------------------------- the PyTorch line
def _run(code: str, **names) -> dict:
    namespace = dict(names)
    exec(compile(code, "<pytorch line>", "exec"), namespace)  # noqa: S102 - the line shown to students, on purpose
    return namespace


@pytest.mark.parametrize("settings", [
    {}, {"stride": 1}, {"stride": 3, "output_padding": 2}, {"dilation": 2, "output_padding": 1, "padding": 2},
    {"input_size": 6, "kernel_size": 5, "stride": 3, "padding": 2, "dilation": 2, "output_padding": 2},
    {"input_size": 1, "kernel_size": 1, "stride": 1, "padding": 0, "output_padding": 0, "dilation": 1},
])
def test_transposed_conv_line_gives_the_drawn_result(settings):
    w = widgets.transposed_conv_explorer()
    for name, value in settings.items():
        w.controls[name].value = value
    assert "error" not in w.state and "nn.ConvTranspose2d(1, 1, kernel_size=" in w.state["pytorch"]
    y = _run(w.state["pytorch"])["y"]
    assert tuple(y.shape) == (1, 1, *w.state["output_size"]) and f"shape {tuple(y.shape)}" in w.state["pytorch"]
    torch.testing.assert_close(y[0, 0].detach(), w.state["Y"], rtol=0, atol=1e-12)
    assert "ConvTranspose2d" in w.code.value  # shown under the picture


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upsampling_line_gives_the_drawn_result(scale):
    w = widgets.upsampling_explorer()
    w.controls["scale"].value = scale
    for method in UPSAMPLING_METHODS:
        w.controls["method"].value = method
        ns = _run(w.state["pytorch"])
        torch.testing.assert_close(ns["low"], w.state["low"], rtol=0, atol=0)
        torch.testing.assert_close(ns["up"], w.state["output"], rtol=0, atol=1e-6, msg=method)
        assert f"shape {tuple(ns['up'].shape)}" in w.state["pytorch"]


@pytest.mark.parametrize("settings", [
    {}, {"size": 12, "window": 3, "stride": 1}, {"pattern": "constant (all ties)", "stride": 3, "window": 4},
    {"size": 9, "window": 3, "stride": 4, "densify": False}, {"pattern": "blobs", "seed": 20},
])
def test_unpool_line_gives_the_drawn_result(settings):
    w = widgets.unpool_explorer()
    for name, value in settings.items():
        w.controls[name].value = value
    ns = _run(w.state["pytorch"])
    assert "F.max_unpool2d(" in w.state["pytorch"]
    for key in ("pooled", "indices", "sparse"):
        assert torch.equal(ns[key][0, 0], w.state[key]), key
    if w.state["dense"] is not None:
        torch.testing.assert_close(ns["dense"][0, 0], w.state["dense"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("settings", [
    {}, {"aligned": True, "sampling_ratio": 0}, {"spatial_scale": 1.0, "output_size": 7, "x1": 0.3, "y2": 71.9},
    {"x1": -8.0, "y1": -8.0, "x2": -8.0, "y2": -8.0}, {"x2": 72.0, "y2": 72.0, "spatial_scale": 0.125},
    {"x1": 20.7, "x2": 21.1, "sampling_ratio": 4, "aligned": True},
])
def test_roi_align_line_gives_the_drawn_values(settings):
    w = widgets.roi_align_explorer()
    for name, value in settings.items():
        w.controls[name].value = value
    code = w.state["pytorch"]
    assert "torchvision.ops.roi_align(x, boxes, output_size=" in code and "spatial_scale=" in code
    ns = _run(code)
    size = w.controls["output_size"].value
    assert tuple(ns["out"].shape) == (1, 1, size, size) and f"shape {(1, 1, size, size)}" in code
    torch.testing.assert_close(ns["out"][0, 0], w.state["align"], rtol=0, atol=1e-12)
    torch.testing.assert_close(ns["pooled"][0, 0], w.state["pool"], rtol=0, atol=1e-12)


def test_roi_align_line_for_your_own_features():
    features = torch.rand(10, 12, dtype=torch.float64)
    w = widgets.roi_align_explorer(features)
    ns = _run(w.state["pytorch"], features=features)
    torch.testing.assert_close(ns["out"][0, 0], w.state["align"], rtol=0, atol=1e-12)


def test_elastic_and_unet_lines_give_what_is_drawn():
    w = widgets.elastic_explorer()
    for std, grid, seed in ((6.0, 3, 0), (0.0, 2, 50), (20.0, 8, 7)):
        w.controls["std"].value, w.controls["grid"].value, w.controls["seed"].value = std, grid, seed
        ns = _run(w.state["pytorch"], image=w.scene_image, mask=w.scene_mask)
        assert torch.equal(ns["warped_image"], w.state["image"]) and torch.equal(ns["warped_mask"], w.state["mask"])
    u = widgets.unet_size_explorer()
    for size, depth, padding in ((572, 4, "valid"), (60, 2, "valid"), (570, 4, "same"), (700, 5, "same")):
        u.controls["depth"].value, u.controls["padding"].value, u.controls["input_size"].value = depth, padding, size
        ns = _run(u.state["pytorch"])
        assert ns["output_size"] == u.state["output_size"]
        assert [t["out"] for t in ns["trace"]] == [lv["size"][0] for lv in u.state["levels"]]
    u.controls["padding"].value, u.controls["input_size"].value = "valid", 570
    with pytest.raises(ValueError) as info:
        _run(u.state["pytorch"])
    assert str(info.value) == u.state["error"]


# ------------------------------------------------------------------------------------- the shipped weights
def _write_weights(folder, entries):
    """A weights folder with a manifest: name -> (model name, model_args, module to store)."""
    manifest = {}
    for name, (model_name, args, module) in entries.items():
        buffer = io.BytesIO()
        torch.save(module.state_dict(), buffer)
        data = buffer.getvalue()
        (folder / f"{name}.pt").write_bytes(data)
        manifest[name] = {"model": model_name, "model_args": args, "file": f"{name}.pt",
                          "sha256": hashlib.sha256(data).hexdigest(),
                          "command": f"python -m seglab.train --recipe {name}"}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_fcn_explorer_defaults_to_the_shipped_weights(tmp_path):
    from seglab.models import create_model

    args = {"num_classes": 8, "width": 0.0625, "fc6_kernel": 1}
    stored = {}
    for seed, variant in enumerate(("32s", "16s", "8s")):
        torch.manual_seed(seed)
        stored[f"fcn{variant}"] = ("fcn" + variant, args, create_model("fcn" + variant, **args))
    _write_weights(tmp_path, stored)
    w = widgets.fcn_fusion_explorer(weights_dir=tmp_path)
    assert list(w.models) == ["FCN-32s", "FCN-16s", "FCN-8s"] and "untrained" not in w.message.value
    for variant in ("32s", "16s", "8s"):
        for key, value in stored[f"fcn{variant}"][2].state_dict().items():
            torch.testing.assert_close(w.models[f"FCN-{variant}"].state_dict()[key], value)
    assert len(w.dataset) > 0 and w.state["pred"].shape == w.dataset[0][1].shape  # the validation scenes


def test_fcn_explorer_without_weights_says_so_and_still_works(tmp_path):
    rng = torch.get_rng_state()
    w = widgets.fcn_fusion_explorer(weights_dir=tmp_path)  # an empty folder: no manifest
    assert torch.equal(torch.get_rng_state(), rng)  # the fallback models do not consume the caller's randomness
    message = w.message.value
    assert "not available" in message and "untrained" in message and "--recipe fcn8s" in message
    w.controls["image"].value = 1
    assert "error" not in w.state and "untrained" in w.message.value  # the notice stays with every picture


def test_mask_rcnn_explorer_defaults_to_the_shipped_weights(tmp_path):
    from seglab.models import create_model

    args = {"num_classes": 5}
    torch.manual_seed(0)
    model = create_model("mask_rcnn", **args)
    _write_weights(tmp_path, {"mask_rcnn": ("mask_rcnn", args, model)})
    w = widgets.mask_rcnn_explorer(weights_dir=tmp_path)
    assert "untrained" not in w.message.value and not w.model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(w.model.state_dict()[key], value)
    assert w.state["num_targets"] >= 1  # an instance scene from the validation split


def test_mask_rcnn_explorer_without_weights_says_so(tmp_path):
    w = widgets.mask_rcnn_explorer(dataset=_instance_data(2), weights_dir=tmp_path)
    assert "untrained" in w.message.value and "--recipe mask_rcnn" in w.message.value
    w.controls["score_threshold"].value = 0.0
    assert "error" not in w.state and "exception" not in w.state


def test_png_bytes_round_trip():
    from seglab.viz.raster import png_bytes

    picture = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(picture)))), picture)


def test_fcn_and_mask_rcnn_lines_give_what_is_drawn():
    w = widgets.fcn_fusion_explorer(*_tiny_fcn_setup())
    for index, pool3 in ((0, True), (2, False)):
        w.controls["image"].value, w.controls["fuse_pool3"].value = index, pool3
        ns = _run(w.state["pytorch"], model=w.models[w.state["model"]], image=w.dataset[index][0])
        assert np.array_equal(ns["pred"].numpy(), w.state["pred"])
    m = widgets.mask_rcnn_explorer(FakeDetector(), _instance_data(2))
    m.controls["score_threshold"].value = 0.2
    ns = _run(m.state["pytorch"], model=m.model, image=m.dataset[0][0])
    assert ns["out"]["labels"][ns["keep"]].tolist() == m.state["labels"] == [1, 2]
