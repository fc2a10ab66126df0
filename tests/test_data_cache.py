"""seglab.data.cache: the cached loader yields the recipes' DataLoader batches bit for bit (semantic and instance),
in the same order and with the same global RNG state between batches; make_loader's settings; bad input."""

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from seglab.data import RandomHorizontalFlip, SceneDataset, detection_collate, drop_crowd
from seglab.data.cache import CachedSceneLoader, make_loader
from seglab.train.recipes import dihedral_augment


@pytest.fixture(scope="module")
def scenes(make_test_scenes):
    return make_test_scenes(13, 1, size=48, seed=3)  # tests/conftest.py: made once per session


def recipe_loader(root, task, augment, batch_size, seed, drop_last, subset=None):
    """Today's recipe pipeline (seglab/train/recipes.py: _datasets and _loaders)."""
    if task == "semantic":
        transforms = dihedral_augment if augment == "dihedral" else None
        collate = None
    else:
        flip = RandomHorizontalFlip() if augment == "hflip" else None
        transforms = (lambda image, target: flip(*drop_crowd(image, target))) if flip else drop_crowd
        collate = detection_collate
    dataset = SceneDataset(root, "train", task=task, transforms=transforms)
    dataset = Subset(dataset, subset) if subset is not None else dataset
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                      collate_fn=collate, drop_last=drop_last)


def assert_same(a, b, where):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def batches(loader, epochs=2):
    """Every batch of ``epochs`` passes, with a global-RNG draw after each (as a model step with dropout)."""
    out = []
    for _ in range(epochs):
        for batch in loader:
            out.append((batch, float(torch.rand(()))))
    return out


@pytest.mark.parametrize("task, augment, method", [
    ("semantic", "dihedral", "samples"), ("semantic", "dihedral", "gather"), ("semantic", "dihedral", "groups"),
    ("semantic", "none", None),
    ("instance", "hflip", None), ("instance", "none", None)])
def test_same_batches_as_the_recipe_dataloader(scenes, task, augment, method):
    batch_size, seed = (4, 7) if task == "semantic" else (3, 2)
    torch.manual_seed(11)
    expected = batches(recipe_loader(scenes, task, augment, batch_size, seed, drop_last=True))
    torch.manual_seed(11)
    cached = CachedSceneLoader(scenes, "train", task, batch_size, shuffle=True, seed=seed, augment=augment,
                               drop_last=True, device="cpu", method=method)
    assert len(cached) == 13 // batch_size
    assert_same(batches(cached), expected, f"{task}/{augment}")


def test_subset_and_last_partial_batch(scenes):
    torch.manual_seed(5)
    expected = batches(recipe_loader(scenes, "semantic", "dihedral", 4, 0, drop_last=False, subset=range(2, 11)))
    torch.manual_seed(5)
    cached = CachedSceneLoader(scenes, "train", "semantic", 4, shuffle=True, seed=0, augment="dihedral",
                               drop_last=False, device="cpu", subset=range(2, 11))
    assert len(cached) == 3 and len(expected) == 6
    assert_same(batches(cached), expected, "subset")
    assert expected[2][0][0].shape[0] == 1  # the last batch of an epoch holds the one scene left


def test_first_instance_batch_holds_what_the_dataset_holds(scenes):
    loader = CachedSceneLoader(scenes, "train", "instance", 2, shuffle=False, augment="none", device="cpu")
    images, targets = next(iter(loader))
    dataset = SceneDataset(scenes, "train", task="instance", transforms=drop_crowd)
    for j in range(2):
        image, target = dataset[j]
        assert_same(images[j], image, "image")
        assert_same(targets[j], target, "target")
    assert "MiB" in repr(loader) and loader.cache.nbytes > 0


def test_generator_is_found_by_checkpoints(scenes):
    from seglab.train.checkpoint import rng_state, set_rng_state

    loader = CachedSceneLoader(scenes, "train", "semantic", 4, seed=1, augment="dihedral", device="cpu")
    saved = rng_state(loader)
    first = [b[1] for b in loader]
    set_rng_state(saved, loader)
    assert_same([b[1] for b in loader], first, "resumed epoch")


def test_bad_input(scenes):
    with pytest.raises(ValueError, match="augment must be one of"):
        CachedSceneLoader(scenes, "train", "semantic", 4, augment="rot")
    with pytest.raises(ValueError, match="not defined for the semantic task"):
        CachedSceneLoader(scenes, "train", "semantic", 4, augment="hflip")
    with pytest.raises(ValueError, match="batch_size"):
        CachedSceneLoader(scenes, "train", "semantic", 0)
    with pytest.raises(ValueError, match="semantic or instance"):
        CachedSceneLoader(scenes, "train", "panoptic", 4)
    with pytest.raises(ValueError, match="method"):
        CachedSceneLoader(scenes, "train", "semantic", 4, method="fast")


def test_make_loader_for_file_backed_datasets(scenes):
    dataset = SceneDataset(scenes, "train", task="semantic")
    loader = make_loader(dataset, 4, shuffle=True, seed=3, device="cpu", num_workers=0)
    assert loader.num_workers == 0 and not loader.pin_memory and loader.generator.initial_seed() == 3
    cuda = make_loader(dataset, 4, device="cuda", num_workers=2)
    assert cuda.pin_memory and cuda.num_workers == 2 and cuda.persistent_workers


@pytest.mark.gpu
def test_cuda_batches_match_the_cpu_ones(scenes, no_tf32):  # TF32 off (conftest.no_tf32); no matmul here anyway
    """Exact comparison (no tolerance): the loader only moves, permutes and divides by 255, which CUDA does exactly."""
    out = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(3)
        loader = CachedSceneLoader(scenes, "train", "semantic", 4, seed=0, augment="dihedral", device=device)
        out[device] = [tuple(t.cpu() for t in batch) for batch in loader]
    assert_same(out["cuda"], out["cpu"], "cuda vs cpu")


def test_fit_trains_from_the_cached_loader_and_times_the_data(scenes):
    from seglab.models.tiny import TinySegmenter
    from seglab.train import fit

    loader = CachedSceneLoader(scenes, "train", "semantic", 4, seed=0, augment="dihedral", drop_last=True)
    history = fit(TinySegmenter(8), loader, epochs=2, lr=1e-2, device="cpu", progress=False)
    assert len(history.step_loss) == 6 and len(history.data_seconds) == 2 and 0 <= history.data_share < 1
