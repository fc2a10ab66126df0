"""Chapter 1: why the convolution matrix is a teaching device, not an implementation.

Rows: the memory of the dense matrix ``M`` against the direct op (its weights plus its output) for growing sizes, and
the time of ``M.T @ y`` against ``F.conv_transpose2d``. The explorer's update time is in ``bench_widgets.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from harness import Row, device_name, median_seconds

from seglab.ops import conv2d_matrix, conv_transpose2d_matmul


def _memory_rows(device, quick: bool):
    channels, k = 16, 3
    for size in (8, 16) if quick else (8, 16, 32, 64, 128):
        out_elems = channels * size * size  # stride-2 transposed conv from size/2 to size (conv2d: size -> size/2)
        in_elems = channels * (size // 2) ** 2
        dense = 4 * out_elems * in_elems  # float32 bytes of M
        direct = 4 * (channels * channels * k * k + out_elems)
        if dense <= 64 * 2**20:  # build it to confirm the count where that is cheap
            w = torch.randn(channels, channels, k, k, device=device)
            M = conv2d_matrix(w, size, stride=2, padding=1)
            assert M.numel() * M.element_size() == dense, (M.shape, dense)
            del M
        yield Row(f"dense M memory, {channels}ch {size // 2}->{size}", dense / 2**20, "MB", device_name(device),
                  ratio=dense / direct, note=f"ratio = M / (weights + output) = {direct / 2**10:.1f} KB")


def _time_rows(device, quick: bool):
    channels, size = (4, 8) if quick else (8, 16)
    y = torch.randn(1, channels, size, size, device=device)
    w = torch.randn(channels, channels, 4, 4, device=device)
    kw = dict(stride=2, padding=1)
    torch.testing.assert_close(conv_transpose2d_matmul(y, w, **kw), F.conv_transpose2d(y, w, **kw), atol=1e-4,
                               rtol=1e-4)
    repeats = 3 if quick else 15
    native = median_seconds(lambda: F.conv_transpose2d(y, w, **kw), repeats=repeats, device=device)
    M = conv2d_matrix(w, 2 * size, **kw)
    flat = y.flatten()
    mat = median_seconds(lambda: M.T @ flat, repeats=repeats, device=device)
    build = median_seconds(lambda: conv_transpose2d_matmul(y, w, **kw), repeats=repeats, device=device)
    dev = device_name(device)
    yield Row(f"F.conv_transpose2d {channels}ch {size}->{2 * size}", 1000 * native, "ms", dev)
    yield Row(f"M.T @ y (M prebuilt) {channels}ch {size}->{2 * size}", 1000 * mat, "ms", dev, ratio=mat / native,
              note="ratio to F.conv_transpose2d")
    yield Row(f"conv_transpose2d_matmul {channels}ch {size}->{2 * size}", 1000 * build, "ms", dev,
              ratio=build / native, note="builds M each call")


def rows(device, quick: bool = False):
    yield from _memory_rows(device, quick)
    yield from _time_rows(device, quick)
