"""How a recipe runs: :func:`train_recipe` (a trained model, nothing stored) and :func:`run_recipe` (weights and
a manifest entry), with the model, optimizer and schedule a :class:`~seglab.train.recipes.Recipe` names. The recipe
values and their table are in :mod:`seglab.train.recipes`, which re-exports these names."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from seglab.models.manifest import half_state_dict, read_manifest, sha256_hex, state_dict_bytes, write_manifest_entry
from seglab.results import machine_description
from seglab.train.balancing import balanced_loss, check_balancing, class_weights_of, fold_prior_correction
from seglab.train.evaluation import evaluate_model, evaluate_panoptic
from seglab.train.recipe_data import recipe_datasets, recipe_loaders
from seglab.train.recipes import _SCHEDULE_EVERY, QUICK_DIR, RECIPES, MergeRecipe, Recipe, get_recipe, quick_variant
from seglab.utils import atomic_write_bytes, get_device, set_seed, weights_dir

__all__ = ["build_model", "one_cycle", "make_scheduler", "make_optimizer", "TrainedRun", "train_recipe", "run_recipe"]


def build_model(recipe: Recipe, weights_dir=None):
    """The recipe's untrained model (FCN stages start from their coarser stage's weights in ``weights_dir``)."""
    from seglab.models import create_model

    model = create_model(recipe.model, **recipe.model_kwargs)
    if recipe.backbone_weights is not None:
        _load_backbone(model, recipe)
    if recipe.init_from is not None:
        from seglab.models import FCN
        from seglab.models.pretrained import load_pretrained

        coarser = load_pretrained(recipe.init_from, weights_dir=weights_dir)
        staged = FCN.from_coarser(coarser, model.variant)
        model.load_state_dict(staged.state_dict())
    return model


def _load_backbone(model, recipe: Recipe) -> None:
    """Load ``recipe.backbone_weights`` (a local ImageNet state dict, never downloaded) into the model's backbone:
    VGG16 for FCN, VGG16-BN for SegNet (their ``load_backbone``), ResNet-50 for Mask R-CNN's ResNet-50-FPN."""
    path = Path(recipe.backbone_weights)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights {path} not found: expected a local ImageNet state dict "
                                "(torchvision's vgg16 / vgg16_bn / resnet50 .pth file); seglab never downloads one")
    if hasattr(model, "load_backbone"):
        model.load_backbone(path)
        return
    body = getattr(getattr(model, "backbone", None), "body", None)
    if body is None:
        raise ValueError(f"recipe {recipe.name!r}: {recipe.model} has no ImageNet backbone to load {path} into")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the classifier is not part of the body
    own = body.state_dict()
    wrong = sorted(set(own) ^ set(state)) or [k for k in own if own[k].shape != state[k].shape]
    if wrong:
        raise ValueError(f"{path} is not a ResNet-50 state dict for this backbone: keys or shapes differ at "
                         f"{wrong[:5]}")
    body.load_state_dict(state)


def one_cycle(recipe: Recipe, optimizer, total_steps: int):
    """The recipe's one-cycle schedule: the rate rises to ``recipe.lr`` over the first ``recipe.warmup`` of
    ``total_steps``, then anneals (cosine) to nearly zero."""
    if not 0 < recipe.warmup < 1:
        raise ValueError(f"recipe {recipe.name!r}: warmup must be a share of the steps in (0, 1), "
                         f"got {recipe.warmup!r}")
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total_steps,
                                               pct_start=recipe.warmup)


def make_scheduler(recipe: Recipe, optimizer, total_steps: int, epochs: int):
    """The recipe's learning-rate schedule (None for ``"constant"``); ``fit`` steps it after every optimizer step
    (one-cycle) or every epoch (cosine): ``_SCHEDULE_EVERY``."""
    if recipe.schedule == "one_cycle":
        return one_cycle(recipe, optimizer, total_steps)
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return None


def make_optimizer(recipe: Recipe, params):
    """The recipe's optimizer at its peak learning rate (the one-cycle schedule scales it)."""
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    raise ValueError(f"recipe {recipe.name!r}: optimizer must be 'adamw' or 'sgd', got {recipe.optimizer!r}")


@dataclass
class TrainedRun:
    """What :func:`train_recipe` returns: the trained model (train mode, on the device), its history, the training
    set, the validation loader, the learning curve (``[[epoch, headline metric], ...]``), steps, wall time and the
    class weights it trained with (None without class balancing)."""

    recipe: Recipe
    model: torch.nn.Module
    history: object
    train: object
    val_loader: object
    curve: list
    epochs: int
    steps: int
    wall_time_s: float
    class_weights: torch.Tensor | None = None


