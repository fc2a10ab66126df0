"""FCN-32s trained for twice the shipped recipe's epochs: does it close the gap to FCN-16s and FCN-8s with more steps?

    python benchmarks/fcn32s_long.py --threads 1     # 16 epochs (the shipped recipe has 8): about 40 min on 2 CPU cores
    python benchmarks/fcn32s_long.py --quick         # 2 epochs on the quick scenes: does it run?

The run is ``dataclasses.replace(RECIPES["fcn32s"], epochs=2 * RECIPES["fcn32s"].epochs)``: the same data, seed,
optimizer and one-cycle schedule (stretched over twice the steps), validated after every epoch on val. It is scored
on val and on the held-out test split, next to the shipped FCN-32s, FCN-16s and FCN-8s (their manifest entries), and
nothing is chosen from it. Chapter 2 reads the results file to settle whether FCN-32s's lower mIoU is the stride-32
grid or too few steps.

Writes ``data/results/fcn32s_long.json`` (``--quick``: ``fcn32s_long_quick``) with the command, date and machine
(``seglab.results``); an interrupted run resumes from ``build/fcn32s_long.resume.pt``. Not part of ``make bench``:
it trains.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs on the quick scenes (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--factor", type=int, default=2, help="epochs as a multiple of the shipped recipe's")
    parser.add_argument("--results", default=None, help="results file name")
    args = parser.parse_args(argv)
    if args.factor < 1:
        parser.error(f"--factor must be a positive integer, got {args.factor}")

    import torch

    from seglab.models.manifest import read_manifest
    from seglab.results import machine_description, write_script_results
    from seglab.train.evaluation import evaluate_model
    from seglab.train.recipes import RECIPES

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    shipped = RECIPES["fcn32s"]
    recipe = dataclasses.replace(shipped, epochs=args.factor * shipped.epochs)
    if args.quick:
        recipe = dataclasses.replace(recipe, epochs=2)
    from seglab.train.runs import train_recipe

    checkpoint = ROOT / "build" / ("fcn32s_long_quick.resume.pt" if args.quick else "fcn32s_long.resume.pt")
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    run = train_recipe(recipe, quick=args.quick, device=device, checkpoint=checkpoint)
    wall = time.perf_counter() - start
    model = run.model.eval()
    rows = []
    split_names = ("val",) if args.quick else ("val", "test")
    long_row = {"model": f"fcn32s x{args.factor} epochs", "epochs": run.epochs, "steps": run.steps,
                "wall_time_s": round(wall, 1)}
    for split in split_names:
        if args.quick:
            metrics = evaluate_model(recipe, model, run.val_loader, device)
        else:
            metrics = evaluate_model(recipe, model, device=device, split=split)
        long_row[f"{split}_mIoU"] = round(metrics["mIoU"], 6)
        long_row[f"{split}_boundary_f1"] = round(metrics["boundary_f1"], 6)
    long_row["curve"] = [[int(e), round(float(v), 6)] for e, v in run.curve]
    rows.append(long_row)
    manifest = read_manifest(ROOT / "data" / "weights")
    for name in ("fcn32s", "fcn16s", "fcn8s"):
        entry = manifest[name]
        row = {"model": f"{name} (shipped)", "epochs": entry["epochs"], "steps": entry["steps"],
               "wall_time_s": entry["wall_time_s"]}
        for split in split_names:
            metrics = entry["metrics"] if split == "val" else entry["test_metrics"]
            row[f"{split}_mIoU"] = metrics["mIoU"]
            row[f"{split}_boundary_f1"] = metrics["boundary_f1"]
        row["curve"] = entry.get("curve", {}).get("points", [])
        rows.append(row)
    if checkpoint.exists():
        checkpoint.unlink()
    name = args.results or ("fcn32s_long_quick" if args.quick else "fcn32s_long")
    params = {"recipe": f"dataclasses.replace(RECIPES['fcn32s'], epochs={recipe.epochs})",
              "shipped_epochs": shipped.epochs, "factor": args.factor, "quick": args.quick,
              "threads": torch.get_num_threads(), "machine_load": os.getloadavg()[0],
              "device": machine_description(device)}
    write_script_results(name, rows, script="benchmarks/fcn32s_long.py", argv=argv, device=device, params=params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
