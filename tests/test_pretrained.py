"""Shipped weights: the manifest, load_pretrained's checks, re-evaluation of every checkpoint and of the panoptic
merge, recipes in quick mode."""

import dataclasses
import hashlib
import io
import json

import pytest
import torch

from seglab.models import create_model
from seglab.models.pretrained import (
    PretrainedError,
    _weights_dir,
    available_pretrained,
    load_pretrained,
    pretrained_info,
)
from seglab.train.recipes import (
    RECIPES,
    MergeRecipe,
    evaluate_model,
    evaluate_panoptic,
    half_state_dict,
    read_manifest,
)

WEIGHTS = _weights_dir()  # the folder the loaders read: data/weights (or SEGLAB_WEIGHTS_DIR, to try other weights)
MANIFEST = WEIGHTS / "manifest.json"
SHIPPED = sorted(n for n, e in read_manifest(MANIFEST).items() if e.get("file"))  # checkpoints: entries with a file
CORRECTED = sorted(n for n in SHIPPED if "prior_correction" in read_manifest(MANIFEST)[n])  # segnet: its bias folded
MERGES = sorted(n for n, r in RECIPES.items() if isinstance(r, MergeRecipe))  # no file: scored from their components


def _flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                yield f"{prefix}{k}[{i}]", x
        else:
            yield f"{prefix}{k}", v


def _assert_same_metrics(got, want):
    got, want = dict(_flat(got)), dict(_flat(want))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-3, nan_ok=True), key


def _write_tiny(folder, name="tiny", tamper=False, drop_file=False):
    model = create_model("tiny_segmenter", num_classes=3)
    buffer = io.BytesIO()
    torch.save(half_state_dict(model), buffer)
    data = buffer.getvalue()
    entry = {"model": "tiny_segmenter", "model_args": {"num_classes": 3}, "file": f"{name}.pt",
             "sha256": hashlib.sha256(data).hexdigest(), "command": f"python -m seglab.train --recipe {name}"}
    (folder / "manifest.json").write_text(json.dumps({name: entry}))
    if not drop_file:
        (folder / f"{name}.pt").write_bytes(data + (b"x" if tamper else b""))
    return model


def test_load_pretrained_returns_the_stored_model_in_eval_mode(tmp_path):
    model = _write_tiny(tmp_path)
    loaded = load_pretrained("tiny", weights_dir=tmp_path)
    assert not loaded.training
    assert available_pretrained(tmp_path) == ["tiny"]
    for key, value in model.state_dict().items():
        assert loaded.state_dict()[key].dtype == torch.float32
        torch.testing.assert_close(loaded.state_dict()[key], value.half().float())


def test_unknown_name_lists_the_known_ones(tmp_path):
    _write_tiny(tmp_path)
    with pytest.raises(PretrainedError, match=r"unknown pretrained name 'nope'; known: tiny"):
        pretrained_info("nope", weights_dir=tmp_path)


def test_a_file_whose_hash_does_not_match_is_refused_with_its_path(tmp_path):
    _write_tiny(tmp_path, tamper=True)
    with pytest.raises(PretrainedError, match=r"tiny\.pt does not match its manifest entry 'tiny': sha256"):
        load_pretrained("tiny", weights_dir=tmp_path)


def test_a_missing_file_says_so_and_names_the_recipe(tmp_path):
    _write_tiny(tmp_path, drop_file=True)
    with pytest.raises(PretrainedError, match=r"tiny\.pt is missing .*--recipe tiny"):
        load_pretrained("tiny", weights_dir=tmp_path)


def test_a_missing_manifest_says_so(tmp_path):
    with pytest.raises(PretrainedError, match="no manifest"):
        available_pretrained(tmp_path)


