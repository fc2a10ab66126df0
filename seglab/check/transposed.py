"""Self-checks for chapter 1 (transposed convolution): pass, or the first input where yours differs.

Every check takes ``seed``: 0 gives the cases the lecture uses; other seeds draw further random cases (the homework's
hidden tests use them).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from seglab.check.core import CheckResult, check_answer, check_function
from seglab.check.rules import Rule, obey
from seglab.ops.transposed import (
    bilinear_kernel,
    conv2d_matrix,
    conv_transpose2d_output_size,
    overlap_count,
    trans_conv_naive,
)

__all__ = ["check_trans_conv", "check_trans_conv_channels", "check_conv_matrix_row", "check_conv_matrix_column",
           "check_output_size", "check_bilinear_kernel", "check_even_overlap_kernels", "TRANS_CONV_RULE",
           "CONV_MATRIX_RULE", "OUTPUT_SIZE_RULE", "BILINEAR_KERNEL_RULE"]

_CONVOLUTIONS = ("torch.nn.functional.conv_transpose1d", "torch.nn.functional.conv_transpose2d",
                 "torch.nn.functional.conv_transpose3d", "torch.nn.ConvTranspose1d", "torch.nn.ConvTranspose2d",
                 "torch.nn.ConvTranspose3d", "torch.nn.functional.conv1d", "torch.nn.functional.conv2d",
                 "torch.nn.functional.conv3d", "torch.nn.Conv1d", "torch.nn.Conv2d", "torch.nn.Conv3d",
                 "torch.nn.functional.fold", "torch.nn.Fold", "torch.nn.grad.*",
                 "torch.autograd.grad", "torch.autograd.functional.*")
#: Part 1 (and the lecture's exercise): the scatter-add written out, no convolution built-in.
TRANS_CONV_RULE = Rule("trans_conv", _CONVOLUTIONS, "Write the scatter-add loop (seglab.ops.trans_conv_naive and "
                       "conv_transpose2d_naive are what you re-implement).")
#: Part 2: the matrix entries placed by hand (running a convolution on a one-hot image would skip the point).
CONV_MATRIX_RULE = Rule("the convolution matrix", _CONVOLUTIONS, "Place the kernel's entries yourself "
                        "(seglab.ops.conv2d_matrix is what you re-implement).")
#: Part 4: the formula, not the shape of a tensor a built-in returns.
OUTPUT_SIZE_RULE = Rule("the output-size formula", _CONVOLUTIONS, "Use the formula "
                        "(seglab.ops.conv_transpose2d_output_size is what you re-implement).")
#: Part 3: the filter written out.
BILINEAR_KERNEL_RULE = Rule("bilinear_kernel", ("torch.nn.functional.interpolate", "torch.nn.Upsample",
                                                "torch.nn.UpsamplingBilinear2d"),
                            "Write the filter (seglab.ops.bilinear_kernel is what you re-implement).")


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
    if (broken := obey(student, TRANS_CONV_RULE, name="trans_conv")) is not None:
        return broken
    cases = [((X, K), {}) for X, K in _kernels_and_inputs(2 * seed)]
    if stride_and_padding:
        cases += [((X, K), {"stride": s, "padding": p}) for (X, K) in _kernels_and_inputs(2 * seed + 1)
                  for s, p in ((2, 0), (3, 0), (2, 1)) if min(X.shape) * s + min(K.shape) - s > 2 * p]
    return check_function(student, trans_conv_naive, cases, name="trans_conv")


def check_conv_matrix_row(student, *, seed: int = 0) -> CheckResult:
    """Check ``student(K, input_size, row)``: row ``row`` of the matrix ``M`` of a stride-1, unpadded convolution
    (cross-correlation) with the 2-D kernel ``K`` on an ``input_size x input_size`` image, as a 1-D tensor of
    length ``input_size**2``. Output pixel ``(i, j)`` is row ``i * W_out + j``."""

    if (broken := obey(student, CONV_MATRIX_RULE, name="conv_matrix_row")) is not None:
        return broken

    def reference(K, input_size, row):
        return conv2d_matrix(K, input_size)[row]

    cases = []
    for (_, K), n in zip(_kernels_and_inputs(2 + 3 * seed), (3, 4, 4, 3, 5, 5)):
        if n < max(K.shape):
            continue
        rows = (n - K.shape[0] + 1) * (n - K.shape[1] + 1)
        cases += [(K, n, r) for r in sorted({0, 1, rows // 2, rows - 1})]
    return check_function(student, reference, cases, name="conv_matrix_row")


def check_output_size(student, *, general: bool = False, seed: int = 0) -> CheckResult:
    """Check ``student(input_size, kernel_size, stride, padding)`` (ints) against the transposed convolution's
    output-size formula (the one ``nn.ConvTranspose2d`` uses, with output_padding 0 and dilation 1). With
    ``general=True`` it is called as ``student(n, k, s, p, output_padding, dilation)`` (the homework's variant)."""
    if (broken := obey(student, OUTPUT_SIZE_RULE, name="output_size")) is not None:
        return broken
    rng = random.Random(seed)
    if not general:
        cases = [(n, k, s, p) for n in (1, 3, 7) for k in (1, 2, 3, 4) for s in (1, 2, 3) for p in (0, 1)
                 if (n - 1) * s + k - 2 * p >= 1]
        while seed and len(cases) < 80:
            n, k, s, p = rng.randint(1, 40), rng.randint(1, 9), rng.randint(1, 5), rng.randint(0, 4)
            if (n - 1) * s + k - 2 * p >= 1:
                cases.append((n, k, s, p))
        return check_function(student, lambda n, k, s, p: conv_transpose2d_output_size(n, k, s, p), cases,
                              name="output_size")
    cases = [(n, k, s, p, op, d) for n in (1, 4) for k in (1, 3) for s in (1, 2, 3) for p in (0, 1) for d in (1, 2)
             for op in range(max(s, d)) if (n - 1) * s + d * (k - 1) + op + 1 - 2 * p >= 1]
    target = len(cases) + (60 if seed else 0)
    while len(cases) < target:
        n, k, s, p, d = rng.randint(1, 40), rng.randint(1, 9), rng.randint(1, 5), rng.randint(0, 4), rng.randint(1, 3)
        op = rng.randrange(max(s, d))
        if (n - 1) * s + d * (k - 1) + op + 1 - 2 * p >= 1:
            cases.append((n, k, s, p, op, d))
    return check_function(student, conv_transpose2d_output_size, cases, name="output_size")


def check_bilinear_kernel(student, *, seed: int = 0) -> CheckResult:
    """Check ``student(in_channels, out_channels, kernel_size) -> Tensor[in, out, k, k]``: FCN's bilinear
    initialisation (the filter on the channel diagonal, zeros elsewhere), for odd and even kernel sizes."""
    if (broken := obey(student, BILINEAR_KERNEL_RULE, name="bilinear_kernel")) is not None:
        return broken
    rng = random.Random(seed)
    cases = [(1, 1, 4), (2, 2, 3), (3, 3, 1)] if seed == 0 else []
    cases += [(rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 8)) for _ in range(5)]
    reference = lambda c_in, c_out, k: bilinear_kernel(c_in, c_out, k, dtype=torch.float64)  # noqa: E731
    return check_function(student, reference, cases, name="bilinear_kernel")


