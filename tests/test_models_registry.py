"""The registry table is the only list of models: create_model, available_models and seglab.models' lazy exports
read it; an unknown name is seglab's one UnknownNameError."""

import importlib

import pytest

import seglab.models
from seglab.models import registry
from seglab.utils import UnknownNameError


def test_lazy_exports_come_from_the_table_and_the_non_model_parts():
    modules = registry.model_modules()
    assert modules == ["fcn", "unet", "segnet", "maskrcnn", "tiny"]  # table order, each once (three FCN entries)
    for name in [*modules, "panoptic", "memory", "base", "pretrained"]:
        module = importlib.import_module(f"seglab.models.{name}")
        for export in module.__all__:
            assert getattr(seglab.models, export) is getattr(module, export), (name, export)
    assert {"FCN", "UNet", "mask_rcnn", "TinySegmenter", "load_pretrained", "panoptic_merge"} <= set(dir(seglab.models))


def test_model_modules_follow_the_table(monkeypatch):
    monkeypatch.setitem(registry.MODELS, "unet_again", registry.ModelSpec("seglab.models.unet_sizes:unet_size_trace"))
    assert registry.model_modules()[-1] == "unet_sizes"


def test_unknown_names_are_one_error_listing_the_known_ones():
    for call in (lambda: registry.create_model("nope"), lambda: registry.unregister_model("nope")):
        with pytest.raises(UnknownNameError, match=r"unknown model.* 'nope'; known: ") as info:
            call()
        assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(KeyError, match="fcn16s, fcn32s, fcn8s, mask_rcnn, segnet, tiny_segmenter, unet"):
        registry.create_model("nope")
