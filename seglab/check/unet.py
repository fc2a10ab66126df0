"""Self-checks for the U-Net chapter's exercises and homework.

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import math
import random

import torch

from seglab.check.core import CheckResult, check_answer, check_function
from seglab.check.rules import Rule, obey

__all__ = ["check_valid_output_size", "check_center_crop", "check_border_weight", "check_crop_and_concat",
           "check_weight_map", "check_border_gap", "UNET_RULE", "WEIGHT_MAP_RULE"]

#: Parts 1-3 (and the lecture's exercises): sizes, crops and the border term written out.
UNET_RULE = Rule("this piece of U-Net", ("torch.nn.Conv2d", "torch.nn.functional.conv2d",
                                          "torch.nn.functional.max_pool2d", "torch.nn.MaxPool2d"),
                 "seglab.models.unet (unet_output_size, center_crop, CropAndConcat) is what you re-implement.")
#: Part 4: the weight map written out (scipy's distance transform is allowed).
WEIGHT_MAP_RULE = Rule("the weight map", (), "seglab.losses.unet_weight_map is what you re-implement.")


def _valid_output_reference(size: int, depth: int, convs: int = 2) -> int:
    """The output side of a valid-padding U-Net with ``convs`` unpadded 3x3 convolutions a level."""
    for _ in range(depth):
        size = (size - 2 * convs) // 2
    size -= 2 * convs
    for _ in range(depth):
        size = 2 * size - 2 * convs
    return size


def _valid_inputs(depth: int, convs: int, lo: int, hi: int) -> list[int]:
    """Input sides in ``[lo, hi]`` that pool evenly at every level and keep every map at least one pixel."""
    found = []
    for start in range(lo, hi + 1):
        size, ok = start, True
        for _ in range(depth):
            size -= 2 * convs
            ok = ok and size >= 2 and size % 2 == 0
            size //= 2
        ok = ok and size - 2 * convs >= 1 and _valid_output_reference(start, depth, convs) >= 1
        if ok:
            found.append(start)
    return found


def check_valid_output_size(student, *, any_convs: bool = False, seed: int = 0) -> CheckResult:
    """``student(size, depth) -> int``: the output side of a valid-padding U-Net for a valid input side. With
    ``any_convs=True`` (the homework's variant) it is ``student(size, depth, convs)`` with ``convs`` unpadded 3x3
    convolutions at every level instead of two."""
    if (broken := obey(student, UNET_RULE, name="valid_output_size")) is not None:
        return broken
    rng = random.Random(seed)
    if not any_convs:
        from seglab.models.unet import unet_output_size, unet_valid_input_sizes

        cases = [(572, 4), (188, 4)]
        for depth in (1, 2, 3, 5):
            sizes = unet_valid_input_sizes(1, 800, depth=depth)
            cases += [(sizes[0], depth), (sizes[len(sizes) // 2], depth), (sizes[-1], depth)]
        for _ in range(6 if seed else 0):
            depth = rng.randint(1, 5)
            cases.append((rng.choice(unet_valid_input_sizes(1, 1200, depth=depth)), depth))
        return check_function(student, lambda s, d: unet_output_size(s, d, "valid"), cases,
                              name="valid_output_size")
    cases = []
    for depth, convs in ([(1, 1), (2, 3), (3, 1), (4, 3), (2, 2)] if seed == 0 else
                         [(rng.randint(1, 4), rng.randint(1, 4)) for _ in range(5)]):
        sizes = _valid_inputs(depth, convs, 1, 900)
        picks = [sizes[0], sizes[-1]] + ([rng.choice(sizes)] if seed else [sizes[len(sizes) // 2]])
        cases += [(s, depth, convs) for s in picks]
    return check_function(student, _valid_output_reference, cases, name="valid_output_size")


def _random_maps(g: torch.Generator, count: int):
    for _ in range(count):
        n, c = (int(v) for v in torch.randint(1, 3, (2,), generator=g))
        h, w = (int(v) for v in torch.randint(3, 12, (2,), generator=g))
        height, width = (int(torch.randint(1, s + 1, (1,), generator=g)) for s in (h, w))
        yield torch.rand(n, c, h, w, generator=g), height, width


def check_center_crop(student, *, seed: int = 0) -> CheckResult:
    """``student(skip [N, C, H, W], height, width) -> [N, C, height, width]``, the centre crop of crop-and-concat.

    When ``H - height`` is odd the extra row goes to the bottom (``top = (H - height) // 2``), as in seglab.
    """
    if (broken := obey(student, UNET_RULE, name="center_crop")) is not None:
        return broken
    from seglab.models.unet import center_crop

    g = torch.Generator().manual_seed(seed)
    cases = [(torch.arange(36.0).reshape(1, 1, 6, 6), 2, 2), (torch.rand(2, 3, 64, 64, generator=g), 56, 56),
             (torch.rand(1, 2, 9, 12, generator=g), 4, 7), (torch.rand(1, 1, 5, 5, generator=g), 5, 5)]
    cases += list(_random_maps(g, 4 if seed else 0))
    return check_function(student, center_crop, cases, name="center_crop")


def check_crop_and_concat(student, *, seed: int = 0) -> CheckResult:
    """``student(up [N, Cu, h, w], skip [N, Cs, H, W]) -> [N, Cs + Cu, h, w]``: the skip centre-cropped to the
    upsampled map's size, then both concatenated along the channels, skip first (as ``CropAndConcat``)."""
    if (broken := obey(student, UNET_RULE, name="crop_and_concat")) is not None:
        return broken
    from seglab.models.unet import CropAndConcat

    g = torch.Generator().manual_seed(seed)
    cases = []
    for skip, h, w in _random_maps(g, 6):
        cu = int(torch.randint(1, 4, (1,), generator=g))
        cases.append((torch.rand(skip.shape[0], cu, h, w, generator=g), skip))
    return check_function(student, CropAndConcat(), cases, name="crop_and_concat")


def _border_weight(d1, d2, w0=10.0, sigma=5.0):
    return w0 * math.exp(-((d1 + d2) ** 2) / (2 * sigma**2))


def _border_weight_of_all(distances, w0=10.0, sigma=5.0):
    d1, d2 = sorted(distances)[:2]
    return _border_weight(d1, d2, w0, sigma)


def check_border_weight(student, *, from_all: bool = False, seed: int = 0) -> CheckResult:
    """``student(d1, d2, w0, sigma) -> float``: the separation-border term of U-Net's weight map. With
    ``from_all=True`` (the homework's variant) it is ``student(distances, w0, sigma)``: ``distances`` lists the
    distance to every object (any order, at least two), and the term uses the nearest two."""
    if (broken := obey(student, UNET_RULE, name="border_weight")) is not None:
        return broken
    rng = random.Random(seed)
    if not from_all:
        cases = [(1.0, 2.0, 10.0, 5.0), (0.0, 0.0, 10.0, 5.0), (3.0, 4.0, 10.0, 5.0), (1.0, 1.5, 2.0, 1.0)]
        cases += [(rng.uniform(0, 9), rng.uniform(0, 9), rng.uniform(1, 12), rng.uniform(1, 6))
                  for _ in range(5 if seed else 0)]
        return check_function(student, _border_weight, cases, name="border_weight")
    cases = [([1.0, 2.0], 10.0, 5.0), ([4.0, 0.5, 3.0], 10.0, 5.0), ([7.0, 2.0, 2.0, 9.0], 2.0, 1.5),
             ([0.0, 6.0, 0.0], 10.0, 5.0)]
    if seed:
        cases = [([rng.uniform(0, 9) for _ in range(rng.randint(2, 6))], rng.uniform(1, 12), rng.uniform(1, 6))
                 for _ in range(8)]
    return check_function(student, _border_weight_of_all, cases, name="border_weight")


def _instance_masks(seed: int):
    """Small instance masks (0 = background, 1..k = objects): touching, separate, one object, and random boxes."""
    touching = torch.zeros(7, 9, dtype=torch.int64)
    touching[1:5, 1:4], touching[2:6, 5:8] = 1, 2
    single = torch.zeros(5, 6, dtype=torch.int64)
    single[1:3, 2:5] = 1
    yield from ([touching, single] if seed == 0 else [])
    g = torch.Generator().manual_seed(seed)
    for _ in range(4):
        h, w = (int(v) for v in torch.randint(6, 13, (2,), generator=g))
        mask = torch.zeros(h, w, dtype=torch.int64)
        for k in range(1, int(torch.randint(2, 5, (1,), generator=g)) + 1):
            y, x = int(torch.randint(0, h - 1, (1,), generator=g)), int(torch.randint(0, w - 1, (1,), generator=g))
            dy, dx = (int(v) for v in torch.randint(1, 5, (2,), generator=g))
            mask[y:y + dy, x:x + dx] = k
        present = [int(v) for v in mask.unique() if v > 0]
        relabel = torch.zeros(max(present, default=0) + 1, dtype=torch.int64)
        relabel[present] = torch.arange(1, len(present) + 1)
        yield relabel[mask]  # ids 1..k, no gaps, even when a later box covered an earlier one


def check_weight_map(student, *, seed: int = 0) -> CheckResult:
    """``student(instance_mask int64[H, W], w0, sigma) -> float[H, W]``: U-Net's weight map
    ``w = w_c + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` as ``seglab.losses`` defines it: ``w_c = P / (C * P_c)``
    over the classes background / object, the border term on background pixels only and only when there are at
    least two objects, ``d_k`` the Euclidean distance to the nearest pixel of object ``k``."""
    if (broken := obey(student, WEIGHT_MAP_RULE, name="weight_map")) is not None:
        return broken
    from seglab.losses import unet_weight_map

    reference = lambda mask, w0, sigma: unet_weight_map(mask, w0, sigma, dtype=torch.float64)  # noqa: E731
    rng = random.Random(seed)
    cases = [(mask, *((10.0, 5.0) if i % 2 == 0 else (rng.uniform(1, 12), rng.uniform(1, 6))))
             for i, mask in enumerate(_instance_masks(seed))]
    return check_function(student, reference, cases, name="weight_map")


def check_border_gap(answer, *, w0: float = 10.0, sigma: float = 5.0) -> CheckResult:
    """Practice question: the gap ``d1 + d2`` (pixels, two decimals) at which the border term
    ``w0 exp(-(d1 + d2)^2 / (2 sigma^2))`` falls to 1. Prints pass or "not yet"."""
    return check_answer(answer, sigma * math.sqrt(2 * math.log(w0)), name="border gap", atol=0.01,
                        hint="set the term equal to 1 and solve for d1 + d2")
