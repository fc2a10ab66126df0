"""Input-pipeline rows (issue 27): what the recipes' cached loader delivers, and what share of a recipe step it takes.

* ``loader: CachedSceneLoader``: images/s from the in-memory cache of data/scenes' train split (the recipes' batch
  and augmentation, batches on ``device``), next to the recipes' old pipeline (DataLoader over SceneDataset: PNG
  decode and per-sample augmentation in the main process, then a copy). Goal on the 2-core CPU: >= 20,000 images/s
  for the semantic recipes, enough to feed the 3,187 images/s a U-Net step reached on an H200.
* ``recipe step``: the unet and mask_rcnn recipes' model, batch, optimizer and precision (AMP on CUDA, as the recipes
  run), trained through ``fit`` from the cached loader: the share of the time spent waiting for data (goal <= 5% on
  the CPU) and its steps/s next to the bare model step's on the same batches, taken from memory already on the
  device (goal on a GPU: >= 80%). Side by side in one process, order alternating, medians.
"""

from __future__ import annotations

import statistics
import time

import torch
from harness import Row, device_name, sync

from seglab.utils import DATA_DIR


def _images_per_second(loader, repeats, device):
    """(images/s of wall time, images per CPU-second of this process): the second stays meaningful on a loaded
    machine."""
    times, cpu, count = [], [], 0
    for _ in range(repeats + 1):  # the first pass warms up
        start, start_cpu, count = time.perf_counter(), time.process_time(), 0
        for images, _ in loader:
            count += len(images)
        sync(device)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return count / statistics.median(times[1:]), count / max(statistics.median(cpu[1:]), 1e-9)


def loader_rows(device, quick):
    from torch.utils.data import DataLoader, Subset

    from seglab.data import RandomHorizontalFlip, SceneDataset, detection_collate
    from seglab.data.cache import CachedSceneLoader
    from seglab.train.recipes import dihedral_augment

    root = DATA_DIR / "scenes"
    n, repeats = (32, 1) if quick else (400, 5)
    for task, batch, augment in (("semantic", 16, "dihedral"), ("instance", 8, "hflip")):
        start = time.perf_counter()
        cached = CachedSceneLoader(root, "train", task, batch, seed=0, augment=augment, drop_last=True,
                                   device=device, subset=range(n))
        build = time.perf_counter() - start
        fast, fast_cpu = _images_per_second(cached, repeats, device)
        if task == "semantic":
            transforms, collate = dihedral_augment, None
        else:
            transforms, collate = _flip_without_crowd(RandomHorizontalFlip()), detection_collate
        old = DataLoader(Subset(SceneDataset(root, "train", task, transforms=transforms), range(n)), batch_size=batch,
                         shuffle=True, generator=torch.Generator().manual_seed(0), collate_fn=collate, drop_last=True)
        moved = _Moved(old, device)
        slow, _ = _images_per_second(moved, 1 if quick else 2, device)
        yield Row(f"loader: CachedSceneLoader {task} (batch {batch}, {augment})", fast, "images/s",
                  device_name(device), ratio=fast / slow,
                  note=f"{fast_cpu:.4g} images per CPU-second; vs the recipes' DataLoader {slow:.4g} images/s; "
                       f"{n} scenes of 128 px from data/scenes, cache "
                       f"built in {build:.1f} s ({cached.cache.nbytes / 2**20:.0f} MiB)"
                       + ("; goal >= 20,000 images/s on the 2-core CPU" if task == "semantic" else ""))


def _flip_without_crowd(flip):
    """The instance recipes' transform (seglab/train/recipes.py): drop crowd regions, then a random mirror."""
    from seglab.data import drop_crowd

    return lambda image, target: flip(*drop_crowd(image, target))


class _Moved:
    """A DataLoader whose batches are copied to ``device`` (as fit does)."""

    def __init__(self, loader, device):
        self.loader, self.device = loader, device

    def __iter__(self):
        from seglab.train.batches import to_device

        for batch in self.loader:
            images, _, _ = to_device(batch, self.device)
            yield images, None


def _bare_seconds(model, optimizer, batches, device, amp):
    """The bare model step: forward, loss, backward, optimizer step on batches already in memory on the device."""
    from seglab.train.batches import compute_loss

    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    model.train()
    sync(device)
    start = time.perf_counter()
    for images, targets in batches:
        with torch.autocast(torch.device(device).type, dtype=torch.float16, enabled=amp):
            loss, _ = compute_loss(model, images, targets, [], None)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    sync(device)
    return time.perf_counter() - start


def recipe_step_rows(device, quick):
    from seglab.data.cache import CachedSceneLoader
    from seglab.models import create_model
    from seglab.train import fit
    from seglab.train.recipes import RECIPES, make_optimizer

    device = torch.device(device)
    amp = device.type == "cuda"  # as the recipes run: fit's default
    for name in ("unet", "mask_rcnn"):
        recipe = RECIPES[name]
        steps = 2 if quick else (40 if device.type == "cuda" else 4)
        batch = 2 if quick else recipe.batch_size
        args = dict(recipe.model_args, **({"base_channels": 4} if quick and name == "unet" else {}))
        loader = CachedSceneLoader(DATA_DIR / "scenes", "train", recipe.task, batch, seed=0,
                                   augment=recipe.augment, drop_last=True, device=device, subset=range(steps * batch))
        torch.manual_seed(0)
        model = create_model(recipe.model, **args).to(device)
        optimizer = make_optimizer(recipe, [p for p in model.parameters() if p.requires_grad])
        batches = list(loader)
        recipe_times, bare_times, shares = [], [], []
        for i in range(1 if quick else 3):  # round 0 warms up (unless quick); the order alternates
            for which in (("bare", "fit") if i % 2 else ("fit", "bare")):
                if which == "bare":
                    bare_times.append(_bare_seconds(model, optimizer, batches, device, amp))
                    continue
                start = time.perf_counter()
                history = fit(model, loader, epochs=1, optimizer=optimizer, device=device, amp=amp, progress=False)
                sync(device)
                recipe_times.append(time.perf_counter() - start)
                shares.append(history.data_share)
        keep = slice(0, None) if quick else slice(1, None)
        recipe_s, bare_s = statistics.median(recipe_times[keep]), statistics.median(bare_times[keep])
        share = statistics.median(shares[keep])
        where = device_name(device)
        yield Row(f"recipe step: {name} data share (cached loader)", 100 * share, "%", where,
                  note=f"time waiting for data / (data + step) in fit, batch {batch}, {steps} steps"
                       + (", AMP" if amp else "") + "; goal <= 5% on the CPU")
        yield Row(f"recipe step: {name} steps/s through fit", steps / recipe_s, "steps/s", where,
                  ratio=bare_s / recipe_s,
                  note=f"vs the bare model step {steps / bare_s:.3g} steps/s on the same batches in memory "
                       f"(batch {batch}{', AMP' if amp else ', fp32'}); goal on a GPU >= 0.80x")


def rows(device, quick=False):
    yield from loader_rows(device, quick)
    yield from recipe_step_rows(device, quick)
