"""Self-checks for chapter 2 (FCN): FC-to-conv weights, stream sizes, and FCN-8s fusion."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seglab.check.core import CheckResult, check_function

__all__ = ["check_fc_to_conv", "check_stream_sizes", "check_fuse_8s",
           "fc_to_conv_reference", "stream_sizes_reference", "fuse_8s_reference"]


def fc_to_conv_reference(weight: torch.Tensor, in_channels: int, kernel_size: tuple[int, int]) -> torch.Tensor:
    """A Linear weight ``[out, C*kh*kw]`` (flattened from ``[C, kh, kw]`` features) as a conv weight
    ``[out, C, kh, kw]``."""
    return weight.reshape(weight.shape[0], in_channels, *kernel_size)


def stream_sizes_reference(height: int, width: int) -> list[tuple[int, int]]:
    """Sizes of the pool3, pool4 and fc7 (score) maps of seglab's FCN for an ``height x width`` input:
    the input is padded up to a multiple of 32, then each map is the padded size over 8, 16 and 32."""
    ph, pw = 32 * math.ceil(height / 32), 32 * math.ceil(width / 32)
    return [(ph // s, pw // s) for s in (8, 16, 32)]


def fuse_8s_reference(score32: torch.Tensor, score_pool4: torch.Tensor, score_pool3: torch.Tensor) -> torch.Tensor:
    """FCN-8s fusion with fixed bilinear upsampling: ``up8(up2(up2(score32) + score_pool4) + score_pool3)``.

    Shapes ``[N,K,h,w]``, ``[N,K,2h,2w]``, ``[N,K,4h,4w]`` -> ``[N,K,32h,32w]``."""
    up = lambda x, s: F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)  # noqa: E731
    x = up(score32, 2) + score_pool4
    x = up(x, 2) + score_pool3
    return up(x, 8)


def check_fc_to_conv(student) -> CheckResult:
    """``student(weight, in_channels, kernel_size) -> conv weight``: checked on random Linear weights, and by
    comparing ``F.linear`` on flattened features with ``F.conv2d`` on the same features."""
    g = torch.Generator().manual_seed(0)
    cases = [((torch.randn(o, c * kh * kw, generator=g), c, (kh, kw)), {})
             for o, c, kh, kw in [(3, 2, 2, 2), (5, 4, 3, 1), (1, 1, 1, 1), (6, 3, 2, 4)]]
    result = check_function(student, fc_to_conv_reference, cases, name="fc_to_conv")
    if not result:
        return result
    feats = torch.randn(2, 4, 3, 2, generator=g)
    weight = torch.randn(7, 4 * 3 * 2, generator=g)
    conv = F.conv2d(feats, student(weight, 4, (3, 2)))[:, :, 0, 0]
    if not torch.allclose(conv, F.linear(feats.flatten(1), weight), atol=1e-5):
        return CheckResult("fc_to_conv", False, "the convolution does not reproduce the Linear layer's output")
    return CheckResult("fc_to_conv", True, result.message + "; the convolution reproduces the Linear layer")


def check_stream_sizes(student) -> CheckResult:
    """``student(height, width) -> [(h, w) of pool3, pool4, fc7 maps]`` for seglab's pad-to-32 FCN."""
    cases = [(h, w) for h, w in [(32, 32), (128, 128), (97, 131), (500, 375), (33, 64), (224, 224)]]
    return check_function(student, stream_sizes_reference, cases, name="stream_sizes")


def check_fuse_8s(student) -> CheckResult:
    """``student(score32, score_pool4, score_pool3) -> fused logits`` with bilinear (``align_corners=False``)
    upsampling, as :func:`fuse_8s_reference`."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for n, k, h, w in [(1, 2, 1, 1), (2, 3, 2, 3), (1, 8, 4, 4)]:
        cases.append((torch.randn(n, k, h, w, generator=g), torch.randn(n, k, 2 * h, 2 * w, generator=g),
                      torch.randn(n, k, 4 * h, 4 * w, generator=g)))
    return check_function(student, fuse_8s_reference, cases, name="fuse_8s", atol=1e-5)
