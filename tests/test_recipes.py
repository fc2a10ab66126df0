"""Recipes: every shipped recipe runs in quick mode, SEGLAB_TRAIN=full retrains a chain, optimizers, schedules, class
balancing and the prior correction, variants as values."""

import dataclasses

import numpy as np
import pytest
import torch

from seglab.models.pretrained import (
    PretrainedError,
    available_pretrained,
    load_pretrained,
    pretrained_info,
)
from seglab.train.recipes import (
    RECIPES,
    SHIPPED_RECIPES,
    MergeRecipe,
    class_weights_of,
    read_manifest,
    run_recipe,
)


@pytest.mark.slow
def test_every_recipe_runs_in_quick_mode(tmp_path):
    for name in SHIPPED_RECIPES:  # defined in order: after the recipes it starts from or merges
        recipe = RECIPES[name]
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
        assert ("prior_correction" in entry) == recipe.prior_correction
        if recipe.task == "instance":  # which RoIAlign op ran: the recipes force seglab's (its pooler's too)
            assert entry["roi_align_impl"] == ("seglab" if recipe.model_kwargs.get("pooler") != "roi_pool" else None)
        if recipe.prior_correction:  # the quick scenes' class weights, taken out of the stored classifier's bias
            shift = torch.tensor(entry["prior_correction"]["subtracted_from_classifier_bias"])
            assert torch.allclose(shift, class_weights_of(recipe, quick=True).log(), atol=1e-5)
            assert 0 <= entry["prior_correction"]["metrics_before"]["mIoU"] <= 1
    assert any(r.prior_correction for r in RECIPES.values() if not isinstance(r, MergeRecipe))  # segnet's is
    assert sorted(read_manifest(tmp_path / "manifest.json")) == sorted(SHIPPED_RECIPES)
    checkpoints = sorted(n for n in SHIPPED_RECIPES if not isinstance(RECIPES[n], MergeRecipe))
    shipped = sorted(n for n, e in read_manifest().items() if e.get("file"))  # data/weights' checkpoints
    assert available_pretrained(tmp_path) == checkpoints and shipped == checkpoints  # each ships


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


def test_a_recipe_names_its_optimizer():
    from seglab.train.recipes import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(2))]
    adamw = make_optimizer(RECIPES["unet"], params)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["lr"] == RECIPES["unet"].lr
    sgd = make_optimizer(dataclasses.replace(RECIPES["unet"], optimizer="sgd", lr=0.1, weight_decay=5e-4), params)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 5e-4
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'sgd', got 'adam'"):
        make_optimizer(dataclasses.replace(RECIPES["unet"], optimizer="adam"), params)


@pytest.mark.parametrize("warmup", [0.1, 0.3])
def test_one_cycle_peaks_after_the_recipes_warmup(warmup):
    from seglab.train.recipes import Recipe, make_optimizer, one_cycle

    recipe = dataclasses.replace(RECIPES["segnet"], warmup=warmup)
    optimizer = make_optimizer(recipe, [torch.nn.Parameter(torch.zeros(2))])
    schedule, rates = one_cycle(recipe, optimizer, 100), []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    peak = max(range(100), key=rates.__getitem__)
    assert abs(peak - warmup * 100) <= 1 and rates[peak] == pytest.approx(recipe.lr)
    assert rates[0] == pytest.approx(recipe.lr / 25) and rates[-1] < recipe.lr / 1000  # up from lr/25, down to ~0
    trained = [r for r in RECIPES.values() if isinstance(r, Recipe)]
    assert trained and all(r.warmup == 0.3 for r in trained)  # every shipped recipe: OneCycleLR's default share


@pytest.mark.parametrize("warmup", [0, 1, -0.2])
def test_one_cycle_refuses_a_warmup_outside_the_steps(warmup):
    from seglab.train.recipes import one_cycle

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match=r"warmup must be a share of the steps in \(0, 1\)"):
        one_cycle(dataclasses.replace(RECIPES["segnet"], warmup=warmup), optimizer, 100)


