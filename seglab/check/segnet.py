"""Self-checks for the SegNet chapter's exercises and homework (pooling indices, unpooling, what indices cost).

Every function check takes ``seed``: 0 gives the lecture's cases; other seeds add random ones (hidden tests).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from seglab.check.core import CheckResult, check_answer, check_function

__all__ = ["check_max_unpool", "check_max_pool_with_indices", "check_index_bytes", "check_pack_indices",
           "check_pixels_never_pooled", "check_positions_kept", "check_index_memory_ratio"]


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
    g = torch.Generator().manual_seed(seed)
    cases = []
    shapes = [(1, 1, 4, 4), (1, 1, 5, 7), (2, 3, 8, 6), (1, 2, 9, 9), (3, 1, 3, 2)] if seed == 0 else _random_shapes(
        seed, 5)
    for shape in shapes:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        values, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        cases.append((values, indices, tuple(shape[-2:])))
    return check_function(student, _unpool_reference, cases, name="max_unpool", atol=0, rtol=0)


def check_max_pool_with_indices(student, *, seed: int = 0) -> CheckResult:
    """``student(x [N, C, H, W]) -> (values, indices)`` for 2x2 windows with stride 2 (odd sizes floor).

    Ties go to the first maximum in row-major order, as in PyTorch; compared with
    ``F.max_pool2d(x, 2, 2, return_indices=True)``.
    """
    g = torch.Generator().manual_seed(1 + seed)
    cases = [(torch.ones(1, 1, 4, 4),), (torch.arange(16.0).view(1, 1, 4, 4).flip(-1),)]
    for shape in [(1, 1, 5, 5), (2, 3, 6, 7), (1, 2, 3, 8)] + (_random_shapes(seed, 3) if seed else []):
        cases.append((torch.randint(0, 4, shape, generator=g).double(),))  # many ties
    reference = lambda x: F.max_pool2d(x, 2, 2, return_indices=True)  # noqa: E731
    return check_function(student, reference, cases, name="max_pool_with_indices", atol=0, rtol=0)


def _index_bytes_reference(shape):
    x = torch.zeros(shape, device="meta")
    _, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    int64_bytes = indices.numel() * indices.element_size()  # measured from the tensor PyTorch returns
    return int64_bytes, (indices.numel() * 2 + 7) // 8


def check_index_bytes(student, *, seed: int = 0) -> CheckResult:
    """``student((N, C, H, W)) -> (int64_bytes, two_bit_bytes)``: what one 2x2/stride-2 pooling's indices cost.

    ``int64_bytes``: as PyTorch stores them; ``two_bit_bytes``: 2 bits a window, rounded up to whole bytes.
    """
    cases = [((1, 64, 360, 480),), ((1, 3, 5, 5),), ((4, 128, 64, 64),), ((1, 1, 2, 2),), ((2, 1, 3, 9),)]
    cases += [(shape,) for shape in (_random_shapes(seed, 6) if seed else [])]
    return check_function(student, _index_bytes_reference, cases, name="index_bytes", atol=0, rtol=0)


def _pack_reference(indices, input_width):
    from seglab.ops import pack_pool_indices

    return pack_pool_indices(indices, input_width)


def check_pack_indices(student, *, seed: int = 0) -> CheckResult:
    """``student(indices int64[..., h, w], input_width) -> uint8[ceil(numel / 4)]``: SegNet's 2-bit storage.

    Each window's code is ``2 * (row % 2) + (col % 2)`` of its maximum; codes are taken in ``flatten()`` order and
    packed four to a byte, the first in the lowest two bits (``code0 + 4 * code1 + 16 * code2 + 64 * code3``); the
    last byte is padded with zero codes.
    """
    g = torch.Generator().manual_seed(seed)
    cases = []
    shapes = [(1, 1, 4, 4), (1, 1, 2, 6), (2, 3, 6, 5), (1, 2, 7, 9)] if seed == 0 else _random_shapes(seed, 5)
    for shape in shapes:
        _, indices = F.max_pool2d(torch.rand(shape, generator=g), 2, 2, return_indices=True)
        cases.append((indices, shape[-1]))
    return check_function(student, _pack_reference, cases, name="pack_indices", atol=0, rtol=0)


def check_pixels_never_pooled(answer, *, size: int, window: int, stride: int) -> CheckResult:
    """A homework question: how many pixels of a ``size x size`` input no pooling window reads (what
    ``unpool_explorer`` reports when the stride exceeds the window). Prints pass or "not yet", never the value."""
    from seglab.ops import overlap_count

    pooled = (size - window) // stride + 1
    covered = overlap_count(pooled, window, stride) > 0
    return check_answer(answer, size * size - int(covered.sum()), name="pixels never pooled",
                        hint="per row, count the columns no window reaches; the picture is a product of two axes")


def check_positions_kept(answer, *, size: int, window: int, stride: int) -> CheckResult:
    """A homework question: how many distinct input positions max pooling keeps on the explorer's "constant (all
    ties)" pattern. Prints pass or "not yet", never the value."""
    from seglab.ops import max_pool2d_with_indices_naive

    _, indices = max_pool2d_with_indices_naive(torch.full((1, size, size), 3.0), window, stride)
    return check_answer(answer, int(torch.unique(indices).numel()), name="positions kept",
                        hint="with ties, which pixel of each window wins? do neighbouring windows share it?")


def check_index_memory_ratio(answer, *, shape=(1, 64, 360, 480)) -> CheckResult:
    """Practice question: how many times smaller the 2-bit indices of one 2x2/stride-2 pooling are than the float32
    feature map of ``shape`` itself. Prints pass or "not yet"."""
    n, c, h, w = shape
    _, two_bit = _index_bytes_reference(shape)
    return check_answer(answer, n * c * h * w * 4 / two_bit, name="feature map / 2-bit indices", rtol=1e-3,
                        hint="4 pixels of 4 bytes per 2 bits")
