"""Run every ``benchmarks/bench_*.py`` and print one table. ``python benchmarks/run.py [--quick] [--device cuda]``."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Row, format_table  # noqa: E402


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def collect(quick: bool, device: str | None, only: str | None = None) -> tuple[list[Row], list[str]]:
    from seglab.utils import get_device

    dev = get_device(device)
    rows: list[Row] = []
    failures: list[str] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if only and only not in path.stem:
            continue
        try:
            rows.extend(load(path).rows(dev, quick=quick))
        except Exception:  # one broken benchmark should not hide the others
            failures.append(f"{path.name}:\n{traceback.format_exc()}")
    return rows, failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test, not figures)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    parser.add_argument("--only", default=None, help="run only bench files whose name contains this")
    args = parser.parse_args(argv)
    rows, failures = collect(args.quick, args.device, args.only)
    print(format_table(rows))
    for failure in failures:
        print(f"\nFAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