class _Masks:
    """A VOC-style semantic dataset of label PNGs (what median_frequency_weights reads)."""

    def __init__(self, tmp_path, masks):
        from seglab.data.formats import encode_palette_png

        self.paths = []
        for i, mask in enumerate(masks):
            path = tmp_path / f"{i}.png"
            path.write_bytes(encode_palette_png(np.asarray(mask, dtype=np.uint8)))
            self.paths.append(path)

    def __len__(self):
        return len(self.paths)

    def mask_path(self, index):
        return self.paths[index]


def test_median_frequency_weights_by_hand(tmp_path):
    from seglab.train.recipes import median_frequency_weights

    # image 0: 12 pixels of class 0, 4 of class 1; image 1: 8 of class 0, 6 of class 2, 2 ignored
    a = np.zeros((4, 4), np.uint8)
    a[0] = 1
    b = np.zeros((4, 4), np.uint8)
    b[:2, :3] = 2
    b[3, :2] = 255
    weights = median_frequency_weights(_Masks(tmp_path, [a, b]), 4)
    freq = torch.tensor([20 / 30, 4 / 16, 6 / 14])  # a class's pixels over the pixels of the masks that hold it
    expected = freq.median() / freq
    assert torch.allclose(weights[:3], expected.float()) and weights[3] == 0  # class 3 never appears
    assert weights[1] > weights[2] > weights[0]  # the rarer, the heavier
    with pytest.raises(ValueError, match="no labelled pixel"):
        median_frequency_weights(_Masks(tmp_path, [np.full((2, 2), 255)]), 4)


def test_segmentation_loss_weights_the_classes():
    from seglab.train.batches import segmentation_loss

    logits = torch.randn(2, 3, 4, 4)
    targets = torch.randint(0, 3, (2, 4, 4))
    targets[0, 0, 0] = 255
    assert torch.allclose(segmentation_loss(logits, targets, weight=torch.ones(3)), segmentation_loss(logits, targets))
    only_class_1 = segmentation_loss(logits, targets, weight=torch.tensor([0.0, 1.0, 0.0]))
    keep = targets == 1
    per_pixel = torch.nn.functional.cross_entropy(logits, targets, ignore_index=255, reduction="none")
    assert torch.allclose(only_class_1, per_pixel[keep].mean())
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected \(3,\)"):
        segmentation_loss(logits, targets, weight=torch.ones(2))


def test_a_recipe_balances_classes_only_by_median_frequency():
    from seglab.train.balancing import balanced_loss

    assert balanced_loss(RECIPES["unet"], None) is None
    with pytest.raises(ValueError, match="class_weights must be None or 'median_frequency'"):
        balanced_loss(dataclasses.replace(RECIPES["unet"], class_weights="inverse"), None)


@pytest.mark.slow
def test_a_balanced_recipe_trains_in_quick_mode(tmp_path):
    balanced = dataclasses.replace(RECIPES["segnet"], class_weights="median_frequency", optimizer="sgd", lr=0.1,
                                   prior_correction=False)  # the shipped recipe, corrected: the quick test above
    entry = run_recipe(balanced, quick=True, out_dir=tmp_path, device="cpu", progress=False)  # a variant: a value
    assert entry["recipe"]["class_weights"] == "median_frequency" and entry["recipe"]["optimizer"] == "sgd"
    assert 0 <= entry["metrics"]["mIoU"] <= 1 and "prior_correction" not in entry
    # what it records reruns the variant, not the shipped recipe of the same name
    assert entry["command"].startswith("seglab.train.recipes.run_recipe(dataclasses.replace(RECIPES['segnet'], ")
    assert "lr=0.1" in entry["command"] and "prior_correction=False" in entry["command"]


class _Head(torch.nn.Module):
    """Logits that are the classifier's bias alone (its input is zero): a model whose prior is all it knows."""

    def __init__(self, k):
        super().__init__()
        self.classifier = torch.nn.Linear(1, k)

    def forward(self, n):
        return self.classifier(torch.zeros(n, 1))


