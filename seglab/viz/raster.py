"""Pictures drawn straight into pixels: the explorers' fast path.

An explorer redraws on every slider move, and building a Matplotlib figure (axes, ticks, text layout, a second draw
for ``bbox_inches="tight"``) costs 50-300 ms on a 2-core CPU. The renderers here paint ``uint8[H, W, 3]`` arrays
with NumPy and Pillow (text in Matplotlib's own DejaVu fonts) in a few milliseconds. They stay pure: arrays in, an
RGB array out. :func:`as_figure` wraps such an array in a Matplotlib figure when a notebook wants one.

The pieces: :func:`rgb8` (any image -> ``uint8[H, W, 3]``), :func:`enlarge` (nearest, integer factor),
:func:`grid_panel` (a small array as coloured cells), :class:`Sheet` (a white canvas with paste, text, boxes,
lines, arrows and dots), :func:`tile` (titled panels in a grid) and :func:`compose` (panels at given places).

Why one module of about 380 lines (over the suite's 350): it is one toolkit that every renderer imports as a whole,
its pieces share the cached fonts, the colours and :func:`rgb8`, and half of it is :class:`Sheet`, whose drawing
methods belong together; a split would give each renderer two imports for one job and no smaller idea to read.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.transforms import Bbox

from seglab.utils import to_numpy

__all__ = ["font", "rgb8", "enlarge", "grid_panel", "outline", "stamp_numbers", "Sheet", "tile", "compose",
           "as_figure", "boundary", "png_bytes", "RED", "BLACK", "GREY"]

RED, BLACK, GREY = (220, 0, 0), (0, 0, 0), (150, 150, 150)
_LINE_SPACING = 2  # pixels between the lines of a multi-line text


@functools.cache
def font(size: int = 11, mono: bool = False, bold: bool = False):
    """Matplotlib's DejaVu font (always installed with Matplotlib) as a Pillow font of ``size`` pixels."""
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans" + ("Mono" if mono else "") + ("-Bold" if bold else "") + ".ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:  # a Pillow without FreeType: its built-in bitmap font still writes readable text
        return ImageFont.load_default()


def rgb8(image) -> np.ndarray:
    """An image as ``uint8[H, W, 3]``: ``uint8`` arrays pass through; floats in [0, 1] (``[H, W]``, ``[H, W, 3]``,
    or a ``float[C, H, W]`` tensor) are scaled; grey becomes three equal channels."""
    from seglab.viz import to_numpy_image

    arr = to_numpy(image)
    if arr.dtype != np.uint8:
        arr = (to_numpy_image(image) * 255 + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr[..., :3])


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer ``factor`` (each pixel becomes a ``factor x factor`` block)."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def boundary(region: np.ndarray, width: int = 1) -> np.ndarray:
    """``bool[H, W]``: the pixels of ``region`` that touch a pixel outside it (4-neighbours), ``width`` pixels deep."""
    region = np.asarray(region, dtype=bool)
    inner = region.copy()
    for _ in range(width):
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        shrunk[0], shrunk[-1], shrunk[:, 0], shrunk[:, -1] = False, False, False, False
        inner = shrunk
    return region & ~inner


