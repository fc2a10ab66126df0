"""U-Net from few images, with and without elastic deformation, over seeds: the table chapter 3 shows.

    python benchmarks/unet_few_images.py                      # the chapter's grid: 5 seeds, ~40 min on one CPU core
    python benchmarks/unet_few_images.py --seeds 0 1 --sizes 4 --steps 400 --elastic-std 0 8
    python benchmarks/unet_few_images.py --quick              # 2 steps, 1 seed: does it run?

Each run is a variant of one recipe, :data:`FEW_IMAGES` (``dataclasses.replace`` of its seed, ``train_subset``,
``elastic`` and ``steps``, trained by :func:`seglab.train.recipes.train_recipe`): the small U-Net of
``notebooks/03_unet.ipynb`` (8 base channels, batch norm, ``same`` padding) on the first N training scenes, on random
64x64 crops with horizontal flips, for a fixed number of steps whatever N is, with
or without the paper's elastic deformation (3x3 grid, Gaussian displacements of the given std in pixels, bicubic
interpolation), and scores val mIoU. The grid is a search for the regime where elastic deformation's gain holds
across seeds: fewer images, longer schedules and two deformation strengths. Every seed trains every configuration
with the same data order, so the comparison is paired.

Writes ``data/results/unet_few_images.json`` (``--results`` picks another name; ``--quick`` writes
``unet_few_images_quick``) with one row per run and the command, date and machine (``seglab.results``). Not part of
``make bench``: it trains.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from torch.utils.data import DataLoader, Subset

from seglab.train.recipes import Recipe

#: The run every grid cell varies: the small U-Net of ``notebooks/03_unet.ipynb`` on the shipped training scenes,
#: random 64x64 crops and horizontal flips, AdamW with a cosine schedule over (at most) 5 epochs, no learning curve.
FEW_IMAGES = Recipe("unet_few_images", "unet", {"num_classes": 8, "base_channels": 8, "padding": "same",
                                                "batch_norm": True},
                    "semantic", epochs=5, batch_size=8, lr=3e-3, scene_seed=None, augment="hflip", crop=64,
                    schedule="cosine", curve=False, notes="benchmarks/unet_few_images.py: one cell of the grid")


def train_one(n_images: int, elastic_std: float, seed: int, steps: int, device, val_loader) -> dict:
    """Train one small U-Net on the first ``n_images`` scenes for ``steps`` steps; ``elastic_std`` 0 means no
    elastic deformation. Returns ``{"mIoU", "seconds"}``."""
    from seglab.train import evaluate
    from seglab.train.recipes import train_recipe

    recipe = dataclasses.replace(FEW_IMAGES, seed=seed, train_subset=n_images, elastic=elastic_std, steps=steps)
    run = train_recipe(recipe, device=device, progress=False)
    return {"mIoU": round(float(evaluate(run.model, val_loader)["mIoU"]), 6), "seconds": round(run.wall_time_s, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 30], help="training images")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 400], help="schedules (optimizer steps)")
    parser.add_argument("--elastic-std", type=float, nargs="+", default=[0.0, 4.0, 8.0],
                        help="deformation strengths in pixels; 0 = no elastic deformation (the baseline)")
    parser.add_argument("--val-images", type=int, default=40)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU when present)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    parser.add_argument("--quick", action="store_true", help="2 steps, one seed, sizes 2 and 4, 4 val images")
    parser.add_argument("--results", default=None, help="results file name under data/results")
    parser.add_argument("--results-dir", default=None, help="folder for the results file (default data/results)")
    args = parser.parse_args(argv)
    if 0.0 not in args.elastic_std:
        parser.error("--elastic-std must include 0 (the baseline without elastic deformation)")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from seglab.data import SceneDataset
    from seglab.results import markdown_table, write_script_results
    from seglab.utils import get_device

    device = get_device(args.device)
    if args.quick:
        args.seeds, args.sizes, args.steps, args.val_images = [0], [2, 4], [2], 4
    val_loader = DataLoader(Subset(SceneDataset(split="val"), range(args.val_images)), batch_size=20)
    rows = []
    for seed in args.seeds:
        for steps in args.steps:
            for n_images in args.sizes:
                for std in args.elastic_std:
                    rows.append({"seed": seed, "steps": steps, "n": n_images, "elastic_std": std,
                                 **train_one(n_images, std, seed, steps, device, val_loader)})
                    print(rows[-1], flush=True)
    print(markdown_table(rows))
    params = {"sizes": args.sizes, "steps": args.steps, "elastic_std": args.elastic_std, "seeds": args.seeds,
              "val_images": args.val_images, "crop": FEW_IMAGES.crop, "batch": FEW_IMAGES.batch_size,
              "base_channels": FEW_IMAGES.model_args["base_channels"], "lr": FEW_IMAGES.lr,
              "epochs": FEW_IMAGES.epochs, "schedule": "cosine per epoch", "threads": torch.get_num_threads()}
    name = args.results or ("unet_few_images_quick" if args.quick else "unet_few_images")
    write_script_results(name, rows, script="benchmarks/unet_few_images.py", argv=argv, device=device, params=params,
                         results_dir=args.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
