"""Training batches from memory: the generated scenes decoded once, batches taken by index and augmented on the device.

:class:`CachedSceneLoader` reads a split of the generated scenes (:class:`seglab.data.SceneDataset`, semantic or
instance task) once into memory as ``uint8`` images and masks (the 4,000 recipe scenes: about 260 MB), on the
training device when that is CUDA. Each batch is taken from the cache by index, turned into float on the device and
augmented there: on CUDA the flips and 90-degree turns of a whole batch are one gather per tensor, and an instance
batch's mirrors one batched copy for its images, masks and boxes alike; on the CPU each sample is turned on its way
into the batch, which is 1.5 times as fast there as an int64-indexed gather, and the turns that transpose read a
transposed copy of the cache that the CPU loader keeps beside it (a semantic cache on the CPU takes twice its
``nbytes``: about 520 MB for the 4,000 scenes).

It yields the batches that the recipes' ``DataLoader`` yields, bit for bit and in the same order, for the same seed::

    DataLoader(SceneDataset(root, split, task, transforms=dihedral_augment | hflip | None),
               batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed), drop_last=...)

because it draws the same random numbers from the same generators in the same order: per pass, one int64 and then
the permutation from its own generator (the sampler's, which draws one more permutation for its remainder when it
runs out), and per sample, when its batch is asked for, the
augmentation's choices from the global torch RNG (``dihedral``: a turn ``randint(4)`` then a mirror ``randint(2)``;
``hflip``: ``rand() < 0.5``). So a model step between two batches that draws from the global RNG (dropout, Mask
R-CNN's box sampler) sees the same RNG state as with the DataLoader; for the same reason nothing is prefetched.

File-backed datasets (VOC or COCO folders) keep a DataLoader: :func:`make_loader` adds worker processes, pinned
memory and, on CUDA, non-blocking copies (``seglab.train.to_device`` copies with ``non_blocking=True``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os

import torch
from torch.utils.data import DataLoader

__all__ = ["CachedSceneLoader", "SceneCache", "make_loader", "AUGMENTS"]

AUGMENTS = ("dihedral", "hflip", "none")
_PER_INSTANCE = ("boxes", "labels", "area", "iscrowd")  # besides the masks


class SceneCache:
    """A split of the generated scenes in memory: ``images uint8[N, 3, H, W]``; semantic ``masks uint8[N, H, W]``
    (labels, ``IGNORE_INDEX`` kept); instance: every non-crowd instance of every image in one ``masks uint8[M, H, W]``
    with ``boxes float32[M, 4]``, ``labels``, ``area``, ``iscrowd`` and ``offsets int64[N + 1]`` (image i owns rows
    ``offsets[i]:offsets[i + 1]``), ``image_ids`` (list of int). Built from the dataset's own items, so it holds
    exactly what the dataset returns (crowd regions dropped, as ``drop_crowd`` does)."""

    def __init__(self, dataset, indices=None, device="cpu"):
        from seglab.data.coco_io import drop_crowd

        self.task = dataset.task
        if self.task not in ("semantic", "instance"):
            raise ValueError(f"the cache holds the semantic or instance task, got {self.task!r}")
        indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
        if not indices:
            raise ValueError(f"no scenes to cache in {dataset!r}")
        images, masks, rows, self.image_ids = [], [], {k: [] for k in _PER_INSTANCE}, []
        counts = []
        for i in indices:
            image, target = dataset[i]
            images.append(_to_uint8(image))
            if self.task == "semantic":
                masks.append(target.to(torch.uint8))
                continue
            image, target = drop_crowd(image, target)
            masks.append(target["masks"].to(torch.uint8))
            counts.append(len(target["masks"]))
            self.image_ids.append(target["image_id"])
            for key in _PER_INSTANCE:
                rows[key].append(target[key])
        sizes = {tuple(im.shape) for im in images}
        if len(sizes) != 1:
            raise ValueError(f"cached scenes must share one size, found {sorted(sizes)}")
        self.images = torch.stack(images).to(device)
        self.masks = (torch.stack(masks) if self.task == "semantic" else torch.cat(masks)).to(device)
        if self.task == "instance":
            self.offsets = torch.tensor([0] + counts).cumsum(0)
            self.targets = {key: torch.cat(rows[key]).to(device) for key in _PER_INSTANCE}

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        extra = sum(t.nbytes for t in getattr(self, "targets", {}).values())
        return self.images.nbytes + self.masks.nbytes + extra


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """``float32[3, H, W]`` made as ``uint8 / 255`` -> the ``uint8`` it was made from (exact: the round trip is)."""
    return image.mul(255).round_().to(torch.uint8)


class CachedSceneLoader:
    """Batches of a scenes split from memory, on ``device``, bit for bit those of the recipes' DataLoader.

    ``root``: a scenes folder (``make_scenes`` layout; None = the shipped ``data/scenes``); ``split``: "train" or
    "val"; ``task``: "semantic" (yields ``(images float32[B, 3, H, W], masks int64[B, H, W])``) or "instance"
    (yields ``(list of images float32[3, H, W], list of target dicts)`` as ``detection_collate``, crowd regions
    dropped); ``augment``: "dihedral" (semantic: a random turn by k * 90 degrees, then a random mirror), "hflip"
    (instance: mirror with probability 1/2) or "none"; ``shuffle`` with ``seed``: the order of a DataLoader with
    ``generator=torch.Generator().manual_seed(seed)`` (its generator is ``self.generator``, so checkpoints save and
    restore it); ``drop_last`` as DataLoader's; ``device``: where batches (and, on CUDA, the cache) live;
    ``subset``: indices of the split to use (as ``torch.utils.data.Subset``), e.g. ``range(24)`` for a quick run.
    ``method``: how the dihedral group is applied: "gather" (one gather per batch and tensor: the fewest kernels,
    CUDA's default), "samples" (each sample turned and mirrored on its way into the float32 / int64 batch: the
    CPU's default, 1.5 times as fast there as a gather with its int64 index) or "groups" (one turn, mirror and
    copy per group of samples that drew the same element); all give the same batches.
    """

    def __init__(self, root, split: str, task: str, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 augment: str = "none", drop_last: bool = False, device="cpu", subset=None, method: str | None = None):
        from seglab.data.datasets import SceneDataset

        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
        if (task, augment) in (("semantic", "hflip"), ("instance", "dihedral")):
            raise ValueError(f"augment {augment!r} is not defined for the {task} task: semantic recipes use "
                             "'dihedral', instance recipes 'hflip' (or 'none')")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.device = torch.device(device)
        if method not in (None, "gather", "samples", "groups"):
            raise ValueError(f"method must be 'gather', 'samples', 'groups' or None, got {method!r}")
        self.method = method or ("gather" if self.device.type == "cuda" else "samples")
        self.dataset = SceneDataset(root, split, task=task)
        self.cache = SceneCache(self.dataset, subset, device=self.device if self.device.type == "cuda" else "cpu")
        self.task, self.batch_size, self.shuffle, self.augment = task, batch_size, shuffle, augment
        self.drop_last, self.seed = drop_last, seed
        self.generator = torch.Generator().manual_seed(seed)
        height, width = self.cache.images.shape[-2:]
        if augment == "dihedral" and height != width:
            raise ValueError(f"dihedral augmentation turns by 90 degrees: needs square scenes, got {height}x{width}")
        if augment == "dihedral":
            self._maps = _dihedral_maps(height, self.device)
            self._vector_draws = _vector_draws_match()
        self._samples = None
        if augment == "dihedral" and self.method == "samples" and self.cache.images.device == self.device:
            # half of the group's elements transpose: they read a transposed copy (twice the cache's memory), since a
            # transposed read of a uint8 picture costs three times a contiguous one on the CPU; each sample's views
            # are made once here (a list lookup per sample instead of a tensor index)
            images, masks = self.cache.images, self.cache.masks
            self._samples = {False: (images.unbind(0), masks.unbind(0)),
                             True: (images.transpose(-2, -1).contiguous().unbind(0),
                                    masks.transpose(-2, -1).contiguous().unbind(0))}

    def __len__(self) -> int:
        n = len(self.cache)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __repr__(self) -> str:
        return (f"CachedSceneLoader({str(self.dataset.root)!r}, {self.dataset.split!r}, {self.task!r}, "
                f"batch_size={self.batch_size}, augment={self.augment!r}, n={len(self.cache)}, device={self.device}, "
                f"cache={self.cache.nbytes / 2**20:.0f} MiB)")

    def __iter__(self):
        n = len(self.cache)
        # as DataLoader's iterator: one int64 from the loader's generator, then the sampler's permutation from it
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._batch(order[start:start + self.batch_size])
        if self.shuffle:  # RandomSampler draws one more permutation (for its remainder) when it runs out
            torch.randperm(n, generator=self.generator)

    def _batch(self, indices: torch.Tensor):
        with _one_thread() if self.device.type == "cpu" else contextlib.nullcontext():
            return self._semantic(indices) if self.task == "semantic" else self._instance(indices)

    def _semantic(self, indices):
        codes = self._dihedral_codes(len(indices)) if self.augment == "dihedral" else None  # 2 * turns + mirror
        if codes is not None and self._samples is not None:
            return _per_sample_dihedral(self._samples, indices, codes)
        images = self.cache.images.index_select(0, indices.to(self.cache.images.device))
        masks = self.cache.masks.index_select(0, indices.to(self.cache.masks.device))
        images, masks = images.to(self.device, non_blocking=True), masks.to(self.device, non_blocking=True)
        if codes is not None and self.method == "gather":
            images, masks = _gather_dihedral(images, masks, self._maps[codes.to(self.device)])
        elif codes is not None:
            images, masks = _grouped_dihedral(images, masks, codes)
        return _unit(images), masks.long()

    def _dihedral_codes(self, b: int) -> torch.Tensor:
        """Per sample ``randint(4)`` then ``randint(2)`` from the global RNG (as ``dihedral_augment``)."""
        if self._vector_draws:
            draws = torch.randint(4, (2 * b,))
            return 2 * draws[0::2] + draws[1::2] % 2
        draws = [(int(torch.randint(4, ())), int(torch.randint(2, ()))) for _ in range(b)]
        return torch.tensor([2 * k + f for k, f in draws])

    def _instance(self, indices):
        cache, b = self.cache, len(indices)
        flips = torch.rand(b) < 0.5 if self.augment == "hflip" else torch.zeros(b, dtype=torch.bool)  # as p=0.5
        images = cache.images.index_select(0, indices.to(cache.images.device)).to(self.device, non_blocking=True)
        starts, stops = cache.offsets[indices], cache.offsets[indices + 1]
        counts = (stops - starts).tolist()
        rows = torch.cat([torch.arange(s, e) for s, e in zip(starts.tolist(), stops.tolist())]) if sum(counts) \
            else torch.zeros(0, dtype=torch.int64)
        rows_on = rows.to(cache.masks.device)
        masks = cache.masks.index_select(0, rows_on).to(self.device, non_blocking=True)
        fields = {k: v.index_select(0, rows_on).to(self.device, non_blocking=True) for k, v in cache.targets.items()}
        if bool(flips.any()):
            width = images.shape[-1]
            row_flips = torch.repeat_interleave(flips, torch.tensor(counts, dtype=torch.int64))
            images = _flip_where(images, flips.nonzero().squeeze(1).to(self.device))
            masks = _flip_where(masks, row_flips.nonzero().squeeze(1).to(self.device))
            boxes = fields["boxes"]
            mirrored = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
            fields["boxes"] = torch.where(row_flips.to(self.device)[:, None], mirrored, boxes)
        images = _unit(images)
        masks, fields = masks.split(counts), {k: v.split(counts) for k, v in fields.items()}
        targets = [{"boxes": fields["boxes"][j], "labels": fields["labels"][j], "masks": masks[j],
                    "image_id": cache.image_ids[i], "area": fields["area"][j], "iscrowd": fields["iscrowd"][j]}
                   for j, i in enumerate(indices.tolist())]
        return list(images.unbind(0)), targets


def _unit(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` -> ``float32 / 255``: bit for bit ``torch.div(images, 255.0)``, in two vectorised passes (a widening
    copy, then an in-place float division), which is three times as fast on the CPU as the mixed-dtype division."""
    return images.to(torch.float32).div_(255.0)


