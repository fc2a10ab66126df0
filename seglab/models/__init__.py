"""Segmentation models (FCN, U-Net, SegNet, Mask R-CNN) and the panoptic merge.

Names resolve lazily: ``seglab.models.UNet`` imports ``seglab.models.unet`` on first use.
"""

from __future__ import annotations

import importlib

from seglab.models.registry import available_models, create_model, register_model

_LAZY_NAMES = {
    "FCN": "fcn",
    "fcn_from_classifier": "fcn",
    "UNet": "unet",
    "SegNet": "segnet",
    "decoder_memory": "memory",
    "mask_rcnn": "maskrcnn",
    "panoptic_merge": "panoptic",
}

__all__ = ["available_models", "create_model", "register_model", *_LAZY_NAMES]


def __getattr__(name):
    if name in _LAZY_NAMES:
        module = importlib.import_module(f"seglab.models.{_LAZY_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'seglab.models' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))
