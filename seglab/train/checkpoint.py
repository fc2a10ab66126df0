"""Checkpoints that are written atomically, loaded with ``torch.load(weights_only=True)`` and checked before use.

A checkpoint is one ``torch.save`` file holding a plain dict::

    {"format": "seglab-checkpoint/1", "fingerprint": str, "config": dict, "epoch": int (epochs completed),
     "model": state_dict, "optimizer": state_dict | None, "scheduler": state_dict | None, "scaler": state_dict | None,
     "history": dict of lists, "rng": dict (torch, cuda, numpy, python and data-loader generator states)}

The file is written to a temporary name and renamed over the target (``seglab.utils.atomic_write_bytes``), so a
crash never leaves half a file under the real name. A file that was cut short anyway (copied partly, disk full) does
not unpickle; :func:`load_checkpoint` reports it as :class:`CheckpointError` naming the file, and nothing is copied
into the model unless every tensor's name and shape match first.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from seglab.utils import atomic_write_bytes

__all__ = [
    "CheckpointError",
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_model_state",
    "config_fingerprint",
    "rng_state",
    "set_rng_state",
]

FORMAT = "seglab-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file is damaged, cut short, not a seglab checkpoint, or does not fit the model."""


def config_fingerprint(model: torch.nn.Module, config: dict | None = None, optimizer=None) -> str:
    """A short hash of what makes a run: the model class, every state tensor's name and shape, the optimizer's class
    and default hyper-parameters, and ``config`` (any JSON-able dict you add, e.g. data set and batch size).
    The number of epochs is not part of it, so a longer run can resume a shorter one."""
    desc = {
        "model": type(model).__name__,
        "state": [[name, list(t.shape)] for name, t in model.state_dict().items()],
        "optimizer": None if optimizer is None else [type(optimizer).__name__, optimizer.defaults],
        "config": config or {},
    }
    text = json.dumps(desc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _loader_generators(loader) -> list[torch.Generator]:
    """The torch.Generators that decide a DataLoader's shuffling (deduplicated, in a fixed order)."""
    found: list[torch.Generator] = []
    batch_sampler = getattr(loader, "batch_sampler", None)
    for owner in (loader, getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def rng_state(loader=None) -> dict:
    """Every random state a training run draws from (as tensors and plain types, so weights_only loading works)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
        "loader": [g.get_state() for g in _loader_generators(loader)] if loader is not None else [],
    }


def set_rng_state(state: dict, loader=None) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if loader is not None:
        for gen, saved in zip(_loader_generators(loader), state["loader"]):
            gen.set_state(saved)


def save_checkpoint(path: str | os.PathLike, *, model: torch.nn.Module, epoch: int, fingerprint: str = "",
                    config: dict | None = None, optimizer=None, scheduler=None, scaler=None,
                    history: dict | None = None, rng: dict | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename). Returns the path."""
    state = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "config": json.loads(json.dumps(config or {}, default=str)),
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "scaler": None if scaler is None or not scaler.is_enabled() else scaler.state_dict(),
        "history": history or {},
        "rng": rng,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``; damaged or foreign files raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a cut-short zip, a foreign pickle, ... : report, never half-load
        raise CheckpointError(
            f"checkpoint {path} is damaged or cut short ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "delete it to train again"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a seglab checkpoint (expected format {FORMAT!r})")
    missing = [k for k in ("fingerprint", "epoch", "model", "history") if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


def load_model_state(model: torch.nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Copy ``state_dict`` into ``model`` only after checking that every name and shape matches (so a mismatch
    never leaves the model half loaded)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = [f"{k}: {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{source} does not fit {type(model).__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatch {wrong[:5]}"
        )
    model.load_state_dict(state_dict)