def check_trans_conv_channels(student, *, seed: int = 0) -> CheckResult:
    """The homework's variant: ``student(X [C_in, h, w], K [C_in, C_out, kh, kw], stride=1, padding=0) ->
    [C_out, H, W]``, a transposed convolution with several input and output channels (every input channel's
    scatter-add, summed into each output channel), against ``F.conv_transpose2d``."""
    if (broken := obey(student, TRANS_CONV_RULE, name="trans_conv")) is not None:
        return broken
    gen, rng = torch.Generator().manual_seed(100 + seed), random.Random(seed)
    shapes = [(2, 3, 2, 2, 2, 2, 1, 0), (1, 2, 3, 2, 2, 3, 2, 0), (3, 1, 2, 3, 3, 3, 2, 1), (2, 2, 4, 4, 3, 2, 3, 1)]
    if seed:
        shapes = []
        while len(shapes) < 6:
            ci, co, h, w, kh, kw = (rng.randint(1, 4) for _ in range(6))
            s, p = rng.randint(1, 3), rng.randint(0, 2)
            if min((h - 1) * s + kh, (w - 1) * s + kw) > 2 * p:
                shapes.append((ci, co, h, w, kh, kw, s, p))
    cases = []
    for ci, co, h, w, kh, kw, s, p in shapes:
        X = torch.randint(-3, 4, (ci, h, w), generator=gen).double()
        K = torch.randint(-2, 3, (ci, co, kh, kw), generator=gen).double()
        cases.append(((X, K), {"stride": s, "padding": p}))

    def reference(X, K, stride=1, padding=0):
        return F.conv_transpose2d(X[None], K, stride=stride, padding=padding)[0]

    return check_function(student, reference, cases, name="trans_conv")


def check_conv_matrix_column(student, *, seed: int = 0) -> CheckResult:
    """The homework's variant: ``student(K, input_size, col)``: column ``col`` of the matrix ``M`` of a stride-1,
    unpadded convolution with the 2-D kernel ``K`` on an ``input_size x input_size`` image (one entry per output
    pixel, row-major), as a 1-D tensor: which outputs input pixel ``col`` feeds, and with which weights; it is
    row ``col`` of ``M^T``, the transposed convolution's scatter of that pixel."""
    if (broken := obey(student, CONV_MATRIX_RULE, name="conv_matrix_column")) is not None:
        return broken

    def reference(K, input_size, col):
        return conv2d_matrix(K, input_size)[:, col]

    cases = []
    for (_, K), n in zip(_kernels_and_inputs(5 + 3 * seed), (3, 4, 4, 3, 5, 5)):
        if n < max(K.shape):
            continue
        cases += [(K, n, c) for c in sorted({0, n + 1, (n * n) // 2, n * n - 1})]
    return check_function(student, reference, cases, name="conv_matrix_column")


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
