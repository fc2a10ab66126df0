"""Pure renderers for chapter 5: RoIAlign's bins and samples, RoIPool's integer cells, Mask R-CNN's two stages."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from seglab.utils import to_numpy
from seglab.viz import new_figure, to_numpy_image

__all__ = ["draw_roi_pooling", "draw_instances", "draw_two_stages", "INSTANCE_COLOURS"]

INSTANCE_COLOURS = np.array([[0.90, 0.10, 0.10], [0.10, 0.60, 0.95], [0.95, 0.75, 0.10], [0.30, 0.85, 0.30],
                             [0.80, 0.30, 0.90], [0.10, 0.85, 0.85], [1.00, 0.50, 0.00], [0.55, 0.35, 0.20]])


def _feature_axes(ax, fmap, title):
    h, w = fmap.shape
    ax.imshow(fmap, cmap="Greys", extent=(0, w, h, 0), interpolation="nearest", alpha=0.55)
    ax.set_xticks(range(w + 1)), ax.set_yticks(range(h + 1))
    ax.set_xticklabels([str(i) if i % 4 == 0 else "" for i in range(w + 1)])
    ax.set_yticklabels([str(i) if i % 4 == 0 else "" for i in range(h + 1)])
    ax.tick_params(labelsize=6, length=0)
    ax.grid(True, color="0.55", lw=0.5)
    ax.set_title(title, fontsize=9)


def _pooled(ax, values, title):
    values = to_numpy(values)
    im = ax.imshow(values, cmap="viridis", interpolation="nearest")
    for (i, j), v in np.ndenumerate(values):
        if values.size <= 49:
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return im


def draw_roi_pooling(fmap, box, grid, pool_rows, pool_cols, aligned_out, pooled_out):
    """Four panels: RoIAlign (RoI, bins, sample points) and RoIPool (integer cells) on the feature map ``fmap``
    (``float[H, W]``), then both pooled outputs (``float[PH, PW]``).

    ``box``: (x1, y1, x2, y2) already in feature-map coordinates; ``grid``: a
    :class:`seglab.ops.roi.RoIAlignGrid`; ``pool_rows`` / ``pool_cols`` (``int[P, 2]``): RoIPool's ``[lo, hi)`` cells.
    Pixel (i, j) of the map covers the square ``[j, j+1) x [i, i+1)``; bilinear samples read values at pixel
    *centres*, so a sample at coordinate x lies at x + 0.5 on this drawing.
    """
    fmap = to_numpy(fmap)
    fig = new_figure(11.5, 3.4)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [3, 3, 1.6, 1.6]})
    _feature_axes(axes[0], fmap, "RoIAlign: bins and samples")
    x1, y1, x2, y2 = (float(v) for v in box)
    axes[0].add_patch(Rectangle((x1 + 0.5, y1 + 0.5), x2 - x1, y2 - y1, fill=False, ec="tab:red", lw=1.2, ls="--"))
    ye, xe = to_numpy(grid.y_edges) + 0.5, to_numpy(grid.x_edges) + 0.5
    for y in ye:
        axes[0].plot([xe[0], xe[-1]], [y, y], color="tab:blue", lw=0.9)
    for x in xe:
        axes[0].plot([x, x], [ye[0], ye[-1]], color="tab:blue", lw=0.9)
    pts = to_numpy(grid.points).reshape(-1, 2) + 0.5
    axes[0].scatter(pts[:, 0], pts[:, 1], s=10, color="tab:orange", zorder=3)
    _feature_axes(axes[1], fmap, "RoIPool: quantized cells")
    axes[1].add_patch(Rectangle((x1 + 0.5, y1 + 0.5), x2 - x1, y2 - y1, fill=False, ec="tab:red", lw=1.2, ls="--"))
    rows, cols = to_numpy(pool_rows), to_numpy(pool_cols)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            colour = INSTANCE_COLOURS[(i + j) % 2 + 2]
            axes[1].add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fc=(*colour, 0.25), ec=colour, lw=1.0))
    h, w = fmap.shape
    for ax in axes[:2]:
        ax.set_xlim(min(0, x1) - 0.5, max(w, x2 + 1) + 0.5)
        ax.set_ylim(max(h, y2 + 1) + 0.5, min(0, y1) - 0.5)
    _pooled(axes[2], aligned_out, "RoIAlign output")
    _pooled(axes[3], pooled_out, "RoIPool output")
    fig.subplots_adjust(left=0.03, right=0.99, bottom=0.08, top=0.92, wspace=0.2)  # cheaper than tight_layout
    return fig


def _instances(ax, image, output, score_threshold, class_names, title):
    img = to_numpy_image(image).copy()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    scores = to_numpy(output.get("scores", np.ones(len(output["boxes"]))))
    keep = np.nonzero(scores >= score_threshold)[0]
    masks = to_numpy(output["masks"]) if "masks" in output else None
    for n, k in enumerate(keep):
        colour = INSTANCE_COLOURS[n % len(INSTANCE_COLOURS)]
        if masks is not None:
            m = masks[k][0] if masks[k].ndim == 3 else masks[k]
            sel = m > 0.5
            img[sel] = 0.45 * img[sel] + 0.55 * colour
    ax.imshow(img, interpolation="nearest")
    labels = to_numpy(output["labels"]) if "labels" in output else None
    for n, k in enumerate(keep):
        colour = INSTANCE_COLOURS[n % len(INSTANCE_COLOURS)]
        x1, y1, x2, y2 = to_numpy(output["boxes"][k])
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=1.2))
        if labels is not None:
            name = class_names[int(labels[k])] if class_names else str(int(labels[k]))
            text = name if "scores" not in output else f"{name} {scores[k]:.2f}"
            ax.text(x1, y1 - 1, text, fontsize=6, color="w", bbox={"fc": colour, "ec": "none", "pad": 0.5})
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return len(keep)


def draw_instances(images, outputs, *, targets=None, score_threshold: float = 0.5, class_names=None,
                   scale: float = 2.6):
    """One column per image: predicted boxes, classes, scores and masks (and the ground truth below, if given)."""
    images, outputs = list(images), list(outputs)
    if len(images) != len(outputs):
        raise ValueError(f"got {len(images)} images but {len(outputs)} outputs")
    rows = 1 if targets is None else 2
    fig = new_figure(scale * len(images), scale * rows)
    axes = fig.subplots(rows, len(images), squeeze=False)
    for i, (image, out) in enumerate(zip(images, outputs)):
        n = _instances(axes[0, i], image, out, score_threshold, class_names, "prediction")
        axes[0, i].set_title(f"prediction ({n} >= {score_threshold:.2f})", fontsize=8)
        if targets is not None:
            _instances(axes[1, i], image, targets[i], 0.0, class_names, "ground truth")
    fig.tight_layout()
    return fig


def draw_two_stages(image, proposals, output, *, num_proposals: int = 50, score_threshold: float = 0.5,
                    class_names=None):
    """Stage 1: the RPN's top proposals (class-agnostic boxes); stage 2: class, refined box and mask per RoI."""
    fig = new_figure(7.0, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.imshow(to_numpy_image(image), interpolation="nearest")
    for x1, y1, x2, y2 in to_numpy(proposals)[:num_proposals]:
        ax1.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="yellow", lw=0.6, alpha=0.8))
    ax1.set_xticks([]), ax1.set_yticks([])
    ax1.set_title(f"stage 1: top {min(num_proposals, len(proposals))} RPN proposals", fontsize=9)
    _instances(ax2, image, output, score_threshold, class_names, "stage 2: class, box and mask per RoI")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- explorer pictures
