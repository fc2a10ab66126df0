"""Recipes for the weights that ship in ``data/weights``: ``python -m seglab.train --recipe NAME``.

A recipe fixes everything a run depends on: the model and its constructor arguments, the training scenes (generated
by :func:`seglab.data.make_scenes` with a seed other than the shipped data's, so no validation scene is ever trained
on), augmentation, optimiser, one-cycle schedule, steps, batch size and seeds. :func:`run_recipe` trains, stores the
weights in half precision, re-evaluates the stored weights on the shipped val split and writes the manifest entry
(file, sha256, command, wall time, device, metrics, learning curve) that :func:`seglab.models.pretrained_info`
returns.

A :class:`MergeRecipe` (``panoptic``) trains nothing: it merges two shipped checkpoints with
:func:`seglab.models.panoptic.panoptic_merge` and records, without a weights file of its own, the components' names and
sha256s, the merge parameters and the pipeline's PQ / SQ / RQ on the val split (:func:`evaluate_panoptic`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from seglab.results import machine_description
from seglab.utils import DATA_DIR, REPO_ROOT, atomic_write_bytes, get_device, set_seed

__all__ = ["Recipe", "MergeRecipe", "RECIPES", "run_recipe", "make_optimizer", "one_cycle", "median_frequency_weights",
           "shipped_model", "train_mode", "WEIGHTS_DIR", "MANIFEST", "recipe_scenes", "dihedral_augment",
           "evaluate_model", "evaluate_panoptic", "shipped_info", "fold_prior_correction", "class_weights_of"]

#: Where shipped weights and their manifest live.
WEIGHTS_DIR = DATA_DIR / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
#: Generated training scenes are cached here (a build product; the recipe regenerates them byte for byte).
SCENES_CACHE = REPO_ROOT / "build" / "recipe_scenes"


@dataclass(frozen=True)
class Recipe:
    """One shipped checkpoint's training run."""

    name: str
    model: str  # a name of seglab.models.create_model
    model_args: dict
    task: str  # "semantic" or "instance"
    epochs: int  # passes over the generated training scenes
    batch_size: int
    lr: float  # peak of the one-cycle schedule (AdamW)
    train_scenes: int = 4000
    scene_seed: int = 11  # the shipped data/scenes use seed 0
    augment: str = "dihedral"  # "dihedral" (flips and 90-degree turns, semantic), "hflip" (instance) or "none"
    init_from: str | None = None  # FCN staging: start from this recipe's shipped weights
    seed: int = 0
    weight_decay: float = 1e-2
    optimizer: str = "adamw"  # "adamw", or "sgd" (momentum 0.9, as the SegNet paper trained)
    class_weights: str | None = None  # semantic: None, or "median_frequency" (the SegNet paper's balancing)
    warmup: float = 0.3  # share of the steps in which the one-cycle rate rises to its peak (OneCycleLR's pct_start)
    prior_correction: bool = False  # with class_weights: fold -log(weight) into the classifier's bias after training
    quick_scenes: int = 24  # --quick: a smoke run of the same code path
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def command(self) -> str:
        return f"python -m seglab.train --recipe {self.name}"


@dataclass(frozen=True)
class MergeRecipe:
    """A shipped pipeline that is two shipped checkpoints and a merge (Kirillov et al.'s heuristic): nothing is
    trained, so its manifest entry has no file; it records the components and the merged PQ on the val split."""

    name: str
    semantic: str  # a semantic recipe: its stuff channels fill the pixels the things leave
    instance: str  # an instance recipe: its detections are the things
    overlap_threshold: float = 0.5  # an instance is dropped when less than this fraction of its mask is still free
    score_threshold: float = 0.5  # instances scoring below it are skipped
    stuff_area_min: int = 64  # stuff regions with fewer pixels are left VOID
    mask_threshold: float = 0.5  # a mask pixel belongs to its instance when its probability is above this
    quick_images: int = 8  # --quick: the first val images only, with the components found in the out dir
    task: str = "panoptic"
    notes: str = ""

    @property
    def command(self) -> str:
        return f"python -m seglab.train --recipe {self.name}"

    @property
    def merge_args(self) -> dict:
        """The keywords of :func:`seglab.models.panoptic.panoptic_merge` (and ``panoptic_predict``)."""
        return {"overlap_threshold": self.overlap_threshold, "score_threshold": self.score_threshold,
                "stuff_area_min": self.stuff_area_min, "mask_threshold": self.mask_threshold}


