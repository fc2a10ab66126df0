"""Run every ``benchmarks/bench_*.py`` and print one table. ``python benchmarks/run.py [--quick] [--device cuda]``."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
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


def collect(quick: bool, device: str | None, only: str | None = None,
            progress: bool = False) -> tuple[list[Row], list[str]]:
    from seglab.utils import get_device

    dev = get_device(device)
    rows: list[Row] = []
    failures: list[str] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if only and only not in path.stem:
            continue
        start = time.perf_counter()
        try:
            for row in load(path).rows(dev, quick=quick):
                rows.append(row)
                if progress:  # as they come, so that a run stopped by a time limit (make gpu-pass) keeps them
                    print(f"{path.stem}: {row.name}: {row.value:.4g} {row.unit}"
                          + ("" if row.ratio is None else f" ({row.ratio:.2f}x)"), file=sys.stderr, flush=True)
        except Exception:  # one broken benchmark should not hide the others
            failures.append(f"{path.name}:\n{traceback.format_exc()}")
        if progress:
            print(f"{path.stem}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return rows, failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test, not figures)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    parser.add_argument("--only", default=None, help="run only bench files whose name contains this")
    parser.add_argument("--progress", action="store_true", help="print each row to stderr as it is measured")
    args = parser.parse_args(argv)
    rows, failures = collect(args.quick, args.device, args.only, args.progress)
    print(format_table(rows))
    for failure in failures:
        print(f"\nFAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
