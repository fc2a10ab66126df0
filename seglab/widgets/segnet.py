"""Chapter 4 explorer: max pooling with indices, unpooling, and a convolution that densifies the sparse map."""

from __future__ import annotations

import ipywidgets as W
import torch
import torch.nn.functional as F

from seglab.ops import max_pool2d_with_indices_naive, max_unpool2d_naive, overlap_count
from seglab.viz.segnet import unpooling_picture
from seglab.widgets.base import Explorer, int_slider

__all__ = ["unpool_explorer", "UnpoolExplorer", "PATTERNS", "make_pattern", "SMOOTHING_KERNEL"]

PATTERNS = ("random", "gradient", "checkerboard", "diagonal edge", "constant (all ties)", "blobs")

#: The fixed 3x3 filter that stands in for SegNet's trained decoder convolutions ([1 2 1] x [1 2 1] / 16).
SMOOTHING_KERNEL = torch.outer(torch.tensor([1.0, 2.0, 1.0]), torch.tensor([1.0, 2.0, 1.0])) / 16


def make_pattern(name: str, size: int, seed: int = 0) -> torch.Tensor:
    """A small ``float64[size, size]`` input with integer-ish values you can read."""
    if name not in PATTERNS:
        raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}, got {name!r}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    r = torch.arange(size, dtype=torch.float64).view(-1, 1)
    c = torch.arange(size, dtype=torch.float64).view(1, -1)
    if name == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 10, (size, size), generator=g).double()
    if name == "gradient":
        return r + c
    if name == "checkerboard":
        return ((r + c) % 2) * 5 + 1
    if name == "diagonal edge":
        return (c > r).double() * 8 + 1
    if name == "constant (all ties)":
        return torch.full((size, size), 3.0, dtype=torch.float64)
    centre = (size - 1) / 2
    return (9 * torch.exp(-((r - centre / 2) ** 2 + (c - centre) ** 2) / (size / 2))
            + 6 * torch.exp(-((r - 1.4 * centre) ** 2 + (c - centre / 3) ** 2) / (size / 3))).round()


class UnpoolExplorer(Explorer):
    """Size, pattern, window and stride of a max pooling; its indices, the unpooled map and a smoothed version."""

    def __init__(self, size: int = 8, pattern: str = "random", window: int = 2, stride: int = 2, seed: int = 0):
        controls = {
            "size": int_slider("input size", size, 2, 12, "210px"),
            "pattern": W.Dropdown(options=PATTERNS, value=pattern, description="pattern",
                                  layout=W.Layout(width="240px")),
            "window": int_slider("window", window, 1, 4, "210px"),
            "stride": int_slider("stride", stride, 1, 4, "210px"),
            "seed": int_slider("seed", seed, 0, 20, "210px"),
            "densify": W.Checkbox(value=True, description="densify (fixed 3x3 smoothing)"),
        }
        super().__init__(controls, title="Max pooling remembers where; unpooling puts values back there",
                         layout_rows=[["size", "pattern", "window"], ["stride", "seed", "densify"]])

    def render(self, values):
        size, k, s = values["size"], values["window"], values["stride"]
        if k > size:
            raise ValueError(f"window {k} is larger than the {size}x{size} input: choose window <= size")
        x = make_pattern(values["pattern"], size, values["seed"])
        pooled, indices = max_pool2d_with_indices_naive(x[None], k, s)
        sparse = max_unpool2d_naive(pooled, indices, (size, size), kernel_size=k, stride=s)
        dense = None
        if values["densify"]:
            # stand-in for SegNet's trainable decoder filters: a fixed smoothing spreads each kept value
            dense = F.conv2d(sparse[None], SMOOTHING_KERNEL.to(sparse)[None, None], padding=1)[0, 0]
        windows = overlap_count(tuple(pooled.shape[-2:]), k, s)  # how many pooling windows read each pixel
        covered = torch.zeros(size, size, dtype=torch.bool)
        covered[: windows.shape[0], : windows.shape[1]] = windows > 0
        distinct = int(torch.unique(indices).numel())
        notes = [f"{size}x{size} -> pooled {pooled.shape[-2]}x{pooled.shape[-1]}; "
                 f"{distinct} distinct positions kept of {size * size} "
                 f"({int((sparse[0] != 0).sum())} non-zero after unpooling)"]
        if s > k:
            notes.append(f"stride {s} > window {k}: {int((~covered).sum())} pixels are never looked at")
        if distinct < indices.numel():
            notes.append("overlapping windows chose the same pixel: indices repeat")
        if values["densify"]:
            notes.append("densified map: a fixed 3x3 smoothing stands in for SegNet's trained convolutions")
        code = ("import torch\nimport torch.nn.functional as F\nfrom seglab.widgets.segnet import make_pattern\n"
                f"x = make_pattern({values['pattern']!r}, {size}, seed={values['seed']})[None, None]"
                f"  # float64[1, 1, {size}, {size}]: the input drawn\n"
                f"pooled, indices = F.max_pool2d(x, kernel_size={k}, stride={s}, return_indices=True)"
                f"  # shape {tuple(pooled[None].shape)}\n"
                f"sparse = F.max_unpool2d(pooled, indices, kernel_size={k}, stride={s}, output_size=({size}, {size}))"
                f"  # shape (1, 1, {size}, {size})")
        if values["densify"]:
            code += ("\nsmooth = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]], dtype=torch.float64) / 16\n"
                     f"dense = F.conv2d(sparse, smooth[None, None], padding=1)  # shape (1, 1, {size}, {size})")
        state = {"x": x, "pooled": pooled[0], "indices": indices[0], "sparse": sparse[0], "dense": dense,
                 "uncovered": int((~covered).sum()), "distinct": distinct, "message": "<br>".join(notes),
                 "pytorch": code}
        picture = unpooling_picture(x, pooled[0], indices[0], sparse[0], dense,
                                    dense_title="densified (fixed 3x3 smoothing)")
        return picture, state


def unpool_explorer(**initial) -> UnpoolExplorer:
    """Controls: input size, pattern, window, stride, seed, densify. ``state`` holds every array shown."""
    return UnpoolExplorer(**initial)
