"""The notebooks' models: :func:`shipped_model` loads a shipped checkpoint through the one loader,
:func:`seglab.models.load_pretrained`, after retraining it from its recipe when ``SEGLAB_TRAIN=full`` asks for the
chapters' own models (:func:`ensure_trained`). Both read and write the folder :func:`seglab.utils.weights_dir` names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from seglab.models.manifest import read_manifest
from seglab.train import recipes
from seglab.utils import train_mode, weights_dir

__all__ = ["shipped_model", "shipped_info", "shipped_metrics", "ensure_trained", "score_on_split",
           "undo_prior_correction"]


def shipped_info(name: str) -> dict:
    """The manifest entry of the model :func:`shipped_model` returns (:func:`seglab.models.pretrained_info`: the
    shipped checkpoint's, or with ``SEGLAB_TRAIN=full`` the retrained one's)."""
    from seglab.models.pretrained import pretrained_info

    return pretrained_info(name)


def ensure_trained(name: str, device=None, out_dir=None) -> Path:
    """Train recipe ``name`` into ``out_dir`` (default :func:`seglab.utils.weights_dir`) unless its checkpoint is
    there, after the recipes it starts from (FCN stages need their coarser stage first). Returns the folder."""
    out_dir = weights_dir(out_dir)
    done = read_manifest(out_dir, missing_ok=True)
    for step in (stage.name for stage in recipes.stages(name)):
        if step not in done or not (out_dir / done[step]["file"]).is_file():
            recipes.run_recipe(step, out_dir=out_dir, device=device)
    return out_dir


def undo_prior_correction(model, entry: dict):
    """Add back, in place, the amounts a recipe's prior correction subtracted from ``model.classifier``'s bias after
    training (``entry["prior_correction"]["subtracted_from_classifier_bias"]``, ``entry``: its manifest entry): the
    model as its training left it, which is what its ``metrics_before`` score. An entry without a prior correction
    leaves the model as it is. Returns ``model``."""
    import torch

    correction = entry.get("prior_correction")
    if correction is None:
        return model
    layer = model.classifier
    shift = torch.tensor(correction["subtracted_from_classifier_bias"], dtype=layer.bias.dtype)
    with torch.no_grad():
        layer.bias += shift.to(layer.bias.device)
    return model


def shipped_metrics(name: str, split: str = "test", *, prior_correction: bool = True) -> dict:
    """The manifest's figures of the model ``shipped_model(name, prior_correction=...)`` returns, on ``split``
    (``"val"``: where the recipes' settings were chosen; ``"test"``: the held-out scenes). Without the prior
    correction (an entry that has one): the figures recorded before it, ``metrics_before`` (val) and
    ``test_metrics_before`` (:func:`score_on_split`)."""
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    entry = shipped_info(name)
    if not prior_correction and "prior_correction" in entry:
        entry = entry["prior_correction"]
        key = "metrics_before" if split == "val" else f"{split}_metrics_before"
    else:
        key = "metrics" if split == "val" else f"{split}_metrics"
    if key not in entry:
        raise KeyError(f"the manifest entry {name!r} has no {key!r}: score it with "
                       f"seglab.train.shipped.score_on_split([{name!r}], {split!r})")
    return entry[key]


def shipped_model(name: str, device=None, *, prior_correction: bool = True):
    """The model a chapter shows, from the one loader (:func:`seglab.models.load_pretrained`): the shipped
    checkpoint ``name`` (instant), or with ``SEGLAB_TRAIN=full`` the same recipe retrained here into
    ``CHECKPOINT_DIR / "recipes"`` first (reused on the next run). Eval mode, on ``device``.

    ``prior_correction=False``: for a recipe with ``prior_correction`` (the shipped ``segnet``), the weights as
    training left them, with the class weights' bias added back to the classifier (:func:`undo_prior_correction`);
    a model without a prior correction is returned as it is."""
    from seglab.models.pretrained import PretrainedError, load_pretrained

    recipe = recipes.get_recipe(name)
    if isinstance(recipe, recipes.MergeRecipe):
        raise PretrainedError(f"{name!r} is a merge of {recipe.semantic!r} and {recipe.instance!r}, not one model: "
                              f"call shipped_model({recipe.semantic!r}) and shipped_model({recipe.instance!r}) and "
                              f"merge them with seglab.models.panoptic.panoptic_predict(..., "
                              f"**RECIPES[{name!r}].merge_args)")
    if train_mode() == "full":
        ensure_trained(name, device=device)
    model = load_pretrained(name, device=device)
    return model if prior_correction else undo_prior_correction(model, shipped_info(name))


def score_on_split(names=None, split: str = "test", out_dir=None, device=None) -> dict:
    """Score trained checkpoints (default: every entry of the folder's manifest that trained on the scenes, and their
    merges) on another split of the shipped scenes, without retraining, and record it in each manifest entry as
    ``{split}_metrics`` with ``{split}_scored`` (command, date, device). Returns ``{name: metrics}``. An entry with a
    prior correction also records its weights as trained (the correction added back: :func:`undo_prior_correction`)
    on that split, as ``prior_correction["{split}_metrics_before"]`` (its ``metrics_before`` are on val).

    This is how the held-out test split's figures were added to checkpoints trained before it existed:
    ``python -m seglab.train --score-split test``."""
    import torch

    from seglab.models.manifest import write_manifest_entry
    from seglab.models.pretrained import load_pretrained
    from seglab.results import machine_description
    from seglab.train.evaluation import evaluate_model, evaluate_panoptic

    folder = weights_dir(out_dir)
    device = torch.device(device) if device is not None else torch.device("cpu")
    manifest = read_manifest(folder)
    names = list(names) if names else [n for n, e in manifest.items() if e.get("kind") == "merge" or (
        e.get("file") and e.get("recipe", {}).get("data", "scenes") == "scenes")]
    scored = {}
    for name in names:
        entry = manifest[name]
        if entry.get("kind") == "merge":
            semantic, instance = (load_pretrained(entry["components"][role]["name"], device, folder)
                                  for role in ("semantic", "instance"))
            merge_args = {k: v for k, v in entry["merge"].items() if k != "function"}
            metrics = evaluate_panoptic(semantic, instance, merge_args, device=device, split=split)
        else:
            task = "instance" if entry["model"] == "mask_rcnn" else "semantic"
            metrics = evaluate_model(task, load_pretrained(name, device, folder), device=device, split=split)
            if "prior_correction" in entry:  # the same weights as their training left them
                as_trained = undo_prior_correction(load_pretrained(name, device, folder), entry)
                entry["prior_correction"][f"{split}_metrics_before"] = evaluate_model(task, as_trained, device=device,
                                                                                     split=split)
        entry[f"{split}_metrics"] = scored[name] = metrics
        entry[f"{split}_scored"] = {"command": f"python -m seglab.train --score-split {split}",
                                    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                    "device": machine_description(device)}
        write_manifest_entry(name, entry, folder)
    return scored
