"""Shipped weights: the manifest, load_pretrained's checks, re-evaluation of every checkpoint, recipes in quick mode."""

import hashlib
import io
import json

import pytest
import torch

from seglab.models import create_model
from seglab.models.pretrained import PretrainedError, available_pretrained, load_pretrained, pretrained_info
from seglab.train.recipes import MANIFEST, RECIPES, evaluate_model, half_state_dict, read_manifest, run_recipe

SHIPPED = sorted(read_manifest(MANIFEST))


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


def test_pretrained_info_is_a_copy(tmp_path):
    _write_tiny(tmp_path)
    pretrained_info("tiny", weights_dir=tmp_path)["model_args"]["num_classes"] = 99
    assert pretrained_info("tiny", weights_dir=tmp_path)["model_args"]["num_classes"] == 3


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_matches_its_manifest(name):
    info = pretrained_info(name)
    data = (MANIFEST.parent / info["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert info["command"] == f"python -m seglab.train --recipe {name}"
    for key in ("model", "model_args", "steps", "wall_time_s", "device", "date", "metrics"):
        assert key in info, key


def test_shipped_weights_fit_the_size_budget():
    total = sum((MANIFEST.parent / pretrained_info(n)["file"]).stat().st_size for n in SHIPPED)
    assert total <= 25 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_reproduces_its_metrics(name):
    info = pretrained_info(name)
    model = load_pretrained(name)
    task = "instance" if info["model"] == "mask_rcnn" else "semantic"
    metrics = evaluate_model(task, model, device="cpu")

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            elif isinstance(v, list):
                for i, x in enumerate(v):
                    yield f"{prefix}{k}[{i}]", x
            else:
                yield f"{prefix}{k}", v

    got, want = dict(flat(metrics)), dict(flat(info["metrics"]))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-3, nan_ok=True), key


@pytest.mark.slow
def test_every_recipe_runs_in_quick_mode(tmp_path):
    for name in RECIPES:  # defined in order: each FCN stage after the one it starts from
        entry = run_recipe(name, quick=True, out_dir=tmp_path, device="cpu", progress=False)
        assert entry["command"] == f"python -m seglab.train --recipe {name} --quick"
        assert entry["steps"] >= 1 and (tmp_path / entry["file"]).is_file()
        model = load_pretrained(name, weights_dir=tmp_path)
        assert not model.training
    assert sorted(read_manifest(tmp_path / "manifest.json")) == sorted(RECIPES)


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
