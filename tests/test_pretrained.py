"""Shipped weights: the manifest, load_pretrained's checks, re-evaluation of every checkpoint and of the panoptic
merge, recipes in quick mode."""

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
    run_recipe,
)

WEIGHTS = _weights_dir()  # the folder the loaders read: data/weights (or SEGLAB_WEIGHTS_DIR, to try other weights)
MANIFEST = WEIGHTS / "manifest.json"
SHIPPED = sorted(n for n, e in read_manifest(MANIFEST).items() if e.get("file"))  # checkpoints: entries with a file
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


def test_shipped_weights_fit_the_size_budget():
    total = sum((WEIGHTS / pretrained_info(n)["file"]).stat().st_size for n in SHIPPED)
    assert total <= 25 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_reproduces_its_metrics(name):
    info = pretrained_info(name)
    model = load_pretrained(name)
    task = "instance" if info["model"] == "mask_rcnn" else "semantic"
    metrics = evaluate_model(task, model, device="cpu")
    _assert_same_metrics(metrics, info["metrics"])


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


@pytest.mark.slow
def test_every_recipe_runs_in_quick_mode(tmp_path):
    for name, recipe in RECIPES.items():  # defined in order: after the recipes it starts from or merges
        entry = run_recipe(name, quick=True, out_dir=tmp_path, device="cpu", progress=False)
        assert entry["command"] == f"python -m seglab.train --recipe {name} --quick"
        if isinstance(recipe, MergeRecipe):  # scored from the quick components just stored, on a few val images
            assert "file" not in entry and entry["val_images"] == recipe.quick_images
            for component in entry["components"].values():
                assert component["sha256"] == pretrained_info(component["name"], weights_dir=tmp_path)["sha256"]
            assert 0 <= entry["metrics"]["All"]["pq"] <= 1
            with pytest.raises(PretrainedError, match="is a merge of"):
                load_pretrained(name, weights_dir=tmp_path)
            continue
        assert entry["steps"] >= 1 and (tmp_path / entry["file"]).is_file()
        model = load_pretrained(name, weights_dir=tmp_path)
        assert not model.training
    assert sorted(read_manifest(tmp_path / "manifest.json")) == sorted(RECIPES)
    assert available_pretrained(tmp_path) == sorted(n for n, r in RECIPES.items() if not isinstance(r, MergeRecipe))


def test_train_mode_reads_seglab_train(monkeypatch):
    from seglab.train.recipes import train_mode

    monkeypatch.delenv("SEGLAB_TRAIN", raising=False)
    assert train_mode() == "shipped"
    monkeypatch.setenv("SEGLAB_TRAIN", "full")
    assert train_mode() == "full"
    monkeypatch.setenv("SEGLAB_TRAIN", "sometimes")
    with pytest.raises(ValueError, match="SEGLAB_TRAIN must be 'full' or unset"):
        train_mode()


@pytest.mark.slow
def test_full_train_mode_retrains_the_chain_into_the_checkpoint_folder(monkeypatch, tmp_path):
    import seglab.train.recipes as recipes
    import seglab.utils

    original = recipes.run_recipe
    ran = []

    def quick_run(name, **kwargs):
        ran.append(name)
        return original(name, quick=True, progress=False, **kwargs)

    monkeypatch.setenv("SEGLAB_TRAIN", "full")
    monkeypatch.setattr(seglab.utils, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setattr(recipes, "run_recipe", quick_run)
    model = recipes.shipped_model("fcn16s", device="cpu")
    assert ran == ["fcn32s", "fcn16s"] and model.variant == "16s" and not model.training
    recipes.shipped_model("fcn16s", device="cpu")  # the second call reuses what the first trained
    assert ran == ["fcn32s", "fcn16s"]
