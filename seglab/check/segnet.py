"""Self-checks for the SegNet chapter's exercises (pooling indices, unpooling, what indices cost)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seglab.check.core import CheckResult, check_function

__all__ = ["check_max_unpool", "check_max_pool_with_indices", "check_index_bytes"]


def _unpool_reference(values, indices, output_size):
    return F.max_unpool2d(values, indices, 2, 2, output_size=output_size)


def check_max_unpool(student) -> CheckResult:
    """``student(values [N, C, h, w], indices [N, C, h, w], output_size (H, W)) -> [N, C, H, W]``.

    Put each value at the flat position ``row * W + col`` its index names; zeros elsewhere; keep the dtype.
    Compared with ``F.max_unpool2d`` on even and odd sizes, batches and channels.
    """
    g = torch.Generator().manual_seed(0)
    cases = []
    for shape in [(1, 1, 4, 4), (1, 1, 5, 7), (2, 3, 8, 6), (1, 2, 9, 9), (3, 1, 3, 2)]:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        values, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        cases.append((values, indices, tuple(shape[-2:])))
    return check_function(student, _unpool_reference, cases, name="max_unpool", atol=0, rtol=0)


def check_max_pool_with_indices(student) -> CheckResult:
    """``student(x [N, C, H, W]) -> (values, indices)`` for 2x2 windows with stride 2 (odd sizes floor).

    Ties go to the first maximum in row-major order, as in PyTorch; compared with
    ``F.max_pool2d(x, 2, 2, return_indices=True)``.
    """
    g = torch.Generator().manual_seed(1)
    cases = [(torch.ones(1, 1, 4, 4),), (torch.arange(16.0).view(1, 1, 4, 4).flip(-1),)]
    for shape in [(1, 1, 5, 5), (2, 3, 6, 7), (1, 2, 3, 8)]:
        cases.append((torch.randint(0, 4, shape, generator=g).double(),))  # many ties
    reference = lambda x: F.max_pool2d(x, 2, 2, return_indices=True)  # noqa: E731
    return check_function(student, reference, cases, name="max_pool_with_indices", atol=0, rtol=0)


def _index_bytes_reference(shape):
    x = torch.zeros(shape)
    _, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    int64_bytes = indices.numel() * indices.element_size()  # measured from the tensor PyTorch returns
    return int64_bytes, (indices.numel() * 2 + 7) // 8


def check_index_bytes(student) -> CheckResult:
    """``student((N, C, H, W)) -> (int64_bytes, two_bit_bytes)``: what one 2x2/stride-2 pooling's indices cost.

    ``int64_bytes``: as PyTorch stores them; ``two_bit_bytes``: 2 bits a window, rounded up to whole bytes.
    """
    cases = [((1, 64, 360, 480),), ((1, 3, 5, 5),), ((4, 128, 64, 64),), ((1, 1, 2, 2),), ((2, 1, 3, 9),)]
    return check_function(student, _index_bytes_reference, cases, name="index_bytes", atol=0, rtol=0)
