"""The suite's shipped trained weights: :func:`load_pretrained` and :func:`pretrained_info`.

In the spirit of torchvision's weights enums: every checkpoint in ``data/weights`` has an entry in
``data/weights/manifest.json`` with the model name and constructor arguments, the file and its sha256, the command
that reproduces it (``python -m seglab.train --recipe NAME``), its schedule, wall time, device and validation
metrics. Nothing is ever downloaded: a missing file is an error that says which recipe makes it.

A *merge* entry (``panoptic``: chapter 6's pipeline) has no file of its own: it names its component checkpoints (with
their sha256s) and the merge parameters, and records the merged pipeline's metrics. :func:`pretrained_info` returns it;
:func:`load_pretrained` refuses it and says which checkpoints to load instead.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import torch

__all__ = ["load_pretrained", "pretrained_info", "available_pretrained", "PretrainedError"]


class PretrainedError(ValueError):
    """A shipped checkpoint is unknown, missing or does not match its manifest."""


def _weights_dir(weights_dir=None) -> Path:
    from seglab.utils import DATA_DIR

    if weights_dir is not None:
        return Path(weights_dir)
    # SEGLAB_WEIGHTS_DIR points every loader at another folder of checkpoints (a recipe's --out-dir), e.g. to try
    # freshly trained weights in the notebooks before they replace the shipped ones
    return Path(os.environ.get("SEGLAB_WEIGHTS_DIR") or DATA_DIR / "weights")


def _manifest(weights_dir=None) -> dict:
    path = _weights_dir(weights_dir) / "manifest.json"
    if not path.is_file():
        raise PretrainedError(f"no manifest at {path}: the shipped weights are missing from this checkout")
    return json.loads(path.read_text())


def available_pretrained(weights_dir=None) -> list[str]:
    """Names that :func:`load_pretrained` accepts: the checkpoints. Merge entries (no file of their own, e.g.
    ``panoptic``) are not listed; :func:`pretrained_info` returns them, and its error for an unknown name lists
    every entry."""
    return sorted(name for name, entry in _manifest(weights_dir).items() if entry.get("file"))


def _merge_error(name: str, info: dict) -> PretrainedError:
    components = info.get("components") or {}
    if not components:
        return PretrainedError(f"manifest entry {name!r} has no weights file and names no components")
    listed = " and ".join(f"{c['name']!r} ({role})" for role, c in components.items())
    loads = " and ".join(f"load_pretrained({c['name']!r})" for c in components.values())
    merge = ", ".join(f"{k}={v}" for k, v in info.get("merge", {}).items() if k != "function")
    return PretrainedError(f"{name!r} is a merge of the shipped {listed}, with no weights of its own: load them with "
                           f"{loads}, and merge their outputs with seglab.models.panoptic_predict(semantic, instance, "
                           f"images, {merge}) (pretrained_info({name!r})['merge'])")


def pretrained_info(name: str, weights_dir=None) -> dict:
    """The manifest entry of shipped checkpoint ``name`` (a copy: model, model_args, file, sha256, command,
    steps, wall_time_s, device, date, metrics, curve). A merge entry has kind ``"merge"``, file None, components
    (their names and sha256s), merge (the merge parameters), canonical_scale, command, val_images, device, date and
    metrics."""
    manifest = _manifest(weights_dir)
    if name not in manifest:
        raise PretrainedError(f"unknown pretrained name {name!r}; known: {', '.join(sorted(manifest)) or 'none'}")
    return copy.deepcopy(manifest[name])


def load_pretrained(name: str, device=None, weights_dir=None) -> torch.nn.Module:
    """Shipped checkpoint ``name`` as a float32 model in eval mode (on ``device``, default CPU).

    The file's sha256 must match the manifest (else :class:`PretrainedError` naming the path); it is read with
    ``torch.load(weights_only=True)``. A merge entry (``panoptic``) is refused with the names of its components."""
    from seglab.models import create_model

    info = pretrained_info(name, weights_dir)
    if not info.get("file"):
        raise _merge_error(name, info)
    path = _weights_dir(weights_dir) / info["file"]
    if not path.is_file():
        raise PretrainedError(f"{path} is missing (manifest entry {name!r}); rebuild it with `{info['command']}`")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != info["sha256"]:
        raise PretrainedError(f"{path} does not match its manifest entry {name!r}: sha256 {digest} != "
                              f"{info['sha256']}; the file was changed or damaged, rebuild it with `{info['command']}`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model(info["model"], **info["model_args"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device if device is not None else "cpu").eval()
