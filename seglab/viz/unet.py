"""Pure renderers for the U-Net chapter: the architecture from real shapes, elastic warps, the weight map."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, Rectangle

from seglab.data.classes import IGNORE_INDEX
from seglab.utils import to_numpy
from seglab.viz import colorize, new_figure, to_numpy_image

__all__ = ["levels_from_trace", "levels_from_size_trace", "draw_unet", "unet_picture", "grid_lines", "draw_elastic",
           "elastic_picture", "draw_weight_map", "outline_objects", "nuclei_overview_picture",
           "nuclei_prediction_picture"]


def levels_from_trace(records) -> list[dict]:
    """:meth:`seglab.models.UNet.trace` records -> ``[{"name", "stage", "level", "channels", "size", "crop"}]``."""
    rows = []
    for r in records:
        if r.stage == "head":
            continue
        rows.append({"name": r.name, "stage": r.stage, "level": r.level, "channels": r.shape[1],
                     "size": tuple(r.shape[-2:]), "crop": r.crop})
    return rows


def levels_from_size_trace(trace: list[dict], base_channels: int = 64) -> list[dict]:
    """:func:`seglab.models.unet.unet_size_trace` rows -> the same level dicts (square maps)."""
    rows = []
    for t in trace:
        name = {"encoder": f"enc{t['level']}", "bottom": "bottom", "decoder": f"dec{t['level']}"}[t["stage"]]
        rows.append({"name": name, "stage": t["stage"], "level": t["level"],
                     "channels": base_channels * 2 ** t["level"],
                     "size": (t["out"], t["out"]), "crop": t.get("crop", 0), "pad": t.get("pad", 0),
                     "up": t.get("up"), "skip": t.get("skip")})
    return rows


def draw_unet(levels: list[dict], title: str = "", failed: str | None = None, scale: float = 1.0,
              depth: int | None = None):
    """Draw the U: encoder blocks down the left, decoder blocks up the right, skip arrows labelled with the crop.

    ``levels``: dicts from :func:`levels_from_trace` / :func:`levels_from_size_trace`. ``failed``: a message drawn
    in red under the diagram (an invalid size). ``depth``: the network's depth (default: the deepest level drawn).
    """
    depth = max((lv["level"] for lv in levels), default=0) if depth is None else depth
    fig = new_figure(9 * scale, (2.2 + 1.1 * depth) * scale)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    width = 2 * depth + 2
    pos = {}
    for lv in levels:
        x = {"encoder": lv["level"], "bottom": depth, "decoder": 2 * depth - lv["level"]}[lv["stage"]]
        y = -lv["level"]
        pos[lv["name"]] = (x, y)
        h, w = lv["size"]
        colour = {"encoder": "#4c78a8", "bottom": "#72b7b2", "decoder": "#f58518"}[lv["stage"]]
        ax.add_patch(Rectangle((x - 0.38, y - 0.32), 0.76, 0.64, color=colour, alpha=0.85))
        ax.text(x, y + 0.08, f"{lv['channels']} ch", ha="center", va="center", fontsize=8, color="white")
        ax.text(x, y - 0.15, f"{h}x{w}", ha="center", va="center", fontsize=8, color="white", weight="bold")
    for lv in levels:
        if lv["stage"] != "decoder" or f"enc{lv['level']}" not in pos:
            continue
        (x0, y0), (x1, y1) = pos[f"enc{lv['level']}"], pos[lv["name"]]
        ax.add_patch(FancyArrowPatch((x0 + 0.4, y0 + 0.42), (x1 - 0.4, y1 + 0.42), arrowstyle="->", color="grey",
                                     mutation_scale=10, connectionstyle="arc3,rad=-0.08"))
        label = f"copy, crop {lv['crop']} px/side" if lv.get("crop") else (
            f"copy, pad up-map {lv['pad']} px" if lv.get("pad") else "copy")
        ax.text((x0 + x1) / 2, y0 + 0.55, label, ha="center", fontsize=7, color="dimgray")
    order = [lv["name"] for lv in levels]
    for a, b in zip(order, order[1:]):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        down = y1 < y0
        ax.add_patch(FancyArrowPatch((x0, y0 - 0.33 if down else y0 + 0.33), (x1, y1 + 0.33 if down else y1 - 0.33),
                                     arrowstyle="->", color="#e45756" if down else "#54a24b", mutation_scale=10))
    ax.set_xlim(-0.6, width - 1.4)
    ax.set_ylim(-depth - 0.9 - (0.6 if failed else 0), 1.0)
    if failed:
        import textwrap

        ax.text(depth, -depth - 1.1, textwrap.fill(failed, 90), ha="center", va="center", fontsize=8, color="#b00")
    ax.set_title(title or "U-Net: red = 2x2 max pool, green = 2x up-conv, grey = copy (and crop)", fontsize=9)
    return fig


def unet_picture(levels: list[dict], title: str = "", failed: str | None = None, depth: int | None = None,
                 unit: tuple[int, int] = (88, 64)) -> np.ndarray:
    """:func:`draw_unet`'s diagram painted in pixels (``uint8[H, W, 3]``): encoder blocks down the left, decoder
    blocks up the right, skip arrows labelled with the crop, ``failed`` in red underneath. ``unit``: pixels per
    level step (x, y)."""
    import textwrap

    from seglab.viz.raster import Sheet

    depth = max((lv["level"] for lv in levels), default=0) if depth is None else depth
    ux, uy = unit
    top, left = 40, 16
    width = left * 2 + (2 * depth + 1) * ux
    note = textwrap.wrap(failed, max(40, int((width - 2 * left) / 6.8))) if failed else []
    sheet = Sheet(width, top + (depth + 1) * uy + 14 * len(note) + 12)
    sheet.text(left, 4, title or "U-Net: red = 2x2 max pool, green = 2x up-conv, grey = copy (and crop)", size=12)
    colours = {"encoder": (76, 120, 168), "bottom": (114, 183, 178), "decoder": (245, 133, 24)}
    centre = {}
    for lv in levels:
        col = {"encoder": lv["level"], "bottom": depth, "decoder": 2 * depth - lv["level"]}[lv["stage"]]
        cx, cy = left + (col + 0.5) * ux, top + (lv["level"] + 0.5) * uy
        centre[lv["name"]] = (cx, cy)
        bw, bh = 0.38 * ux, 0.32 * uy
        sheet.rect(cx - bw, cy - bh, cx + bw, cy + bh, fill=colours[lv["stage"]])
        h, w = lv["size"]
        sheet.text(cx, cy - 7, f"{lv['channels']} ch", size=10, fill=(255, 255, 255), anchor="mm")
        sheet.text(cx, cy + 8, f"{h}x{w}", size=11, fill=(255, 255, 255), anchor="mm", bold=True)
    order = [lv["name"] for lv in levels]
    for a, b in zip(order, order[1:]):
        (x0, y0), (x1, y1) = centre[a], centre[b]
        down = y1 > y0
        edge = 0.33 * uy
        sheet.arrow(x0, y0 + edge if down else y0 - edge, x1, y1 - edge if down else y1 + edge,
                    fill=(228, 87, 86) if down else (84, 162, 75), width=2, head=7)
    for lv in levels:
        if lv["stage"] != "decoder" or f"enc{lv['level']}" not in centre:
            continue
        (x0, y0), (x1, _) = centre[f"enc{lv['level']}"], centre[lv["name"]]
        y = y0 - 0.32 * uy - 3
        sheet.arrow(x0 + 0.38 * ux, y, x1 - 0.38 * ux, y, fill=(128, 128, 128), width=1, head=6)
        label = f"copy, crop {lv['crop']} px/side" if lv.get("crop") else (
            f"copy, pad up-map {lv['pad']} px" if lv.get("pad") else "copy")
        sheet.text((x0 + x1) / 2, y - 2, label, size=10, fill=(90, 90, 90), anchor="mb")
    if note:
        sheet.text(left, top + (depth + 1) * uy + 4, "\n".join(note), size=11, fill=(187, 0, 0))
    return sheet.array()


def _quiver(ax, displacement: np.ndarray, step: int) -> None:
    h, w = displacement.shape[-2:]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    # imshow's y axis points down; quiver arrows point to where each output pixel reads from
    ax.quiver(xs, ys, displacement[1][ys, xs], displacement[0][ys, xs], color="red", angles="xy",
              scale_units="xy", scale=1.0, width=0.006)


def grid_lines(height: int, width: int, step: int = 8) -> np.ndarray:
    """``float64[height, width]``: 1 on every ``step``-th row and column, 0 elsewhere (a sheet of squared paper).

    Warp it with the same field as the image (``seglab.data.elastic.warp``) to see the deformation as bent lines."""
    lines = np.zeros((height, width))
    lines[::step, :] = 1
    lines[:, ::step] = 1
    return lines


def _elastic_panels(image, mask, warped_image, warped_mask, warped_grid):
    return [(to_numpy_image(image), "image"), (colorize(mask), "mask"),
            (to_numpy_image(warped_image), "warped image"), (colorize(warped_mask), "warped mask (nearest)"),
            (1 - to_numpy(warped_grid), "displacement field")]


def draw_elastic(image, mask, warped_image, warped_mask, displacement, warped_grid, step: int = 8,
                 scale: float = 2.3):
    """Five panels: image, mask, warped image, warped mask, displacement field (arrows over the warped grid).

    ``warped_grid`` (``float[H, W]``): :func:`grid_lines` ``(H, W, step)`` warped by ``displacement``
    (``Tensor[2, H, W]``, ``(dy, dx)`` per pixel), e.g. ``warp(torch.from_numpy(grid_lines(H, W, step)), None,
    displacement)[0]``."""
    disp = to_numpy(displacement).astype(np.float64)
    fig = new_figure(5 * scale, scale * 1.15)
    axes = fig.subplots(1, 5)
    for ax, (panel, title) in zip(axes, _elastic_panels(image, mask, warped_image, warped_mask, warped_grid)):
        ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    _quiver(axes[4], disp, step)
    return fig


def elastic_picture(image, mask, warped_image, warped_mask, displacement, warped_grid, step: int = 8,
                    scale: int = 2) -> np.ndarray:
    """:func:`draw_elastic`'s panels painted in pixels (``uint8[H, W, 3]``, images enlarged ``scale`` times), in two
    rows: image, warped image, displacement field (the warped grid lines, every ``step`` pixels, and red arrows
    every ``2 * step`` pixels: where each output pixel reads from); mask, warped mask."""
    from seglab.viz.raster import RED, tile

    panels = _elastic_panels(image, mask, warped_image, warped_mask, warped_grid)
    order = [panels[0], panels[2], panels[4], panels[1], panels[3]]
    sheet, places = tile(order, cols=3, scale=scale, title_size=11)
    disp = to_numpy(displacement).astype(np.float64)
    h, w = disp.shape[-2:]
    x0, y0 = places[2]
    arrows = 2 * step  # every other grid line: fewer, readable arrows
    ys, xs = np.mgrid[arrows // 2:h:arrows, arrows // 2:w:arrows]
    for y, x in zip(ys.ravel(), xs.ravel()):
        dy, dx = disp[0, y, x], disp[1, y, x]
        sheet.arrow(x0 + (x + 0.5) * scale, y0 + (y + 0.5) * scale, x0 + (x + dx + 0.5) * scale,
                    y0 + (y + dy + 0.5) * scale, fill=RED, width=1, head=5)
    return sheet.array()


def draw_weight_map(image, instance_mask, weights, scale: float = 2.6):
    """Three panels: image, instance ids, the U-Net weight map (with a colour bar)."""
    inst = to_numpy(instance_mask)
    wts = to_numpy(weights)
    wts = wts.astype(np.float64) if isinstance(weights, torch.Tensor) else wts
    fig = new_figure(3.4 * scale, scale)
    axes = fig.subplots(1, 3)
    axes[0].imshow(to_numpy_image(image))
    axes[0].set_title("image", fontsize=8)
    axes[1].imshow(colorize(np.where(inst == IGNORE_INDEX, IGNORE_INDEX, inst % IGNORE_INDEX)), interpolation="nearest")
    axes[1].set_title("objects (instance ids)", fontsize=8)
    im = axes[2].imshow(wts, cmap="magma", interpolation="nearest")
    axes[2].set_title(f"weight map (max {wts.max():.1f})", fontsize=8)
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    return fig


def outline_objects(image, instances, colour=(255, 200, 0)) -> np.ndarray:
    """``uint8[H, W, 3]``: a grey image with every object's outline drawn in ``colour``."""
    from seglab.viz.raster import boundary, rgb8

    picture = rgb8(image).copy()
    inst = to_numpy(instances)
    edges = np.zeros(inst.shape, dtype=bool)
    for k in np.unique(inst[inst > 0]):
        edges |= boundary(inst == k)
    picture[edges] = colour
    return picture


