"""Slider-driven explorers, one builder per idea.

Every builder returns a widget (it never displays itself) with two attributes that tests use:
``controls`` (name -> ipywidgets control) and ``state`` (what it last rendered: the arrays it drew, the picture as
``state["picture"]`` (``uint8[H, W, 3]``), and for the explorers of an op ``state["pytorch"]``, the PyTorch call
that reproduces what is drawn, also shown under the picture). Pictures are painted in pixels by ``seglab.viz``
(``seglab.viz.raster``): an update takes milliseconds, not a Matplotlib figure's 100+. A setting the explorer
refuses keeps the last picture on screen with the reason beside it. ``fcn_fusion_explorer()`` and
``mask_rcnn_explorer()`` default to the suite's shipped trained weights. Builders resolve lazily, so
``from seglab import widgets`` is cheap.
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
    "weight_map_explorer": "unet",
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
