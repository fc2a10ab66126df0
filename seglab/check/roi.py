"""Self-checks for the Mask R-CNN / RoIAlign chapter's exercises."""

from __future__ import annotations

import torch

from seglab.check.core import CheckResult, check_function

__all__ = ["check_bilinear_sample", "check_bin_sample_points", "bilinear_sample_reference",
           "bin_sample_points_reference"]


def bilinear_sample_reference(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """The value RoIAlign reads at (y, x) on ``fmap`` (Tensor[H, W]): torchvision's rule, via ``roi_align``
    itself (a 1x1 box centred on the point with one sample is exactly one bilinear read)."""
    from seglab.ops.roi import roi_align

    rois = torch.tensor([[0.0, x - 0.5, y - 0.5, x + 0.5, y + 0.5]], dtype=fmap.dtype)
    return roi_align(fmap[None, None], rois, 1, 1.0, 1, False)[0, 0, 0, 0]


def check_bilinear_sample(student) -> CheckResult:
    """``student(fmap [H, W], y, x) -> value``: bilinear interpolation with RoIAlign's border rules
    (0 outside ``-1 <= y <= H``, ``-1 <= x <= W``; clamp below at 0; the last row/column stands in for the next)."""
    g = torch.Generator().manual_seed(0)
    fmap = torch.rand(5, 7, generator=g, dtype=torch.float64)
    points = [(1.0, 2.0), (1.25, 2.5), (0.3, 5.9), (-0.5, 3.2), (4.6, 6.5), (-1.2, 2.0), (2.0, 7.3), (4.0, 6.0),
              (3.999, 0.001)]
    return check_function(student, bilinear_sample_reference, [(fmap, y, x) for y, x in points],
                          name="bilinear_sample", atol=1e-9)


def bin_sample_points_reference(box, output_size, ph, pw, sampling_ratio, spatial_scale=1.0, aligned=False):
    """The sample points (Tensor[gh * gw, 2] as (x, y), row-major over (iy, ix)) of bin (ph, pw) of ``box``."""
    from seglab.ops.roi import roi_align_sampling_grid

    grid = roi_align_sampling_grid(torch.as_tensor(box, dtype=torch.float64), output_size, spatial_scale,
                                   sampling_ratio, aligned)
    return grid.points[ph, pw]


def check_bin_sample_points(student) -> CheckResult:
    """``student(box, output_size, ph, pw, sampling_ratio, spatial_scale, aligned) -> Tensor[gh * gw, 2]``."""
    cases = [((10.0, 20.0, 50.0, 44.0), 2, 0, 0, 2, 1.0, False), ((10.0, 20.0, 50.0, 44.0), 2, 1, 0, 2, 1.0, False),
             ((3.3, 4.7, 29.1, 61.9), 7, 3, 5, 2, 0.25, False), ((3.3, 4.7, 29.1, 61.9), 3, 2, 1, -1, 0.5, False),
             ((8.0, 8.0, 40.0, 24.0), 4, 1, 3, 2, 0.125, True), ((0.0, 0.0, 2.0, 2.0), 2, 1, 1, -1, 1.0, False)]
    return check_function(student, bin_sample_points_reference, cases, name="bin_sample_points", atol=1e-9)
