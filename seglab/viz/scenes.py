"""Renderers for chapter 0: one scene as image, semantic, instance and panoptic segmentation."""

from __future__ import annotations

import numpy as np
import torch

from seglab.data.classes import CATEGORIES, CLASS_NAMES, IGNORE_INDEX
from seglab.viz import colorize, new_figure, to_numpy_image, voc_palette

__all__ = ["TASK_VIEWS", "distinct_colors", "render_instances", "render_panoptic", "show_tasks"]

TASK_VIEWS = ("image", "semantic", "instance", "panoptic")
_VOID = np.array([255, 255, 255], dtype=np.uint8)


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def distinct_colors(n: int, seed: int = 0) -> np.ndarray:
    """``uint8[n, 3]`` well-separated colours (golden-ratio hues), the same for the same ``n`` and ``seed``."""
    import colorsys

    offset = np.random.default_rng(seed).random()
    hues = (offset + 0.618033988749895 * np.arange(n)) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.75, 0.95) for h in hues]).reshape(-1, 3).__mul__(255).astype(np.uint8)


def render_instances(masks, height: int | None = None, width: int | None = None) -> np.ndarray:
    """``uint8[N,H,W]`` instance masks -> ``uint8[H,W,3]``: each object its own colour, the rest dark grey.

    Later masks are drawn over earlier ones (the order they are given in).
    """
    masks = _np(masks).astype(bool)
    if masks.ndim != 3:
        raise ValueError(f"expected masks of shape [N, H, W], got {masks.shape}")
    h, w = masks.shape[1:] if masks.shape[0] else (height, width)
    out = np.full((h, w, 3), 40, dtype=np.uint8)
    for mask, colour in zip(masks, distinct_colors(len(masks))):
        out[mask] = colour
    return out


def render_panoptic(id_map, segments_info) -> np.ndarray:
    """Panoptic ``(id_map int[H,W], segments_info)`` -> ``uint8[H,W,3]``.

    Stuff segments take their class colour (VOC palette, as in the semantic view); every thing segment takes its own
    colour; VOID (id 0) is white.
    """
    ids = _np(id_map).astype(np.int64)
    out = np.empty(ids.shape + (3,), dtype=np.uint8)
    out[...] = _VOID
    palette = voc_palette()
    isthing = {c["id"]: c["isthing"] for c in CATEGORIES}
    things = [s for s in segments_info if isthing.get(s["category_id"], 0)]
    thing_colour = dict(zip((s["id"] for s in things), distinct_colors(len(things), seed=1)))
    for seg in segments_info:
        colour = thing_colour.get(seg["id"], palette[seg["category_id"] - 1])
        out[ids == seg["id"]] = colour
    return out


def show_tasks(image, semantic, instance_target, panoptic_target, views=TASK_VIEWS, scale: float = 2.6):
    """One scene as the four views of Kirillov et al.'s Figure 1 (or a subset, by name)."""
    panels = {
        "image": lambda: to_numpy_image(image),
        "semantic": lambda: colorize(semantic),
        "instance": lambda: render_instances(instance_target["masks"]),
        "panoptic": lambda: render_panoptic(panoptic_target["id_map"], panoptic_target["segments_info"]),
    }
    unknown = [v for v in views if v not in panels]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; choose from {list(panels)}")
    titles = {
        "image": "(a) image",
        "semantic": "(b) semantic: a class per pixel",
        "instance": "(c) instance: a mask per object",
        "panoptic": "(d) panoptic: class + instance id",
    }
    fig = new_figure(scale * len(views), scale + 0.4)
    axes = np.atleast_1d(fig.subplots(1, len(views)))
    for ax, view in zip(axes, views):
        ax.imshow(panels[view](), interpolation="nearest")
        ax.set_title(titles[view], fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    if "semantic" in views:
        sem = _np(semantic)
        present = [k for k in np.unique(sem) if k != IGNORE_INDEX]
        fig.text(0.5, 0.01, "classes here: " + ", ".join(CLASS_NAMES[k] for k in present), ha="center", fontsize=8)
    return fig
