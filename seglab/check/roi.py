"""Self-checks for the Mask R-CNN / RoIAlign chapter's exercises and homework.

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import random

import torch

from seglab.check.core import CheckResult, check_function
from seglab.check.rules import Rule, obey

__all__ = ["check_bilinear_sample", "check_bin_sample_points", "check_roi_align_bin", "bilinear_sample_reference",
           "bin_sample_points_reference", "ROI_RULE"]

#: Parts 1-3 (and the lecture's exercises): RoIAlign's sampling written out; torchvision.ops.roi_align and
#: seglab.ops.roi_align hold the answer, and PyTorch's resamplers compute bilinear reads.
ROI_RULE = Rule("RoIAlign's sampling", ("torch.nn.functional.grid_sample", "torch.nn.functional.interpolate",
                                        "torch.nn.functional.upsample", "torch.nn.functional.upsample_bilinear",
                                        "torch.nn.functional.affine_grid", "torch.nn.functional.adaptive_avg_pool2d",
                                        "torch.nn.functional.avg_pool2d", "torch.nn.Upsample"),
                "torchvision.ops.roi_align and seglab.ops (roi_align, roi_align_sampling_grid) are what you "
                "re-implement.")

#: A box below one pixel: without ``aligned`` RoIAlign stretches the RoI to at least 1 x 1.
TINY_BOX = (5.0, 6.0, 5.4, 6.3)


def bilinear_sample_reference(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """The value RoIAlign reads at (y, x) on ``fmap`` (Tensor[H, W]): torchvision's rule, via ``roi_align``
    itself (a 1x1 box centred on the point with one sample is exactly one bilinear read)."""
    from seglab.ops.roi import roi_align

    rois = torch.tensor([[0.0, x - 0.5, y - 0.5, x + 0.5, y + 0.5]], dtype=fmap.dtype)
    return roi_align(fmap[None, None], rois, 1, 1.0, 1, False)[0, 0, 0, 0]


def _channels_reference(fmap, y, x):
    return torch.stack([bilinear_sample_reference(plane, y, x) for plane in fmap])


def check_bilinear_sample(student, *, channels: bool = False, seed: int = 0) -> CheckResult:
    """``student(fmap [H, W], y, x) -> value``: bilinear interpolation with RoIAlign's border rules
    (0 outside ``-1 <= y <= H``, ``-1 <= x <= W``; clamp below at 0; the last row/column stands in for the next).
    With ``channels=True`` (the homework's variant) ``fmap`` is ``[C, H, W]`` and the answer a ``[C]`` tensor."""
    if (broken := obey(student, ROI_RULE, name="bilinear_sample")) is not None:
        return broken
    reference = _channels_reference if channels else bilinear_sample_reference
    g = torch.Generator().manual_seed(seed + (100 if channels else 0))

    def feature_map(h, w):
        return torch.rand(*((int(torch.randint(1, 4, (1,), generator=g)),) if channels else ()), h, w,
                          generator=g, dtype=torch.float64)

    if seed == 0:
        fmap = feature_map(5, 7)
        points = [(1.0, 2.0), (1.25, 2.5), (0.3, 5.9), (-0.5, 3.2), (4.6, 6.5), (-1.2, 2.0), (2.0, 7.3), (4.0, 6.0),
                  (3.999, 0.001)]
        return check_function(student, reference, [(fmap, y, x) for y, x in points], name="bilinear_sample")
    rng = random.Random(seed)
    cases = []
    for _ in range(3):
        h, w = rng.randint(1, 6), rng.randint(1, 6)
        fmap = feature_map(h, w)
        cases += [(fmap, rng.uniform(-1.5, h + 0.5), rng.uniform(-1.5, w + 0.5)) for _ in range(8)]
        cases += [(fmap, float(h - 1), rng.uniform(0, w - 1)), (fmap, rng.uniform(0, h - 1), float(w))]
    return check_function(student, reference, cases, name="bilinear_sample")


def bin_sample_points_reference(box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    """The sample points (Tensor[gh * gw, 2] as (x, y), row-major over (iy, ix)) of bin (ph, pw) of ``box``."""
    from seglab.ops.roi import roi_align_sampling_grid

    grid = roi_align_sampling_grid(torch.as_tensor(box, dtype=torch.float64), output_size, spatial_scale,
                                   sampling_ratio, aligned)
    return grid.points[ph, pw]


def _random_roi_cases(seed: int, count: int, rectangular: bool = False):
    """(box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) with boxes of every size, some tiny."""
    rng = random.Random(seed)
    for _ in range(count):
        x1, y1 = rng.uniform(-4, 40), rng.uniform(-4, 40)
        w, h = (rng.choice([rng.uniform(0, 2), rng.uniform(2, 60)]) for _ in range(2))
        size = (rng.randint(1, 7), rng.randint(1, 7)) if rectangular else rng.randint(1, 7)
        oh, ow = size if rectangular else (size, size)
        yield ((round(x1, 2), round(y1, 2), round(x1 + w, 2), round(y1 + h, 2)), size, rng.randrange(oh),
               rng.randrange(ow), rng.choice([-1, 1, 2, 3]), rng.choice([1.0, 0.5, 0.25, 0.125]),
               rng.random() < 0.5)


def check_bin_sample_points(student, *, rectangular: bool = False, seed: int = 0) -> CheckResult:
    """``student(box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) -> Tensor[gh * gw, 2]``. With
    ``rectangular=True`` (the homework's variant) ``output_size`` is a pair ``(out_h, out_w)``. The cases shown
    include a box under one pixel (RoIAlign's minimum 1 x 1 RoI without ``aligned``)."""
    if (broken := obey(student, ROI_RULE, name="bin_sample_points")) is not None:
        return broken
    if not rectangular:
        cases = [((10.0, 20.0, 50.0, 44.0), 2, 0, 0, 2, 1.0, False),
                 ((10.0, 20.0, 50.0, 44.0), 2, 1, 0, 2, 1.0, False), ((3.3, 4.7, 29.1, 61.9), 7, 3, 5, 2, 0.25, False),
                 ((3.3, 4.7, 29.1, 61.9), 3, 2, 1, -1, 0.5, False), ((8.0, 8.0, 40.0, 24.0), 4, 1, 3, 2, 0.125, True),
                 ((0.0, 0.0, 2.0, 2.0), 2, 1, 1, -1, 1.0, False), (TINY_BOX, 2, 1, 0, -1, 1.0, False),
                 (TINY_BOX, 1, 0, 0, 2, 1.0, False)]
    else:
        cases = [((10.0, 20.0, 50.0, 44.0), (2, 3), 1, 2, 2, 1.0, False),
                 ((3.3, 4.7, 29.1, 61.9), (7, 2), 3, 1, -1, 0.25, False),
                 ((8.0, 8.0, 40.0, 24.0), (1, 4), 0, 3, 2, 0.125, True), (TINY_BOX, (2, 3), 1, 2, -1, 1.0, False),
                 (TINY_BOX, (1, 2), 0, 1, 2, 1.0, False)]
    cases += list(_random_roi_cases(seed, 8 if seed else 0, rectangular))
    return check_function(student, bin_sample_points_reference, cases, name="bin_sample_points")


def _roi_align_bin_reference(fmap, box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    from seglab.ops.roi import roi_align

    rois = torch.tensor([[0.0, *box]], dtype=fmap.dtype)
    planes = fmap[None] if fmap.dim() == 3 else fmap[None, None]
    out = roi_align(planes, rois, output_size, spatial_scale, sampling_ratio, aligned)[0, :, ph, pw]
    return out if fmap.dim() == 3 else out[0]


def check_roi_align_bin(student, *, channels: bool = False, seed: int = 0) -> CheckResult:
    """``student(fmap [H, W], box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) -> value``: one
    RoIAlign output, the mean of the bilinear samples at bin ``(ph, pw)``'s sample points (as ``roi_align``). With
    ``channels=True`` (the homework's variant) ``fmap`` is ``[C, H, W]``, ``output_size`` a pair and the answer
    a ``[C]`` tensor. The cases shown include a box under one pixel."""
    if (broken := obey(student, ROI_RULE, name="roi_align_bin")) is not None:
        return broken
    g = torch.Generator().manual_seed(seed)
    fmap = torch.rand(*((3,) if channels else ()), 12, 14, generator=g, dtype=torch.float64)
    square = not channels
    cases = [(fmap, (10.0, 20.0, 50.0, 44.0), 2 if square else (2, 3), 1, 0, 2, 0.25, False),
             (fmap, (3.3, 4.7, 29.1, 41.9), 3 if square else (3, 2), 2, 1, -1, 0.5, False),
             (fmap, (0.0, 0.0, 2.0, 2.0), 2 if square else (2, 2), 1, 1, -1, 1.0, True),
             (fmap, TINY_BOX, 2 if square else (2, 3), 1, 0, -1, 1.0, False)]
    cases += [(fmap, *case) for case in _random_roi_cases(seed + 1000, 8, rectangular=channels)]
    return check_function(student, _roi_align_bin_reference, cases, name="roi_align_bin")