def test_the_prior_correction_gives_back_the_unweighted_class_frequencies():
    from seglab.train.recipes import fold_prior_correction

    torch.manual_seed(0)
    freq = torch.tensor([0.7, 0.2, 0.08, 0.02])  # how often each class is the answer
    weights = freq.median() / freq  # what median frequency balancing would give them
    head = _Head(4)
    optimizer = torch.optim.LBFGS(head.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():  # the expected class-weighted cross-entropy
        optimizer.zero_grad()
        loss = -(weights * freq * head(1).log_softmax(1)[0]).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        weighted = head(1).softmax(1)[0]
        assert torch.allclose(weighted, weights * freq / (weights * freq).sum(), atol=1e-3)  # biased to rare classes
        assert weighted[-1] > 0.2 > freq[-1]
        shift = fold_prior_correction(head, weights)
        assert torch.allclose(shift, weights.log())
        assert torch.allclose(head(1).softmax(1)[0], freq, atol=1e-3)  # the frequencies come back


def test_the_prior_correction_says_what_it_needs():
    from seglab.train.recipes import fold_prior_correction

    with pytest.raises(ValueError, match=r"a model whose .classifier is a Conv2d or Linear with a bias; .*Sequential"):
        fold_prior_correction(torch.nn.Sequential(torch.nn.Linear(1, 2)), torch.ones(2))
    with pytest.raises(ValueError, match=r"one weight per class, shape \(3,\), got \(2,\)"):
        fold_prior_correction(_Head(3), torch.ones(2))
    with pytest.raises(ValueError, match="must be positive and finite"):
        fold_prior_correction(_Head(2), torch.tensor([1.0, 0.0]))


def test_run_recipe_refuses_a_prior_correction_without_class_weights(monkeypatch, tmp_path):
    import seglab.train.runs as runs

    monkeypatch.setattr(runs, "build_model", lambda *a, **k: pytest.fail("trained before checking the recipe"))
    with pytest.raises(ValueError, match="recipe 'unet': prior_correction takes out the bias"):
        run_recipe(dataclasses.replace(RECIPES["unet"], prior_correction=True), quick=True, out_dir=tmp_path,
                   device="cpu", progress=False)


def test_run_recipe_names_the_known_recipes_for_an_unknown_one(tmp_path):
    from seglab.utils import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"unknown recipe 'unet2'; known: .*fcn8s.*unet"):
        run_recipe("unet2", quick=True, out_dir=tmp_path, device="cpu", progress=False)


def test_a_recipe_refuses_fields_that_cannot_run():
    with pytest.raises(ValueError, match="schedule must be one of"):
        dataclasses.replace(RECIPES["unet"], schedule="linear")
    with pytest.raises(ValueError, match="task must be 'semantic' or 'instance'"):
        dataclasses.replace(RECIPES["unet"], task="panoptic")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        dataclasses.replace(RECIPES["unet"], steps=0)


def test_an_interrupted_run_resumes_from_its_checkpoint_and_leaves_none_behind(tmp_path):
    """run_recipe writes a resume checkpoint after every epoch: a run that finds one trains no epoch twice, and a
    finished run removes it (the own-data recipes run for hours on a GPU)."""
    from seglab.train.recipes import train_recipe

    recipe = dataclasses.replace(RECIPES["unet"], model_args={**RECIPES["unet"].model_args, "base_channels": 4})
    resume = tmp_path / ".unet.resume.pt"
    first = train_recipe(recipe, quick=True, device="cpu", progress=False, checkpoint=resume)  # as if stopped here
    assert resume.is_file() and len(first.history.step_loss) == first.steps
    entry = run_recipe(recipe, quick=True, out_dir=tmp_path, device="cpu", progress=False)
    resumed = load_pretrained("unet", weights_dir=tmp_path)
    for name, value in first.model.state_dict().items():  # the stored weights are the interrupted run's: no retraining
        assert torch.equal(resumed.state_dict()[name], value.half().float() if value.is_floating_point() else value)
    assert entry["curve"]["points"] == [[1, first.history.val["mIoU"][0]]] and not resume.exists()