def test_a_merge_entry_is_described_not_loaded(tmp_path):
    _write_tiny(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["both"] = {"kind": "merge", "file": None, "command": "python -m seglab.train --recipe both",
                        "components": {"semantic": {"name": "tiny", "sha256": manifest["tiny"]["sha256"]},
                                       "instance": {"name": "other", "sha256": "0" * 64}},
                        "merge": {"function": "seglab.models.panoptic.panoptic_merge", "overlap_threshold": 0.5}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert available_pretrained(tmp_path) == ["tiny"]  # what load_pretrained accepts: the checkpoints
    assert pretrained_info("both", weights_dir=tmp_path)["components"]["semantic"]["name"] == "tiny"
    with pytest.raises(PretrainedError, match=r"'both' is a merge of the shipped 'tiny' \(semantic\) and 'other' "
                                              r"\(instance\), with no weights of its own: load them with "
                                              r"load_pretrained\('tiny'\) and load_pretrained\('other'\).*"
                                              r"overlap_threshold=0\.5"):
        load_pretrained("both", weights_dir=tmp_path)


def test_shipped_model_refuses_a_merge_and_names_its_components():
    from seglab.train.recipes import shipped_model

    with pytest.raises(PretrainedError, match=r"'panoptic' is a merge of 'unet' and 'mask_rcnn'.*"
                                              r"shipped_model\('unet'\)"):
        shipped_model("panoptic")


def test_pretrained_info_is_a_copy(tmp_path):
    _write_tiny(tmp_path)
    pretrained_info("tiny", weights_dir=tmp_path)["model_args"]["num_classes"] = 99
    assert pretrained_info("tiny", weights_dir=tmp_path)["model_args"]["num_classes"] == 3


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_matches_its_manifest(name):
    info = pretrained_info(name)
    data = (WEIGHTS / info["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert info["command"] == f"python -m seglab.train --recipe {name}"
    for key in ("model", "model_args", "steps", "wall_time_s", "device", "date", "metrics"):
        assert key in info, key


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_was_trained_by_its_current_recipe(name):
    """The command in the manifest reproduces the file only if the recipe it runs is the one that trained it."""
    info, recipe = pretrained_info(name), RECIPES[name]
    assert info["model"] == recipe.model and info["model_args"] == recipe.model_args, name
    current = {k: v for k, v in dataclasses.asdict(recipe).items() if k not in ("name", "model", "model_args")}
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(recipe)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    stored = {**{k: defaults[k] for k in current.keys() - info["recipe"].keys()}, **info["recipe"]}  # fields added
    assert stored == current, f"{name}: the recipe changed since the weights were trained; rerun {recipe.command}"


def test_shipped_weights_fit_the_size_budget():
    total = sum((WEIGHTS / pretrained_info(n)["file"]).stat().st_size for n in SHIPPED)
    assert total <= 25 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("split", ["val", "test"])
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_reproduces_its_metrics(name, split):
    """The manifest's figures on val (where settings were chosen) and on the held-out test split (what is reported)."""
    info = pretrained_info(name)
    model = load_pretrained(name)
    recipe = RECIPES[name]  # its task and data: the scenes' split, or the micrograph's region of that name
    metrics = evaluate_model(recipe, model, device="cpu", split=split)
    _assert_same_metrics(metrics, info["metrics" if split == "val" else "test_metrics"])


@pytest.mark.slow
@pytest.mark.parametrize("split", ["val", "test"])
@pytest.mark.parametrize("name", CORRECTED)
def test_a_prior_corrected_checkpoint_reproduces_its_metrics_before_the_correction(name, split):
    """The weights as training left them (the correction added back): the manifest's ``metrics_before`` (val) and
    ``test_metrics_before``, which chapter 4 reports as the paper's SegNet."""
    from seglab.train.shipped import shipped_metrics, undo_prior_correction

    model = undo_prior_correction(load_pretrained(name), pretrained_info(name))
    metrics = evaluate_model(RECIPES[name], model, device="cpu", split=split)
    _assert_same_metrics(metrics, shipped_metrics(name, split, prior_correction=False))


def test_shipped_model_without_the_prior_correction_adds_the_bias_back():
    from seglab.train.shipped import shipped_metrics, shipped_model

    assert CORRECTED, "no shipped checkpoint records a prior correction (chapter 4 reads segnet's)"
    for name in CORRECTED:
        info = pretrained_info(name)
        shift = torch.tensor(info["prior_correction"]["subtracted_from_classifier_bias"])
        corrected, as_trained = shipped_model(name), shipped_model(name, prior_correction=False)
        torch.testing.assert_close(as_trained.classifier.bias, corrected.classifier.bias + shift)
        assert shipped_metrics(name, "val", prior_correction=False) == info["prior_correction"]["metrics_before"]
        assert shipped_metrics(name, "test", prior_correction=False) == info["prior_correction"]["test_metrics_before"]
        assert shipped_metrics(name, "test") == info["test_metrics"]
    plain = next(n for n in SHIPPED if n not in CORRECTED)  # nothing to add back: the same weights
    assert all(torch.equal(a, b) for a, b in zip(shipped_model(plain).state_dict().values(),
                                                 shipped_model(plain, prior_correction=False).state_dict().values()))
    assert shipped_metrics(plain, "val", prior_correction=False) == pretrained_info(plain)["metrics"]


@pytest.mark.parametrize("name", MERGES)
def test_every_merge_entry_names_the_current_component_checkpoints(name):
    recipe = RECIPES[name]
    try:
        info = pretrained_info(name)
    except PretrainedError as exc:
        pytest.fail(f"{exc}: compute the entry with `{recipe.command}`")
    assert info["command"] == recipe.command and "file" not in info
    assert info["merge"] == {"function": "seglab.models.panoptic.panoptic_merge", **recipe.merge_args}
    for role in ("semantic", "instance"):
        component = info["components"][role]
        assert component["name"] == getattr(recipe, role)
        # fails when a component is retrained without the merge being scored again
        assert component["sha256"] == pretrained_info(component["name"])["sha256"], (
            f"{name!r} was scored with another {component['name']!r}: recompute it with `{recipe.command}`")
    assert info["canonical_scale"] == pretrained_info(recipe.instance)["model_args"]["canonical_scale"]
    for key in ("val_images", "wall_time_s", "device", "date", "metrics"):
        assert key in info, key


@pytest.mark.slow
@pytest.mark.parametrize("name", MERGES)
def test_every_merge_reproduces_its_metrics_from_its_components(name):
    info = pretrained_info(name)
    semantic, instance = (load_pretrained(info["components"][role]["name"]) for role in ("semantic", "instance"))
    merge_args = {k: v for k, v in info["merge"].items() if k != "function"}
    metrics = evaluate_panoptic(semantic, instance, merge_args, device="cpu")
    assert info["val_images"] == 100  # the whole val split
    _assert_same_metrics(metrics, info["metrics"])
    _assert_same_metrics(evaluate_panoptic(semantic, instance, merge_args, device="cpu", split="test"),
                         info["test_metrics"])  # the held-out split, with the thresholds chosen on val


def test_the_loader_and_the_recipes_agree_on_the_folder(monkeypatch, tmp_path):
    """SEGLAB_WEIGHTS_DIR moves the reader and the writer together; SEGLAB_TRAIN=full reads the retrained models."""
    import seglab.utils
    from seglab.models.manifest import manifest_path
    from seglab.utils import DATA_DIR, weights_dir

    monkeypatch.delenv("SEGLAB_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("SEGLAB_TRAIN", raising=False)
    assert weights_dir() == DATA_DIR / "weights"
    monkeypatch.setenv("SEGLAB_TRAIN", "full")
    monkeypatch.setattr(seglab.utils, "CHECKPOINT_DIR", tmp_path / "ckpt")
    assert weights_dir() == tmp_path / "ckpt" / "recipes"
    monkeypatch.setenv("SEGLAB_WEIGHTS_DIR", str(tmp_path / "mine"))
    assert weights_dir() == tmp_path / "mine" and manifest_path() == tmp_path / "mine" / "manifest.json"
    _write_tiny(tmp_path / "mine" if (tmp_path / "mine").mkdir() is None else None)
    assert not load_pretrained("tiny").training  # read from SEGLAB_WEIGHTS_DIR, no argument needed


def test_the_loader_can_stand_in_an_untrained_model_and_says_why(tmp_path):
    model = load_pretrained("unet", weights_dir=tmp_path, missing="untrained")  # an empty folder: no manifest
    assert not model.training and "no manifest" in model.load_error and "--recipe unet" in model.load_error
    again = load_pretrained("unet", weights_dir=tmp_path, missing="untrained")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))  # seed 0
    assert load_pretrained("unet").load_error is None
    with pytest.raises(PretrainedError, match="no manifest"):
        load_pretrained("unet", weights_dir=tmp_path)
    with pytest.raises(PretrainedError, match="no manifest"):  # nowhere an architecture to stand in: the error
        load_pretrained("nothing", weights_dir=tmp_path, missing="untrained")


def test_semantic_scores_of_predictions_are_evaluate_models():
    """``semantic_scores`` on a model's predicted labels gives what ``evaluate_model`` gives the model (chapter 4 keeps
    its predictions and scores them), and refuses predictions of another shape."""
    from torch.utils.data import DataLoader, Subset

    from seglab.data import SceneDataset
    from seglab.train.evaluation import predict, semantic_scores

    model = load_pretrained("fcn8s")
    subset = Subset(SceneDataset(split="test"), range(12))
    images, masks = (torch.stack(t) for t in zip(*(subset[i] for i in range(len(subset)))))
    want = evaluate_model("semantic", model, DataLoader(subset, batch_size=5), device="cpu")
    assert semantic_scores(predict(model, images), masks, 8) == want
    with pytest.raises(ValueError, match="same shape"):
        semantic_scores(predict(model, images)[:2], masks, 8)