def train_recipe(recipe: Recipe | str, *, quick: bool = False, device=None, progress: bool = True,
                 init_dir=None, checkpoint=None) -> TrainedRun:
    """Train a recipe (a value or a shipped name) and return the :class:`TrainedRun`, without storing anything but
    ``checkpoint`` (a path: written after every epoch, and a run of the same recipe resumes from it).
    ``quick``: :func:`quick_variant` on the quick scenes. ``init_dir``: where an FCN stage finds its coarser stage."""
    from seglab.train.engine import fit

    recipe = get_recipe(recipe)
    if not isinstance(recipe, Recipe):
        raise ValueError(f"{recipe.name!r} is a merge of trained checkpoints: run it with run_recipe")
    run = quick_variant(recipe) if quick else recipe
    device = torch.device(device) if device is not None else get_device()
    check_balancing(run)
    set_seed(run.seed)
    model = build_model(run, init_dir)
    train, val = recipe_datasets(run, quick)
    train_loader, val_loader = recipe_loaders(run, train, val, device=device)
    epochs = min(run.epochs, run.steps) if run.steps else run.epochs
    total = epochs * len(train_loader)
    headline = "dsb_score" if run.data == "nuclei" else "mIoU" if run.task == "semantic" else "mask_AP"

    def val_fn(net, loader, dev):
        metrics = evaluate_model(run, net, loader, dev)
        return {headline: metrics["mask"]["AP"] if headline == "mask_AP" else metrics[headline]}

    start = time.perf_counter()
    class_weights = class_weights_of(run, train=train) if run.class_weights else None  # the masks read once
    loss_fn = _weighted_pixels if run.data == "nuclei" else balanced_loss(run, train, class_weights)
    history = fit(model, train_loader, val_loader if run.curve else None, epochs=epochs, lr=run.lr,
                  optimizer=lambda params: make_optimizer(run, params), loss_fn=loss_fn,
                  scheduler=(lambda opt: make_scheduler(run, opt, total, epochs)) if run.schedule != "constant"
                  else None, scheduler_every=_SCHEDULE_EVERY[run.schedule],
                  device=device, val_fn=val_fn, progress=progress, plot=False, checkpoint=checkpoint,
                  config={"recipe": dataclasses.asdict(run), "quick": quick})
    curve = [[epoch, value] for epoch, value in enumerate(history.val.get(headline, []), start=1)]  # resumed too
    return TrainedRun(recipe, model, history, train, val_loader, curve, epochs, total, time.perf_counter() - start,
                      class_weights)


def _weighted_pixels(logits, targets, weights):
    """The loss of the nuclei recipes: cross-entropy weighted per pixel by U-Net's weight map (the batches' third
    item; all ones without the weight map)."""
    from seglab.losses import weighted_cross_entropy

    return weighted_cross_entropy(logits, targets, weights)


