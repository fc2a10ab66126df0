"""Pictures for chapter 1 (transposed convolution): pure renderers, arrays in, a Matplotlib figure out."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import Rectangle

from seglab.viz import as_float64, new_figure, to_numpy_image
from seglab.viz.raster import as_figure, compose, grid_panel

__all__ = ["draw_grid", "draw_scatter_add", "draw_matrix", "draw_transposed_conv", "draw_upsampling",
           "transposed_conv_picture", "upsampling_picture", "draw_gallery", "grid_panel", "compose_panels"]


def draw_grid(ax, values, *, title: str = "", cmap: str = "Blues", annotate: bool = True, highlight=None,
              vmin=None, vmax=None, fmt: str = "{:g}") -> None:
    """Draw a small 2-D array as a grid of cells (optionally with the numbers and one highlighted box).

    ``highlight``: ``(row, col, height, width)`` of a box to outline in red.
    """
    arr = as_float64(values)
    ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    h, w = arr.shape
    if h * w <= 1600:  # cell borders as two line collections (tick-based grids are slow to draw)
        ax.hlines(np.arange(-0.5, h + 0.5), -0.5, w - 0.5, colors="0.6", linewidth=0.5)
        ax.vlines(np.arange(-0.5, w + 0.5), -0.5, h - 0.5, colors="0.6", linewidth=0.5)
    ax.set_axis_off()
    if annotate and arr.size <= 64:
        lo = float(arr.min()) if vmin is None else vmin
        hi = float(arr.max()) if vmax is None else vmax
        for (i, j), v in np.ndenumerate(arr):  # white text on the dark end of the colour map
            dark = hi > lo and (v - lo) / (hi - lo) > 0.6
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="white" if dark else "black")
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="red", linewidth=2))
    if title:
        ax.set_title(title, fontsize=8)


def draw_scatter_add(X, K, partials, Y, *, dpi: int = 80):
    """The scatter-add picture: input, kernel, one partial output per input element, and their sum ``Y``.

    ``partials``: list of ``(i, j, Tensor[H_out, W_out])`` (element ``X[i, j]`` times the kernel, placed).
    """
    cols = 2 + len(partials) + 1
    fig = new_figure(1.5 * cols, 1.9, dpi=dpi)
    axes = fig.subplots(1, cols)
    draw_grid(axes[0], X, title="input X")
    draw_grid(axes[1], K, title="kernel K", cmap="Oranges")
    vmax = max(float(as_float64(p).max()) for _, _, p in partials) if partials else None
    for ax, (i, j, part) in zip(axes[2:], partials):
        draw_grid(ax, part, title=f"X[{i},{j}]·K", cmap="Greens", vmin=0, vmax=vmax)
    draw_grid(axes[-1], Y, title="sum = Y", cmap="Purples")
    fig.tight_layout()
    return fig


def draw_matrix(ax, M, *, title: str = "", highlight_col=None, highlight_row=None, cmap: str = "RdBu_r") -> None:
    """Draw a (conv or transposed-conv) matrix; zeros white, one column / row outlined in red."""
    arr = as_float64(M.to_dense() if isinstance(M, torch.Tensor) and M.is_sparse else M)
    lim = float(np.abs(arr).max()) or 1.0
    ax.imshow(arr, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    if highlight_col is not None:
        ax.add_patch(Rectangle((highlight_col - 0.5, -0.5), 1, arr.shape[0], fill=False, edgecolor="red", lw=1.5))
    if highlight_row is not None:
        ax.add_patch(Rectangle((-0.5, highlight_row - 0.5), arr.shape[1], 1, fill=False, edgecolor="red", lw=1.5))
    if title:
        ax.set_title(title, fontsize=8)


def compose_panels(panels, *, dpi: int = 70, gap: int = 8, head: int = 14):
    """:func:`seglab.viz.raster.compose` wrapped in a Matplotlib figure of exactly its size (for notebooks)."""
    return as_figure(compose(panels, gap=gap, head=head), dpi=dpi)


def draw_transposed_conv(state: dict, *, dpi: int = 70):
    """:func:`transposed_conv_picture` as a Matplotlib figure."""
    return as_figure(transposed_conv_picture(state), dpi=dpi)


def transposed_conv_picture(state: dict) -> np.ndarray:
    """The explorer's picture (``uint8[H, W, 3]``) from its state: input (selected cell), kernel, the cell's
    footprint in the output, the overlap counts, the result, and ``M^T`` with the selected column outlined."""
    n = state["X"].shape[1]
    cell = state["cell"]
    r, c = divmod(cell, n)
    box, step = (120, 120), 140
    count = state["counts"]
    mt = as_float64(state["MT"])
    lim = float(np.abs(mt).max()) or 1.0
    mt_img = grid_panel(mt, (2 * step + 4, 130), cmap="RdBu_r", vmin=-lim, vmax=lim, lines=False,
                        highlight=(0, cell, mt.shape[0], 1), square=False)
    panels = [
        {"image": grid_panel(state["X"], box, highlight=(r, c, 1, 1)), "at": (0, 0), "numbers": state["X"],
         "title": f"input {n}x{n}, cell ({r},{c})"},
        {"image": grid_panel(state["K"], box, cmap="Oranges", vmin=0), "at": (0, step), "numbers": state["K"],
         "title": f"kernel {state['K'].shape[0]}x{state['K'].shape[1]}"},
        {"image": grid_panel(state["footprint"], box, cmap="Greens", vmin=0), "at": (0, 2 * step),
         "title": f"footprint of ({r},{c})"},
        {"image": grid_panel(count, box, cmap="Greys", vmin=0), "at": (step + 4, 0),
         "title": f"overlap count {int(count.min())}..{int(count.max())}"},
        {"image": grid_panel(state["Y"], box, cmap="Purples"), "at": (step + 4, step),
         "title": f"result {state['Y'].shape[0]}x{state['Y'].shape[1]}"},
        {"image": mt_img, "at": (0, 3 * step), "title": f"M^T {mt.shape[0]}x{mt.shape[1]}, column {cell}"},
    ]
    return compose(panels)


def draw_upsampling(low, up, original, *, title: str = "", dpi: int = 70):
    """:func:`upsampling_picture` as a Matplotlib figure."""
    return as_figure(upsampling_picture(low, up, original, title=title), dpi=dpi)


def upsampling_picture(low, up, original, *, title: str = "") -> np.ndarray:
    """Low-resolution input, its upsampled version, the original and the absolute error, side by side, as
    ``uint8[H, W, 3]``. Images are ``float[C,H,W]`` tensors or ``[H,W(,3)]`` arrays in [0, 1]."""
    up_np, orig_np = to_numpy_image(up), to_numpy_image(original)
    err = np.abs(up_np - orig_np)
    err = err.mean(axis=2) if err.ndim == 3 else err
    size = orig_np.shape[0]
    panels = []
    named = [(to_numpy_image(low), "input (low-res)"), (up_np, title or "upsampled"), (orig_np, "original"),
             (np.clip(err / 0.3, 0, 1), f"|error| mean {err.mean():.3f}")]
    for k, (img, name) in enumerate(named):
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
        scale = max(1, round(size * 2 / rgb.shape[0]))  # every panel shown at twice the original's size
        rgb = np.repeat(np.repeat((rgb * 255).astype(np.uint8), scale, axis=0), scale, axis=1)
        panels.append({"image": rgb, "at": (0, k * (2 * size + 12)), "title": name[:34]})
    return compose(panels)


def draw_gallery(images: dict, *, dpi: int = 80, size: float = 1.8):
    """A row of images with titles: ``{title: float[C,H,W] or [H,W(,3)]}``."""
    fig = new_figure(size * len(images), size + 0.3, dpi=dpi)
    axes = np.atleast_1d(fig.subplots(1, len(images)))
    for ax, (name, img) in zip(axes, images.items()):
        arr = to_numpy_image(img)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    return fig
