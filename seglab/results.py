"""Results files: what an experiment script measured, with the command, date and machine that produced it.

A notebook never types a measured number: it reads a results file written by a script in the repository, shows the
table and asserts on it. ``write_results("ablation_pooler", rows, command=...)`` writes
``data/results/ablation_pooler.json``; :func:`read_results` reads it back and says which script makes a missing one.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from seglab.utils import DATA_DIR, atomic_write_bytes
from seglab.utils import results_dir as _results_dir

__all__ = ["RESULTS_DIR", "machine_description", "current_command", "write_results", "write_script_results",
           "read_results", "markdown_table"]

#: Where experiment scripts write their results (shipped with the repository).
RESULTS_DIR = DATA_DIR / "results"


def machine_description(device=None) -> str:
    """``"cuda: NVIDIA H200"`` or ``"cpu: x86_64, 2 cores, 1 threads"`` for the device a run used."""
    import torch

    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return (f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} threads")


def current_command(script: str | None = None, argv: list[str] | None = None) -> str:
    """The command that reruns a script, as a shell reads it: ``python benchmarks/x.py --seeds 0 1``.

    ``script`` (a path inside the repository) and ``argv`` (its arguments) default to this process's command line."""
    script = script if script is not None else sys.argv[0]
    argv = list(argv) if argv is not None else sys.argv[1:]
    return " ".join(shlex.quote(str(a)) for a in ["python", script, *argv])


def write_results(name: str, rows: list[dict], *, command: str, device=None, params: dict | None = None,
                  results_dir=None) -> Path:
    """Write ``rows`` (one dict per measured run) to ``RESULTS_DIR / f"{name}.json"`` atomically, with the command
    that reproduces them, the UTC date, the machine and ``params``; returns the path."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows must be a list of dicts (one per run)")
    path = _results_dir(results_dir) / f"{name}.json"
    payload = {"name": name, "command": command, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine_description(device), "params": params or {}, "rows": rows}
    atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode())
    return path


def write_script_results(name: str, rows: list[dict], *, script: str, argv: list[str] | None = None, device=None,
                         params: dict | None = None, results_dir=None) -> Path:
    """What an experiment script in ``benchmarks/`` does last: :func:`write_results` with the command that reruns
    ``script`` with ``argv`` (default: this process's arguments), then print where it went; returns the path."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    path = write_results(name, rows, command=current_command(script, argv), device=device, params=params,
                         results_dir=results_dir)
    print(f"wrote {path}")
    return path


def read_results(name: str, results_dir=None) -> dict:
    """The results file ``name``: ``{"name", "command", "date", "machine", "params", "rows"}``."""
    path = _results_dir(results_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results file {path}: run the script that writes it (see the notebook cell or "
                                f"benchmarks/) to create it")
    results = json.loads(path.read_text())
    missing = {"command", "date", "machine", "rows"} - set(results)
    if missing:
        raise ValueError(f"{path} is not a seglab results file: it lacks {sorted(missing)}")
    return results


def markdown_table(rows: list[dict], columns: list[str] | None = None, digits: int = 3) -> str:
    """``rows`` as a Markdown table (floats rounded to ``digits``)."""
    columns = columns or (list(rows[0]) if rows else [])
    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
