"""U-Net on a real micrograph (BBBC038 nuclei, ``seglab.data.nuclei``): the weight map and elastic deformation, over
seeds: the tables chapter 3 shows.

    python benchmarks/unet_nuclei.py --threads 1              # the full grid: 5 seeds x 9 runs (see the results file)
    python benchmarks/unet_nuclei.py --seeds 0 1 --steps 200
    python benchmarks/unet_nuclei.py --quick                  # 2 steps, 1 seed, 2 runs: does it run?

Each run trains the small U-Net of the chapter (8 base channels, batch norm, ``same`` padding, 1 input channel, 2
classes) on random crops of the training region (the top-left quadrant; ``NUCLEI_REGIONS``) with 90-degree turns and
flips, AdamW with a one-cycle schedule stepped per step, for a fixed number of steps whatever the amount of data, and
scores the connected components of its foreground on the validation region and on the held-out test region
(``score_nuclei``: DSB 2018 score, PQ, instance F1 at IoU 0.5, merged touching pairs, foreground IoU).

The grid, for every seed (same initial weights and the same random crop positions within a seed, so comparisons are
paired): from 1, 2, 4 crops' worth of the training region and from all of it, each with and without elastic
deformation (3x3 grid, 10 px std), all with the weight map (w0 = 10, sigma = 5); and one more run from all of it
without the weight map and without elastic deformation, the partner of the run with the weight map. Nothing is
chosen on the test region: a selection (the best setting) uses the val columns only.

Writes ``data/results/unet_nuclei.json`` (``--quick``: ``unet_nuclei_quick``; ``--results`` picks another name) with
one row per run and the command, date and machine (``seglab.results``). Not part of ``make bench``: it trains.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

CROP, BATCH, BASE, LR, STEPS = 96, 8, 8, 3e-3, 300
DATA = [1, 2, 4, None]  # crops' worth of the training region; None = all of it


def grid(data=DATA) -> list[dict]:
    """The runs of one seed: ``{"num_crops", "elastic", "weight_map"}``."""
    runs = [{"num_crops": n, "elastic": e, "weight_map": True} for n in data for e in (False, True)]
    if None in data:
        runs.append({"num_crops": None, "elastic": False, "weight_map": False})
    return runs


def train_one(num_crops, elastic: bool, weight_map: bool, seed: int, steps: int, device, crop: int = CROP,
              batch: int = BATCH, lr: float = LR) -> dict:
    """Train one small U-Net and score it on val and test; returns one results row."""
    from seglab.losses import weighted_cross_entropy
    from seglab.models import create_model
    from seglab.train import fit
    from seglab.train.nuclei import NucleiCrops, score_nuclei
    from seglab.utils import set_seed

    set_seed(seed)
    data = NucleiCrops("train", crop=crop, length=steps * batch, elastic=elastic, weight_map=weight_map,
                       num_crops=num_crops, seed=seed)
    loader = DataLoader(data, batch_size=batch, shuffle=False)
    model = create_model("unet", num_classes=2, in_channels=1, base_channels=BASE, batch_norm=True, padding="same")
    one_cycle = lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)  # noqa: E731
    start = time.perf_counter()
    history = fit(model, loader, epochs=1, lr=lr, loss_fn=weighted_cross_entropy, scheduler=one_cycle,
                  scheduler_every="step", device=device, progress=False, plot=False)
    seconds = time.perf_counter() - start
    row = {"seed": seed, "num_crops": "all" if num_crops is None else num_crops, "elastic": elastic,
           "weight_map": weight_map, "steps": steps, "seconds": round(seconds, 1),
           "final_loss": round(float(history.epoch_loss[-1]), 4)}
    for region in ("val", "test"):
        scores = score_nuclei(model, region, device=device)
        for key in ("dsb_score", "pq", "f1", "foreground_iou"):
            row[f"{region}_{key}"] = round(float(scores[key]), 4)
        for key in ("merged_pairs", "touching_pairs", "tp", "fp", "fn"):
            row[f"{region}_{key}"] = int(scores[key])
    return row


def summarize(rows: list[dict]) -> list[dict]:
    """Paired comparisons over seeds: the mean of each side and on how many seeds the first side is ahead."""
    def pick(**where):
        return {r["seed"]: r for r in rows if all(r[k] == v for k, v in where.items())}

    out = []

    def compare(name, a, b, keys):
        seeds = sorted(set(a) & set(b))
        if not seeds:
            return
        for key in keys:
            va, vb = [a[s][key] for s in seeds], [b[s][key] for s in seeds]
            ahead = sum(x > y for x, y in zip(va, vb)) if "merged" not in key else sum(x < y for x, y in zip(va, vb))
            out.append({"comparison": name, "metric": key, "seeds": len(seeds), "first": sum(va) / len(va),
                        "second": sum(vb) / len(vb), "first_better_on": ahead})

    compare("weight map vs none (all data, no elastic)", pick(num_crops="all", elastic=False, weight_map=True),
            pick(num_crops="all", elastic=False, weight_map=False),
            ["test_merged_pairs", "test_dsb_score", "test_f1", "test_foreground_iou", "val_dsb_score"])
    for n in (1, 2, 4, "all"):
        compare(f"elastic vs none ({n} crops' worth, weight map)", pick(num_crops=n, elastic=True, weight_map=True),
                pick(num_crops=n, elastic=False, weight_map=True),
                ["test_dsb_score", "test_foreground_iou", "val_dsb_score"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=STEPS, help=f"optimizer steps per run (batch {BATCH})")
    parser.add_argument("--data", nargs="+", default=["1", "2", "4", "all"],
                        help="crops' worth of the training region: 1 2 4 all")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU when present)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (per job)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, in separate processes (the rows "
                        "and their order do not depend on it)")
    parser.add_argument("--quick", action="store_true", help="2 steps of batch 2 on 48 px crops, one seed, 2 runs")
    parser.add_argument("--results", default=None, help="results file name under data/results")
    parser.add_argument("--results-dir", default=None, help="folder for the results file (default data/results)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the finished runs of an interrupted run of the same grid (NAME.partial.jsonl)")
    args = parser.parse_args(argv)
    try:
        data = [None if d == "all" else int(d) for d in args.data]
    except ValueError:
        parser.error(f"--data takes 1, 2, 4 or all, got {args.data}")
    if any(d not in DATA for d in data):
        parser.error(f"--data takes 1, 2, 4 or all, got {args.data}")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from seglab.data.nuclei import NUCLEI_REGIONS, load_nuclei
    from seglab.results import markdown_table, write_script_results
    from seglab.utils import get_device

    load_nuclei()  # fail early, with the install command, when the micrograph is missing
    device = get_device(args.device)
    crop, batch, steps, runs = CROP, BATCH, args.steps, grid(data)
    if args.quick:
        args.seeds, crop, batch, steps = [0], 48, 2, 2
        runs = [{"num_crops": 1, "elastic": True, "weight_map": True},
                {"num_crops": None, "elastic": False, "weight_map": False}]
    name = args.results or ("unet_nuclei_quick" if args.quick else "unet_nuclei")
    partial = _results_dir(args.results_dir) / f"{name}.partial.jsonl"  # finished runs, for --resume
    done = _finished_runs(partial) if args.resume else {}
    partial.parent.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        partial.unlink(missing_ok=True)
    start = time.perf_counter()
    tasks = [(run["num_crops"], run["elastic"], run["weight_map"], seed, steps, device, crop, batch)
             for seed in args.seeds for run in runs]
    todo = [task for task in tasks if _key(task[3], *task[:3], task[4]) not in done]

    def finished(row):
        _append(partial, row)
        done[_key(row["seed"], row["num_crops"], row["elastic"], row["weight_map"], row["steps"])] = row
        print(row, flush=True)

    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, initializer=torch.set_num_threads,
                                 initargs=(args.threads or 1,)) as pool:
            for future in [pool.submit(train_one, *task) for task in todo]:
                finished(future.result())
    else:
        for task in todo:
            finished(train_one(*task))
    rows = [done[_key(task[3], *task[:3], task[4])] for task in tasks]  # in the order of the tasks
    wall = time.perf_counter() - start
    print(markdown_table(rows))
    summary = summarize(rows)
    if summary:
        print(markdown_table(summary))
    print(f"wall time {wall:.0f} s")
    params = {"seeds": args.seeds, "steps": steps, "batch": batch, "crop": crop, "base_channels": BASE,
              "lr": LR, "schedule": "AdamW, one-cycle per step", "regions": NUCLEI_REGIONS, "w0": 10.0,
              "sigma": 5.0, "elastic": "3x3 grid, 10 px std, reflect", "augment": "90-degree turns and flips",
              "instances": "4-connected components of the predicted foreground",
              "targets": "touching nuclei separated by a line of background (seglab.data.nuclei.separate_touching)",
              "threads": torch.get_num_threads(), "jobs": args.jobs,
              "wall_seconds": round(wall, 1), "summary": summary}
    write_script_results(name, rows, script="benchmarks/unet_nuclei.py", argv=argv, device=device, params=params,
                         results_dir=args.results_dir)
    partial.unlink(missing_ok=True)
    return 0


def _key(seed, num_crops, elastic, weight_map, steps) -> tuple:
    return (int(seed), "all" if num_crops is None else num_crops, bool(elastic), bool(weight_map), int(steps))


def _finished_runs(path) -> dict:
    """The rows an interrupted run appended to ``path`` (one JSON object a line; a torn last line is dropped)."""
    import json

    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[_key(row["seed"], row["num_crops"], row["elastic"], row["weight_map"], row["steps"])] = row
    return done


def _append(path, row: dict) -> None:
    import json
    import os

    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _results_dir(results_dir):
    from seglab.results import RESULTS_DIR

    return Path(results_dir) if results_dir is not None else Path(os.environ.get("SEGLAB_RESULTS_DIR") or RESULTS_DIR)


if __name__ == "__main__":
    raise SystemExit(main())
