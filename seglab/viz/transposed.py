"""Pictures for chapter 1 (transposed convolution): pure renderers, arrays in, a Matplotlib figure out."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from seglab.viz import as_float64, new_figure, to_numpy_image

__all__ = ["draw_grid", "draw_scatter_add", "draw_matrix", "draw_transposed_conv", "draw_upsampling",
           "draw_gallery", "grid_panel", "compose_panels"]


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


def grid_panel(values, box: tuple[int, int], *, cmap: str = "Blues", vmin=None, vmax=None, lines: bool = True,
               highlight=None, square: bool = True, cell: int = 0) -> np.ndarray:
    """Colour a 2-D array and resize it (nearest) to fit ``box = (height, width)`` pixels: ``uint8[h, w, 3]``.

    Cell borders are drawn when cells are at least 5 pixels wide; ``highlight = (row, col, height, width)`` in cells
    is outlined in red. ``square=False`` scales rows and columns separately (for tall matrices). Cheap enough for
    a widget that redraws on every slider move (no Matplotlib axes).
    """
    arr = as_float64(values)
    if not square:  # stretch each axis on its own; sample rows/columns (nearest) when there are more than pixels
        rows, cols = arr.shape
        r_idx = np.arange(min(rows, box[0])) * rows // min(rows, box[0])
        c_idx = np.arange(min(cols, box[1])) * cols // min(cols, box[1])
        ch, cw = max(1, box[0] // rows), max(1, box[1] // cols)
        img = grid_panel(arr[r_idx][:, c_idx], (10**6, 10**6), cmap=cmap, vmin=vmin, vmax=vmax, lines=False,
                         cell=1)
        img = np.repeat(np.repeat(img, ch, axis=0), cw, axis=1)
        if highlight is not None:  # in original cells -> pixels
            r, c, h, w = highlight
            y0, y1 = np.searchsorted(r_idx, r) * ch, np.searchsorted(r_idx, r + h) * ch - 1
            x0, x1 = np.searchsorted(c_idx, c) * cw, max(np.searchsorted(c_idx, c + w) * cw - 1, 0)
            _outline(img, y0, y1, x0, max(x1, x0 + 1))
        return img
    rows, cols = arr.shape
    cell = cell or max(1, min(box[0] // rows, box[1] // cols))
    lo = float(arr.min()) if vmin is None else vmin
    hi = float(arr.max()) if vmax is None else vmax
    norm = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    rgb = (colormaps[cmap](np.clip(norm, 0, 1))[..., :3] * 255).astype(np.uint8)
    img = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    if lines and cell >= 5:
        img[::cell, :] = 150
        img[:, ::cell] = 150
        img[-1, :] = 150
        img[:, -1] = 150
    if highlight is not None:
        r, c, h, w = highlight
        _outline(img, r * cell, min((r + h) * cell, img.shape[0]) - 1, c * cell, min((c + w) * cell, img.shape[1]) - 1)
    return img


def _outline(img: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> None:
    """A 2-pixel red rectangle with corners (y0, x0) and (y1, x1), inclusive, drawn in place."""
    for t in range(2):
        img[y0 : y1 + 1, [x0 + t, x1 - t]] = (220, 0, 0)
        img[[y0 + t, y1 - t], x0 : x1 + 1] = (220, 0, 0)


_GLYPHS = {  # a 3x5 bitmap font for integers: drawing pixels is much cheaper than Matplotlib text
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "-": "000000111000000",
}


def _stamp_numbers(region: np.ndarray, numbers: np.ndarray) -> None:
    """Write each (rounded) integer of ``numbers`` in the middle of its cell of ``region`` (in place)."""
    rows, cols = numbers.shape
    ch, cw = region.shape[0] // rows, region.shape[1] // cols
    zoom = 2 if min(ch, cw) >= 16 else 1
    for (i, j), v in np.ndenumerate(numbers):
        text = str(int(round(float(v))))
        gw = (4 * len(text) - 1) * zoom
        if gw > cw - 2 or 5 * zoom > ch - 2:
            continue
        y0, x0 = i * ch + (ch - 5 * zoom) // 2, j * cw + (cw - gw) // 2
        dark = region[y0 : y0 + 5 * zoom, x0 : x0 + gw].mean() < 110
        for k, char in enumerate(text):
            glyph = np.array([int(b) for b in _GLYPHS[char]], dtype=bool).reshape(5, 3)
            glyph = np.repeat(np.repeat(glyph, zoom, axis=0), zoom, axis=1)
            sub = region[y0 : y0 + 5 * zoom, x0 + 4 * k * zoom : x0 + (4 * k + 3) * zoom]
            sub[glyph] = 255 if dark else 0


def compose_panels(panels, *, dpi: int = 70, gap: int = 8, head: int = 14):
    """Lay out pre-rendered panels on one canvas and wrap it in a figure without axes (fast to redraw).

    ``panels``: list of dicts ``{"image": uint8[h,w,3], "at": (top, left), "title": str, "numbers": array or None}``
    (``numbers``: integers stamped into the cells with a tiny bitmap font); ``at`` is in canvas pixels and each title
    takes ``head`` pixels above its panel. Titles are drawn with Pillow; the figure holds one pixel-exact image.
    """
    from PIL import Image, ImageDraw

    height = max(p["at"][0] + head + p["image"].shape[0] for p in panels) + gap
    width = max(p["at"][1] + max(p["image"].shape[1], 6 * len(p.get("title", ""))) for p in panels) + gap
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for p in panels:
        top, left = p["at"][0] + head, p["at"][1]
        h, w = p["image"].shape[:2]
        canvas[top : top + h, left : left + w] = p["image"]
        if p.get("numbers") is not None:
            _stamp_numbers(canvas[top : top + h, left : left + w], as_float64(p["numbers"]))
    picture = Image.fromarray(canvas)
    pen = ImageDraw.Draw(picture)
    for p in panels:
        pen.text((p["at"][1], p["at"][0] + 1), p.get("title", ""), fill=(0, 0, 0))
    fig = new_figure(width / dpi, height / dpi, dpi=dpi)
    fig.add_artist(_PixelCanvas(np.asarray(picture.convert("RGBA"))))
    return fig


class _PixelCanvas(Artist):
    """A finished ``uint8[H, W, 4]`` picture handed to the renderer as is, at the figure's lower-left corner.

    Same pixels as ``fig.figimage`` but without its resampling pass (a third of a widget update's time)."""

    def __init__(self, rgba: np.ndarray):
        super().__init__()
        self._flipped = np.ascontiguousarray(rgba[::-1])  # the renderer's rows run bottom to top

    def get_window_extent(self, renderer=None):
        h, w = self._flipped.shape[:2]
        return Bbox([[0, 0], [w, h]])

    def draw(self, renderer):
        gc = renderer.new_gc()
        renderer.draw_image(gc, 0, 0, self._flipped)
        gc.restore()


def draw_transposed_conv(state: dict, *, dpi: int = 70):
    """The explorer's picture from its state: input (selected cell), kernel, the cell's footprint in the output,
    the overlap counts, the result, and ``M^T`` with the selected column outlined."""
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
    return compose_panels(panels, dpi=dpi)


def draw_upsampling(low, up, original, *, title: str = "", dpi: int = 70):
    """Low-resolution input, its upsampled version, the original and the absolute error, side by side.

    Images are ``float[C,H,W]`` tensors or ``[H,W(,3)]`` arrays in [0, 1]."""
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
    return compose_panels(panels, dpi=dpi)


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