def nuclei_overview_picture(image, instances, regions: dict) -> np.ndarray:
    """The micrograph with its nuclei outlined and the fixed regions boxed and named: ``uint8[H, W, 3]``.
    ``regions``: name -> ``(top, left, height, width)``."""
    from seglab.viz.raster import Sheet

    picture = outline_objects(image, instances)
    sheet = Sheet(picture.shape[1], picture.shape[0]).paste(picture, 0, 0)
    colours = {"train": (0, 170, 255), "val": (80, 220, 80), "test": (255, 80, 80)}
    for name, (top, left, height, width) in regions.items():
        colour = colours.get(name, (255, 255, 255))
        sheet.rect(left + 1, top + 1, left + width - 2, top + height - 2, outline=colour, width=3)
        sheet.text(left + 8, top + 8, name, size=16, fill=colour, bold=True, background=(0, 0, 0))
    return sheet.array()


def nuclei_prediction_picture(image, gt, components, pairs, merged, label: str = "") -> np.ndarray:
    """A region, three panels: the true nuclei outlined; the predicted instances (connected components) outlined;
    and each touching pair of true nuclei marked at the point where they meet, red when one predicted instance
    merged them, green when it was split. ``pairs``, ``merged``: ``(a, b)`` id pairs of ``gt``; ``label`` names the
    model in the panels' titles."""
    from seglab.viz.raster import tile

    gt = to_numpy(gt)
    predicted = outline_objects(image, components)
    marks = predicted.copy()
    merged = {tuple(p) for p in merged}
    for a, b in pairs:
        ys, xs = np.nonzero(gt == a)
        yb, xb = np.nonzero(gt == b)
        ia = np.argmin((ys[:, None] - yb[None]) ** 2 + (xs[:, None] - xb[None]) ** 2)
        y, x = ys[ia // len(yb)], xs[ia // len(yb)]
        colour = (255, 40, 40) if tuple((a, b)) in merged else (40, 220, 40)
        marks[max(y - 3, 0):y + 4, max(x - 3, 0):x + 4] = colour
    head = f"{label}: " if label else ""
    split = len(pairs) - len(merged)
    sheet, _ = tile([(outline_objects(image, gt), "true nuclei"),
                     (predicted, f"{head}predicted instances"),
                     (marks, f"{head}{len(merged)} touching pairs merged (red), {split} split (green)")], cols=3)
    return sheet.array()
