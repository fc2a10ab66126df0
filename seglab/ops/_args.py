"""Argument checks shared by the ops: one rule for "an int or a (height, width) pair"."""

from __future__ import annotations

import operator

import torch

__all__: list[str] = []


def _pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int, or a pair of ints as a tuple / list / ``torch.Size``) as ``(h, w)``, each ``>= minimum``.

    Ints are anything ``operator.index`` takes (Python, NumPy and 0-d integer tensor ints; not ``bool``, not
    floats). A ``ValueError`` names the argument: ``"stride must be >= 1, got 0"``.
    """
    items = tuple(value) if isinstance(value, (tuple, list, torch.Size)) else (value, value)
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        items = tuple(operator.index(v) for v in items)
    except TypeError:
        raise ValueError(f"{name} must be an int or a (height, width) pair of ints, got {value!r}") from None
    if min(items) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return items
