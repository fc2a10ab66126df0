"""Pure renderers: arrays in, a Matplotlib figure or an RGB array out. No widgets, no display calls.

Chapter-specific renderers live in submodules (``seglab.viz.transposed`` and so on; a training run's curves:
``seglab.viz.history.plot_history``); the core is here. Figures for notebooks are Matplotlib (``draw_*``,
``show_*``); the explorers' pictures (``*_picture``) are painted straight into ``uint8[H, W, 3]`` arrays with
:mod:`seglab.viz.raster`, fast enough to redraw on every slider move.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from seglab.data.classes import CLASS_NAMES, IGNORE_INDEX
from seglab.data.formats import voc_palette_array as voc_palette  # the one VOC palette, under its viz name
from seglab.utils import to_numpy

__all__ = ["voc_palette", "colorize", "overlay", "show_segmentation", "to_numpy_image", "new_figure",
           "distinct_colors", "as_float64"]

_PALETTE = voc_palette()


def as_float64(values) -> np.ndarray:
    """A tensor (any device) or array-like -> ``float64`` NumPy array (the values small-array pictures print)."""
    return to_numpy(values).astype(np.float64)


def to_numpy_image(image) -> np.ndarray:
    """``float[3,H,W]`` tensor in [0,1] (or ``uint8[H,W,3]`` array) -> ``float[H,W,3]`` array in [0,1]."""
    channels_first = isinstance(image, torch.Tensor)
    image = to_numpy(image)
    if channels_first and image.ndim == 3 and image.shape[0] in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    if image.ndim not in (2, 3):
        raise ValueError(f"expected an image of shape [3,H,W] or [H,W,3] or [H,W], got {tuple(image.shape)}")
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def colorize(mask) -> np.ndarray:
    """``int[H,W]`` label mask -> ``uint8[H,W,3]`` in the VOC palette (``IGNORE_INDEX`` = void in cream)."""
    mask = to_numpy(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a mask of shape [H, W], got {mask.shape}")
    top = len(_PALETTE) - 1
    if mask.size and (mask.min() < 0 or mask.max() > top):
        raise ValueError(f"mask labels must be in 0..{top}, got range {mask.min()}..{mask.max()}")
    return _PALETTE[mask.astype(np.int64)]


def overlay(image, mask, alpha: float = 0.5) -> np.ndarray:
    """Blend a label mask over an image: ``float[H,W,3]`` in [0,1]. Void pixels keep the image."""
    img = to_numpy_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    mask_np = to_numpy(mask)
    if mask_np.shape != img.shape[:2]:
        raise ValueError(f"mask shape {mask_np.shape} does not match image size {img.shape[:2]}")
    colours = colorize(mask_np).astype(np.float32) / 255.0
    keep = (mask_np == IGNORE_INDEX)[..., None]
    return np.where(keep, img, (1 - alpha) * img + alpha * colours)


def distinct_colors(n: int, seed: int = 0) -> np.ndarray:
    """``uint8[n, 3]`` well-separated colours (golden-ratio hues), the same for the same ``n`` and ``seed``."""
    import colorsys

    offset = np.random.default_rng(seed).random()
    hues = (offset + 0.618033988749895 * np.arange(n)) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.75, 0.95) for h in hues]).reshape(-1, 3).__mul__(255).astype(np.uint8)


def new_figure(width: float, height: float, dpi: int = 80) -> Figure:
    """A figure that does not touch pyplot's global state (safe inside widgets and threads)."""
    return Figure(figsize=(width, height), dpi=dpi)


def show_segmentation(images, masks, preds=None, *, class_names=None, titles=None, scale: float = 2.2) -> Figure:
    """A grid with one row per image: image, ground truth and (optionally) prediction.

    ``images``: sequence of ``float[3,H,W]``; ``masks``/``preds``: sequences of ``int[H,W]``.
    """
    images, masks = list(images), list(masks)
    if len(images) != len(masks):
        raise ValueError(f"got {len(images)} images but {len(masks)} masks")
    preds = None if preds is None else list(preds)
    if preds is not None and len(preds) != len(images):
        raise ValueError(f"got {len(images)} images but {len(preds)} predictions")
    cols = 2 if preds is None else 3
    fig = new_figure(scale * cols, scale * len(images))
    axes = fig.subplots(len(images), cols, squeeze=False)
    heads = titles or ["image", "ground truth", "prediction"]
    for row, (img, mask) in enumerate(zip(images, masks)):
        panels = [to_numpy_image(img), colorize(mask)] + ([] if preds is None else [colorize(preds[row])])
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(heads[col])
    names = class_names or CLASS_NAMES
    handles = [
        Patch(color=_PALETTE[k] / 255.0, label=n)
        for k, n in enumerate(names)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(names), 4), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.12)
    return fig
