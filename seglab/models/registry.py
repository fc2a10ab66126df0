"""``create_model(name, **kwargs)`` and ``available_models()``, driven by one table: :data:`MODELS`.

Each entry names the callable that builds the model (``"module:attribute"``, imported on first use, so importing
``seglab.models`` stays cheap and one broken model module cannot break the others) and the keyword arguments the
name implies. Users may add their own builders with :func:`register_model` (and remove them with
:func:`unregister_model`); the built-in names cannot be replaced.

Adding a built-in model is one entry here: the lazy exports of :mod:`seglab.models` (``seglab.models.UNet``) find
the model modules through :func:`model_modules`, and ``create_model`` / ``available_models`` read the same table.
An unknown name raises :class:`seglab.utils.UnknownNameError` (a ``KeyError`` and a ``ValueError``) listing the
known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from seglab.utils import UnknownNameError

__all__ = ["MODELS", "ModelSpec", "available_models", "create_model", "register_model", "unregister_model",
           "model_modules"]


@dataclass(frozen=True)
class ModelSpec:
    """``target``: ``"module:callable"``. ``fixed``: keywords the name implies (``fcn8s`` -> ``variant="8s"``; passing
    another value is an error). ``defaults``: keywords the caller may override."""

    target: str
    fixed: Mapping = field(default_factory=dict)
    defaults: Mapping = field(default_factory=dict)

    def resolve(self) -> Callable:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


#: The built-in models: name -> how to build it.
MODELS: dict[str, ModelSpec] = {
    "fcn32s": ModelSpec("seglab.models.fcn:FCN", fixed={"variant": "32s"}),
    "fcn16s": ModelSpec("seglab.models.fcn:FCN", fixed={"variant": "16s"}),
    "fcn8s": ModelSpec("seglab.models.fcn:FCN", fixed={"variant": "8s"}),
    # same padding: logits at the input size, the contract of every semantic model (the class defaults to the paper's)
    "unet": ModelSpec("seglab.models.unet:UNet", defaults={"padding": "same"}),
    "segnet": ModelSpec("seglab.models.segnet:SegNet"),
    "mask_rcnn": ModelSpec("seglab.models.maskrcnn:mask_rcnn"),
    "tiny_segmenter": ModelSpec("seglab.models.tiny:TinySegmenter"),
}

_USER: dict[str, Callable] = {}


def register_model(name: str):
    """Decorator: ``@register_model("my_net")`` above a builder function or class (for your own models)."""
    if name in MODELS:
        raise ValueError(f"{name!r} is a built-in model; pick another name")

    def wrap(builder):
        _USER[name] = builder
        return builder

    return wrap


def unregister_model(name: str) -> None:
    """Remove a model added with :func:`register_model`."""
    if name not in _USER:
        raise UnknownNameError("model added with register_model", name, _USER)
    del _USER[name]


def model_modules(package: str = "seglab.models") -> list[str]:
    """The submodules of ``package`` that hold built-in models, in table order, without repeats (``["fcn", "unet",
    ...]``): what :mod:`seglab.models` exports lazily."""
    prefix = package + "."
    modules = (spec.target.partition(":")[0] for spec in MODELS.values())
    return list(dict.fromkeys(m.removeprefix(prefix) for m in modules if m.startswith(prefix)))


def available_models() -> list[str]:
    """Names that :func:`create_model` accepts."""
    return sorted(set(MODELS) | set(_USER))


def create_model(name: str, **kwargs):
    """Build a model by name, e.g. ``create_model("fcn8s", num_classes=8)``; ``kwargs`` go to its constructor."""
    if name in _USER:
        return _USER[name](**kwargs)
    if name not in MODELS:
        raise UnknownNameError("model", name, available_models())
    spec = MODELS[name]
    clash = {k: v for k, v in kwargs.items() if k in spec.fixed and v != spec.fixed[k]}
    if clash:
        raise ValueError(f"model {name!r} means {dict(spec.fixed)}; got {clash}")
    return spec.resolve()(**{**spec.defaults, **kwargs, **spec.fixed})
