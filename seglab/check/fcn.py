"""Self-checks for chapter 2 (FCN): FC-to-conv weights, stream sizes, and FCN-8s fusion."""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from seglab.check.core import CheckResult, check_function
from seglab.check.rules import Rule, obey
from seglab.data.classes import IGNORE_INDEX

__all__ = ["check_fc_to_conv", "check_stream_sizes", "check_fuse_8s", "check_fuse_4s", "check_mean_iou",
           "fc_to_conv_reference", "stream_sizes_reference", "fuse_8s_reference", "FCN_RULE", "MEAN_IOU_RULE"]

#: Parts 1-3 (and the lecture's exercises): reshaping, sizes and fusion written out; seglab's FCN holds them all.
FCN_RULE = Rule("this piece of FCN", (), "seglab.models.fcn (fcn_from_classifier, FCN) is what you re-implement.")
#: Part 4: the confusion counts written out.
MEAN_IOU_RULE = Rule("mean IoU", ("torchmetrics.*", "sklearn.*"), "seglab.metrics.mean_iou is what you "
                     "re-implement; count TP, FP and FN yourself.")


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


def check_fc_to_conv(student, *, channels_last: bool = False, seed: int = 0) -> CheckResult:
    """``student(weight, in_channels, kernel_size) -> conv weight [out, C, kh, kw]``: checked on random Linear
    weights, and by comparing ``F.linear`` on flattened features with ``F.conv2d`` on the same features. With
    ``channels_last=True`` (the homework's variant) the Linear layer read features flattened as ``[kh, kw, C]``
    (channels last, as TensorFlow flattens), so the columns must be reordered."""
    if (broken := obey(student, FCN_RULE, name="fc_to_conv")) is not None:
        return broken
    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    shapes = [(3, 2, 2, 2), (5, 4, 3, 1), (1, 1, 1, 1), (6, 3, 2, 4)] if seed == 0 else [
        (rng.randint(1, 6), rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 4)) for _ in range(5)]

    def reference(weight, in_channels, kernel_size):
        if not channels_last:
            return fc_to_conv_reference(weight, in_channels, kernel_size)
        return weight.reshape(weight.shape[0], *kernel_size, in_channels).permute(0, 3, 1, 2)

    cases = [((torch.randn(o, c * kh * kw, generator=g), c, (kh, kw)), {}) for o, c, kh, kw in shapes]
    result = check_function(student, reference, cases, name="fc_to_conv")
    if not result:
        return result
    feats = torch.randn(2, 4, 3, 2, generator=g)
    weight = torch.randn(7, 4 * 3 * 2, generator=g)
    flat = feats.permute(0, 2, 3, 1).flatten(1) if channels_last else feats.flatten(1)
    conv = F.conv2d(feats, student(weight, 4, (3, 2)))[:, :, 0, 0]
    if not torch.allclose(conv, F.linear(flat, weight), atol=1e-5):
        return CheckResult("fc_to_conv", False, "the convolution does not reproduce the Linear layer's output")
    return CheckResult("fc_to_conv", True, result.message + "; the convolution reproduces the Linear layer")