_FCN = {"width": 0.125, "fc6_kernel": 3, "dropout": 0.0, "batch_norm": True}
_MASK = {"roi_align_impl": "seglab", "canonical_scale": 36}

RECIPES: dict[str, Recipe | MergeRecipe] = {r.name: r for r in [
    Recipe("fcn32s", "fcn32s", {"num_classes": 8, **_FCN}, "semantic", epochs=8, batch_size=16, lr=3e-3),
    Recipe("fcn16s", "fcn16s", {"num_classes": 8, **_FCN}, "semantic", epochs=8, batch_size=16, lr=3e-3,
           init_from="fcn32s", notes="staged as in the paper: initialised from the shipped FCN-32s"),
    Recipe("fcn8s", "fcn8s", {"num_classes": 8, **_FCN}, "semantic", epochs=8, batch_size=16, lr=3e-3,
           init_from="fcn16s", notes="staged as in the paper: initialised from the shipped FCN-16s"),
    Recipe("unet", "unet", {"num_classes": 8, "base_channels": 16, "batch_norm": True, "padding": "same"},
           "semantic", epochs=24, batch_size=16, lr=3e-3),
    Recipe("segnet", "segnet", {"num_classes": 8, "width": 0.375}, "semantic", epochs=24, batch_size=16, lr=0.025,
           optimizer="sgd", weight_decay=5e-4, class_weights="median_frequency", prior_correction=True,
           notes="same epochs as unet; trained as the SegNet paper: SGD with momentum 0.9 and median-frequency "
                 "class weights; peak rate 0.025 of the one-cycle schedule (the paper's 0.1 ended lower) and 1.5 "
                 "times the width of the other trials; after training, the class weights' bias is taken out of the "
                 "classifier (prior_correction; benchmarks/segnet_trials.py)"),
    Recipe("mask_rcnn", "mask_rcnn", {"num_classes": 5, **_MASK}, "instance", epochs=10, batch_size=8, lr=2e-3,
           augment="hflip"),
    Recipe("mask_rcnn_roipool", "mask_rcnn", {"num_classes": 5, "pooler": "roi_pool", **_MASK}, "instance",
           epochs=10, batch_size=8, lr=2e-3, augment="hflip", notes="same schedule as mask_rcnn, RoIPool"),
    MergeRecipe("panoptic", semantic="unet", instance="mask_rcnn",
                notes="chapter 6: stuff from the shipped unet, things from the shipped mask_rcnn (RoIAlign; the "
                      "entry records the canonical_scale its poolers use)"),
]}  # defined in order: a recipe after those it starts from (FCN stages) or merges


def recipe_scenes(num_train: int, seed: int) -> Path:
    """The generated training scenes of a recipe (made on first use, then reused from ``build/recipe_scenes``)."""
    from seglab.data import make_scenes

    root = SCENES_CACHE / f"seed{seed}_n{num_train}"
    if not (root / "scenes.json").is_file():
        make_scenes(root, num_train, 1, seed=seed)
    return root


def dihedral_augment(image: torch.Tensor, mask: torch.Tensor):
    """A random element of the square's symmetry group (4 turns x mirror) applied to an image and its mask."""
    k, flip = int(torch.randint(4, ())), bool(torch.randint(2, ()))
    image, mask = torch.rot90(image, k, (-2, -1)), torch.rot90(mask, k, (-2, -1))
    if flip:
        image, mask = image.flip(-1), mask.flip(-1)
    return image.contiguous(), mask.contiguous()


