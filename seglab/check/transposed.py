"""Self-checks for chapter 1 (transposed convolution): pass, or the first input where yours differs.

Every check takes ``seed``: 0 gives the cases the lecture uses; other seeds draw further random cases (the homework's
hidden tests use them).
"""

from __future__ import annotations

import random

import torch

from seglab.check.core import CheckResult, check_answer, check_function
from seglab.ops.transposed import (
    bilinear_kernel,
    conv2d_matrix,
    conv_transpose2d_output_size,
    overlap_count,
    trans_conv_naive,
)

__all__ = ["check_trans_conv", "check_conv_matrix_row", "check_output_size", "check_bilinear_kernel",
           "check_explorer_output_size", "check_largest_overlap", "check_even_overlap_kernels"]


def _kernels_and_inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [((2, 2), (2, 2)), ((1, 1), (3, 3)), ((3, 2), (2, 3)), ((3, 3), (1, 1)), ((4, 3), (3, 2)),
              ((2, 4), (4, 4))]
    for x_shape, k_shape in shapes:
        X = torch.randint(-3, 4, x_shape, generator=gen).double()
        K = torch.randint(-2, 3, k_shape, generator=gen).double()
        yield X, K


def check_trans_conv(student, *, stride_and_padding: bool = False, seed: int = 0) -> CheckResult:
    """Check ``student(X, K)`` (one channel, stride 1, no padding; d2l's ``trans_conv``) against the scatter-add
    definition on small random integer inputs. With ``stride_and_padding=True`` it is called as
    ``student(X, K, stride=s, padding=p)`` for a few ``s`` and ``p`` too."""
    cases = [((X, K), {}) for X, K in _kernels_and_inputs(2 * seed)]
    if stride_and_padding:
        cases += [((X, K), {"stride": s, "padding": p}) for (X, K) in _kernels_and_inputs(2 * seed + 1)
                  for s, p in ((2, 0), (3, 0), (2, 1)) if min(X.shape) * s + min(K.shape) - s > 2 * p]
    return check_function(student, trans_conv_naive, cases, name="trans_conv")


def check_conv_matrix_row(student, *, seed: int = 0) -> CheckResult:
    """Check ``student(K, input_size, row)``: row ``row`` of the matrix ``M`` of a stride-1, unpadded convolution
    (cross-correlation) with the 2-D kernel ``K`` on an ``input_size x input_size`` image, as a 1-D tensor of
    length ``input_size**2``. Output pixel ``(i, j)`` is row ``i * W_out + j``."""

    def reference(K, input_size, row):
        return conv2d_matrix(K, input_size)[row]

    cases = []
    for (_, K), n in zip(_kernels_and_inputs(2 + 3 * seed), (3, 4, 4, 3, 5, 5)):
        if n < max(K.shape):
            continue
        rows = (n - K.shape[0] + 1) * (n - K.shape[1] + 1)
        cases += [(K, n, r) for r in sorted({0, 1, rows // 2, rows - 1})]
    return check_function(student, reference, cases, name="conv_matrix_row")


def check_output_size(student, *, seed: int = 0) -> CheckResult:
    """Check ``student(input_size, kernel_size, stride, padding)`` (ints) against the transposed convolution's
    output-size formula (the one ``nn.ConvTranspose2d`` uses, with output_padding 0 and dilation 1)."""
    cases = [(n, k, s, p) for n in (1, 3, 7) for k in (1, 2, 3, 4) for s in (1, 2, 3) for p in (0, 1)
             if (n - 1) * s + k - 2 * p >= 1]
    rng = random.Random(seed)
    while seed and len(cases) < 80:
        n, k, s, p = rng.randint(1, 40), rng.randint(1, 9), rng.randint(1, 5), rng.randint(0, 4)
        if (n - 1) * s + k - 2 * p >= 1:
            cases.append((n, k, s, p))
    return check_function(student, lambda n, k, s, p: conv_transpose2d_output_size(n, k, s, p), cases,
                          name="output_size")


def check_bilinear_kernel(student, *, seed: int = 0) -> CheckResult:
    """Check ``student(in_channels, out_channels, kernel_size) -> Tensor[in, out, k, k]``: FCN's bilinear
    initialisation (the filter on the channel diagonal, zeros elsewhere), for odd and even kernel sizes."""
    rng = random.Random(seed)
    cases = [(1, 1, 4), (2, 2, 3), (3, 3, 1)] if seed == 0 else []
    cases += [(rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 8)) for _ in range(5)]
    reference = lambda c_in, c_out, k: bilinear_kernel(c_in, c_out, k, dtype=torch.float64)  # noqa: E731
    return check_function(student, reference, cases, name="bilinear_kernel", atol=1e-6)


def check_explorer_output_size(answer, *, input_size: int, kernel_size: int, stride: int, padding: int = 0,
                               output_padding: int = 0) -> CheckResult:
    """A homework question: the output side that ``transposed_conv_explorer`` shows for these settings.
    Prints pass or "not yet", never the value."""
    expected = conv_transpose2d_output_size(input_size, kernel_size, stride, padding, output_padding)
    return check_answer(answer, expected, name="explorer output size",
                        hint="read it off the explorer's message, or use the output-size formula of section 2")


def check_largest_overlap(answer, *, input_size: int, kernel_size: int, stride: int) -> CheckResult:
    """A homework question: the largest overlap count (kernel placements adding into one output pixel) for a
    transposed convolution without padding. Prints pass or "not yet", never the value."""
    expected = int(overlap_count(input_size, kernel_size, stride).max())
    return check_answer(answer, expected, name="largest overlap",
                        hint="count the kernels that cover one output pixel along a row, then along a column")


def check_even_overlap_kernels(answer, *, stride: int = 3, max_kernel: int = 9) -> CheckResult:
    """Practice question: which kernel sizes ``1..max_kernel`` give every interior output pixel of a transposed
    convolution with this stride the same overlap count? ``answer``: a list of ints. Prints pass or "not yet"."""
    def even(k):
        counts = overlap_count(8, k, stride)[k + stride:-k - stride, k + stride:-k - stride]
        return len(set(counts.flatten().tolist())) == 1

    expected = [k for k in range(1, max_kernel + 1) if even(k)]
    if isinstance(answer, (list, tuple)) and all(isinstance(k, int) for k in answer):
        answer = sorted(answer)
    return check_answer(answer, expected, name="even overlaps", hint="look at overlap_count for each kernel size")