def check_stream_sizes(student, *, strides: bool = False, seed: int = 0) -> CheckResult:
    """``student(height, width) -> [(h, w) of pool3, pool4, fc7 maps]`` for seglab's pad-to-32 FCN. With
    ``strides=True`` (the homework's variant) it is ``student(height, width, strides) -> [(h, w) per stride]``: the
    input padded to a multiple of the largest stride, then divided by each."""
    if (broken := obey(student, FCN_RULE, name="stream_sizes")) is not None:
        return broken
    sizes = [(32, 32), (128, 128), (97, 131), (500, 375), (33, 64), (224, 224)]
    rng = random.Random(seed)
    sizes += [(rng.randint(32, 700), rng.randint(32, 700)) for _ in range(10 if seed else 0)]
    if not strides:
        return check_function(student, stream_sizes_reference, sizes, name="stream_sizes")
    choices = [(4, 8, 16, 32), (8, 16), (2, 4, 8, 16, 32, 64), (16,), (4, 8, 16)]
    cases = [(h, w, list(choices[i % len(choices)] if not seed else rng.choice(choices)))
             for i, (h, w) in enumerate(sizes)]

    def reference(height, width, strides):
        top = max(strides)
        ph, pw = top * math.ceil(height / top), top * math.ceil(width / top)
        return [(ph // s, pw // s) for s in strides]

    return check_function(student, reference, cases, name="stream_sizes")


def _stream_shapes(seed: int, fixed: list, most: tuple) -> list:
    """The ``(N, K, h, w)`` of the coarsest stream per case: ``fixed`` for the visible seed 0, else three drawn with
    each entry between 1 and ``most`` (the hidden tests' seeds)."""
    if seed == 0:
        return fixed
    rng = random.Random(seed)
    return [tuple(rng.randint(1, m) for m in most) for _ in range(3)]


def check_fuse_8s(student, *, seed: int = 0) -> CheckResult:
    """``student(score32, score_pool4, score_pool3) -> fused logits`` with bilinear (``align_corners=False``)
    upsampling, as :func:`fuse_8s_reference`."""
    if (broken := obey(student, FCN_RULE, name="fuse_8s")) is not None:
        return broken
    g = torch.Generator().manual_seed(1 + seed)
    cases = []
    for n, k, h, w in _stream_shapes(seed, [(1, 2, 1, 1), (2, 3, 2, 3), (1, 8, 4, 4)], (2, 5, 4, 4)):
        cases.append((torch.randn(n, k, h, w, generator=g), torch.randn(n, k, 2 * h, 2 * w, generator=g),
                      torch.randn(n, k, 4 * h, 4 * w, generator=g)))
    return check_function(student, fuse_8s_reference, cases, name="fuse_8s")


def fuse_4s_reference(score32, score_pool4, score_pool3, score_pool2):
    """FCN-4s, one stream further than FCN-8s: ``U4(U2(U2(U2(score32) + pool4) + pool3) + pool2)``."""
    up = lambda x, s: F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)  # noqa: E731
    x = up(up(up(score32, 2) + score_pool4, 2) + score_pool3, 2) + score_pool2
    return up(x, 4)


def check_fuse_4s(student, *, seed: int = 0) -> CheckResult:
    """The homework's variant: ``student(score32, score_pool4, score_pool3, score_pool2) -> logits``, shapes
    ``[N,K,h,w]``, ``[N,K,2h,2w]``, ``[N,K,4h,4w]``, ``[N,K,8h,8w]`` -> ``[N,K,32h,32w]``, as
    :func:`fuse_4s_reference` (bilinear, ``align_corners=False``)."""
    if (broken := obey(student, FCN_RULE, name="fuse_4s")) is not None:
        return broken
    g = torch.Generator().manual_seed(7 + seed)
    cases = [tuple(torch.randn(n, k, f * h, f * w, generator=g, dtype=torch.float64) for f in (1, 2, 4, 8))
             for n, k, h, w in _stream_shapes(seed, [(1, 2, 1, 1), (2, 3, 2, 1), (1, 4, 2, 3)], (2, 4, 3, 3))]
    return check_function(student, fuse_4s_reference, cases, name="fuse_4s")


def _mean_iou_reference(preds, targets, num_classes):
    from seglab.metrics import mean_iou

    return float(mean_iou(preds, targets, num_classes))




def check_mean_iou(student, *, seed: int = 0) -> CheckResult:
    """``student(preds int64[N, H, W], targets int64[N, H, W], num_classes) -> float``: the mean over the classes
    present in ``preds`` or ``targets`` of ``TP / (TP + FP + FN)``; target pixels equal to ``IGNORE_INDEX`` (255) are
    ignored. Every seed has classes that appear nowhere (an average over all ``num_classes`` fails) and a class
    that appears only under ignored pixels."""
    if (broken := obey(student, MEAN_IOU_RULE, name="mean_iou")) is not None:
        return broken
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, h, w, k, present in [(1, 4, 5, 3, 3), (2, 6, 6, 7, 4), (1, 3, 8, 8, 8), (3, 5, 4, 6, 2)]:
        targets = torch.randint(0, present, (n, h, w), generator=g)  # classes >= present never appear
        noise = torch.randint(0, present, (n, h, w), generator=g)
        preds = torch.where(torch.rand(n, h, w, generator=g) < 0.6, targets, noise)
        targets[torch.rand(n, h, w, generator=g) < 0.15] = IGNORE_INDEX
        cases.append((preds, targets, k))
    only_ignored = torch.tensor([[[0, 1, 1, 2], [0, 0, 1, 2]]])  # class 2 is predicted only where the target is 255
    cases.append((only_ignored, torch.tensor([[[0, 1, 0, 255], [0, 0, 1, 255]]]), 4))
    return check_function(student, _mean_iou_reference, cases, name="mean_iou")