def _datasets(recipe: Recipe, quick: bool):
    from seglab.data import RandomHorizontalFlip, SceneDataset, drop_crowd

    num = recipe.quick_scenes if quick else recipe.train_scenes
    root = recipe_scenes(num, recipe.scene_seed)
    if recipe.task == "semantic":
        transforms = dihedral_augment if recipe.augment == "dihedral" else None
    else:
        flip = RandomHorizontalFlip() if recipe.augment == "hflip" else None
        transforms = (lambda image, target: flip(*drop_crowd(image, target))) if flip else drop_crowd
    train = SceneDataset(root, "train", task=recipe.task, transforms=transforms)
    val = SceneDataset(split="val", task=recipe.task)
    if quick:
        val = torch.utils.data.Subset(val, range(8))
    return train, val


def _loaders(recipe: Recipe, train, val):
    from seglab.data import detection_collate

    collate = detection_collate if recipe.task == "instance" else None
    g = torch.Generator().manual_seed(recipe.seed)
    train_loader = DataLoader(train, batch_size=recipe.batch_size, shuffle=True, generator=g, collate_fn=collate,
                              drop_last=len(train) > recipe.batch_size)
    val_loader = DataLoader(val, batch_size=16, collate_fn=collate)
    return train_loader, val_loader


def one_cycle(recipe: Recipe, optimizer, total_steps: int):
    """The recipe's one-cycle schedule: the rate rises to ``recipe.lr`` over the first ``recipe.warmup`` of
    ``total_steps``, then anneals (cosine) to nearly zero."""
    if not 0 < recipe.warmup < 1:
        raise ValueError(f"recipe {recipe.name!r}: warmup must be a share of the steps in (0, 1), "
                         f"got {recipe.warmup!r}")
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total_steps,
                                               pct_start=recipe.warmup)


def make_optimizer(recipe: Recipe, params):
    """The recipe's optimizer at its peak learning rate (the one-cycle schedule scales it)."""
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    raise ValueError(f"recipe {recipe.name!r}: optimizer must be 'adamw' or 'sgd', got {recipe.optimizer!r}")


def median_frequency_weights(dataset, num_classes: int) -> torch.Tensor:
    """float[K]: ``median(freq) / freq(c)``, where ``freq(c)`` is class c's pixel count over the pixel count of the
    masks that contain c (Eigen and Fergus's median frequency balancing, which SegNet trains with). Ignored pixels
    (``IGNORE_INDEX``) count nowhere; a class absent from every mask gets weight 0. ``dataset``: a VOC-style
    semantic dataset (``mask_path``, ``__len__``); its masks are read without its transforms."""
    from seglab.data.classes import IGNORE_INDEX
    from seglab.data.formats import read_label_png

    pixels, present_in = torch.zeros(num_classes, dtype=torch.float64), torch.zeros(num_classes, dtype=torch.float64)
    for index in range(len(dataset)):
        labels = torch.from_numpy(read_label_png(dataset.mask_path(index)).astype("int64"))
        labels = labels[labels != IGNORE_INDEX]
        counts = torch.bincount(labels, minlength=num_classes)[:num_classes].double()
        pixels += counts
        present_in += (counts > 0).double() * labels.numel()
    seen = present_in > 0
    if not seen.any():
        raise ValueError("no labelled pixel in the dataset: cannot balance the classes")
    freq = torch.where(seen, pixels / present_in.clamp(min=1), torch.zeros_like(pixels))
    weights = torch.where(seen, freq[seen].median() / freq.clamp(min=1e-12), torch.zeros_like(freq))
    return weights.float()


