"""seglab.utils, the model registry, lazy exports, the viz core, self-check core and the widget base."""

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from seglab import check, viz
from seglab.data import classes
from seglab.models import registry
from seglab.utils import atomic_write_bytes, get_device, set_seed


def test_get_device_prefers_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected
    assert get_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_get_device_rejects_cuda_when_absent():
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device("cuda")


def test_set_seed_repeats_torch_and_numpy():
    set_seed(3)
    a = torch.rand(4), np.random.rand(4)
    set_seed(3)
    b = torch.rand(4), np.random.rand(4)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="non-negative int"):
        set_seed(-1)


@pytest.mark.parametrize("value, expected", [("1", True), ("0", False), ("", False), ("true", True)])
def test_quick_flag_reads_the_environment(value, expected):
    code = "import seglab.utils as u; print(u.QUICK)"
    env = {**os.environ, "SEGLAB_QUICK": value}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(expected)


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]  # no temp file left behind


def test_class_table_numberings_round_trip():
    assert classes.NUM_CLASSES == 8 and classes.NUM_THINGS == 4
    for k in range(classes.NUM_CLASSES):
        assert classes.category_to_semantic(classes.semantic_to_category(k)) == k
    for k in classes.THING_CLASSES:
        assert classes.detection_to_semantic(classes.semantic_to_detection(k)) == k
    with pytest.raises(ValueError, match="not a thing class"):
        classes.semantic_to_detection(classes.STUFF_CLASSES[0])
    with pytest.raises(ValueError, match="category_id must be in"):
        classes.category_to_semantic(0)


def test_registry_unknown_name_lists_the_available_ones():
    from seglab.utils import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown model 'no_such_model'; known: .*unet"):
        registry.create_model("no_such_model")


def test_registry_table_fixes_and_defaults_keywords():
    assert registry.available_models() == sorted(registry.MODELS)
    for name, spec in registry.MODELS.items():
        assert callable(spec.resolve()), name  # every "module:callable" in the table exists
    assert registry.create_model("unet", num_classes=2, depth=1, base_channels=2).padding == "same"
    assert registry.create_model("unet", num_classes=2, depth=1, base_channels=2, padding="valid").padding == "valid"
    assert registry.create_model("fcn16s", num_classes=2, width=0.0625, fc6_kernel=1, variant="16s").variant == "16s"
    with pytest.raises(ValueError, match="'fcn8s' means"):
        registry.create_model("fcn8s", num_classes=2, variant="32s")


def test_tiny_segmenter_is_available_in_a_fresh_process():
    code = ("from seglab.models import create_model; m = create_model('tiny_segmenter'); "
            "import sys; print(type(m).__name__, 'seglab.train' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["TinySegmenter", "False"]


@pytest.fixture
def identity_model():
    @registry.register_model("_test_identity")
    def build(scale=1):
        return torch.nn.Identity()

    yield "_test_identity"
    registry.unregister_model("_test_identity")


def test_register_model_makes_a_builder_available(identity_model):
    assert isinstance(registry.create_model(identity_model), torch.nn.Identity)
    assert identity_model in registry.available_models()
    with pytest.raises(ValueError, match="built-in"):
        registry.register_model("unet")


def test_registered_models_do_not_leak_between_tests():
    assert "_test_identity" not in registry.available_models()


def test_lazy_package_reports_unknown_names():
    ops = importlib.import_module("seglab.ops")
    with pytest.raises(AttributeError, match="has no attribute 'not_a_function'"):
        ops.not_a_function  # noqa: B018


def test_voc_palette_known_entries():
    palette = viz.voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert tuple(palette[0]) == (0, 0, 0)
    assert tuple(palette[1]) == (128, 0, 0)
    assert tuple(palette[15]) == (192, 128, 128)  # VOC "person"
    assert tuple(palette[255]) == (224, 224, 192)  # VOC void


def test_overlay_keeps_void_pixels_and_checks_shapes():
    image = torch.rand(3, 4, 5)
    mask = torch.zeros(4, 5, dtype=torch.long)
    mask[0, 0] = 255
    out = viz.overlay(image, mask, alpha=0.5)
    assert out.shape == (4, 5, 3)
    np.testing.assert_allclose(out[0, 0], image[:, 0, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(out[1, 1], 0.5 * image[:, 1, 1].numpy(), rtol=1e-6)  # class 0 is black
    with pytest.raises(ValueError, match="does not match image size"):
        viz.overlay(image, torch.zeros(3, 3, dtype=torch.long))


def test_show_segmentation_builds_a_grid():
    images = [torch.rand(3, 8, 8) for _ in range(2)]
    masks = [torch.randint(0, 8, (8, 8)) for _ in range(2)]
    fig = viz.show_segmentation(images, masks, preds=masks)
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="2 images but 1 masks"):
        viz.show_segmentation(images, masks[:1])


def test_check_function_passes_and_reports_a_counterexample():
    ok = check.check_function(lambda x: x * 2, lambda x: x + x, [(torch.ones(2),), (torch.arange(3.0),)])
    assert ok and "2 cases" in ok.message
    bad = check.check_function(lambda x: x * 2, lambda x: x**2, [(torch.tensor([2.0]),), (torch.tensor([3.0]),)])
    assert not bad
    assert "input" in bad.message and "expected" in bad.message
    assert torch.equal(bad.counterexample["args"][0], torch.tensor([3.0]))
    shape = check.check_function(lambda x: x[:1], lambda x: x, [(torch.ones(2),)])
    assert not shape and "shape" in shape.message
    raising = check.check_function(lambda x: 1 / 0, lambda x: x, [(1.0,)])
    assert not raising and "ZeroDivisionError" in raising.message


def test_check_value():
    assert check.check_value(0.5, 0.5)
    wrong = check.check_value(0.4, 0.5, hint="divide by the union")
    assert not wrong and "divide by the union" in wrong.message


def test_explorer_base_renders_and_reports_errors():
    import ipywidgets as W

    from seglab.widgets.base import Explorer

    class Square(Explorer):
        def __init__(self):
            super().__init__({"n": W.IntSlider(value=2, min=-1, max=5)})

        def render(self, values):
            if values["n"] < 0:
                raise ValueError("n must be >= 0")
            fig = viz.new_figure(1, 1)
            fig.subplots().imshow(np.ones((values["n"] + 1, 2)))
            return fig, {"area": values["n"] ** 2}

    w = Square()
    assert w.state["area"] == 4 and w.image.value[:4] == b"\x89PNG"
    w.controls["n"].value = 3
    assert w.state["area"] == 9
    w.controls["n"].value = -1
    assert w.state["error"] == "n must be >= 0" and "n must be" in w.message.value
