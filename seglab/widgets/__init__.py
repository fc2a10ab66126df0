"""Slider-driven explorers, one builder per idea.

Every builder returns a widget (it never displays itself) with two attributes that tests use:
``controls`` (name -> ipywidgets control) and ``state`` (what it last rendered: arrays, numbers, the figure).
Builders resolve lazily, so ``from seglab import widgets`` is cheap.
"""

from __future__ import annotations

import importlib

_BUILDERS = {
    "scene_browser": "scenes",
    "transposed_conv_explorer": "transposed",
    "upsampling_explorer": "transposed",
    "fcn_fusion_explorer": "fcn",
    "elastic_explorer": "unet",
    "unet_size_explorer": "unet",
    "unpool_explorer": "segnet",
    "roi_align_explorer": "roi",
    "mask_rcnn_explorer": "roi",
    "panoptic_explorer": "panoptic",
}

__all__ = sorted(_BUILDERS)


def __getattr__(name):
    if name in _BUILDERS:
        module = importlib.import_module(f"seglab.widgets.{_BUILDERS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'seglab.widgets' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_BUILDERS))
