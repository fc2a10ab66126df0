"""Self-checks for chapter 2 (FCN): FC-to-conv weights, stream sizes, and FCN-8s fusion."""

from __future__ import annotations

import functools
import math
import random

import torch
import torch.nn.functional as F
from torch import nn

from seglab.check.core import CheckResult, check_answer, check_function
from seglab.data.classes import IGNORE_INDEX

__all__ = ["check_fc_to_conv", "check_stream_sizes", "check_fuse_8s", "check_mean_iou", "check_heatmap_size",
           "check_fcn8s_extra_parameters", "fc_to_conv_reference", "stream_sizes_reference", "fuse_8s_reference"]


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


def check_fc_to_conv(student, *, seed: int = 0) -> CheckResult:
    """``student(weight, in_channels, kernel_size) -> conv weight``: checked on random Linear weights, and by
    comparing ``F.linear`` on flattened features with ``F.conv2d`` on the same features."""
    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    shapes = [(3, 2, 2, 2), (5, 4, 3, 1), (1, 1, 1, 1), (6, 3, 2, 4)] if seed == 0 else [
        (rng.randint(1, 6), rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 4)) for _ in range(5)]
    cases = [((torch.randn(o, c * kh * kw, generator=g), c, (kh, kw)), {}) for o, c, kh, kw in shapes]
    result = check_function(student, fc_to_conv_reference, cases, name="fc_to_conv")
    if not result:
        return result
    feats = torch.randn(2, 4, 3, 2, generator=g)
    weight = torch.randn(7, 4 * 3 * 2, generator=g)
    conv = F.conv2d(feats, student(weight, 4, (3, 2)))[:, :, 0, 0]
    if not torch.allclose(conv, F.linear(feats.flatten(1), weight), atol=1e-5):
        return CheckResult("fc_to_conv", False, "the convolution does not reproduce the Linear layer's output")
    return CheckResult("fc_to_conv", True, result.message + "; the convolution reproduces the Linear layer")


def check_stream_sizes(student, *, seed: int = 0) -> CheckResult:
    """``student(height, width) -> [(h, w) of pool3, pool4, fc7 maps]`` for seglab's pad-to-32 FCN."""
    cases = [(h, w) for h, w in [(32, 32), (128, 128), (97, 131), (500, 375), (33, 64), (224, 224)]]
    rng = random.Random(seed)
    cases += [(rng.randint(32, 700), rng.randint(32, 700)) for _ in range(10 if seed else 0)]
    return check_function(student, stream_sizes_reference, cases, name="stream_sizes")


def check_fuse_8s(student, *, seed: int = 0) -> CheckResult:
    """``student(score32, score_pool4, score_pool3) -> fused logits`` with bilinear (``align_corners=False``)
    upsampling, as :func:`fuse_8s_reference`."""
    g = torch.Generator().manual_seed(1 + seed)
    rng = random.Random(seed)
    shapes = [(1, 2, 1, 1), (2, 3, 2, 3), (1, 8, 4, 4)] if seed == 0 else [
        (rng.randint(1, 2), rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 4)) for _ in range(3)]
    cases = []
    for n, k, h, w in shapes:
        cases.append((torch.randn(n, k, h, w, generator=g), torch.randn(n, k, 2 * h, 2 * w, generator=g),
                      torch.randn(n, k, 4 * h, 4 * w, generator=g)))
    return check_function(student, fuse_8s_reference, cases, name="fuse_8s", atol=1e-5)


def _mean_iou_reference(preds, targets, num_classes):
    from seglab.metrics import mean_iou

    return float(mean_iou(preds, targets, num_classes))


def check_mean_iou(student, *, seed: int = 0) -> CheckResult:
    """``student(preds int64[N, H, W], targets int64[N, H, W], num_classes) -> float``: the mean over the classes
    present in ``preds`` or ``targets`` of ``TP / (TP + FP + FN)``; target pixels equal to ``IGNORE_INDEX`` (255) are
    ignored."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, h, w, k in [(1, 4, 5, 3), (2, 6, 6, 5), (1, 3, 8, 8), (3, 5, 4, 2)]:
        targets = torch.randint(0, k, (n, h, w), generator=g)
        noise = torch.randint(0, k, (n, h, w), generator=g)
        preds = torch.where(torch.rand(n, h, w, generator=g) < 0.6, targets, noise)
        targets[torch.rand(n, h, w, generator=g) < 0.15] = IGNORE_INDEX
        cases.append((preds, targets, k))
    return check_function(student, _mean_iou_reference, cases, name="mean_iou", atol=1e-6)


def _section2_classifier() -> nn.Sequential:
    """The small classifier of chapter 2, section 2 (built for 18x18 crops)."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 3 * 3, 32), nn.ReLU(), nn.Linear(32, 5))


def check_heatmap_size(answer, *, height: int, width: int) -> CheckResult:
    """A homework question: how many cells the heatmap of section 2's converted classifier has on a
    ``height x width`` image. Prints pass or "not yet", never the value."""
    from seglab.models.fcn import fcn_from_classifier

    net = fcn_from_classifier(_section2_classifier(), input_size=(18, 18))
    with torch.no_grad():
        cells = net(torch.zeros(1, 3, height, width)).shape[-2:].numel()
    return check_answer(answer, cells, name="heatmap cells", hint="run fcn_from_classifier's network on an image "
                        "of that size, or count the 18x18 windows its stride allows")


@functools.lru_cache(maxsize=8)
def _extra_trainable(arch: tuple) -> int:
    from seglab.models import create_model

    def trainable(name):
        return sum(p.numel() for p in create_model(name, **dict(arch)).parameters() if p.requires_grad)

    return trainable("fcn8s") - trainable("fcn32s")


def check_fcn8s_extra_parameters(answer, **arch) -> CheckResult:
    """A homework question: how many more *trainable* parameters FCN-8s has than FCN-32s with the chapter's settings
    (``arch``: num_classes, width, fc6_kernel, batch_norm). Prints pass or "not yet", never the value."""
    expected = _extra_trainable(tuple(sorted(arch.items())))
    return check_answer(answer, expected, name="extra trainable parameters",
                        hint="build both with create_model and count the parameters with requires_grad; the fixed "
                        "final upsampling is not trained")