def _map_view(fmap: np.ndarray, box, size: int):
    """Extent (in map units) that shows the whole map and the whole box, and its pixels per unit."""
    h, w = fmap.shape
    x1, y1, x2, y2 = box
    lo_x, hi_x = min(0.0, x1) - 0.5, max(float(w), x2 + 1) + 0.5
    lo_y, hi_y = min(0.0, y1) - 0.5, max(float(h), y2 + 1) + 0.5
    ppu = size / max(hi_x - lo_x, hi_y - lo_y)
    return lo_x, lo_y, ppu, int(np.ceil((hi_x - lo_x) * ppu)), int(np.ceil((hi_y - lo_y) * ppu))


def _map_panel(fmap: np.ndarray, lo_x: float, lo_y: float, ppu: float, width: int, height: int) -> np.ndarray:
    """The map in light greys (cell (i, j) covers [j, j+1) x [i, i+1)), white outside, cell borders in grey."""
    h, w = fmap.shape
    span = float(fmap.max() - fmap.min()) or 1.0
    grey = (255 * (1 - 0.55 * (fmap - fmap.min()) / span)).astype(np.uint8)  # Greys at alpha 0.55 over white
    cols = np.floor(lo_x + (np.arange(width) + 0.5) / ppu).astype(np.int64)
    rows = np.floor(lo_y + (np.arange(height) + 0.5) / ppu).astype(np.int64)
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    panel = np.where(inside, grey[rows.clip(0, h - 1)][:, cols.clip(0, w - 1)], 255).astype(np.uint8)
    panel = np.repeat(panel[..., None], 3, axis=2)
    if ppu >= 4:  # cell borders
        xs = np.round((np.arange(w + 1) - lo_x) * ppu).astype(int).clip(0, width - 1)
        ys = np.round((np.arange(h + 1) - lo_y) * ppu).astype(int).clip(0, height - 1)
        y_in = slice(int(ys[0]), int(ys[-1]) + 1)
        x_in = slice(int(xs[0]), int(xs[-1]) + 1)
        panel[y_in, xs] = 140
        panel[ys, x_in] = 140
    return panel


