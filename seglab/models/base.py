"""What every seglab segmentation model shares: the input check, the weights loader, the legacy-argument shim
and the ``decoder_keeps`` hook that :func:`seglab.models.decoder_memory` asks.

The contract of the semantic models (FCN, U-Net, SegNet)::

    model = Model(num_classes, *, in_channels=3, weights=None, backbone_weights=None, ...)
    logits = model(images)          # float[N, in_channels, H, W] -> float[N, num_classes, H, W]

``weights`` is a whole-model state dict (a local path or a mapping), ``backbone_weights`` ImageNet weights for the
backbone where the model has one; neither is ever downloaded.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["check_images", "load_weights", "DecoderKeeps", "decoder_keeps_method"]


def check_positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_images(images, in_channels: int, *, model: str, min_size: int = 1, reason: str = "",
                 sizes: Callable[[tuple[int, int]], object] | None = None) -> None:
    """Raise ``ValueError`` unless ``images`` is a ``Tensor[N, in_channels, H, W]`` that ``model`` accepts.

    ``min_size``: the smallest side that works (the error then names the nearest size that does, ``reason`` says
    why). ``sizes``: a function of ``(H, W)`` that raises ``ValueError`` naming the nearest valid sizes (U-Net's
    valid mode accepts only some sizes).
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != in_channels:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must have shape [N, {in_channels}, H, W] for {model}, got {got}")
    h, w = int(images.shape[-2]), int(images.shape[-1])
    if h < min_size or w < min_size:
        why = f" ({reason})" if reason else ""
        raise ValueError(f"images must be at least {min_size}x{min_size} for {model}{why}, got {h}x{w}; "
                         f"the nearest size that works is {max(h, min_size)}x{max(w, min_size)} (pad or resize)")
    if sizes is not None:
        sizes((h, w))


def load_weights(weights: str | os.PathLike | Mapping, *, what: str = "weights") -> Mapping[str, Tensor]:
    """A state dict from a local file (``torch.load(map_location="cpu", weights_only=True)``) or a mapping.

    A seglab checkpoint (a dict holding the state dict under ``"model"``) is unwrapped. Nothing is downloaded.
    """
    if isinstance(weights, Mapping):
        state = weights
    elif isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {str(path)!r} does not exist (weights are only loaded from local "
                                    "files, never downloaded)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot read {what} from {str(path)!r}: {exc}") from exc
        if not isinstance(state, Mapping):
            raise ValueError(f"{what} file {str(path)!r} holds a {type(state).__name__}, not a state dict")
    else:
        raise TypeError(f"{what} must be a path or a state dict, got {type(weights).__name__}")
    if isinstance(state.get("model"), Mapping):
        state = state["model"]
    return state


def renamed_keyword(old: str, new: str, value, current, owner: str):
    """The value of a keyword renamed from ``old`` to ``new`` (kept one release): warns when ``old`` is used."""
    if value is None:
        return current
    if current is not None:
        raise TypeError(f"{owner} got both {new}= and its deprecated name {old}=; pass only {new}=")
    warnings.warn(f"{owner}({old}=...) is deprecated, use {new}=... instead", DeprecationWarning, stacklevel=3)
    return value


def legacy_positional(owner: str, num_classes, legacy: tuple, in_channels: int) -> tuple[int, int]:
    """``(num_classes, in_channels)``, accepting the old ``Model(in_channels, num_classes)`` call with a warning.

    Only two positional ints are reinterpreted (and always with a ``DeprecationWarning``); anything else raises.
    """
    if not legacy:
        return num_classes, in_channels
    if (len(legacy) == 1 and all(isinstance(v, int) and not isinstance(v, bool) for v in (num_classes, *legacy))
            and in_channels == 3):
        warnings.warn(f"{owner}({num_classes}, {legacy[0]}) in the old order (in_channels, num_classes) is "
                      f"deprecated; write {owner}(num_classes={legacy[0]}, in_channels={num_classes})",
                      DeprecationWarning, stacklevel=3)
        return legacy[0], num_classes
    raise TypeError(f"{owner} takes num_classes as its only positional argument; pass the rest by keyword "
                    f"(got {1 + len(legacy)} positional arguments)")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"<{type(value).__name__}>"


def legacy_positionals(*names: str):
    """Decorator: a builder whose arguments after ``num_classes`` became keyword-only still takes them positionally
    (in the old order ``names``) for one release, with a ``DeprecationWarning`` that spells out the new call.

    ``@legacy_positionals("variant", "backbone")`` above ``def __init__(self, num_classes, *, variant=..., ...)``
    (or above a builder function) turns ``FCN(3, "32s")`` into ``FCN(3, variant="32s")``. The signature that
    ``help()`` and ``inspect`` show stays the new one."""

    def wrap(builder: Callable) -> Callable:
        params = inspect.signature(builder).parameters.values()
        allowed = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)  # (self,) num_classes
        owner = builder.__qualname__.removesuffix(".__init__")
        skip = int(owner != builder.__qualname__)  # a method's self

        @functools.wraps(builder)
        def call(*args, **kwargs):
            extra = args[allowed:]
            if not extra:
                return builder(*args, **kwargs)
            if len(extra) > len(names):
                raise TypeError(f"{owner} takes num_classes as its only positional argument; pass the rest by keyword "
                                f"(got {len(args) - skip} positional arguments)")
            moved = dict(zip(names, extra))
            twice = sorted(set(moved) & set(kwargs))
            if twice:
                raise TypeError(f"{owner} got {', '.join(twice)} both by position and by keyword")
            head = ", ".join(map(_short, args[skip:allowed]))
            spelled = ", ".join(f"{k}={_short(v)}" for k, v in moved.items())
            old = ", ".join(map(_short, extra))
            warnings.warn(f"{owner}({head}, {old}) with positional arguments after num_classes is deprecated; write "
                          f"{owner}({head}, {spelled})", DeprecationWarning, stacklevel=2)
            return builder(*args[:allowed], **moved, **kwargs)

        return call

    return wrap


@dataclass
class DecoderKeeps:
    """What a decoder holds from its encoder during one forward pass (see :func:`seglab.models.decoder_memory`).

    ``tensors``: ``[(name, tensor)]`` held from the encoder until the decoder uses them. ``packed``: the same
    information in its most compact form, where the architecture has one (SegNet: pooling indices at 2 bits a
    window). ``features``: encoder maps the kept tensors were computed from, still alive meanwhile (FCN's
    pool3/pool4 features read by its score layers).
    """

    architecture: str
    tensors: list[tuple[str, Tensor]]
    packed: list[Tensor] | None = None
    features: list[Tensor] | None = None


def decoder_keeps_method(model: nn.Module) -> Callable[[Tensor], DecoderKeeps]:
    """The model's ``decoder_keeps(images)`` method; ``TypeError`` naming what to implement when it has none."""
    method = getattr(model, "decoder_keeps", None)
    if not callable(method):
        raise TypeError(f"{type(model).__name__} does not say what its decoder keeps: implement "
                        f"decoder_keeps(images) -> seglab.models.base.DecoderKeeps (as SegNet, UNet and FCN do)")
    return method
