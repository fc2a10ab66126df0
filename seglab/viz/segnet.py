"""Pictures for chapter 4 (SegNet): pure renderers, arrays in, a Matplotlib figure out."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from seglab.viz import as_float64, new_figure

__all__ = ["draw_array", "draw_unpooling", "unpooling_picture", "draw_maps", "draw_memory_bars"]


def draw_array(ax, values, *, title: str = "", cmap: str = "Blues", annotate: bool = True, fmt: str = "{:g}",
               boxes=(), vmin=None, vmax=None) -> None:
    """A small 2-D array as cells with their numbers; ``boxes``: ``[(row, col)]`` cells outlined in red."""
    arr = as_float64(values)
    ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    h, w = arr.shape
    ax.hlines(np.arange(-0.5, h + 0.5), -0.5, w - 0.5, colors="0.7", linewidth=0.4)
    ax.vlines(np.arange(-0.5, w + 0.5), -0.5, h - 0.5, colors="0.7", linewidth=0.4)
    ax.set_xticks([]), ax.set_yticks([])
    if annotate and arr.size <= 81:  # numbers only where they stay readable (and text is slow to draw)
        top = np.nanmax(np.abs(arr)) if arr.size else 0.0
        size = 7 if arr.size <= 36 else 6
        for (i, j), v in np.ndenumerate(arr):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=size,
                    color="white" if top and abs(v) > 0.6 * top else "black")
    for r, c in boxes:
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.6))
    if title:
        ax.set_title(title, fontsize=8)


def draw_unpooling(x, values, indices, sparse, dense=None, *, dense_title: str = "densified", dpi: int = 80):
    """:func:`unpooling_picture` as a Matplotlib figure."""
    from seglab.viz.raster import as_figure

    return as_figure(unpooling_picture(x, values, indices, sparse, dense, dense_title=dense_title), dpi=dpi)


def unpooling_picture(x, values, indices, sparse, dense=None, *, dense_title: str = "densified",
                      box: int = 168) -> np.ndarray:
    """Input with each window's maximum outlined, pooled values, index map, sparse unpooled map (and dense map),
    every cell with its number, as ``uint8[H, W, 3]``.

    All arguments are 2-D: ``x float[H, W]``, ``values`` and ``indices`` ``[h, w]``, ``sparse``/``dense`` ``[H, W]``.
    Each panel fits a ``box``-pixel square.
    """
    from seglab.viz.raster import RED, grid_panel, outline, stamp_numbers, tile

    x_np, idx = as_float64(x), as_float64(indices).astype(np.int64)
    w = x_np.shape[1]
    boxes = sorted({(int(i) // w, int(i) % w) for i in idx.flatten()})
    vmin, vmax = float(np.nanmin(x_np)), float(np.nanmax(x_np))

    def panel(arr, cmap, fmt="{:g}", marked=(), lo=None, hi=None):
        arr = as_float64(arr)
        img = grid_panel(arr, (box, box), cmap=cmap, vmin=lo, vmax=hi)
        cell = img.shape[0] // arr.shape[0]
        stamp_numbers(img, arr, fmt)
        for r, c in marked:
            outline(img, r * cell, (r + 1) * cell - 1, c * cell, (c + 1) * cell - 1, colour=RED, width=2)
        return img

    panels = [(panel(x_np, "Blues", marked=boxes, lo=vmin, hi=vmax), "input (red: each window's max)"),
              (panel(values, "Blues", lo=vmin, hi=vmax), "max pooled"),
              (panel(idx, "Oranges", "{:.0f}"), "indices (row*W + col)"),
              (panel(sparse, "Blues", marked=boxes, lo=vmin, hi=vmax), "unpooled (sparse)")]
    if dense is not None:
        panels.append((panel(dense, "Purples", "{:.1f}"), dense_title))
    sheet, _ = tile(panels, width=box, title_size=11)
    return sheet.array()


def draw_maps(rows: dict, *, cmap: str = "viridis", scale: float = 2.0, dpi: int = 80):
    """A grid of feature maps: ``{row title: {column title: float[H, W]}}`` (each map scaled on its own)."""
    titles = list(rows)
    cols = max(len(r) for r in rows.values())
    fig = new_figure(scale * cols, scale * len(titles) + 0.3, dpi=dpi)
    axes = fig.subplots(len(titles), cols, squeeze=False)
    for r, title in enumerate(titles):
        for c, (name, arr) in enumerate(rows[title].items()):
            ax = axes[r, c]
            ax.imshow(as_float64(arr), cmap=cmap, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{title}: {name}" if c == 0 else name, fontsize=8)
        for c in range(len(rows[title]), cols):
            axes[r, c].set_axis_off()
    fig.tight_layout()
    return fig


def draw_memory_bars(rows: list[dict], keys: list[str], *, labels=None, dpi: int = 80):
    """Horizontal bars of ``row[key]`` per model for each key (linear, from zero); ``rows`` from ``memory_table``."""
    fig = new_figure(3.2 * len(keys), 0.5 * len(rows) + 1.2, dpi=dpi)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    names = [r["model"] for r in rows]
    for ax, key, label in zip(axes, keys, labels or keys):
        vals = [r.get(key) or 0.0 for r in rows]
        ax.barh(names, vals, color="#4a7ab5")
        ax.set_xlim(0, 1.25 * max(vals) if max(vals) > 0 else 1)
        ax.set_title(label, fontsize=9)
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            if v:
                ax.text(v, i, f" {v:.3g}", va="center", fontsize=7)
    fig.tight_layout()
    return fig