def _values_panel(values, size: int) -> np.ndarray:
    from seglab.viz.raster import Sheet, grid_panel

    values = to_numpy(values).astype(np.float64)
    cell = max(size // max(values.shape), 1)
    sheet = Sheet(cell * values.shape[1], cell * values.shape[0]).paste(
        grid_panel(values, (cell * values.shape[0], cell * values.shape[1]), cmap="viridis", lines=False), 0, 0)
    text_size = int(min(12, max(8, cell // 3)))
    span = float(values.max() - values.min()) or 1.0
    for (i, j), v in np.ndenumerate(values):
        label = f"{v:.2f}"
        if cell >= 8 * len(label) * text_size / 14:
            light = (v - values.min()) / span > 0.6  # viridis is light at the top
            sheet.text((j + 0.5) * cell, (i + 0.5) * cell, label, size=text_size, anchor="mm",
                       fill=(0, 0, 0) if light else (255, 255, 255))
    return sheet.array()


def roi_pooling_picture(fmap, box, grid, pool_rows, pool_cols, aligned_out, pooled_out, *, size: int = 300):
    """The RoI explorer's picture as ``uint8[H, W, 3]``: the same four panels as :func:`draw_roi_pooling`, with
    the same arguments, painted in pixels (a few milliseconds instead of a Matplotlib figure).

    Left: RoIAlign's box (red, dashed), bins (blue) and sample points (orange); then RoIPool's integer cells over
    the same map; then both pooled outputs with their values. A sample at map coordinate x is drawn at x + 0.5
    (bilinear samples read values at pixel centres; pixel j covers [j, j + 1))."""
    from seglab.viz.raster import Sheet

    fmap = to_numpy(fmap).astype(np.float64)
    x1, y1, x2, y2 = (float(v) for v in box)
    lo_x, lo_y, ppu, width, height = _map_view(fmap, (x1, y1, x2, y2), size)
    base = _map_panel(fmap, lo_x, lo_y, ppu, width, height)
    px = lambda x: (x - lo_x) * ppu  # noqa: E731 - map units -> panel pixels
    py = lambda y: (y - lo_y) * ppu  # noqa: E731
    margin, head, gap = 18, 18, 16
    out_size = 150
    sheet = Sheet(2 * (margin + width) + gap + 2 * (out_size + gap) + 4, head + margin + max(height, out_size) + 6)
    top = head + margin
    lefts = (margin, 2 * margin + width + gap)
    h, w = fmap.shape
    tick = max(1, int(np.ceil(24 / ppu / 4)) * 4)
    for left, title in zip(lefts, ("RoIAlign: bins and samples", "RoIPool: quantized cells")):
        sheet.paste(base, left, top)
        sheet.text(left, 2, title, size=12)
        for k in range(0, max(w, h) + 1, tick):  # axis labels every few cells
            if k <= w:
                sheet.text(left + px(k), top - 3, str(k), size=9, anchor="ms", fill=(90, 90, 90))
            if k <= h:
                sheet.text(left - 3, top + py(k), str(k), size=9, anchor="rm", fill=(90, 90, 90))
    # RoIAlign: box, bin edges, samples
    left = lefts[0]
    ye = to_numpy(grid.y_edges).astype(np.float64) + 0.5
    xe = to_numpy(grid.x_edges).astype(np.float64) + 0.5
    blue = (31, 119, 180)
    sheet.lines([(left + px(xe[0]), top + py(y), left + px(xe[-1]), top + py(y)) for y in ye], fill=blue, width=2)
    sheet.lines([(left + px(x), top + py(ye[0]), left + px(x), top + py(ye[-1])) for x in xe], fill=blue, width=2)
    pts = to_numpy(grid.points).reshape(-1, 2).astype(np.float64) + 0.5
    canvas = np.array(sheet.image)  # samples as small squares, painted with NumPy (there can be thousands)
    r = 2 if len(pts) <= 400 else 1 if len(pts) <= 4000 else 0
    cx = np.round(left + px(pts[:, 0])).astype(int)
    cy = np.round(top + py(pts[:, 1])).astype(int)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ok = (cy + dy >= 0) & (cy + dy < canvas.shape[0]) & (cx + dx >= 0) & (cx + dx < canvas.shape[1])
            canvas[cy[ok] + dy, cx[ok] + dx] = (255, 127, 14)
    sheet = Sheet(canvas.shape[1], canvas.shape[0]).paste(canvas, 0, 0)
    # RoIPool: the integer cells, alternating colours
    left = lefts[1]
    rows, cols = to_numpy(pool_rows), to_numpy(pool_cols)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            colour = tuple(int(255 * v) for v in INSTANCE_COLOURS[(i + j) % 2 + 2])
            if r1 > r0 and c1 > c0:
                sheet.rect(left + px(c0), top + py(r0), left + px(c1) - 1, top + py(r1) - 1, fill=(*colour, 64),
                           outline=colour, width=2)
    for left in lefts:  # the RoI itself, on top
        sheet.dashed_rect(left + px(x1 + 0.5), top + py(y1 + 0.5), left + px(x2 + 0.5), top + py(y2 + 0.5),
                          fill=(214, 39, 40), width=2)
    left = lefts[1] + width + gap + margin
    for k, (values, title) in enumerate(((aligned_out, "RoIAlign output"), (pooled_out, "RoIPool output"))):
        x = left + k * (out_size + gap)
        sheet.text(x, 2, title, size=12)
        sheet.paste(_values_panel(values, out_size), x, top)
    return sheet.array()


def _instances_panel(image, output, score_threshold: float, class_names, scale: int):
    """One enlarged image with the masks blended in and the boxes and labels on top (a Sheet), and the kept count."""
    from seglab.viz.raster import Sheet, enlarge, rgb8

    img = rgb8(image).astype(np.float32) / 255.0
    boxes = to_numpy(output["boxes"]).reshape(-1, 4).astype(np.float64)
    scores = to_numpy(output["scores"]) if "scores" in output else np.ones(len(boxes))
    keep = np.nonzero(scores >= score_threshold)[0]
    masks = to_numpy(output["masks"]) if "masks" in output else None
    for n, k in enumerate(keep):
        if masks is not None:
            m = masks[k][0] if masks[k].ndim == 3 else masks[k]
            sel = m > 0.5
            img[sel] = 0.45 * img[sel] + 0.55 * INSTANCE_COLOURS[n % len(INSTANCE_COLOURS)]
    big = enlarge((img * 255 + 0.5).astype(np.uint8), scale)
    sheet = Sheet(big.shape[1], big.shape[0]).paste(big, 0, 0)
    labels = to_numpy(output["labels"]) if "labels" in output else None
    for n, k in enumerate(keep):
        colour = tuple(int(255 * v) for v in INSTANCE_COLOURS[n % len(INSTANCE_COLOURS)])
        x1, y1, x2, y2 = boxes[k] * scale
        sheet.rect(x1, y1, x2, y2, outline=colour, width=2)
        if labels is not None:
            name = class_names[int(labels[k])] if class_names else str(int(labels[k]))
            text = name if "scores" not in output else f"{name} {scores[k]:.2f}"
            sheet.text(x1 + 1, max(y1 - 12, 0), text, size=10, fill=(255, 255, 255), background=colour)
    return sheet.array(), len(keep)


def instances_picture(image, output, *, target=None, score_threshold: float = 0.5, class_names=None,
                      scale: int = 2) -> tuple[np.ndarray, int]:
    """The Mask R-CNN explorer's picture (``uint8[H, W, 3]``) and the number of detections drawn: the prediction
    (masks, boxes, class and score of every detection scoring at least ``score_threshold``) beside the ground truth
    ``target`` (boxes, labels, masks), as :func:`draw_instances` draws one column, painted in pixels."""
    from seglab.viz.raster import tile

    pred, kept = _instances_panel(image, output, score_threshold, class_names, scale)
    panels = [(pred, f"prediction ({kept} with score >= {score_threshold:.2f})")]
    if target is not None:
        panels.append((_instances_panel(image, target, 0.0, class_names, scale)[0], "ground truth"))
    sheet, _ = tile(panels, title_size=12)
    return sheet.array(), kept
