"""RoIPool vs RoIAlign in the small Mask R-CNN, over seeds: the experiment behind chapter 5's assert.

    python benchmarks/ablation_pooler.py --seeds 0 1 2 3            # default mode: 400 steps, ~25 min on 2 CPU cores
    python benchmarks/ablation_pooler.py --canonical-scale 224       # torchvision's level rule: stride 4 (exercise 3)
    python benchmarks/ablation_pooler.py --quick                     # 2 steps on 8 images: does it run?

Every run also writes ``data/results/ablation_pooler.json`` (``--results NAME`` picks another name; quick runs write
``ablation_pooler_quick``): one row per seed and pooler, with the command, date and machine (``seglab.results``),
which chapter 5 reads instead of typing the numbers.

Each run trains as the live run of ``notebooks/05_mask_rcnn_roialign.ipynb`` does (same training scenes, seed
handling, batches and optimizer; only the pooler changes), a variant of the shipped ``mask_rcnn`` recipe
(:func:`live_recipe`, trained by :func:`seglab.train.recipes.train_recipe`), for ``--steps`` steps (the notebook's
live run is shorter),
and scores COCO mask AP on the val split, with the four classes kept apart and merged into one (class-agnostic: how
well the masks fit, whatever their class). Prints a Markdown table of AP / AP75 and the gains, then on how many seeds
RoIAlign won; chapter 5 reads the results file, shows the table and asserts on it. Not part of ``make bench``: it
trains, so it takes minutes.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch


def live_recipe(pooler: str, seed: int, steps: int, num_train: int, canonical_scale: int | None = 36):
    """Chapter 5's live run as a variant of the shipped ``mask_rcnn`` recipe: the shipped training scenes (their
    first ``num_train``), no flips, AdamW at a constant 2e-3, batches of 8, ``pooler``, whole epochs adding up to
    about ``steps`` steps, no learning curve."""
    from seglab.train.recipes import RECIPES

    batch = 8 if num_train >= 8 else num_train
    shipped = RECIPES["mask_rcnn"]
    return dataclasses.replace(
        shipped, name="ablation_pooler", model_args={**shipped.model_args, "canonical_scale": canonical_scale},
        pooler=pooler, seed=seed, scene_seed=None, train_subset=num_train, augment="none", schedule="constant",
        lr=2e-3, batch_size=batch, epochs=max(1, steps // (num_train // batch)), curve=False,
        notes="benchmarks/ablation_pooler.py: chapter 5's live run")


def train_and_score(pooler: str, seed: int, steps: int, num_train: int, num_val: int, device,
                    canonical_scale: int | None = 36) -> dict:
    """Train one small Mask R-CNN as chapter 5 does (:func:`live_recipe`); return val mask AP ``{"AP", "AP75",
    "agnostic_AP", "agnostic_AP75", "seconds"}``."""
    from seglab.data import SceneDataset
    from seglab.metrics import coco_map
    from seglab.models.maskrcnn import detect
    from seglab.train.recipes import train_recipe

    run = train_recipe(live_recipe(pooler, seed, steps, num_train, canonical_scale), device=device, progress=False)
    val_set = SceneDataset(split="val", task="instance")
    items = [val_set[i] for i in range(num_val)]
    outputs, targets = detect(run.model, [im for im, _ in items]), [t for _, t in items]
    scores = coco_map(outputs, targets, "segm")
    merged = coco_map(outputs, targets, "segm", class_agnostic=True)
    return {"AP": scores["AP"], "AP75": scores["AP75"], "agnostic_AP": merged["AP"], "agnostic_AP75": merged["AP75"],
            "seconds": run.wall_time_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--canonical-scale", type=int, default=36,
                        help="FPN level rule's s0 (default 36, chapter 5's: things pool from strides 8 and 16)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU when present)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for PyTorch (chapter 5's results file: 1 per run)")
    parser.add_argument("--quick", action="store_true", help="2 steps on 8 training and 4 val images")
    parser.add_argument("--results", default=None, help="results file name under data/results (default: "
                        "ablation_pooler, or ablation_pooler_quick with --quick)")
    parser.add_argument("--results-dir", default=None, help="folder for the results file (default data/results)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from seglab.utils import get_device

    device = get_device(args.device)
    steps, num_train, num_val = (2, 8, 4) if args.quick else (args.steps, 400, 100)
    print(f"device {device}, {steps} steps, canonical scale {args.canonical_scale}; "
          "mask AP / AP75 in %, class-agnostic in brackets")
    print("| seed | RoIPool | RoIAlign | gain AP / AP75 | gain [agnostic AP / AP75] |")
    print("|---|---|---|---|---|")
    names = ("AP", "AP75", "agnostic_AP", "agnostic_AP75")
    wins = {m: 0 for m in names}
    rows = []
    for seed in args.seeds:
        pool, align = (train_and_score(p, seed, steps, num_train, num_val, device, args.canonical_scale)
                       for p in ("roi_pool", "roi_align"))
        gain = {m: 100 * (align[m] - pool[m]) for m in names}
        rows += [{"seed": seed, "pooler": p, **{m: r[m] for m in (*names, "seconds")}}
                 for p, r in (("roi_pool", pool), ("roi_align", align))]
        for m in names:
            wins[m] += gain[m] > 0

        def cell(r):
            ap, ap75, ag, ag75 = (100 * r[m] for m in names)
            return f"{ap:.1f} / {ap75:.1f} [{ag:.1f} / {ag75:.1f}]"
        print(f"| {seed} | {cell(pool)} | {cell(align)} | {gain['AP']:+.1f} / {gain['AP75']:+.1f} | "
              f"[{gain['agnostic_AP']:+.1f} / {gain['agnostic_AP75']:+.1f}] |", flush=True)
    print("seeds where RoIAlign won: " + ", ".join(f"{m} {wins[m]}/{len(args.seeds)}" for m in names))
    from seglab.results import write_script_results

    name = args.results or ("ablation_pooler_quick" if args.quick else "ablation_pooler")
    params = {"steps": steps, "num_train": num_train, "num_val": num_val, "canonical_scale": args.canonical_scale,
              "threads": torch.get_num_threads()}
    write_script_results(name, rows, script="benchmarks/ablation_pooler.py", argv=argv, device=device, params=params,
                         results_dir=args.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
