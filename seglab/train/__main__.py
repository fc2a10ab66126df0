"""Train a registered model from the command line, on one process or several (torchrun + DistributedDataParallel).

    python -m seglab.train --model unet --epochs 10 --data data/scenes --checkpoint checkpoints/unet.pt
    torchrun --nproc_per_node=2 -m seglab.train --model unet --epochs 10 --data data/scenes
    python -m seglab.train --recipe fcn8s       # rebuild a shipped checkpoint (data/weights) from its recipe
    python -m seglab.train --recipe fcn8s_voc --data ~/VOCdevkit --out-dir runs/voc   # on your own PASCAL VOC 2012
    python -m seglab.train --recipe mask_rcnn_coco --data ~/coco --annotations ~/coco/annotations --out-dir runs/coco

``--data synthetic`` trains on :class:`seglab.data.synthetic.SyntheticSegmentation` (no files needed), and the model
``tiny_segmenter`` is always available. Under torchrun each process trains on its shard of the data
(DistributedSampler), gradients are averaged by DDP (gloo on CPU, nccl on CUDA), and only rank 0 prints and
writes the checkpoint. ``--save-per-rank DIR`` makes every rank save its final weights (to check that replicas
agree).
"""

from __future__ import annotations

import argparse
import ast
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from seglab.models import available_models, create_model
from seglab.train.engine import fit
from seglab.utils import set_seed


