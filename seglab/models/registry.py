"""A registry of models behind ``create_model(name, ...)``.

Model modules register builders with :func:`register_model`; names are looked up lazily so that importing
``seglab.models`` stays cheap and one broken model module cannot break the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

_REGISTRY: dict[str, Callable] = {}

#: name -> module that registers it (imported on first use).
_LAZY: dict[str, str] = {
    "fcn32s": "seglab.models.fcn",
    "fcn16s": "seglab.models.fcn",
    "fcn8s": "seglab.models.fcn",
    "unet": "seglab.models.unet",
    "segnet": "seglab.models.segnet",
    "mask_rcnn": "seglab.models.maskrcnn",
}


def register_model(name: str):
    """Decorator: ``@register_model("unet")`` above a builder function or class."""

    def wrap(builder):
        _REGISTRY[name] = builder
        return builder

    return wrap


def available_models() -> list[str]:
    """Names that :func:`create_model` accepts."""
    return sorted(set(_REGISTRY) | set(_LAZY))


def create_model(name: str, **kwargs):
    """Build a registered model by name, e.g. ``create_model("fcn8s", num_classes=8)``."""
    if name not in _REGISTRY and name in _LAZY:
        importlib.import_module(_LAZY[name])
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[name](**kwargs)