def _flip_where(planes: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mirror (last axis) the ``rows`` of ``planes`` in one batched op; the others stay."""
    if len(rows) == 0:
        return planes
    return planes.index_copy(0, rows, planes.index_select(0, rows).flip(-1))


def _dihedral_maps(size: int, device) -> torch.Tensor:
    """int64[8, size * size]: for group element ``2 * k + f`` the source pixel of each output pixel of
    ``rot90(x, k)`` followed, when ``f``, by a mirror (as ``dihedral_augment``)."""
    pixels = torch.arange(size * size).view(size, size)
    maps = []
    for k in range(4):
        turned = torch.rot90(pixels, k, (-2, -1))
        maps += [turned.reshape(-1), turned.flip(-1).reshape(-1)]
    return torch.stack(maps).to(device)


def _gather_dihedral(images, masks, maps):
    """One gather per tensor: ``maps int64[B, H * W]`` gives each sample's source pixel for each output pixel."""
    b, c, h, w = images.shape
    images = images.reshape(b, c, h * w).gather(2, maps[:, None, :].expand(b, c, h * w)).view(b, c, h, w)
    return images, masks.reshape(b, h * w).gather(1, maps).view(b, h, w)


def _dihedral_as_flips() -> dict:
    """For each element ``2 * k + mirror``: ``(transpose, dims)`` with ``rot90(x, k)`` (then mirrored) equal to
    ``x`` transposed (when ``transpose``) and flipped along ``dims``: at most one copy besides the final one."""
    x, found = torch.arange(12).view(3, 4), {}
    for code in range(8):
        k, mirror = divmod(code, 2)
        want = torch.rot90(x, k, (-2, -1))
        want = want.flip(-1) if mirror else want
        for transpose in (False, True):
            for dims in ((), (-1,), (-2,), (-2, -1)):
                got = x.transpose(-2, -1) if transpose else x
                got = got.flip(dims) if dims else got
                if got.shape == want.shape and torch.equal(got, want) and code not in found:
                    found[code] = (transpose, dims)
    return found


_AS_FLIPS = _dihedral_as_flips()


def _per_sample_dihedral(samples: dict, indices, codes):
    """The batch built sample by sample, each turned and mirrored on its way and written straight into the float32 /
    int64 batch (no index tensor, no intermediate batch): the fastest on the CPU. ``samples[transposed]``: the
    cache's pictures and masks (transposed or not), one view per scene."""
    (images, masks) = samples[False]
    b = len(indices)
    out_images = torch.empty((b, *images[0].shape), dtype=torch.float32)
    out_masks = torch.empty((b, *masks[0].shape), dtype=torch.int64)
    _fill_per_sample(samples, indices, codes, out_images.unbind(0), out_masks.unbind(0))
    return out_images.div_(255.0), out_masks


@contextlib.contextmanager
def _one_thread():
    """PyTorch's intra-op threads off while a CPU batch is made: splitting a batch of 128 px pictures across threads
    saves little, and costs 12x when another process holds a core (13,300 against 1,100 images/s, measured with 2
    threads on the 2-core machine under load, 2026-12-04). The training step keeps its threads."""
    threads = torch.get_num_threads()
    if threads > 1 and _openmp():
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
    else:
        yield


@functools.lru_cache(maxsize=1)
def _openmp() -> bool:
    """Whether PyTorch's intra-op threads are OpenMP's (a native pool cannot be resized while it runs)."""
    return "OpenMP" in torch.__config__.parallel_info()


def _fill_per_sample(samples, indices, codes, out_images, out_masks):
    for index, code, out_image, out_mask in zip(indices.tolist(), codes.tolist(), out_images, out_masks):
        transpose, dims = _AS_FLIPS[code]
        images, masks = samples[transpose]
        image, mask = images[index], masks[index]
        if dims:
            image, mask = image.flip(dims), mask.flip(dims)
        out_image.copy_(image)  # widened here, divided by 255 once for the batch (as _unit)
        out_mask.copy_(mask)


def _grouped_dihedral(images, masks, codes):
    """Samples grouped by the element they drew: per group, one turn, one mirror and one copy into place."""
    out_images, out_masks = torch.empty_like(images), torch.empty_like(masks)
    for code in sorted(set(codes.tolist())):
        rows = (codes == code).nonzero().squeeze(1).to(images.device)
        k, mirror = divmod(code, 2)
        group_images = torch.rot90(images.index_select(0, rows), k, (-2, -1))
        group_masks = torch.rot90(masks.index_select(0, rows), k, (-2, -1))
        if mirror:
            group_images, group_masks = group_images.flip(-1), group_masks.flip(-1)
        out_images.index_copy_(0, rows, group_images)
        out_masks.index_copy_(0, rows, group_masks)
    return out_images, out_masks


_VECTOR_DRAWS: bool | None = None


def _vector_draws_match() -> bool:
    """Whether ``randint(4, (2n,))`` draws what n pairs of scalar ``randint(4)``, ``randint(2)`` draw (taken mod 2),
    checked once on this torch build with the global RNG state put back; if not, the loader draws one by one."""
    global _VECTOR_DRAWS
    if _VECTOR_DRAWS is None:
        state = torch.get_rng_state()
        try:
            scalar = [int(torch.randint(n, ())) for _ in range(64) for n in (4, 2)]
            after_scalar = torch.get_rng_state()
            torch.set_rng_state(state)
            vector = torch.randint(4, (128,))
            vector[1::2] %= 2
            _VECTOR_DRAWS = vector.tolist() == scalar and torch.equal(torch.get_rng_state(), after_scalar)
        finally:
            torch.set_rng_state(state)
    return _VECTOR_DRAWS


def make_loader(dataset, batch_size: int, *, shuffle: bool = False, seed: int | None = None, device=None,
                num_workers: int | None = None, collate_fn=None, drop_last: bool = False) -> DataLoader:
    """A DataLoader for a file-backed dataset (VOC or COCO folders): ``num_workers`` worker processes (default: up
    to 4, one core left to the training process), persistent across epochs, and pinned memory when ``device`` is
    CUDA so that ``to(device, non_blocking=True)`` overlaps the copy with compute. ``seed``: the shuffling
    generator's seed (None: torch's global RNG decides)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if num_workers is None:
        num_workers = max(0, min(4, (os.cpu_count() or 1) - 1))
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate_fn,
                      drop_last=drop_last, num_workers=num_workers, persistent_workers=num_workers > 0,
                      pin_memory=device.type == "cuda")
