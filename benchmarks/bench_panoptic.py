"""panoptic_quality on 100 images of 256x256 (target: under 2 s on a 2-core CPU).

Reference measured side by side: a dictionary loop over the (gt, pred) pairs in the style of panopticapi's
single-core worker (np.unique on gt * 256**3 + pred, then Python over the pairs and segments).
"""

from __future__ import annotations

import numpy as np
from harness import Row, device_name, median_seconds

from seglab.metrics.panoptic import OFFSET, panoptic_quality

CATS = [{"id": k + 1, "name": str(k), "isthing": int(k >= 4)} for k in range(8)]


def make_images(count: int, size: int, seed: int = 0):
    """Stuff bands plus ~12 rectangles of things per image; the prediction moves each segment a little."""
    rng = np.random.default_rng(seed)
    gt, pred = [], []
    for _ in range(count):
        gmap = np.repeat(np.arange(1, 5)[:, None], size // 4, axis=1).repeat(size // 4, axis=0)[:size, :size] * 256
        gmap = np.pad(gmap, ((0, size - gmap.shape[0]), (0, size - gmap.shape[1])), mode="edge").astype(np.int64)
        for k in range(1, 13):
            y, x = rng.integers(0, size - size // 8, 2)
            h, w = rng.integers(size // 16, size // 6, 2)
            gmap[y:y + h, x:x + w] = int(rng.integers(5, 9)) * 256 + k
        gmap[rng.random((size, size)) < 0.02] = 0  # a sprinkle of VOID
        pmap = np.roll(gmap, int(rng.integers(-3, 4)), axis=1)
        for which, id_map in ((gt, gmap), (pred, pmap)):
            ids = [int(i) for i in np.unique(id_map) if i]
            which.append((id_map, [{"id": i, "category_id": i // 256, "iscrowd": 0} for i in ids]))
    return gt, pred


def pq_dict_loop(gt, pred):
    """Per image: np.unique of the pairs, then a Python loop over them (panopticapi's structure)."""
    stats = {}
    for (gmap, ginfo), (pmap, pinfo) in zip(gt, pred):
        gsegs, psegs = {s["id"]: s for s in ginfo}, {s["id"]: s for s in pinfo}
        labels, counts = np.unique(gmap * OFFSET + pmap, return_counts=True)
        pairs = {(int(lab // OFFSET), int(lab % OFFSET)): int(c) for lab, c in zip(labels, counts)}
        garea, parea = {}, {}
        for (g, p), n in pairs.items():
            garea[g] = garea.get(g, 0) + n
            parea[p] = parea.get(p, 0) + n
        for (g, p), n in pairs.items():
            if g in gsegs and p in psegs and gsegs[g]["category_id"] == psegs[p]["category_id"]:
                iou = n / (parea[p] + garea[g] - n - pairs.get((0, p), 0))
                if iou > 0.5:
                    s = stats.setdefault(gsegs[g]["category_id"], [0, 0.0])
                    s[0] += 1
                    s[1] += iou
    return stats


def rows(device, quick: bool = False):
    count, size = (4, 64) if quick else (100, 256)
    gt, pred = make_images(count, size)
    repeats, warmup = (1, 0) if quick else (5, 1)
    ours = median_seconds(lambda: panoptic_quality(gt, pred, CATS), repeats=repeats, warmup=warmup)
    ref = median_seconds(lambda: pq_dict_loop(gt, pred), repeats=1 if quick else 3, warmup=0)
    yield Row(f"panoptic_quality {count} images {size}x{size}", ours, "s", device_name("cpu"), ours / ref,
              "numpy on CPU whatever the device; target < 2 s for 100 images 256x256; "
              "ref: dict loop over pairs, TPs only (panopticapi style)")
