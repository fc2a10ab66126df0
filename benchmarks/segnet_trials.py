"""SegNet's training choices against U-Net at equal epochs, on val: the shipped recipe and its variants.

    python benchmarks/segnet_trials.py                              # every variant, 30-80 min each on 2 CPU cores
    python benchmarks/segnet_trials.py --quick                      # one quick epoch per variant: does it run?

Each variant is the shipped ``segnet`` recipe (``seglab.train.recipes.RECIPES["segnet"]``) with a few fields
replaced (``dataclasses.replace``: :func:`variant_recipe`), trained by the same
:func:`seglab.train.recipes.run_recipe` for the same number of epochs as the shipped
``unet``, into ``build/segnet_trials/VARIANT`` (weights and a manifest entry). A variant whose folder already holds an
entry trained with the same recipe is read back, not retrained (``--retrain`` forces it), and so is the shipped
``segnet`` when the variant is its recipe (``shipped`` in its row). The shipped ``unet`` is added as row ``unet``.

The trials choose the shipped recipe, so they score the val split only (chapter 4 reports them there; the held-out
test split is for the shipped models' headline figures, in the manifest).

Writes ``data/results/segnet_trials.json`` (quick runs: ``segnet_trials_quick``): one row per variant with the
fields changed, the val mIoU, boundary F1, mean IoU over the stuff and over the thing classes, the final train loss
where the run logged it, the learning curve, wall time, device and date of the training run, and the val mIoU and
boundary F1 of its weights with the class weights' bias taken out (``mIoU_corrected``: see
:func:`corrected_metrics`). Chapter 4 reads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import torch

_QUARTER = {"num_classes": 8, "width": 0.25}  # a quarter of VGG16's channels
_ADAMW = {"model_args": _QUARTER, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-2, "batch_size": 16,
          "class_weights": None, "warmup": 0.3, "prior_correction": False}
_SGD = {"model_args": _QUARTER, "optimizer": "sgd", "lr": 0.1, "weight_decay": 5e-4, "batch_size": 16,
        "class_weights": None, "warmup": 0.3, "prior_correction": False}
#: The variants tried, by name: the fields of the ``segnet`` recipe they set. Each names the model's width, the
#: optimizer, learning rate, weight decay, batch size, class weights, the schedule's warm-up and whether the class
#: weights' bias is taken out after training (``prior_correction``), so a variant means the same run whichever
#: recipe ships.
VARIANTS: dict[str, dict] = {
    "adamw": _ADAMW,  # as the shipped unet
    "adamw_batch8": {**_ADAMW, "batch_size": 8},  # twice the steps, noisier gradients
    "adamw_balanced": {**_ADAMW, "class_weights": "median_frequency"},  # the paper's class balancing
    "sgd": _SGD,  # the paper's optimizer: SGD, momentum 0.9
    "sgd_balanced": {**_SGD, "class_weights": "median_frequency"},  # the paper's training, from scratch
    "sgd_balanced_lr005": {**_SGD, "lr": 0.05, "class_weights": "median_frequency"},  # half the peak rate
    "sgd_balanced_lr0025": {**_SGD, "lr": 0.025, "class_weights": "median_frequency"},  # a quarter of it
    "sgd_balanced_lr0025_w0375": {**_SGD, "lr": 0.025, "class_weights": "median_frequency",
                                  "model_args": {"num_classes": 8, "width": 0.375}},  # 1.5 times the channels
    "sgd_balanced_lr00125_w04": {**_SGD, "lr": 0.0125, "class_weights": "median_frequency",
                                 "model_args": {"num_classes": 8, "width": 0.4}},  # an eighth of the rate, 1.6x
    # the rate peaks after a tenth of the steps, not three tenths, and anneals for longer
    "sgd_balanced_lr0025_warmup01": {**_SGD, "lr": 0.025, "class_weights": "median_frequency", "warmup": 0.1},
    "sgd_balanced_lr0025_w0375_seed1": {**_SGD, "lr": 0.025, "class_weights": "median_frequency",
                                        "model_args": {"num_classes": 8, "width": 0.375}, "seed": 1},  # another seed
    # the 0.375 run with the class weights' bias folded out of its classifier after training (no other change)
    "sgd_balanced_lr0025_w0375_prior": {**_SGD, "lr": 0.025, "class_weights": "median_frequency",
                                        "model_args": {"num_classes": 8, "width": 0.375}, "prior_correction": True},
}
#: Recipe fields that do not change what is trained.
_NOT_TRAINING = ("notes",)


def _training(recipe_dict: dict) -> dict:
    """The fields of a stored recipe that decide the run (fields added to ``Recipe`` later take their default)."""
    from seglab.train.recipes import Recipe

    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(Recipe)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    return {k: v for k, v in {**defaults, **recipe_dict}.items()
            if k not in _NOT_TRAINING and k not in ("name", "model", "model_args")}


def _trained_by(entry: dict | None, recipe) -> bool:
    """Whether a manifest entry holds weights that ``recipe`` would train (its notes aside)."""
    return bool(entry) and entry["model_args"] == recipe.model_args \
        and _training(entry["recipe"]) == _training(dataclasses.asdict(recipe))


def corrected_metrics(entry: dict, weights_dir: Path, recipe, quick: bool, device) -> dict:
    """The val metrics of a trial's weights (the ``segnet`` entry in ``weights_dir``) with the class weights' bias
    taken out (:func:`seglab.train.recipes.fold_prior_correction` with the median-frequency weights of its training
    scenes), whether or not it trained with them: the entry's own metrics when its recipe already folded them in."""
    from torch.utils.data import DataLoader

    from seglab.models import load_pretrained
    from seglab.train.recipe_data import recipe_datasets
    from seglab.train.recipes import class_weights_of, evaluate_model, fold_prior_correction

    if entry["recipe"].get("prior_correction"):
        return entry["metrics"]
    model = load_pretrained("segnet", device=device, weights_dir=weights_dir)
    fold_prior_correction(model, class_weights_of(recipe, quick))
    if quick:  # the val images the quick run scored
        _, val = recipe_datasets(recipe, quick)
        return evaluate_model(recipe, model, DataLoader(val, batch_size=16), device)
    return evaluate_model(recipe, model, device=device)


