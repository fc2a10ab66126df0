"""Renderers for chapter 0: one scene as image, semantic, instance and panoptic segmentation."""

from __future__ import annotations

import numpy as np

from seglab.data.classes import CLASS_NAMES, IGNORE_INDEX
from seglab.utils import UnknownNameError, to_numpy
from seglab.viz import colorize, distinct_colors, new_figure, to_numpy_image
from seglab.viz.panoptic import colorize_panoptic

__all__ = ["TASK_VIEWS", "TASK_TITLES", "render_instances", "task_panels", "show_tasks", "tasks_picture"]

TASK_VIEWS = ("image", "semantic", "instance", "panoptic")


def render_instances(masks, height: int | None = None, width: int | None = None) -> np.ndarray:
    """``uint8[N,H,W]`` instance masks -> ``uint8[H,W,3]``: each object its own colour, the rest dark grey.

    Later masks are drawn over earlier ones (the order they are given in).
    """
    masks = to_numpy(masks).astype(bool)
    if masks.ndim != 3:
        raise ValueError(f"expected masks of shape [N, H, W], got {masks.shape}")
    h, w = masks.shape[1:] if masks.shape[0] else (height, width)
    out = np.full((h, w, 3), 40, dtype=np.uint8)
    for mask, colour in zip(masks, distinct_colors(len(masks))):
        out[mask] = colour
    return out


TASK_TITLES = {
    "image": "(a) image",
    "semantic": "(b) semantic: a class per pixel",
    "instance": "(c) instance: a mask per object",
    "panoptic": "(d) panoptic: class + instance id",
}


def task_panels(image, semantic, instance_target, panoptic_target, views=TASK_VIEWS) -> dict:
    """The panels of :func:`show_tasks` as arrays: view name -> ``uint8[H, W, 3]`` (``float`` for ``"image"``)."""
    panels = {
        "image": lambda: to_numpy_image(image),
        "semantic": lambda: colorize(semantic),
        "instance": lambda: render_instances(instance_target["masks"]),
        "panoptic": lambda: colorize_panoptic(panoptic_target["id_map"], panoptic_target["segments_info"],
                                              style="distinct"),
    }
    unknown = [v for v in views if v not in panels]
    if unknown:
        raise UnknownNameError("view", unknown[0], panels)
    return {view: panels[view]() for view in views}


def _classes_line(semantic) -> str:
    sem = to_numpy(semantic)
    present = [k for k in np.unique(sem) if k != IGNORE_INDEX]
    return "classes here: " + ", ".join(CLASS_NAMES[k] for k in present)


def show_tasks(image, semantic, instance_target, panoptic_target, views=TASK_VIEWS, scale: float = 2.6):
    """One scene as the four views of Kirillov et al.'s Figure 1 (or a subset, by name)."""
    panels = task_panels(image, semantic, instance_target, panoptic_target, views)
    fig = new_figure(scale * len(views), scale + 0.4)
    axes = np.atleast_1d(fig.subplots(1, len(views)))
    for ax, view in zip(axes, views):
        ax.imshow(panels[view], interpolation="nearest")
        ax.set_title(TASK_TITLES[view], fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    if "semantic" in views:
        fig.text(0.5, 0.01, _classes_line(semantic), ha="center", fontsize=8)
    return fig


def tasks_picture(image, semantic, instance_target, panoptic_target, views=TASK_VIEWS, scale: int = 2):
    """The scene browser's picture: :func:`show_tasks`'s panels, enlarged ``scale`` times and painted in pixels.
    Returns ``(uint8[H, W, 3], panels)`` with ``panels`` as :func:`task_panels` gives them."""
    from seglab.viz.raster import tile

    panels = task_panels(image, semantic, instance_target, panoptic_target, views)
    sheet, places = tile([(panels[v], TASK_TITLES[v]) for v in views], scale=scale, title_size=11, head=18)
    picture = sheet.array()
    if "semantic" in views:
        from seglab.viz.raster import Sheet

        bottom = Sheet(picture.shape[1], 20).text(places[0][0], 3, _classes_line(semantic), size=11).array()
        picture = np.concatenate([picture, bottom])
    return picture, panels