def _check_balancing(recipe: Recipe) -> None:
    if recipe.class_weights not in (None, "median_frequency") or (recipe.class_weights and recipe.task != "semantic"):
        raise ValueError(f"recipe {recipe.name!r}: class_weights must be None or 'median_frequency' (semantic), "
                         f"got {recipe.class_weights!r}")
    if recipe.prior_correction and recipe.class_weights is None:
        raise ValueError(f"recipe {recipe.name!r}: prior_correction takes out the bias that class weights train in; "
                         "it needs class_weights='median_frequency'")


def class_weights_of(recipe: Recipe, quick: bool = False) -> torch.Tensor:
    """float[K]: the median-frequency weights of the recipe's training scenes (``quick``: of its quick scenes),
    whether or not the recipe trains with them."""
    from seglab.data import SceneDataset

    root = recipe_scenes(recipe.quick_scenes if quick else recipe.train_scenes, recipe.scene_seed)
    train = SceneDataset(root, "train", task="semantic")
    return median_frequency_weights(train.voc, train.num_classes)


def fold_prior_correction(model, weights: torch.Tensor) -> torch.Tensor:
    """Take the bias of a class-weighted loss out of a trained model: subtract ``log(weights[c])`` from the bias of
    class c in ``model.classifier`` (in place). Returns the amounts subtracted.

    A cross-entropy whose class c weighs ``w_c`` is smallest when the predicted probabilities are proportional to
    ``w_c p(c | x)``, not ``p(c | x)``: the model learns to call the rare, heavily weighted classes more often than
    they occur. Dividing by ``w_c`` again, which on the logits is subtracting ``log w_c``, gives back the unweighted
    posterior (the logit adjustment of Menon et al., "Long-tail learning via logit adjustment", ICLR 2021). The
    weights must be positive; ``model.classifier`` must be a convolution or linear layer with a bias, one output
    per class."""
    weights = torch.as_tensor(weights, dtype=torch.float32)
    layer = getattr(model, "classifier", None)
    if not isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)) or layer.bias is None:
        raise ValueError(f"prior correction needs a model whose .classifier is a Conv2d or Linear with a bias; "
                         f"{type(model).__name__} has {type(layer).__name__}")
    if weights.shape != layer.bias.shape:
        raise ValueError(f"expected one weight per class, shape {tuple(layer.bias.shape)}, got {tuple(weights.shape)}")
    if not bool((weights > 0).all()) or not bool(weights.isfinite().all()):
        raise ValueError(f"class weights must be positive and finite to be taken out, got {weights.tolist()}")
    shift = weights.log()
    with torch.no_grad():
        layer.bias -= shift.to(layer.bias)
    return shift


def _loss_fn(recipe: Recipe, train):
    """The training loss of a recipe: ``None`` (the engine's default) unless it balances the classes."""
    _check_balancing(recipe)
    if recipe.class_weights is None:
        return None
    from seglab.train.batches import segmentation_loss

    weights = median_frequency_weights(train.voc, train.num_classes)  # the masks, read without the augmentation
    return lambda logits, targets: segmentation_loss(logits, targets, weight=weights)


def build_model(recipe: Recipe, weights_dir: Path | None = None):
    """The recipe's untrained model (FCN stages start from their coarser stage's shipped weights)."""
    from seglab.models import create_model

    model = create_model(recipe.model, **recipe.model_args)
    if recipe.init_from is not None:
        from seglab.models import FCN
        from seglab.models.pretrained import load_pretrained

        coarser = load_pretrained(recipe.init_from, weights_dir=weights_dir)
        staged = FCN.from_coarser(coarser, model.variant)
        model.load_state_dict(staged.state_dict())
    return model


def evaluate_model(recipe_or_task, model, val_loader=None, device=None) -> dict:
    """The manifest's metrics of ``model`` on the shipped val split (or ``val_loader``).

    Semantic: mIoU, pixel accuracy, boundary F1 (tolerance 2 px) and per-class IoU. Instance: COCO mask and box
    AP / AP50 / AP75 and class-agnostic mask AP."""
    from seglab.data import SceneDataset, detection_collate

    task = recipe_or_task.task if isinstance(recipe_or_task, Recipe) else recipe_or_task
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if val_loader is None:
        collate = detection_collate if task == "instance" else None
        val_loader = DataLoader(SceneDataset(split="val", task=task), batch_size=16, collate_fn=collate)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if task == "semantic":
                return _semantic_metrics(model, val_loader, device)
            return _instance_metrics(model, val_loader, device)
    finally:
        model.train(was_training)


