"""Self-checks for the Mask R-CNN / RoIAlign chapter's exercises and homework.

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import random

import torch

from seglab.check.core import CheckResult, check_answer, check_function

__all__ = ["check_bilinear_sample", "check_bin_sample_points", "check_roi_align_bin", "check_samples_per_bin",
           "check_fpn_level", "bilinear_sample_reference", "bin_sample_points_reference"]


def bilinear_sample_reference(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """The value RoIAlign reads at (y, x) on ``fmap`` (Tensor[H, W]): torchvision's rule, via ``roi_align``
    itself (a 1x1 box centred on the point with one sample is exactly one bilinear read)."""
    from seglab.ops.roi import roi_align

    rois = torch.tensor([[0.0, x - 0.5, y - 0.5, x + 0.5, y + 0.5]], dtype=fmap.dtype)
    return roi_align(fmap[None, None], rois, 1, 1.0, 1, False)[0, 0, 0, 0]


def check_bilinear_sample(student, *, seed: int = 0) -> CheckResult:
    """``student(fmap [H, W], y, x) -> value``: bilinear interpolation with RoIAlign's border rules
    (0 outside ``-1 <= y <= H``, ``-1 <= x <= W``; clamp below at 0; the last row/column stands in for the next)."""
    g = torch.Generator().manual_seed(seed)
    if seed == 0:
        fmap = torch.rand(5, 7, generator=g, dtype=torch.float64)
        points = [(1.0, 2.0), (1.25, 2.5), (0.3, 5.9), (-0.5, 3.2), (4.6, 6.5), (-1.2, 2.0), (2.0, 7.3), (4.0, 6.0),
                  (3.999, 0.001)]
        return check_function(student, bilinear_sample_reference, [(fmap, y, x) for y, x in points],
                              name="bilinear_sample", atol=1e-9)
    rng = random.Random(seed)
    cases = []
    for _ in range(3):
        h, w = rng.randint(1, 6), rng.randint(1, 6)
        fmap = torch.rand(h, w, generator=g, dtype=torch.float64)
        cases += [(fmap, rng.uniform(-1.5, h + 0.5), rng.uniform(-1.5, w + 0.5)) for _ in range(8)]
        cases += [(fmap, float(h - 1), rng.uniform(0, w - 1)), (fmap, rng.uniform(0, h - 1), float(w))]
    return check_function(student, bilinear_sample_reference, cases, name="bilinear_sample", atol=1e-9)


def bin_sample_points_reference(box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    """The sample points (Tensor[gh * gw, 2] as (x, y), row-major over (iy, ix)) of bin (ph, pw) of ``box``."""
    from seglab.ops.roi import roi_align_sampling_grid

    grid = roi_align_sampling_grid(torch.as_tensor(box, dtype=torch.float64), output_size, spatial_scale,
                                   sampling_ratio, aligned)
    return grid.points[ph, pw]


def _random_roi_cases(seed: int, count: int):
    """(box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) with boxes of every size, some tiny."""
    rng = random.Random(seed)
    for _ in range(count):
        x1, y1 = rng.uniform(-4, 40), rng.uniform(-4, 40)
        w, h = (rng.choice([rng.uniform(0, 2), rng.uniform(2, 60)]) for _ in range(2))
        size = rng.randint(1, 7)
        yield ((round(x1, 2), round(y1, 2), round(x1 + w, 2), round(y1 + h, 2)), size, rng.randrange(size),
               rng.randrange(size), rng.choice([-1, 1, 2, 3]), rng.choice([1.0, 0.5, 0.25, 0.125]),
               rng.random() < 0.5)


def check_bin_sample_points(student, *, seed: int = 0) -> CheckResult:
    """``student(box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) -> Tensor[gh * gw, 2]``."""
    cases = [((10.0, 20.0, 50.0, 44.0), 2, 0, 0, 2, 1.0, False), ((10.0, 20.0, 50.0, 44.0), 2, 1, 0, 2, 1.0, False),
             ((3.3, 4.7, 29.1, 61.9), 7, 3, 5, 2, 0.25, False), ((3.3, 4.7, 29.1, 61.9), 3, 2, 1, -1, 0.5, False),
             ((8.0, 8.0, 40.0, 24.0), 4, 1, 3, 2, 0.125, True), ((0.0, 0.0, 2.0, 2.0), 2, 1, 1, -1, 1.0, False)]
    cases += list(_random_roi_cases(seed, 8 if seed else 0))
    return check_function(student, bin_sample_points_reference, cases, name="bin_sample_points", atol=1e-9)


def _roi_align_bin_reference(fmap, box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    from seglab.ops.roi import roi_align

    rois = torch.tensor([[0.0, *box]], dtype=fmap.dtype)
    return roi_align(fmap[None, None], rois, output_size, spatial_scale, sampling_ratio, aligned)[0, 0, ph, pw]


def check_roi_align_bin(student, *, seed: int = 0) -> CheckResult:
    """``student(fmap [H, W], box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) -> value``: one
    RoIAlign output, the mean of the bilinear samples at bin ``(ph, pw)``'s sample points (as ``roi_align``)."""
    g = torch.Generator().manual_seed(seed)
    fmap = torch.rand(12, 14, generator=g, dtype=torch.float64)
    cases = [(fmap, (10.0, 20.0, 50.0, 44.0), 2, 1, 0, 2, 0.25, False),
             (fmap, (3.3, 4.7, 29.1, 41.9), 3, 2, 1, -1, 0.5, False), (fmap, (0.0, 0.0, 2.0, 2.0), 2, 1, 1, -1, 1.0,
                                                                      True)]
    cases += [(fmap, *case) for case in _random_roi_cases(seed + 1000, 8)]
    return check_function(student, _roi_align_bin_reference, cases, name="roi_align_bin", atol=1e-9)


def check_samples_per_bin(answer, *, box, output_size: int, spatial_scale: float, sampling_ratio: int = 0,
                          aligned: bool = False) -> CheckResult:
    """A homework question: how many sample points RoIAlign averages in each bin for these explorer settings
    (``sampling_ratio`` 0 = adaptive, as the explorer's slider). Prints pass or "not yet", never the value."""
    from seglab.ops import roi_align_sampling_grid

    grid = roi_align_sampling_grid(box, output_size, spatial_scale, sampling_ratio if sampling_ratio > 0 else -1,
                                   aligned)
    return check_answer(answer, grid.count, name="samples per bin",
                        hint="adaptive means ceil(bin height) x ceil(bin width), in feature-map pixels")


def check_fpn_level(answer, *, width: float, height: float, canonical_scale: int = 224,
                    canonical_level: int = 4) -> CheckResult:
    """A homework question: the FPN level ``k`` (not clamped) a ``width x height`` box pools from under the rule
    ``k = floor(k0 + log2(sqrt(w h) / s0))``. Prints pass or "not yet", never the value."""
    from seglab.ops import fpn_levels

    box = torch.tensor([[0.0, 0.0, float(width), float(height)]], dtype=torch.float64)
    level = int(fpn_levels([box], 0, 99, canonical_scale, canonical_level)[0])
    return check_answer(answer, level, name="FPN level", hint="a box of side s0 pools from level k0; every halving "
                        "of the side is one level finer")