def _recipe_help() -> str:
    """The ``--recipe`` help, read from the recipe table (adding a recipe adds it here)."""
    from seglab.train.recipes import RECIPES, MergeRecipe

    trained = [n for n, r in RECIPES.items() if not isinstance(r, MergeRecipe)]
    merges = [f"{n} ({r.semantic}'s stuff + {r.instance}'s things)" for n, r in RECIPES.items()
              if isinstance(r, MergeRecipe)]
    return ("train a shipped checkpoint from its recipe (seglab.train.recipes.RECIPES) into the weights folder "
            f"(data/weights, or SEGLAB_WEIGHTS_DIR): {', '.join(trained)}; or score a merge of shipped checkpoints "
            f"(no weights of its own): {', '.join(merges)}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m seglab.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=None, help=_recipe_help())
    parser.add_argument("--quick", action="store_true", help="with --recipe: a smoke run on a few scenes")
    parser.add_argument("--score-split", default=None, choices=["val", "test"],
                        help="score the trained checkpoints of the weights folder (--out-dir, default data/weights) "
                             "on this split of the shipped scenes and record it in their manifest entries")
    parser.add_argument("--out-dir", default=None, help="with --recipe: where weights and manifest go")
    parser.add_argument("--model", default=None, help=f"a registered model: {', '.join(available_models())}")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="extra keyword for the model builder (repeatable), e.g. --model-arg base_channels=16")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--data", default=None, help="with --model: scenes root (make_scenes layout) or 'synthetic' "
                        "(the default); with a *_voc / *_coco recipe: your VOC 2012 folder (VOC2012 or the folder "
                        "holding VOCdevkit) or your COCO folder (holding train2017/ and val2017/)")
    parser.add_argument("--annotations", default=None, help="with a *_coco recipe: instances_train2017.json (its "
                        "instances_val2017.json beside it) or the annotations folder")
    parser.add_argument("--backbone-weights", default=None, help="with --recipe: a local ImageNet state dict for the "
                        "backbone (torchvision's vgg16 / vgg16_bn / resnet50 file); never downloaded")
    parser.add_argument("--task", default="semantic", choices=["semantic", "instance"])
    parser.add_argument("--num-classes", type=int, default=None, help="default: 8 (semantic) or 5 (instance)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    parser.add_argument("--amp", default=None, choices=["on", "off"], help="mixed precision (default: on for CUDA)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint path (resumes when it matches)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--no-val", action="store_true", help="skip validation")
    parser.add_argument("--synthetic-size", type=int, default=32, help="image size for --data synthetic")
    parser.add_argument("--synthetic-length", type=int, default=32, help="images for --data synthetic")
    parser.add_argument("--save-per-rank", default=None, help="folder: each rank saves rank{R}.pt at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.recipe is None and args.score_split is None and (args.model is None or args.epochs is None):
        parser.error("--model and --epochs are required (or give --recipe NAME)")
    return args


def parse_model_args(items):
    """``["width=8", "name='x'"]`` -> ``{"width": 8, "name": "x"}`` (values read as Python literals when they parse)."""
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"--model-arg expects KEY=VALUE, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return kwargs


def setup_distributed(device_arg):
    """Join the process group when started by torchrun; return (device, rank, world_size)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device_arg is None else device_arg.startswith("cuda")
    if world_size == 1:
        return torch.device(device_arg or ("cuda" if use_cuda else "cpu")), 0, 1
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return device, dist.get_rank(), world_size


def make_datasets(args):
    if args.data in (None, "synthetic"):
        from seglab.data.synthetic import SyntheticSegmentation

        if args.task != "semantic":
            raise SystemExit("--data synthetic only provides the semantic task")
        k = args.num_classes or 8
        return (SyntheticSegmentation(args.synthetic_length, args.synthetic_size, k, seed=args.seed),
                SyntheticSegmentation(max(args.synthetic_length // 4, 1), args.synthetic_size, k, seed=args.seed + 1))
    from seglab.data import SceneDataset, drop_crowd  # drop_crowd: torchvision's Mask R-CNN knows no crowd regions

    if not Path(args.data).is_dir():
        raise SystemExit(f"--data {args.data}: no such folder")
    transforms = drop_crowd if args.task == "instance" else None
    return (SceneDataset(args.data, "train", task=args.task, transforms=transforms),
            SceneDataset(args.data, "val", task=args.task, transforms=transforms))


def run_recipe_cli(args) -> int:
    """``--recipe NAME``: the recipe with ``--data`` / ``--annotations`` / ``--backbone-weights`` filled in; a staged
    recipe (``fcn8s_voc``) first trains the stages it starts from when ``--out-dir`` lacks them."""
    import dataclasses
    import json

    from seglab.models.manifest import read_manifest
    from seglab.train.recipes import MergeRecipe, get_recipe, run_recipe, stages
    from seglab.utils import weights_dir

    def filled(recipe):
        if isinstance(recipe, MergeRecipe):
            return recipe
        changes = {k: v for k, v in (("data_root", args.data), ("annotations", args.annotations),
                                     ("backbone_weights", args.backbone_weights)) if v is not None}
        if "data_root" in changes and recipe.data == "scenes":
            raise SystemExit(f"--data: recipe {recipe.name!r} trains on generated scenes; --data is for the *_voc "
                             "and *_coco recipes")
        return dataclasses.replace(recipe, **changes)

    recipe = filled(get_recipe(args.recipe))
    chain = [filled(stage) for stage in stages(recipe)]
    out_dir = args.out_dir if args.out_dir is not None else (None if args.quick else weights_dir())
    for stage in chain[:-1]:  # the coarser stages, unless already there
        if out_dir is None or stage.name not in read_manifest(out_dir, missing_ok=True):
            entry = run_recipe(stage, quick=args.quick, out_dir=out_dir, device=args.device, progress=not args.quiet)
            print(json.dumps({"recipe": stage.name, "file": entry["file"], "metrics": entry["metrics"]}))
    entry = run_recipe(recipe, quick=args.quick, out_dir=out_dir, device=args.device, progress=not args.quiet,
                       command=_command(args))
    keys = ("file", "sha256", "steps", "components", "wall_time_s", "device", "metrics")  # a merge has no file
    print(json.dumps({k: entry[k] for k in keys if k in entry}))
    return 0


def _command(args) -> str | None:
    """The command line that reruns this ``--recipe`` run, when it names files (else the recipe's own command)."""
    parts = [f"--data {args.data}" if args.data else "", f"--annotations {args.annotations}" if args.annotations
             else "", f"--backbone-weights {args.backbone_weights}" if args.backbone_weights else ""]
    extra = " ".join(p for p in parts if p)
    if not extra:
        return None
    return f"python -m seglab.train --recipe {args.recipe} {extra}" + (" --quick" if args.quick else "")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.score_split is not None:
        import json

        from seglab.train.shipped import score_on_split

        scored = score_on_split(split=args.score_split, out_dir=args.out_dir, device=args.device)
        print(json.dumps({name: m.get("mIoU", m.get("mask", m.get("All"))) for name, m in scored.items()}))
        return 0
    if args.recipe is not None:
        return run_recipe_cli(args)
    device, rank, world_size = setup_distributed(args.device)
    set_seed(args.seed)  # the same seed on every rank: identical initial weights (DDP also broadcasts rank 0's)
    num_classes = args.num_classes or (8 if args.task == "semantic" else 5)
    model = create_model(args.model, num_classes=num_classes, **parse_model_args(args.model_arg))
    train_set, val_set = make_datasets(args)
    collate = None
    if args.task == "instance":
        from seglab.data import detection_collate as collate
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed) if world_size > 1 else None
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=args.workers, collate_fn=collate, drop_last=world_size > 1)
    val_loader = None
    if not args.no_val and args.task == "semantic":
        val_sampler = DistributedSampler(val_set, shuffle=False) if world_size > 1 else None
        val_loader = DataLoader(val_set, batch_size=args.batch_size, sampler=val_sampler, num_workers=args.workers)
    config = {"model": args.model, "model_args": args.model_arg, "data": str(args.data), "task": args.task,
              "batch_size": args.batch_size, "world_size": world_size, "seed": args.seed}
    amp = None if args.amp is None else args.amp == "on"
    history = fit(model, train_loader, val_loader, epochs=args.epochs, lr=args.lr, device=device, amp=amp,
                  checkpoint=args.checkpoint, config=config, progress=not args.quiet)
    if rank == 0:
        print(f"done: {history}", flush=True)
    if args.save_per_rank:
        out = Path(args.save_per_rank)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out / f"rank{rank}.pt")
    if world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