def _semantic_metrics(model, loader, device) -> dict:
    from seglab.metrics import SegmentationMeter, boundary_f1

    meter, f1_sum, count = None, 0.0, 0
    for images, masks in loader:
        logits = model(images.to(device))
        preds = logits.argmax(1).cpu()
        meter = meter or SegmentationMeter(logits.shape[1])
        meter.update(preds, masks)
        f1 = boundary_f1(preds, masks, num_classes=logits.shape[1], reduction="none")
        f1_sum, count = f1_sum + float(f1.nansum()), count + int((~f1.isnan()).sum())
    scores = meter.compute()
    return {"mIoU": round(float(scores["mIoU"]), 6), "pixel_acc": round(float(scores["pixel_acc"]), 6),
            "boundary_f1": round(f1_sum / max(count, 1), 6),
            "per_class_iou": [round(float(v), 6) for v in scores["per_class_iou"]]}


def _instance_metrics(model, loader, device) -> dict:
    from seglab.metrics import coco_map

    outputs, targets = [], []
    for images, batch_targets in loader:
        outputs += [{k: v.cpu() for k, v in o.items()} for o in model([im.to(device) for im in images])]
        targets += batch_targets
    scores = coco_map(outputs, targets, ["segm", "bbox"])
    agnostic = coco_map(outputs, targets, "segm", class_agnostic=True)
    pick = lambda s: {k: round(float(s[k]), 6) for k in ("AP", "AP50", "AP75")}  # noqa: E731
    return {"mask": pick(scores["segm"]), "box": pick(scores["bbox"]), "mask_class_agnostic": pick(agnostic)}


def evaluate_panoptic(semantic_model, instance_model, merge_args: dict | None = None, dataset=None,
                      device=None) -> dict:
    """PQ / SQ / RQ of the merged pipeline on the shipped val split (or ``dataset``, a panoptic ``SceneDataset`` or a
    ``Subset`` of one), as a panoptic manifest entry records them.

    Each image goes through :func:`seglab.models.panoptic.panoptic_predict` (``merge_args``: its merge keywords) and
    the predictions are scored by :func:`seglab.metrics.panoptic_quality` (panopticapi's rules). Returns
    ``{"All" | "Things" | "Stuff": {"pq", "sq", "rq", "n"}, "per_class": {class name: {"pq", "sq", "rq", "tp", "fp",
    "fn"}}}`` (fractions, rounded to 6 digits)."""
    from seglab.data import SceneDataset
    from seglab.data.classes import CATEGORIES
    from seglab.metrics import panoptic_quality
    from seglab.models.panoptic import panoptic_predict

    dataset = dataset if dataset is not None else SceneDataset(split="val", task="panoptic")
    device = torch.device(device) if device is not None else next(semantic_model.parameters()).device
    gt, pred = [], []
    for i in range(len(dataset)):
        image, target = dataset[i]
        (id_map, info), = panoptic_predict(semantic_model, instance_model, [image.to(device)], CATEGORIES,
                                           **(merge_args or {}))
        gt.append((target["id_map"], target["segments_info"]))
        pred.append((id_map.cpu(), info))
    result = panoptic_quality(gt, pred, CATEGORIES)
    r6 = lambda v: round(float(v), 6) if isinstance(v, float) else v  # noqa: E731
    scores = {group: {k: r6(v) for k, v in result[group].items()} for group in ("All", "Things", "Stuff")}
    scores["per_class"] = {c["name"]: {k: r6(v) for k, v in result["per_class"][c["id"]].items()} for c in CATEGORIES}
    return scores


