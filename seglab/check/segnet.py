"""Self-checks for the SegNet chapter's exercises and homework (pooling indices, unpooling, what indices cost).

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from seglab.check.core import CheckResult, check_answer, check_function
from seglab.check.rules import Rule, obey

__all__ = ["check_max_unpool", "check_unpool_codes", "check_max_pool_with_indices", "check_index_bytes",
           "check_pack_indices", "check_index_memory_ratio", "POOL_RULE", "UNPOOL_RULE", "INDEX_RULE"]

_POOLING = ("torch.nn.functional.max_pool2d", "torch.nn.functional.max_pool2d_with_indices", "torch.max_pool2d",
            "torch.nn.MaxPool2d", "torch.nn.functional.adaptive_max_pool2d",
            "torch.nn.functional.adaptive_max_pool2d_with_indices", "torch.nn.AdaptiveMaxPool2d",
            "torch.nn.functional.fractional_max_pool2d", "torch.nn.functional.max_unpool2d", "torch.nn.MaxUnpool2d")
#: Part 1 (and the lecture's exercise): the windows, maxima and flat indices written out.
POOL_RULE = Rule("max pooling with indices", _POOLING, "seglab.ops.max_pool2d_with_indices_naive is what you "
                 "re-implement.")
#: Part 2 (and the lecture's exercise): the scatter back written out.
UNPOOL_RULE = Rule("unpooling", _POOLING, "seglab.ops.max_unpool2d_naive is what you re-implement.")
#: Parts 3 and 4: the 2-bit code and its size written out (no tensor built just to measure it).
INDEX_RULE = Rule("the index memory", _POOLING, "seglab.ops.pack_pool_indices is what you re-implement.")


def _unpool_reference(values, indices, output_size):
    return F.max_unpool2d(values, indices, 2, 2, output_size=output_size)


def _random_shapes(seed: int, count: int):
    rng = random.Random(seed)
    return [(rng.randint(1, 2), rng.randint(1, 3), rng.randint(2, 11), rng.randint(2, 11)) for _ in range(count)]


def check_max_unpool(student, *, seed: int = 0) -> CheckResult:
    """``student(values [N, C, h, w], indices [N, C, h, w], output_size (H, W)) -> [N, C, H, W]``.

    Put each value at the flat position ``row * W + col`` its index names; zeros elsewhere; keep the dtype.
    Compared with ``F.max_unpool2d`` on even and odd sizes, batches and channels.
    """
    if (broken := obey(student, UNPOOL_RULE, name="max_unpool")) is not None:
        return broken
    g = torch.Generator().manual_seed(seed)
    cases = []
    shapes = [(1, 1, 4, 4), (1, 1, 5, 7), (2, 3, 8, 6), (1, 2, 9, 9), (3, 1, 3, 2)] if seed == 0 else _random_shapes(
        seed, 5)
    for shape in shapes:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        values, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        cases.append((values, indices, tuple(shape[-2:])))
    return check_function(student, _unpool_reference, cases, name="max_unpool")


def _codes_reference(values, codes, output_size):
    """Unpooling from SegNet's 2-bit codes: code ``2 * dy + dx`` names the position inside window ``(i, j)``."""
    h, w = codes.shape[-2:]
    rows = 2 * torch.arange(h).view(h, 1) + codes // 2
    cols = 2 * torch.arange(w).view(1, w) + codes % 2
    return F.max_unpool2d(values, rows * output_size[1] + cols, 2, 2, output_size=output_size)


