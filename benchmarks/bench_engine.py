"""Engine rows: ``fit`` overhead per step against a bare PyTorch loop, and data loading speed from data/scenes.

The overhead is measured side by side in the same process on the same model, optimizer (AdamW) and pre-built
batches, alternating the two loops so that machine load hits both alike. Target: ``fit`` within 5% of the bare
loop on CPU (the per-step extras are a ``loss.item()``, a finiteness check, a label-range check and logging).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn.functional as F
from harness import Row, device_name, sync

from seglab.data.synthetic import SyntheticSegmentation
from seglab.models.tiny import TinySegmenter
from seglab.train import fit
from seglab.utils import DATA_DIR


def _batches(num_batches, batch_size, size, device):
    data = SyntheticSegmentation(num_batches * batch_size, size, num_classes=8, seed=0)
    images = torch.stack(data.images).to(device)
    masks = torch.stack(data.masks).to(device)
    return list(zip(images.split(batch_size), masks.split(batch_size)))


def _bare_epoch(model, optimizer, batches):
    model.train()
    for images, masks in batches:
        loss = F.cross_entropy(model(images), masks, ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def fit_overhead_row(device, quick):
    steps, batch_size, size, width, repeats = (3, 2, 32, 8, 2) if quick else (10, 8, 64, 16, 5)
    batches = _batches(steps, batch_size, size, device)
    torch.manual_seed(0)
    bare_model = TinySegmenter(8, width).to(device)
    fit_model = copy.deepcopy(bare_model)
    bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=1e-3)
    fit_opt = torch.optim.AdamW(fit_model.parameters(), lr=1e-3)
    run_fit = lambda: fit(fit_model, batches, epochs=1, lr=1e-3, optimizer=fit_opt, device=device,  # noqa: E731
                          amp=False, progress=False, plot=False)
    bare_times, fit_times = [], []
    for i in range(repeats + 1):  # the first round is a warm-up; the order alternates so neither goes first always
        pair = [(lambda: _bare_epoch(bare_model, bare_opt, batches), bare_times), (run_fit, fit_times)]
        for fn, times in pair if i % 2 else pair[::-1]:
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if i:
                times.append(time.perf_counter() - start)
    bare, fitted = statistics.median(bare_times), statistics.median(fit_times)
    yield Row("engine: fit step (TinySegmenter)", 1000 * fitted / steps, "ms", device_name(device),
              ratio=fitted / bare,
              note=f"vs bare loop {1000 * bare / steps:.3g} ms/step; target < 1.05x on CPU; batch {batch_size} "
                   f"x {size}px, width {width}, amp off, no progress bar, median of {repeats}, order alternating")


def data_loading_rows(device, quick):
    from seglab.data import SceneDataset

    root = DATA_DIR / "scenes"
    if not root.is_dir():
        yield Row("engine: load data/scenes", float("nan"), "images/s", "cpu", note=f"skipped: {root} missing")
        return
    dataset = SceneDataset(root, "train", task="semantic")
    n = 16 if quick else len(dataset)
    subset = torch.utils.data.Subset(dataset, range(n))
    for workers in ((0,) if quick else (0, 2)):
        loader = torch.utils.data.DataLoader(subset, batch_size=16, shuffle=False, num_workers=workers)
        times = []
        for _ in range(1 if quick else 3):
            start = time.perf_counter()
            for images, masks in loader:
                images.to(device), masks.to(device)
            sync(device)
            times.append(time.perf_counter() - start)
        yield Row(f"engine: load data/scenes (SceneDataset, {workers} workers)", n / statistics.median(times),
                  "images/s", device_name(device), note=f"{n} train images, batch 16, JPEG + PNG decode, to {device}")


def rows(device, quick=False):
    yield from fit_overhead_row(device, quick)
    yield from data_loading_rows(device, quick)