def grid_panel(values, box: tuple[int, int], *, cmap: str = "Blues", vmin=None, vmax=None, lines: bool = True,
               highlight=None, square: bool = True, cell: int = 0) -> np.ndarray:
    """Colour a 2-D array and resize it (nearest) to fit ``box = (height, width)`` pixels: ``uint8[h, w, 3]``.

    Cell borders are drawn when cells are at least 5 pixels wide; ``highlight = (row, col, height, width)`` in cells
    is outlined in red. ``square=False`` scales rows and columns separately (for tall matrices).
    """
    arr = to_numpy(values).astype(np.float64)
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
            outline(img, y0, y1, x0, max(x1, x0 + 1))
        return img
    rows, cols = arr.shape
    cell = cell or max(1, min(box[0] // max(rows, 1), box[1] // max(cols, 1)))
    finite = arr[np.isfinite(arr)]
    lo = (float(finite.min()) if finite.size else 0.0) if vmin is None else vmin
    hi = (float(finite.max()) if finite.size else 1.0) if vmax is None else vmax
    norm = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    rgb = (colormaps[cmap](np.clip(np.nan_to_num(norm), 0, 1))[..., :3] * 255).astype(np.uint8)
    img = enlarge(rgb, cell)
    if lines and cell >= 5:
        img[::cell, :] = 150
        img[:, ::cell] = 150
        img[-1, :] = 150
        img[:, -1] = 150
    if highlight is not None:
        r, c, h, w = highlight
        outline(img, r * cell, min((r + h) * cell, img.shape[0]) - 1, c * cell, min((c + w) * cell, img.shape[1]) - 1)
    return img


def outline(img: np.ndarray, y0: int, y1: int, x0: int, x1: int, colour=RED, width: int = 2) -> None:
    """A ``width``-pixel rectangle with corners (y0, x0) and (y1, x1), inclusive, drawn into ``img`` in place."""
    for t in range(width):
        img[y0 : y1 + 1, [x0 + t, x1 - t]] = colour
        img[[y0 + t, y1 - t], x0 : x1 + 1] = colour


_GLYPHS = {  # a 3x5 bitmap font for numbers: stamping pixels is much cheaper than laying out text
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "-": "000000111000000", ".": "000000000000010",
}
_GLYPH_BITS = {c: np.array([int(b) for b in bits], dtype=bool).reshape(5, 3) for c, bits in _GLYPHS.items()}


@functools.cache
def _glyph(char: str, zoom: int) -> np.ndarray:
    bits = _GLYPH_BITS[char] if char != "." else _GLYPH_BITS[char][:, 1:2]  # "." is one column wide
    return np.repeat(np.repeat(bits, zoom, axis=0), zoom, axis=1)


def stamp_numbers(region: np.ndarray, numbers, fmt: str = "{:.0f}") -> None:
    """Write each number of ``numbers`` (``[rows, cols]``, formatted with ``fmt``) in the middle of its cell of
    ``region`` (``uint8[H, W, 3]``, cells ``H // rows`` by ``W // cols``), in place; white on dark cells.
    Numbers that do not fit their cell are left out."""
    numbers = to_numpy(numbers).astype(np.float64)
    rows, cols = numbers.shape
    ch, cw = region.shape[0] // rows, region.shape[1] // cols
    zooms = (2, 1) if min(ch, cw) >= 16 else (1,)
    # a cell is dark when its centre pixel is (the cells are flat colours)
    dark = region[ch // 2 :: ch, cw // 2 :: cw][:rows, :cols].astype(np.int32).sum(-1) < 330
    for (i, j), v in np.ndenumerate(numbers):
        text = fmt.format(v)
        text = text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0"
        chars = [c for c in text if c in _GLYPH_BITS]
        span = sum(1 if c == "." else 3 for c in chars) + len(chars) - 1
        for z in zooms:
            if span * z <= cw - 2 - 2 * z and 5 * z <= ch - 2:
                break
        else:
            continue
        y0, x = i * ch + (ch - 5 * z) // 2, j * cw + (cw - span * z) // 2
        ink = 255 if dark[i, j] else 0
        for c in chars:
            glyph = _glyph(c, z)
            region[y0 : y0 + 5 * z, x : x + glyph.shape[1]][glyph] = ink
            x += glyph.shape[1] + z


class Sheet:
    """A white ``uint8`` canvas to paint a picture on; every method works in pixel coordinates (x right, y down)
    and returns the sheet, so calls chain. :meth:`array` gives the finished ``uint8[H, W, 3]``."""

    def __init__(self, width: int, height: int, background=(255, 255, 255)):
        from PIL import Image

        self.width, self.height = int(width), int(height)
        self.image = Image.new("RGB", (self.width, self.height), tuple(background))
        self._pen = None

    @property
    def pen(self):
        from PIL import ImageDraw

        if self._pen is None:
            self._pen = ImageDraw.Draw(self.image, "RGBA")  # RGBA: fills with alpha blend over the picture
        return self._pen

    def paste(self, picture, x: int, y: int) -> Sheet:
        from PIL import Image

        self.image.paste(Image.fromarray(rgb8(picture)), (int(x), int(y)))
        return self

    def text(self, x: float, y: float, text: str, *, size: int = 11, fill=BLACK, anchor: str = "la",
             mono: bool = False, bold: bool = False, max_width: int | None = None, background=None) -> Sheet:
        """Write ``text`` (several lines allowed) with its ``anchor`` (Pillow's: "la" left-top, "mm" middle) at
        (x, y); a line longer than ``max_width`` pixels is shortened with an ellipsis."""
        f = font(size, mono, bold)
        if max_width is not None:
            text = "\n".join(self._fit(line, f, max_width) for line in text.split("\n"))
        if background is not None:
            box = self.pen.multiline_textbbox((x, y), text, font=f, anchor=anchor)
            self.pen.rectangle((box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1), fill=tuple(background))
        self.pen.multiline_text((x, y), text, font=f, fill=tuple(fill), anchor=anchor if "\n" not in text else
                                anchor[0] + "a", spacing=_LINE_SPACING)
        return self

    def text_bottom(self, x: float, y: float, text: str, *, size: int = 11, mono: bool = False,
                    bold: bool = False) -> int:
        """The lowest pixel row that :meth:`text` with these arguments (anchor "la") would write."""
        return int(self.pen.multiline_textbbox((x, y), text, font=font(size, mono, bold), spacing=_LINE_SPACING)[3])

    @staticmethod
    def _fit(line: str, f, max_width: int) -> str:
        if f.getlength(line) <= max_width:
            return line
        while line and f.getlength(line + "…") > max_width:
            line = line[:-1]
        return line + "…"

    def rect(self, x0: float, y0: float, x1: float, y1: float, *, outline=None, fill=None, width: int = 1) -> Sheet:
        """A rectangle (corners inclusive); colours are RGB or RGBA tuples (alpha blends)."""
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        self.pen.rectangle((x0, y0, x1, y1), outline=None if outline is None else tuple(outline),
                           fill=None if fill is None else tuple(fill), width=width)
        return self

    def dashed_rect(self, x0, y0, x1, y1, *, fill=RED, width: int = 1, dash: int = 5) -> Sheet:
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        for a, b, c, d in ((x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)):
            length = max(abs(c - a), abs(d - b))
            steps = max(int(length // (2 * dash)), 0) + 1
            for k in range(steps):
                t0, t1 = k * 2 * dash / max(length, 1e-9), min((k * 2 * dash + dash) / max(length, 1e-9), 1.0)
                if t0 >= 1:
                    break
                self.pen.line((a + (c - a) * t0, b + (d - b) * t0, a + (c - a) * t1, b + (d - b) * t1),
                              fill=tuple(fill), width=width)
        return self

    def line(self, points, *, fill=BLACK, width: int = 1) -> Sheet:
        self.pen.line([tuple(map(float, p)) for p in points], fill=tuple(fill), width=width)
        return self

    def lines(self, segments, *, fill=BLACK, width: int = 1) -> Sheet:
        """Many straight segments ``[(x0, y0, x1, y1), ...]`` in one colour."""
        for seg in segments:
            self.pen.line(tuple(float(v) for v in seg), fill=tuple(fill), width=width)
        return self

    def arrow(self, x0: float, y0: float, x1: float, y1: float, *, fill=BLACK, width: int = 1,
              head: float = 5.0) -> Sheet:
        """A straight arrow from (x0, y0) to (x1, y1) with a filled triangular head of ``head`` pixels."""
        dx, dy = x1 - x0, y1 - y0
        length = float(np.hypot(dx, dy))
        if length < 1e-9:
            return self
        ux, uy = dx / length, dy / length
        h = min(head, length)
        bx, by = x1 - ux * h, y1 - uy * h
        self.pen.line((x0, y0, bx, by), fill=tuple(fill), width=width)
        self.pen.polygon([(x1, y1), (bx - uy * h * 0.45, by + ux * h * 0.45), (bx + uy * h * 0.45, by - ux * h * 0.45)],
                         fill=tuple(fill))
        return self

    def dots(self, points, *, radius: float = 2.0, fill=(255, 127, 14)) -> Sheet:
        for x, y in points:
            self.pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(fill))
        return self

    def array(self) -> np.ndarray:
        return np.asarray(self.image)


def tile(panels, *, cols: int | None = None, scale: int = 1, gap: int = 10, head: int = 16, title_size: int = 11,
         width: int | None = None):
    """Lay out titled images on a grid: ``panels`` is a list of ``(image, title)`` (``image`` as :func:`rgb8`
    takes it, enlarged ``scale`` times; ``None`` leaves its place empty). Columns are as wide as the widest image in
    them (at least ``width``). Returns ``(sheet, places)``: a :class:`Sheet` and each panel's ``(x, y)`` top-left
    pixel, so callers can draw on top before taking ``sheet.array()``."""
    cols = cols or len(panels)
    pics = [None if p is None else enlarge(rgb8(p), scale) for p, _ in panels]
    rows = (len(panels) + cols - 1) // cols
    col_w = [max([width or 0] + [pics[k].shape[1] for k in range(c, len(pics), cols) if pics[k] is not None])
             for c in range(cols)]
    row_h = [max([0] + [pics[k].shape[0] for k in range(r * cols, min((r + 1) * cols, len(pics)))
                        if pics[k] is not None]) for r in range(rows)]
    xs = np.concatenate([[gap], gap + np.cumsum([w + gap for w in col_w])])
    ys = np.concatenate([[0], np.cumsum([h + head + gap for h in row_h])])
    sheet = Sheet(int(xs[-1]), int(ys[-1]))
    places = []
    for k, (pic, (_, title)) in enumerate(zip(pics, panels)):
        r, c = divmod(k, cols)
        x, y = int(xs[c]), int(ys[r]) + head
        places.append((x, y))
        if pic is not None:
            sheet.paste(pic, x, y)
        if title:
            sheet.text(x, y - head + 2, title, size=title_size, max_width=col_w[c] + gap - 2)
    return sheet, places


def compose(panels, *, gap: int = 8, head: int = 14) -> np.ndarray:
    """Panels at given places on one white canvas: ``uint8[H, W, 3]``.

    ``panels``: list of dicts ``{"image": uint8[h,w,3], "at": (top, left), "title": str, "numbers": array or None,
    "fmt": str}`` (``numbers``: stamped into the cells with a tiny bitmap font, formatted with ``fmt``, default
    integers); ``at`` is in canvas pixels and each title takes ``head`` pixels above its panel.
    """
    height = max(p["at"][0] + head + p["image"].shape[0] for p in panels) + gap
    width = max(p["at"][1] + max(p["image"].shape[1], 6 * len(p.get("title", ""))) for p in panels) + gap
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for p in panels:
        top, left = p["at"][0] + head, p["at"][1]
        h, w = p["image"].shape[:2]
        canvas[top : top + h, left : left + w] = p["image"]
        if p.get("numbers") is not None:
            stamp_numbers(canvas[top : top + h, left : left + w], p["numbers"], p.get("fmt", "{:.0f}"))
    sheet = Sheet(width, height)
    sheet.paste(canvas, 0, 0)
    for p in panels:
        if p.get("title"):
            sheet.text(p["at"][1], p["at"][0] + 1, p["title"], size=10)
    return sheet.array()


def as_figure(picture: np.ndarray, dpi: int = 80):
    """Wrap a finished ``uint8[H, W, 3]`` picture in a Matplotlib figure of exactly its size (for notebooks)."""
    from seglab.viz import new_figure

    picture = rgb8(picture)
    height, width = picture.shape[:2]
    fig = new_figure(width / dpi, height / dpi, dpi=dpi)
    rgba = np.concatenate([picture, np.full((height, width, 1), 255, np.uint8)], axis=2)
    fig.add_artist(_PixelCanvas(rgba))
    return fig


class _PixelCanvas(Artist):
    """A finished ``uint8[H, W, 4]`` picture handed to the renderer as is, at the figure's lower-left corner.

    Same pixels as ``fig.figimage`` but without its resampling pass."""

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


def png_bytes(picture: np.ndarray, level: int = 1) -> bytes:
    """``uint8[H, W, 3]`` -> PNG bytes, written directly (no per-row filter search): 5-10 times faster than
    Pillow's encoder for an explorer's picture, at a similar size (flat colours compress well without filters)."""
    import struct
    import zlib

    picture = np.ascontiguousarray(rgb8(picture))
    height, width = picture.shape[:2]
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" for every row
    rows[:, 1:] = picture.reshape(height, 3 * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + chunk(b"IEND", b""))
