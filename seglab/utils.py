"""Small helpers every chapter uses: the device, seeds, quick mode, where data lives, tensor -> NumPy."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["QUICK", "DATA_DIR", "CHECKPOINT_DIR", "REPO_ROOT", "get_device", "set_seed", "quick_or",
           "atomic_write_bytes", "to_numpy"]

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Folder with the data the notebooks use (override with ``SEGLAB_DATA_DIR``).
DATA_DIR = Path(os.environ.get("SEGLAB_DATA_DIR", REPO_ROOT / "data")).resolve()


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


#: True when ``SEGLAB_QUICK=1``: notebooks shrink their runs so CI executes them in seconds.
QUICK: bool = _flag("SEGLAB_QUICK")


def quick_or(quick_value, default_value):
    """Return ``quick_value`` in quick mode (``SEGLAB_QUICK=1``), else ``default_value``."""
    return quick_value if QUICK else default_value


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: CUDA when present, else CPU.

    ``prefer`` (or the environment variable ``SEGLAB_DEVICE``) forces one, e.g. ``"cpu"``.
    """
    import torch

    choice = prefer or os.environ.get("SEGLAB_DEVICE")
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for, but CUDA is not available here")
        return device
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so runs repeat."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def to_numpy(x) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like -> ``np.ndarray`` (tensors are detached and
    moved to the CPU; arrays are returned as they are, without a copy).

    Torch is not imported here (a tensor exists only once it is), so the data generator stays torch-free."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader never sees a half-written file.

    The bytes go to a temporary file in the same folder, are flushed to disk, then renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


#: Where notebooks keep trained weights between runs (override with ``SEGLAB_CHECKPOINT_DIR``).
CHECKPOINT_DIR = Path(os.environ.get("SEGLAB_CHECKPOINT_DIR", REPO_ROOT / "checkpoints")).resolve()
