"""The weights manifest: one JSON file beside the checkpoints that says what each is and how it was made.

The only module that reads or writes ``manifest.json``. :func:`seglab.train.recipes.run_recipe` writes an entry per
run (:func:`write_manifest_entry`); :func:`seglab.models.load_pretrained` and :func:`seglab.models.pretrained_info`
read them back (:func:`read_manifest`). Both find the folder with :func:`seglab.utils.weights_dir`, so the writer's
default folder is the reader's. Checkpoints are stored as a state dict with its floating tensors in half precision
(:func:`half_state_dict`, :func:`state_dict_bytes`), and each entry records the file's sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from seglab.utils import atomic_write_bytes, weights_dir

__all__ = ["MANIFEST_NAME", "manifest_path", "read_manifest", "write_manifest_entry", "half_state_dict",
           "state_dict_bytes", "sha256_hex"]

MANIFEST_NAME = "manifest.json"


def manifest_path(folder=None) -> Path:
    """``folder / "manifest.json"`` (``folder``: a weights folder, default :func:`seglab.utils.weights_dir`; a path
    that already names a ``.json`` file is taken as the manifest itself)."""
    folder = weights_dir(folder)
    return folder if folder.suffix == ".json" else folder / MANIFEST_NAME


def read_manifest(folder=None, *, missing_ok: bool = False) -> dict:
    """The manifest of a weights folder as a dict ``name -> entry``. A missing file is an error (``FileNotFoundError``
    naming the path) unless ``missing_ok``, which returns ``{}`` (a folder a run is about to fill)."""
    path = manifest_path(folder)
    if not path.is_file():
        if missing_ok:
            return {}
        raise FileNotFoundError(f"no manifest at {path}: the weights folder holds no trained checkpoints "
                                "(build them with `python -m seglab.train --recipe NAME --out-dir FOLDER`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); expected a seglab weights manifest") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} holds a {type(manifest).__name__}; expected an object of name -> entry")
    return manifest


def write_manifest_entry(name: str, entry: dict, folder=None) -> Path:
    """Add or replace entry ``name`` in the folder's manifest, written atomically (entries sorted by name)."""
    path = manifest_path(folder)
    manifest = read_manifest(path, missing_ok=True)
    manifest[name] = entry
    atomic_write_bytes(path, (json.dumps(dict(sorted(manifest.items())), indent=1) + "\n").encode())
    return path


def half_state_dict(model) -> dict:
    """The state dict as stored on disk: floating tensors in float16, everything else as is."""
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
            for k, v in model.state_dict().items()}


def state_dict_bytes(state: dict) -> bytes:
    """``torch.save`` of ``state`` as bytes (what is written and hashed)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
