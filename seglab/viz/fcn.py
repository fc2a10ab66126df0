"""Pictures for chapter 2 (FCN): per-stream scores, fused predictions, error and boundary-error maps.

Pure functions: arrays in, an RGB array or a Matplotlib figure out (``seglab.viz.new_figure``; no pyplot state).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from seglab.data.classes import IGNORE_INDEX
from seglab.viz import colorize, new_figure, to_numpy_image

__all__ = ["label_boundaries", "error_map", "boundary_error_map", "fusion_figure", "fcn_comparison_figure"]

#: Colours of the boundary-error picture: a predicted boundary with no true one nearby / a missed true boundary.
FALSE_BOUNDARY = np.array([255, 220, 0], dtype=np.uint8)
MISSED_BOUNDARY = np.array([255, 0, 255], dtype=np.uint8)


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def label_boundaries(labels) -> np.ndarray:
    """``int[H,W]`` label map -> ``bool[H,W]``: pixels with a 4-neighbour of another label (frame excluded)."""
    lab = _np(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must have shape [H, W], got {lab.shape}")
    edge = np.zeros(lab.shape, dtype=bool)
    dy, dx = lab[1:, :] != lab[:-1, :], lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    return edge


def error_map(image, pred, target, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``float[H,W,3]``: the image in grey, wrong pixels in red, ignored pixels in blue-grey."""
    p, t = _np(pred), _np(target)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}")
    img = to_numpy_image(image)
    grey = (img.mean(-1) if img.ndim == 3 else img)[..., None].repeat(3, -1) * 0.6 + 0.2
    wrong = (p != t) & (t != ignore_index)
    out = np.where(wrong[..., None], np.array([0.9, 0.05, 0.05]), grey)
    return np.where((t == ignore_index)[..., None], np.array([0.55, 0.6, 0.7]), out)


def boundary_error_map(pred, target, tolerance: int = 2, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``uint8[H,W,3]``: the prediction (dimmed) with false boundaries in yellow and missed ones in magenta.

    A predicted boundary pixel is false when no true boundary lies within ``tolerance`` pixels (Chebyshev distance,
    as in ``seglab.metrics.boundary_f1``); a true boundary pixel is missed when no predicted one does."""
    p, t = _np(pred), _np(target)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}")
    valid = t != ignore_index
    bp = label_boundaries(p) & valid
    bt = label_boundaries(np.where(valid, t, -1)) & valid
    square = np.ones((2 * tolerance + 1,) * 2, dtype=bool)
    false = bp & ~ndimage.binary_dilation(bt, square)
    missed = bt & ~ndimage.binary_dilation(bp, square)
    out = (colorize(p.astype(np.int64)).astype(np.float32) * 0.45).astype(np.uint8)
    out[false] = FALSE_BOUNDARY
    out[missed] = MISSED_BOUNDARY
    return out


def _panel(ax, picture, title: str) -> None:
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def fusion_figure(image, target, stream_scores: dict, selected, fused_pred, *, model_name: str = "",
                  ignore_index: int = IGNORE_INDEX):
    """The fusion explorer's picture.

    Top row: image, ground truth, fused prediction, error map. Bottom row: each stream's upsampled scores
    (``stream_scores``: name -> ``float[K,H,W]``) shown as their argmax, titled with the mean absolute score;
    streams not in ``selected`` are drawn faded.
    """
    names = list(stream_scores)
    cols = max(4, len(names))
    fig = new_figure(2.1 * cols, 4.6)
    axes = fig.subplots(2, cols, squeeze=False)
    pred = _np(fused_pred)
    tgt = _np(target)
    _panel(axes[0, 0], to_numpy_image(image), "image")
    _panel(axes[0, 1], colorize(tgt), "ground truth")
    _panel(axes[0, 2], colorize(pred), f"{model_name} fused: {'+'.join(selected)}")
    _panel(axes[0, 3], error_map(image, pred, tgt, ignore_index), "errors (red)")
    for ax in axes[0, 4:]:
        ax.axis("off")
    for col, name in enumerate(names):
        s = _np(stream_scores[name])
        picture = colorize(s.argmax(0)).astype(np.float32) / 255.0
        on = name in selected
        if not on:
            picture = 0.25 * picture + 0.75
        _panel(axes[1, col], picture, f"{name}{'' if on else ' (off)'}  |s|={np.abs(s).mean():.2f}")
    for ax in axes[1, len(names):]:
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.01, wspace=0.05, hspace=0.15)
    return fig


def fcn_comparison_figure(images, targets, preds_by_model: dict, *, tolerance: int = 2, scale: float = 1.9):
    """One row per image: image, ground truth, then for each model its prediction and its boundary errors
    (yellow: false boundary, magenta: missed boundary)."""
    images, targets = list(images), list(targets)
    if len(images) != len(targets):
        raise ValueError(f"got {len(images)} images but {len(targets)} targets")
    names = list(preds_by_model)
    cols = 2 + 2 * len(names)
    fig = new_figure(scale * cols, scale * len(images) + 0.3)
    axes = fig.subplots(len(images), cols, squeeze=False)
    for row, (img, tgt) in enumerate(zip(images, targets)):
        t = _np(tgt)
        panels = [(to_numpy_image(img), "image"), (colorize(t), "ground truth")]
        for name in names:
            p = _np(preds_by_model[name][row])
            panels += [(colorize(p), name), (boundary_error_map(p, t, tolerance), f"{name} boundary errors")]
        for col, (picture, title) in enumerate(panels):
            _panel(axes[row, col], picture, title if row == 0 else "")
    fig.tight_layout()
    return fig