def _row(variant: str, changes: dict, entry: dict, where: str) -> dict:
    from seglab.data.classes import CATEGORIES, CLASS_NAMES

    things = {c["name"]: c["isthing"] for c in CATEGORIES}
    iou = entry["metrics"]["per_class_iou"]
    thing_iou = [v for v, n in zip(iou, CLASS_NAMES) if things[n]]
    stuff_iou = [v for v, n in zip(iou, CLASS_NAMES) if not things[n]]
    return {"variant": variant, "model": entry["model"], "changes": changes,
            "optimizer": entry["recipe"].get("optimizer", "adamw"), "batch_size": entry["batch_size"],
            "lr": entry["recipe"]["lr"], "epochs": entry["epochs"],
            "steps": entry["steps"], "mIoU": entry["metrics"]["mIoU"], "boundary_f1": entry["metrics"]["boundary_f1"],
            "stuff_IoU": round(sum(stuff_iou) / len(stuff_iou), 6),
            "things_IoU": round(sum(thing_iou) / len(thing_iou), 6),
            "per_class_iou": iou, "curve": entry["curve"]["points"], "wall_time_s": entry["wall_time_s"],
            "device": entry["device"], "date": entry["date"], "weights": where,
            "prior_correction": bool(entry["recipe"].get("prior_correction"))}


def variant_recipe(name: str, changes: dict):
    """Trial ``name``: the shipped ``segnet`` recipe with ``changes`` (its name stays ``segnet``: the trial's folder
    holds ``segnet.pt`` and a ``segnet`` manifest entry)."""
    from seglab.train.recipes import RECIPES

    return dataclasses.replace(RECIPES["segnet"], **changes, notes=f"segnet trial {name}: {json.dumps(changes)}")


def run_variant(name: str, changes: dict, out_root: Path, quick: bool, retrain: bool, device) -> dict:
    """Train (or read back) one variant; returns its manifest entry."""
    from seglab.models import pretrained_info
    from seglab.train.recipes import run_recipe

    recipe = variant_recipe(name, changes)
    out_dir = out_root / name
    manifest = out_dir / "manifest.json"
    if not quick and not retrain:
        entry = pretrained_info("segnet")
        if _trained_by(entry, recipe):
            print(f"{name}: the shipped segnet (data/weights, trained {entry['date']})")
            return entry
        entry = json.loads(manifest.read_text()).get("segnet") if manifest.is_file() else None
        if _trained_by(entry, recipe):
            print(f"{name}: read back from {out_dir} (trained {entry['date']})")
            return entry
    if out_dir.exists():
        shutil.rmtree(out_dir)
    command = f"python benchmarks/segnet_trials.py --variants {name}" + (" --quick" if quick else "")
    return run_recipe(recipe, quick=quick, out_dir=out_dir, device=device, progress=not quick, command=command)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", default=None, help="folder of the trials (default build/segnet_trials)")
    parser.add_argument("--retrain", action="store_true", help="train even when a folder holds the same run")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU when present)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch")
    parser.add_argument("--quick", action="store_true", help="one epoch on a few scenes per variant")
    parser.add_argument("--results", default=None, help="results file name under data/results (default: "
                        "segnet_trials, or segnet_trials_quick with --quick)")
    parser.add_argument("--results-dir", default=None, help="folder for the results file (default data/results)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from seglab.models import pretrained_info
    from seglab.results import markdown_table, write_script_results
    from seglab.train.recipes import RECIPES
    from seglab.utils import REPO_ROOT, get_device, weights_dir

    device = get_device(args.device)
    out_root = Path(args.out) if args.out else REPO_ROOT / "build" / ("segnet_trials_quick" if args.quick
                                                                       else "segnet_trials")
    unet = _row("unet", {}, pretrained_info("unet"), "data/weights/unet.pt")
    rows = [] if args.quick else [{**unet, "shipped": True}]
    shipped_sha = pretrained_info("segnet")["sha256"]
    for name in args.variants:
        entry = run_variant(name, VARIANTS[name], out_root, args.quick, args.retrain, device)
        where = "data/weights/segnet.pt" if entry["sha256"] == shipped_sha else str(out_root / name / entry["file"])
        folder = weights_dir() if where.startswith("data/weights") else out_root / name
        corrected = corrected_metrics(entry, folder, dataclasses.replace(RECIPES["segnet"], **VARIANTS[name]),
                                      args.quick, device)
        rows.append({**_row(name, VARIANTS[name], entry, where), "shipped": where.startswith("data/weights"),
                     "mIoU_corrected": corrected["mIoU"], "boundary_f1_corrected": corrected["boundary_f1"]})
    columns = ["variant", "optimizer", "batch_size", "lr", "epochs", "steps", "mIoU", "boundary_f1", "mIoU_corrected",
               "stuff_IoU", "things_IoU", "shipped"]
    print(markdown_table(rows, columns))
    name = args.results or ("segnet_trials_quick" if args.quick else "segnet_trials")
    params = {"recipe": "segnet", "variants": {n: VARIANTS[n] for n in args.variants}, "quick": args.quick}
    write_script_results(name, rows, script="benchmarks/segnet_trials.py", argv=argv, device=device, params=params,
                         results_dir=args.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