def half_state_dict(model) -> dict:
    """The state dict as stored on disk: floating tensors in float16, everything else as is."""
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
            for k, v in model.state_dict().items()}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: Path = MANIFEST) -> dict:
    return json.loads(Path(path).read_text()) if Path(path).is_file() else {}


def write_manifest_entry(name: str, entry: dict, path: Path = MANIFEST) -> None:
    manifest = read_manifest(path)
    manifest[name] = entry
    atomic_write_bytes(path, (json.dumps(dict(sorted(manifest.items())), indent=1) + "\n").encode())


def run_recipe(name: str, *, quick: bool = False, out_dir=None, device=None, progress: bool = True) -> dict:
    """Train recipe ``name``, store its half-precision weights and manifest entry in ``out_dir`` (default
    ``data/weights``; ``quick=True`` trains on a few scenes for one epoch and defaults to ``build/recipes_quick``).
    Returns the manifest entry. A :class:`MergeRecipe` trains nothing: it scores the merge of its components as
    stored in ``out_dir`` (``quick=True``: on a few val images) and writes an entry without a file."""
    from seglab.train.engine import fit

    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    out_dir = Path(out_dir) if out_dir is not None else (REPO_ROOT / "build" / "recipes_quick" if quick
                                                         else WEIGHTS_DIR)
    device = torch.device(device) if device is not None else get_device()
    if isinstance(recipe, MergeRecipe):
        return _run_merge(recipe, quick, out_dir, device)
    _check_balancing(recipe)
    set_seed(recipe.seed)
    init_dir = out_dir if (out_dir / "manifest.json").is_file() and recipe.init_from in read_manifest(
        out_dir / "manifest.json") else None
    model = build_model(recipe, init_dir)
    train, val = _datasets(recipe, quick)
    train_loader, val_loader = _loaders(recipe, train, val)
    epochs = 1 if quick else recipe.epochs
    total = epochs * len(train_loader)
    curve = []

    def val_fn(net, loader, dev):
        metrics = evaluate_model(recipe, net, loader, dev)
        headline = metrics["mIoU"] if recipe.task == "semantic" else metrics["mask"]["AP"]
        curve.append([len(curve) + 1, headline])
        return {"mIoU": metrics["mIoU"]} if recipe.task == "semantic" else {"mask_AP": metrics["mask"]["AP"]}

    start = time.perf_counter()
    fit(model, train_loader, val_loader, epochs=epochs, lr=recipe.lr,
        optimizer=lambda params: make_optimizer(recipe, params), loss_fn=_loss_fn(recipe, train),
        scheduler=lambda opt: one_cycle(recipe, opt, total),
        scheduler_every="step", device=device, val_fn=val_fn, progress=progress, plot=False)
    wall = time.perf_counter() - start
    correction = None
    if recipe.prior_correction:  # the metrics before it, then the class weights' bias out of the classifier
        before = evaluate_model(recipe, model, device=device) if not quick else evaluate_model(recipe, model,
                                                                                                val_loader)
        shift = fold_prior_correction(model, median_frequency_weights(train.voc, train.num_classes))
        correction = {"subtracted_from_classifier_bias": [round(float(v), 6) for v in shift],
                      "metrics_before": before}

    state = half_state_dict(model)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    file = f"{name}.pt"
    atomic_write_bytes(out_dir / file, data)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    metrics = evaluate_model(recipe, model, device=device) if not quick else evaluate_model(recipe, model, val_loader)
    entry = {
        "model": recipe.model, "model_args": recipe.model_args, "file": file, "sha256": _sha256(data),
        "bytes": len(data), "dtype_on_disk": "float16", "command": recipe.command + (" --quick" if quick else ""),
        "recipe": {k: v for k, v in dataclasses.asdict(recipe).items() if k not in ("name", "model", "model_args")},
        "epochs": epochs, "steps": total, "batch_size": recipe.batch_size,
        "train_scenes": {"num_train": len(train), "seed": recipe.scene_seed},
        "wall_time_s": round(wall, 1), "device": machine_description(device), "torch": torch.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "metrics": metrics, "curve": {"x": "epoch", "y": "mIoU" if recipe.task == "semantic" else "mask AP",
                                      "points": curve},
    }
    if correction is not None:
        entry["prior_correction"] = correction  # the curve is before it, "metrics" after it
    write_manifest_entry(name, entry, out_dir / "manifest.json")
    return entry


