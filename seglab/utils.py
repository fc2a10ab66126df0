"""Small helpers every chapter uses: the device, seeds, quick mode, where data lives, tensor -> NumPy.

The one place that reads seglab's environment variables: ``SEGLAB_DATA_DIR``, ``SEGLAB_QUICK``, ``SEGLAB_DEVICE``,
``SEGLAB_CHECKPOINT_DIR``, ``SEGLAB_SITE_NPM`` (read once, at import) and ``SEGLAB_WEIGHTS_DIR``,
``SEGLAB_RESULTS_DIR``, ``SEGLAB_TRAIN`` (read at each call of :func:`weights_dir`, :func:`results_dir` and
:func:`train_mode`, so a test or a notebook can set them late). Every loader and writer asks these functions for its
folder, so what a recipe writes is where :func:`seglab.models.load_pretrained` reads.
"""

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
           "atomic_write_bytes", "to_numpy", "integer_map", "UnknownNameError", "weights_dir", "results_dir",
           "train_mode"]

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Folder with the data the notebooks use (override with ``SEGLAB_DATA_DIR``).
DATA_DIR = Path(os.environ.get("SEGLAB_DATA_DIR", REPO_ROOT / "data")).resolve()


class UnknownNameError(KeyError, ValueError):
    """A name looked up in one of seglab's tables (models, recipes, shipped weights, explorers, ...) is not there.

    The one error for an unknown name everywhere: the message names the kind of table, the name asked for and every
    known name. It is a ``KeyError`` (a failed look-up) and a ``ValueError`` (a bad argument), so code that caught
    either before keeps working; unlike a bare ``KeyError`` it prints its message without quotes."""

    def __init__(self, kind: str, name, known):
        self.kind, self.name, self.known = kind, name, sorted(str(k) for k in known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or 'none'}")

    def __str__(self) -> str:
        return str(self.args[0])


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


def integer_map(array, name: str, *, non_negative: bool = False) -> np.ndarray:
    """A 2-D map of integer ids or labels (tensor or array-like) as an ``int64`` NumPy array, with an error naming
    ``name`` for another shape or dtype (and, with ``non_negative``, for a negative id)."""
    array = to_numpy(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [H, W] map of integer ids, got shape {array.shape}")
    if array.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer ids, got dtype {array.dtype}")
    if non_negative and array.size and array.min() < 0:
        raise ValueError(f"{name} has negative id {int(array.min())}; expected 0 (background) or positive ids")
    return array.astype(np.int64)


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


#: Where ``make site-assets`` installed the executed site's npm packages (override with ``SEGLAB_SITE_NPM``).
SITE_NPM_DIR = Path(os.environ.get("SEGLAB_SITE_NPM", REPO_ROOT / "build" / "site_npm"))

#: Where notebooks keep trained weights between runs (override with ``SEGLAB_CHECKPOINT_DIR``).
CHECKPOINT_DIR = Path(os.environ.get("SEGLAB_CHECKPOINT_DIR", REPO_ROOT / "checkpoints")).resolve()


def train_mode() -> str:
    """``"full"`` when ``SEGLAB_TRAIN=full`` (the chapters retrain the shipped models from their recipes into
    ``CHECKPOINT_DIR / "recipes"``), else ``"shipped"``."""
    value = os.environ.get("SEGLAB_TRAIN", "").strip().lower()
    if value not in ("", "shipped", "full"):
        raise ValueError(f"SEGLAB_TRAIN must be 'full' or unset, got {value!r}")
    return "full" if value == "full" else "shipped"


def weights_dir(folder=None) -> Path:
    """The folder of trained checkpoints and their ``manifest.json`` that loaders read and recipes write: ``folder``
    when given, else ``SEGLAB_WEIGHTS_DIR`` (a recipe's ``--out-dir``, to try new weights in the notebooks), else
    ``CHECKPOINT_DIR / "recipes"`` with ``SEGLAB_TRAIN=full`` (the chapters' own retrained models), else the shipped
    ``data/weights``."""
    if folder is not None:
        return Path(folder)
    if os.environ.get("SEGLAB_WEIGHTS_DIR"):
        return Path(os.environ["SEGLAB_WEIGHTS_DIR"])
    return CHECKPOINT_DIR / "recipes" if train_mode() == "full" else DATA_DIR / "weights"


def results_dir(folder=None) -> Path:
    """The folder of results files (:mod:`seglab.results`): ``folder`` when given, else ``SEGLAB_RESULTS_DIR`` (a
    scratch folder for trial runs), else the shipped ``data/results``."""
    if folder is not None:
        return Path(folder)
    return Path(os.environ.get("SEGLAB_RESULTS_DIR") or DATA_DIR / "results")
