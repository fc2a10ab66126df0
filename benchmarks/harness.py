"""Tiny benchmark harness: medians over repeats, one table for ``make bench``.

Each ``benchmarks/bench_*.py`` defines ``rows(device, quick=False)`` yielding :class:`Row` objects. ``quick`` makes
every measurement tiny so that a test can run all benchmarks and keep them from rotting; the figures printed by
``make bench`` come from the default (full) settings.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Row:
    name: str  # what was measured
    value: float  # the median figure
    unit: str  # "ms", "images/s", "MB", ...
    device: str  # where it ran, in words
    ratio: float | None = None  # value / reference value, measured side by side in the same process
    note: str = ""  # the reference, the target, sizes


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1, device="cpu") -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def format_table(rows: list[Row]) -> str:
    headers = ["benchmark", "median", "unit", "ratio", "device", "note"]
    body = [
        [r.name, f"{r.value:.4g}", r.unit, "" if r.ratio is None else f"{r.ratio:.2f}x", r.device, r.note]
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(b) for b in body)])