def _run_merge(recipe: MergeRecipe, quick: bool, out_dir: Path, device) -> dict:
    """Score the merge of the components stored in ``out_dir`` and write its manifest entry there (no file)."""
    from seglab.data import SceneDataset
    from seglab.models.pretrained import PretrainedError, load_pretrained

    manifest = read_manifest(out_dir / "manifest.json")
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
        "kind": "merge", "task": recipe.task, "command": recipe.command + (" --quick" if quick else ""),
        "components": components, "merge": {"function": "seglab.models.panoptic.panoptic_merge", **recipe.merge_args},
        "canonical_scale": canonical_scale, "notes": recipe.notes, "val_images": len(dataset),
        "wall_time_s": round(wall, 1), "device": machine_description(device), "torch": torch.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "metrics": metrics,
    }
    write_manifest_entry(recipe.name, entry, out_dir / "manifest.json")
    return entry


def train_mode() -> str:
    """``"full"`` when ``SEGLAB_TRAIN=full`` (notebooks retrain the shipped models from their recipes), else
    ``"shipped"``."""
    value = os.environ.get("SEGLAB_TRAIN", "").strip().lower()
    if value not in ("", "shipped", "full"):
        raise ValueError(f"SEGLAB_TRAIN must be 'full' or unset, got {value!r}")
    return "full" if value == "full" else "shipped"


def shipped_info(name: str) -> dict:
    """The manifest entry of the model :func:`shipped_model` returns: the shipped checkpoint's, or with
    ``SEGLAB_TRAIN=full`` the entry of the retrained one in ``CHECKPOINT_DIR / "recipes"``."""
    from seglab.models.pretrained import pretrained_info
    from seglab.utils import CHECKPOINT_DIR

    return pretrained_info(name, weights_dir=CHECKPOINT_DIR / "recipes" if train_mode() == "full" else None)


def shipped_model(name: str, device=None):
    """The model a chapter shows: the shipped checkpoint ``name`` (instant), or with ``SEGLAB_TRAIN=full`` the same
    recipe retrained here into ``CHECKPOINT_DIR / "recipes"`` (reused on the next run). Eval mode, on ``device``."""
    from seglab.models.pretrained import PretrainedError, load_pretrained
    from seglab.utils import CHECKPOINT_DIR

    if isinstance(RECIPES.get(name), MergeRecipe):
        merge = RECIPES[name]
        raise PretrainedError(f"{name!r} is a merge of {merge.semantic!r} and {merge.instance!r}, not one model: call "
                              f"shipped_model({merge.semantic!r}) and shipped_model({merge.instance!r}) and merge them "
                              f"with seglab.models.panoptic.panoptic_predict(..., **RECIPES[{name!r}].merge_args)")
    if train_mode() == "shipped":
        return load_pretrained(name, device=device)
    out_dir = CHECKPOINT_DIR / "recipes"
    recipe = RECIPES[name]
    chain = []
    while recipe is not None:  # FCN stages need their coarser stage first
        chain.insert(0, recipe.name)
        recipe = RECIPES.get(recipe.init_from) if recipe.init_from else None
    done = read_manifest(out_dir / "manifest.json")
    for step in chain:
        if step not in done or not (out_dir / done[step]["file"]).is_file():
            run_recipe(step, out_dir=out_dir, device=device)
    return load_pretrained(name, device=device, weights_dir=out_dir)
