"""Pure renderers for the U-Net chapter: the architecture from real shapes, elastic warps, the weight map."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, Rectangle

from seglab.data.classes import IGNORE_INDEX
from seglab.utils import to_numpy
from seglab.viz import colorize, new_figure, to_numpy_image

__all__ = ["levels_from_trace", "levels_from_size_trace", "draw_unet", "grid_lines", "draw_elastic",
           "draw_weight_map"]


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


def draw_elastic(image, mask, warped_image, warped_mask, displacement, warped_grid, step: int = 8,
                 scale: float = 2.3):
    """Five panels: image, mask, warped image, warped mask, displacement field (arrows over the warped grid).

    ``warped_grid`` (``float[H, W]``): :func:`grid_lines` ``(H, W, step)`` warped by ``displacement``
    (``Tensor[2, H, W]``, ``(dy, dx)`` per pixel), e.g. ``warp(torch.from_numpy(grid_lines(H, W, step)), None,
    displacement)[0]``."""
    disp = to_numpy(displacement).astype(np.float64)
    fig = new_figure(5 * scale, scale * 1.15)
    axes = fig.subplots(1, 5)
    panels = [(to_numpy_image(image), "image"), (colorize(mask), "mask"),
              (to_numpy_image(warped_image), "warped image"), (colorize(warped_mask), "warped mask (nearest)"),
              (1 - to_numpy(warped_grid), "displacement field")]
    for ax, (panel, title) in zip(axes, panels):
        ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    _quiver(axes[4], disp, step)
    return fig


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
