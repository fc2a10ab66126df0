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
from pathlib import Path

import torch

from seglab.models.manifest import read_manifest, sha256_hex
from seglab.utils import UnknownNameError, train_mode
from seglab.utils import weights_dir as _resolve_weights_dir

__all__ = ["load_pretrained", "pretrained_info", "available_pretrained", "PretrainedError", "UnknownPretrainedError"]


class PretrainedError(ValueError):
    """A shipped checkpoint is unknown, missing or does not match its manifest."""


class UnknownPretrainedError(PretrainedError, UnknownNameError):
    """No manifest entry of that name: a :class:`PretrainedError` and seglab's one error for an unknown name
    (:class:`seglab.utils.UnknownNameError`, a ``KeyError`` too), listing the known names."""

    def __init__(self, name, known):
        UnknownNameError.__init__(self, "pretrained name", name, known)


def _weights_dir(weights_dir=None) -> Path:
    # the folder every loader reads and every recipe writes by default (seglab.utils.weights_dir: SEGLAB_WEIGHTS_DIR,
    # SEGLAB_TRAIN=full's retrained models, or the shipped data/weights)
    return _resolve_weights_dir(weights_dir)


def _manifest(weights_dir=None) -> dict:
    try:
        return read_manifest(_weights_dir(weights_dir))
    except (FileNotFoundError, ValueError) as exc:
        hint = "" if weights_dir is not None or train_mode() == "shipped" else (
            " (SEGLAB_TRAIN=full reads the chapters' retrained models: seglab.train.recipes.shipped_model(name) "
            "trains a missing one)")
        raise PretrainedError(f"{exc}{hint}") from exc


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
        raise UnknownPretrainedError(name, manifest)
    return copy.deepcopy(manifest[name])


def load_pretrained(name: str, device=None, weights_dir=None, *, missing: str = "raise") -> torch.nn.Module:
    """Shipped checkpoint ``name`` as a float32 model in eval mode (on ``device``, default CPU): the one loader of
    trained weights, from :func:`seglab.utils.weights_dir` (the shipped ``data/weights``, ``SEGLAB_WEIGHTS_DIR``, or
    with ``SEGLAB_TRAIN=full`` the chapters' retrained models) unless ``weights_dir`` names another folder.

    The file's sha256 must match the manifest (else :class:`PretrainedError` naming the path); it is read with
    ``torch.load(weights_only=True)``. A merge entry (``panoptic``) is refused with the names of its components.
    ``missing="untrained"``: when the checkpoint cannot be loaded, return instead an untrained model of the same
    architecture (from the folder's manifest entry, else the shipped one; initialised from seed 0 without touching
    the caller's random state) whose ``load_error`` says why and which command builds the weights; a loaded model's
    ``load_error`` is None. Explorers use it to show something while weights are being built."""
    if missing not in ("raise", "untrained"):
        raise ValueError(f"missing must be 'raise' or 'untrained', got {missing!r}")
    try:
        model = _load(name, weights_dir)
    except PretrainedError as exc:
        if missing == "raise":
            raise
        model = _untrained(name, weights_dir, exc)
        model.load_error = str(exc)
    else:
        model.load_error = None
    return model.to(device if device is not None else "cpu").eval()


def _load(name: str, weights_dir) -> torch.nn.Module:
    from seglab.models import create_model

    info = pretrained_info(name, weights_dir)
    if not info.get("file"):
        raise _merge_error(name, info)
    path = _weights_dir(weights_dir) / info["file"]
    if not path.is_file():
        raise PretrainedError(f"{path} is missing (manifest entry {name!r}); rebuild it with `{info['command']}`")
    data = path.read_bytes()
    digest = sha256_hex(data)
    if digest != info["sha256"]:
        raise PretrainedError(f"{path} does not match its manifest entry {name!r}: sha256 {digest} != "
                              f"{info['sha256']}; the file was changed or damaged, rebuild it with `{info['command']}`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model(info["model"], **info["model_args"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model


def _untrained(name: str, weights_dir, error: PretrainedError) -> torch.nn.Module:
    """An untrained model of checkpoint ``name``'s architecture; the error's text gains the build command."""
    from seglab.models import create_model
    from seglab.utils import DATA_DIR

    info = None
    for folder in (weights_dir, DATA_DIR / "weights"):
        try:
            info = pretrained_info(name, folder)
            break
        except PretrainedError:
            continue
    if info is None or not info.get("file"):
        raise error
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model(info["model"], **info["model_args"])
    if info["command"] not in str(error):
        error.args = (f"{error}; build it with `{info['command']}`",)
    return model