def check_unpool_codes(student, *, seed: int = 0) -> CheckResult:
    """The homework's variant: ``student(values [N, C, h, w], codes int64[N, C, h, w], output_size (H, W)) ->
    [N, C, H, W]``: unpooling when only the 2-bit code of each 2x2/stride-2 window is kept (``2 * (row % 2) +
    (col % 2)`` of its maximum, as part 3 stores it): each value goes back to that position of its window, zeros
    elsewhere; odd sizes keep a last row or column of zeros."""
    if (broken := obey(student, UNPOOL_RULE, name="unpool_codes")) is not None:
        return broken
    g = torch.Generator().manual_seed(50 + seed)
    shapes = [(1, 1, 4, 4), (1, 2, 5, 7), (2, 3, 6, 6), (1, 1, 3, 2)] if seed == 0 else _random_shapes(seed + 50, 5)
    cases = []
    for shape in shapes:
        values, indices = F.max_pool2d(torch.randn(shape, generator=g, dtype=torch.float64), 2, 2,
                                       return_indices=True)
        codes = 2 * ((indices // shape[-1]) % 2) + (indices % shape[-1]) % 2
        cases.append((values, codes, tuple(shape[-2:])))
    return check_function(student, _codes_reference, cases, name="unpool_codes")


def check_max_pool_with_indices(student, *, any_window: bool = False, seed: int = 0) -> CheckResult:
    """``student(x [N, C, H, W]) -> (values, indices)`` for 2x2 windows with stride 2 (odd sizes floor).

    Ties go to the first maximum in row-major order, as in PyTorch; compared with
    ``F.max_pool2d(x, 2, 2, return_indices=True)``. With ``any_window=True`` (the homework's variant) it is
    ``student(x, window, stride)``, overlapping windows (stride < window) and gaps (stride > window) included.
    """
    if (broken := obey(student, POOL_RULE, name="max_pool_with_indices")) is not None:
        return broken
    g = torch.Generator().manual_seed(1 + seed)
    if not any_window:
        cases = [(torch.ones(1, 1, 4, 4),), (torch.arange(16.0).view(1, 1, 4, 4).flip(-1),)]
        for shape in [(1, 1, 5, 5), (2, 3, 6, 7), (1, 2, 3, 8)] + (_random_shapes(seed, 3) if seed else []):
            cases.append((torch.randint(0, 4, shape, generator=g).double(),))  # many ties
        reference = lambda x: F.max_pool2d(x, 2, 2, return_indices=True)  # noqa: E731
        return check_function(student, reference, cases, name="max_pool_with_indices")
    rng = random.Random(seed)
    settings = [(3, 2), (2, 2), (3, 1), (2, 3), (1, 1)] if seed == 0 else [
        (rng.randint(1, 4), rng.randint(1, 4)) for _ in range(5)]
    cases = [(torch.ones(1, 1, 5, 5), 3, 2), (torch.arange(25.0).view(1, 1, 5, 5).flip(-1), 3, 2)]
    for (window, stride), shape in zip(settings, [(1, 1, 7, 7), (2, 2, 6, 5), (1, 3, 5, 8), (1, 1, 9, 9),
                                                  (2, 1, 4, 4)] if seed == 0 else _random_shapes(seed, 5)):
        shape = (*shape[:2], max(shape[2], window), max(shape[3], window))
        cases.append((torch.randint(0, 4, shape, generator=g).double(), window, stride))  # many ties
    reference = lambda x, k, s: F.max_pool2d(x, k, s, return_indices=True)  # noqa: E731
    return check_function(student, reference, cases, name="max_pool_with_indices")


def _index_bytes_reference(shape):
    x = torch.zeros(shape, device="meta")
    _, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    int64_bytes = indices.numel() * indices.element_size()  # measured from the tensor PyTorch returns
    return int64_bytes, (indices.numel() * 2 + 7) // 8


def _encoder_bytes_reference(shape, levels):
    """Index bytes of ``levels`` successive 2x2/stride-2 poolings (channels unchanged), int64 and 2-bit, each
    level's 2-bit codes rounded up to whole bytes."""
    n, c, h, w = shape
    int64_bytes = two_bit_bytes = 0
    for _ in range(levels):
        h, w = h // 2, w // 2
        int64_bytes += 8 * n * c * h * w
        two_bit_bytes += (2 * n * c * h * w + 7) // 8
    return int64_bytes, two_bit_bytes


def check_index_bytes(student, *, levels: bool = False, seed: int = 0) -> CheckResult:
    """``student((N, C, H, W)) -> (int64_bytes, two_bit_bytes)``: what one 2x2/stride-2 pooling's indices cost.

    ``int64_bytes``: as PyTorch stores them; ``two_bit_bytes``: 2 bits a window, rounded up to whole bytes. With
    ``levels=True`` (the homework's variant) it is ``student(shape, levels)``: the total over an encoder of
    ``levels`` successive poolings (channels unchanged; each level rounded up on its own).
    """
    if (broken := obey(student, INDEX_RULE, name="index_bytes")) is not None:
        return broken
    shapes = [(1, 64, 360, 480), (1, 3, 5, 5), (4, 128, 64, 64), (1, 1, 2, 2), (2, 1, 3, 9)]
    shapes += _random_shapes(seed, 6) if seed else []
    if not levels:
        return check_function(student, _index_bytes_reference, [(shape,) for shape in shapes], name="index_bytes")
    rng = random.Random(seed)
    cases = [((1, 64, 360, 480), 5), ((1, 3, 5, 5), 2), ((4, 128, 64, 64), 3), ((1, 1, 2, 2), 1), ((2, 1, 7, 9), 2),
             ((1, 1, 6, 6), 2), ((1, 3, 10, 14), 2)]  # the last two: rounding each level differs from rounding once
    cases += [(shape, rng.randint(1, 3)) for shape in shapes[5:]]
    return check_function(student, _encoder_bytes_reference, cases, name="index_bytes")


def _pack_reference(indices, input_width):
    from seglab.ops import pack_pool_indices

    return pack_pool_indices(indices, input_width)


def check_pack_indices(student, *, seed: int = 0) -> CheckResult:
    """``student(indices int64[..., h, w], input_width) -> uint8[ceil(numel / 4)]``: SegNet's 2-bit storage.

    Each window's code is ``2 * (row % 2) + (col % 2)`` of its maximum; codes are taken in ``flatten()`` order and
    packed four to a byte, the first in the lowest two bits (``code0 + 4 * code1 + 16 * code2 + 64 * code3``); the
    last byte is padded with zero codes.
    """
    if (broken := obey(student, INDEX_RULE, name="pack_indices")) is not None:
        return broken
    g = torch.Generator().manual_seed(seed)
    cases = []
    shapes = [(1, 1, 4, 4), (1, 1, 2, 6), (2, 3, 6, 5), (1, 2, 7, 9)] if seed == 0 else _random_shapes(seed, 5)
    for shape in shapes:
        _, indices = F.max_pool2d(torch.rand(shape, generator=g), 2, 2, return_indices=True)
        cases.append((indices, shape[-1]))
    return check_function(student, _pack_reference, cases, name="pack_indices")


def check_index_memory_ratio(answer, *, shape=(1, 64, 360, 480)) -> CheckResult:
    """Practice question: how many times smaller the 2-bit indices of one 2x2/stride-2 pooling are than the float32
    feature map of ``shape`` itself. Prints pass or "not yet"."""
    n, c, h, w = shape
    _, two_bit = _index_bytes_reference(shape)
    return check_answer(answer, n * c * h * w * 4 / two_bit, name="feature map / 2-bit indices", rtol=1e-3,
                        hint="4 pixels of 4 bytes per 2 bits")
