"""Self-checks for the U-Net chapter's exercises."""

from __future__ import annotations

import math

import torch

from seglab.check.core import CheckResult, check_function

__all__ = ["check_valid_output_size", "check_center_crop", "check_border_weight"]


def check_valid_output_size(student) -> CheckResult:
    """``student(size, depth) -> int``: the output side of a valid-padding U-Net for a valid input side."""
    from seglab.models.unet import unet_output_size, unet_valid_input_sizes

    cases = [(572, 4), (188, 4)]
    for depth in (1, 2, 3, 5):
        sizes = unet_valid_input_sizes(1, 800, depth=depth)
        cases += [(sizes[0], depth), (sizes[len(sizes) // 2], depth), (sizes[-1], depth)]
    return check_function(student, lambda s, d: unet_output_size(s, d, "valid"), cases, name="valid_output_size")


def check_center_crop(student) -> CheckResult:
    """``student(skip [N, C, H, W], height, width) -> [N, C, height, width]``, the centre crop of crop-and-concat.

    When ``H - height`` is odd the extra row goes to the bottom (``top = (H - height) // 2``), as in seglab.
    """
    from seglab.models.unet import center_crop

    g = torch.Generator().manual_seed(0)
    cases = [(torch.arange(36.0).reshape(1, 1, 6, 6), 2, 2), (torch.rand(2, 3, 64, 64, generator=g), 56, 56),
             (torch.rand(1, 2, 9, 12, generator=g), 4, 7), (torch.rand(1, 1, 5, 5, generator=g), 5, 5)]
    return check_function(student, center_crop, cases, name="center_crop")


def _border_weight(d1, d2, w0=10.0, sigma=5.0):
    return w0 * math.exp(-((d1 + d2) ** 2) / (2 * sigma**2))


def check_border_weight(student) -> CheckResult:
    """``student(d1, d2, w0, sigma) -> float``: the separation-border term of U-Net's weight map."""
    cases = [(1.0, 2.0, 10.0, 5.0), (0.0, 0.0, 10.0, 5.0), (3.0, 4.0, 10.0, 5.0), (1.0, 1.5, 2.0, 1.0)]
    return check_function(student, _border_weight, cases, name="border_weight")