def run_recipe(recipe: Recipe | str, *, quick: bool = False, out_dir=None, device=None, progress: bool = True,
               command: str | None = None) -> dict:
    """Train a recipe (a :class:`Recipe` value, e.g. a ``dataclasses.replace`` variant, or a shipped name), store
    its half-precision weights as ``NAME.pt`` and its manifest entry in ``out_dir`` (default
    :func:`seglab.utils.weights_dir`, where :func:`seglab.models.load_pretrained` reads; ``quick=True`` trains
    :func:`quick_variant` and defaults to ``build/recipes_quick``). Returns the manifest entry; ``command`` overrides
    the command it records (default: :attr:`Recipe.command`). A :class:`MergeRecipe` trains nothing: it scores the
    merge of its components as stored in ``out_dir`` (``quick=True``: on a few val images) and writes an entry
    without a file."""
    recipe = get_recipe(recipe)
    out_dir = Path(out_dir) if out_dir is not None else (QUICK_DIR if quick else weights_dir())
    device = torch.device(device) if device is not None else get_device()
    command = (command or recipe.command) + (" --quick" if quick and command is None else "")
    if isinstance(recipe, MergeRecipe):
        return _run_merge(recipe, quick, out_dir, device, command)
    init_dir = out_dir if recipe.init_from in read_manifest(out_dir, missing_ok=True) else None
    resume = out_dir / f".{recipe.name}.resume.pt"  # after every epoch: an interrupted run resumes from here
    run = train_recipe(recipe, quick=quick, device=device, progress=progress, init_dir=init_dir, checkpoint=resume)
    model, val_loader = run.model, run.val_loader

    def score(net):  # on the recipe's val split (quick runs: the few val images they validated on)
        return evaluate_model(recipe, net, val_loader, device)

    correction = None
    if recipe.prior_correction:  # the metrics before it, then the class weights' bias out of the classifier
        before = score(model)
        shift = fold_prior_correction(model, run.class_weights)
        correction = {"subtracted_from_classifier_bias": [round(float(v), 6) for v in shift],
                      "metrics_before": before}
    state = half_state_dict(model)
    data, trained = state_dict_bytes(state), quick_variant(recipe) if quick else recipe
    file = f"{recipe.name}.pt"
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    entry = {
        "model": recipe.model, "model_args": trained.model_kwargs, "file": file, "sha256": sha256_hex(data),
        "bytes": len(data), "dtype_on_disk": "float16", "command": command,
        "recipe": {k: v for k, v in dataclasses.asdict(recipe).items() if k not in ("name", "model", "model_args")},
        "epochs": run.epochs, "steps": run.steps, "batch_size": recipe.batch_size,
        "train_scenes": {"num_train": len(run.train), "seed": recipe.scene_seed},
        "wall_time_s": round(run.wall_time_s, 1), "device": machine_description(device), "torch": torch.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "metrics": score(model), "curve": {"x": "epoch", "y": "DSB score" if recipe.data == "nuclei" else "mIoU"
                                           if recipe.task == "semantic" else "mask AP", "points": run.curve},
    }
    history = run.history  # where the time went: waiting for batches, and in the steps (seglab.train.fit measures it)
    if getattr(history, "data_seconds", None):
        data_s, step_s = (sum(v for v in getattr(history, k) if v == v) for k in ("data_seconds", "step_seconds"))
        entry["time_split"] = {"data_s": round(data_s, 1), "steps_s": round(step_s, 1),
                               "steps_per_s": round(run.steps / step_s, 2) if step_s else None}
    if recipe.task == "instance":  # which RoIAlign op ran ("auto": seglab's on the CPU, torchvision's on CUDA)
        from seglab.models.maskrcnn import roi_align_impl_in_use

        entry["roi_align_impl"] = roi_align_impl_in_use(model, device)
    if recipe.data in ("scenes", "nuclei") and not quick:  # the held-out split: reported, never chosen on
        entry["test_metrics"] = evaluate_model(recipe, model, device=device, split="test")
    if recipe.data != "scenes":
        entry["data"] = {"source": recipe.data, "root": recipe.data_root, "annotations": recipe.annotations,
                         "num_train": len(run.train), "num_val": len(val_loader.dataset)}
    if recipe.backbone_weights is not None:
        path = Path(recipe.backbone_weights)
        entry["backbone_weights"] = {"file": str(path), "sha256": sha256_hex(path.read_bytes())}
    if correction is not None:
        entry["prior_correction"] = correction  # the curve is before it, "metrics" after it
    # written only now that every step succeeded: a failed run leaves the folder's weights and manifest as they were
    atomic_write_bytes(out_dir / file, data)
    write_manifest_entry(recipe.name, entry, out_dir)
    resume.unlink(missing_ok=True)  # the run is stored: nothing left to resume
    return entry


def _run_merge(recipe: MergeRecipe, quick: bool, out_dir: Path, device, command: str) -> dict:
    """Score the merge of the components stored in ``out_dir`` and write its manifest entry there (no file)."""
    from seglab.data import SceneDataset
    from seglab.models.pretrained import PretrainedError, load_pretrained

    manifest = read_manifest(out_dir, missing_ok=True)
    models, components = {}, {}
    for role in ("semantic", "instance"):
        name = getattr(recipe, role)
        try:
            models[role] = load_pretrained(name, device=device, weights_dir=out_dir)
        except PretrainedError as exc:
            build = f"{RECIPES[name].command}{' --quick' if quick else ''} --out-dir {out_dir}"
            raise PretrainedError(f"the merge {recipe.name!r} needs the {role} checkpoint {name!r} in {out_dir}: "
                                  f"{exc}; build it first with `{build}`") from exc
        entry = manifest[name]
        components[role] = {"name": name, "sha256": entry["sha256"], "command": entry["command"],
                            "date": entry["date"], "model": entry["model"], "model_args": entry["model_args"]}
    # the RoI side that the things' detector pools from FPN level 4 (its poolers' level rule): the merged PQ depends
    # on it, so the entry names it (as its poolers use it: model_args may leave it to torchvision's default)
    canonical_scale = models["instance"].roi_heads.mask_roi_pool.canonical_scale
    dataset = SceneDataset(split="val", task="panoptic")
    if quick:
        dataset = torch.utils.data.Subset(dataset, range(recipe.quick_images))
    start = time.perf_counter()
    metrics = evaluate_panoptic(models["semantic"], models["instance"], recipe.merge_args, dataset, device)
    wall = time.perf_counter() - start
    entry = {
        "kind": "merge", "task": recipe.task, "command": command,
        "components": components, "merge": {"function": "seglab.models.panoptic.panoptic_merge", **recipe.merge_args},
        "canonical_scale": canonical_scale, "notes": recipe.notes, "val_images": len(dataset),
        "wall_time_s": round(wall, 1), "device": machine_description(device), "torch": torch.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "metrics": metrics,
    }
    if not quick:  # the held-out split: reported, never chosen on (the merge's thresholds were set on val)
        entry["test_metrics"] = evaluate_panoptic(models["semantic"], models["instance"], recipe.merge_args,
                                                  device=device, split="test")
    write_manifest_entry(recipe.name, entry, out_dir)
    return entry
