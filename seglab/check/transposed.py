"""Self-checks for chapter 1 (transposed convolution): pass, or the first input where yours differs."""

from __future__ import annotations

import torch

from seglab.check.core import CheckResult, check_function
from seglab.ops.transposed import conv2d_matrix, conv_transpose2d_output_size, trans_conv_naive

__all__ = ["check_trans_conv", "check_conv_matrix_row", "check_output_size"]


def _kernels_and_inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [((2, 2), (2, 2)), ((1, 1), (3, 3)), ((3, 2), (2, 3)), ((3, 3), (1, 1)), ((4, 3), (3, 2)),
              ((2, 4), (4, 4))]
    for x_shape, k_shape in shapes:
        X = torch.randint(-3, 4, x_shape, generator=gen).double()
        K = torch.randint(-2, 3, k_shape, generator=gen).double()
        yield X, K


def check_trans_conv(student, *, stride_and_padding: bool = False) -> CheckResult:
    """Check ``student(X, K)`` (one channel, stride 1, no padding; d2l's ``trans_conv``) against the scatter-add
    definition on small integer inputs. With ``stride_and_padding=True`` it is called as
    ``student(X, K, stride=s, padding=p)`` for a few ``s`` and ``p`` too."""
    cases = [((X, K), {}) for X, K in _kernels_and_inputs()]
    if stride_and_padding:
        cases += [((X, K), {"stride": s, "padding": p}) for (X, K) in _kernels_and_inputs(1)
                  for s, p in ((2, 0), (3, 0), (2, 1)) if min(X.shape) * s + min(K.shape) - s > 2 * p]
    return check_function(student, trans_conv_naive, cases, name="trans_conv")


def check_conv_matrix_row(student) -> CheckResult:
    """Check ``student(K, input_size, row)``: row ``row`` of the matrix ``M`` of a stride-1, unpadded convolution
    (cross-correlation) with the 2-D kernel ``K`` on an ``input_size x input_size`` image, as a 1-D tensor of
    length ``input_size**2``. Output pixel ``(i, j)`` is row ``i * W_out + j``."""

    def reference(K, input_size, row):
        return conv2d_matrix(K, input_size)[row]

    cases = []
    for (_, K), n in zip(_kernels_and_inputs(2), (3, 4, 4, 3, 5, 5)):
        if n < max(K.shape):
            continue
        rows = (n - K.shape[0] + 1) * (n - K.shape[1] + 1)
        cases += [(K, n, r) for r in sorted({0, 1, rows // 2, rows - 1})]
    return check_function(student, reference, cases, name="conv_matrix_row")


def check_output_size(student) -> CheckResult:
    """Check ``student(input_size, kernel_size, stride, padding)`` (ints) against the transposed convolution's
    output-size formula (the one ``nn.ConvTranspose2d`` uses, with output_padding 0 and dilation 1)."""
    cases = [(n, k, s, p) for n in (1, 3, 7) for k in (1, 2, 3, 4) for s in (1, 2, 3) for p in (0, 1)
             if (n - 1) * s + k - 2 * p >= 1]
    return check_function(student, lambda n, k, s, p: conv_transpose2d_output_size(n, k, s, p), cases,
                          name="output_size")
