"""Pictures for chapter 2 (FCN): per-stream scores, fused predictions, error and boundary-error maps.

Pure functions: arrays in, an RGB array or a Matplotlib figure out (``seglab.viz.new_figure``; no pyplot state).
The boundary errors are computed by the metric's own code (:func:`seglab.metrics.semantic.boundary_errors`) and
only coloured here, so the picture marks exactly the pixels :func:`seglab.metrics.boundary_f1` counts.
"""

from __future__ import annotations

import numpy as np

from seglab.data.classes import IGNORE_INDEX
from seglab.utils import to_numpy
from seglab.viz import colorize, new_figure, to_numpy_image

__all__ = ["error_map", "boundary_error_map", "fusion_figure", "fusion_picture", "fcn_comparison_figure",
           "shifted_curve", "learning_curves_figure"]

#: Colours of the boundary-error picture: a predicted boundary with no true one nearby / a missed true boundary.
FALSE_BOUNDARY = np.array([255, 220, 0], dtype=np.uint8)
MISSED_BOUNDARY = np.array([255, 0, 255], dtype=np.uint8)


def error_map(image, pred, target, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``float[H,W,3]``: the image in grey, wrong pixels in red, ignored pixels in blue-grey."""
    p, t = to_numpy(pred), to_numpy(target)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}")
    img = to_numpy_image(image)
    grey = (img.mean(-1) if img.ndim == 3 else img)[..., None].repeat(3, -1) * 0.6 + 0.2
    wrong = (p != t) & (t != ignore_index)
    out = np.where(wrong[..., None], np.array([0.9, 0.05, 0.05]), grey)
    return np.where((t == ignore_index)[..., None], np.array([0.55, 0.6, 0.7]), out)


def boundary_error_map(pred, false_pred, missed_true) -> np.ndarray:
    """``uint8[H,W,3]``: the prediction (dimmed) with false boundaries in yellow and missed ones in magenta.

    ``false_pred`` / ``missed_true`` (``bool[H,W]``) are the pixels that :func:`seglab.metrics.boundary_f1` counts
    as unmatched, from :func:`seglab.metrics.semantic.boundary_errors` (a pixel that is both is drawn magenta)."""
    p, false, missed = to_numpy(pred), to_numpy(false_pred).astype(bool), to_numpy(missed_true).astype(bool)
    if not p.shape == false.shape == missed.shape:
        raise ValueError(f"pred {p.shape}, false_pred {false.shape} and missed_true {missed.shape} must have one shape")
    out = (colorize(p.astype(np.int64)).astype(np.float32) * 0.45).astype(np.uint8)
    out[false] = FALSE_BOUNDARY
    out[missed] = MISSED_BOUNDARY
    return out


def _panel(ax, picture, title: str) -> None:
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def _fusion_panels(image, target, stream_scores: dict, selected, fused_pred, model_name: str, ignore_index: int):
    """The fusion picture's panels, ``[(picture, title)]``: image, ground truth, fused prediction, error map, then
    each stream's argmax (faded when the stream is not fused)."""
    pred, tgt = to_numpy(fused_pred), to_numpy(target)
    panels = [(to_numpy_image(image), "image"), (colorize(tgt), "ground truth"),
              (colorize(pred), f"{model_name} fused: {'+'.join(selected)}"),
              (error_map(image, pred, tgt, ignore_index), "errors (red)")]
    for name, scores in stream_scores.items():
        s = to_numpy(scores)
        picture = colorize(s.argmax(0)).astype(np.float32) / 255.0
        on = name in selected
        if not on:
            picture = 0.25 * picture + 0.75
        panels.append((picture, f"{name}{'' if on else ' (off)'}  |s|={np.abs(s).mean():.2f}"))
    return panels


def fusion_figure(image, target, stream_scores: dict, selected, fused_pred, *, model_name: str = "",
                  ignore_index: int = IGNORE_INDEX):
    """The fusion explorer's picture as a Matplotlib figure.

    Top row: image, ground truth, fused prediction, error map. Bottom row: each stream's upsampled scores
    (``stream_scores``: name -> ``float[K,H,W]``) shown as their argmax, titled with the mean absolute score;
    streams not in ``selected`` are drawn faded.
    """
    panels = _fusion_panels(image, target, stream_scores, selected, fused_pred, model_name, ignore_index)
    cols = max(4, len(stream_scores))
    fig = new_figure(2.1 * cols, 4.6)
    axes = fig.subplots(2, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    slots = list(axes[0, :4]) + list(axes[1, : len(stream_scores)])
    for ax, (picture, title) in zip(slots, panels):
        ax.axis("on")
        _panel(ax, picture, title)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.01, wspace=0.05, hspace=0.15)
    return fig


def fusion_picture(image, target, stream_scores: dict, selected, fused_pred, *, model_name: str = "",
                   ignore_index: int = IGNORE_INDEX, scale: int = 2) -> np.ndarray:
    """:func:`fusion_figure`'s panels painted in pixels (``uint8[H, W, 3]``), each image enlarged ``scale`` times:
    the explorer's fast path."""
    from seglab.viz.raster import tile

    panels = _fusion_panels(image, target, stream_scores, selected, fused_pred, model_name, ignore_index)
    cols = max(4, len(stream_scores))
    grid = panels[:4] + [(None, "")] * (cols - 4) + panels[4:]
    sheet, _ = tile(grid, cols=cols, scale=scale, title_size=11)
    return sheet.array()


def fcn_comparison_figure(images, targets, preds_by_model: dict, errors_by_model: dict, *, scale: float = 1.9):
    """One row per image: image, ground truth, then for each model its prediction and its boundary errors
    (yellow: false boundary, magenta: missed boundary).

    ``preds_by_model``: name -> one ``int[H,W]`` prediction per image; ``errors_by_model``: name -> one
    ``(false_pred, missed_true)`` pair per image, from :func:`seglab.metrics.semantic.boundary_errors`."""
    images, targets = list(images), list(targets)
    if len(images) != len(targets):
        raise ValueError(f"got {len(images)} images but {len(targets)} targets")
    names = list(preds_by_model)
    missing = [n for n in names if n not in errors_by_model]
    if missing:
        raise ValueError(f"errors_by_model has no boundary errors for {missing}")
    cols = 2 + 2 * len(names)
    fig = new_figure(scale * cols, scale * len(images) + 0.3)
    axes = fig.subplots(len(images), cols, squeeze=False)
    for row, (img, tgt) in enumerate(zip(images, targets)):
        panels = [(to_numpy_image(img), "image"), (colorize(tgt), "ground truth")]
        for name in names:
            p = preds_by_model[name][row]
            false_pred, missed_true = errors_by_model[name][row]
            panels += [(colorize(p), name),
                       (boundary_error_map(p, false_pred, missed_true), f"{name} boundary errors")]
        for col, (picture, title) in enumerate(panels):
            _panel(axes[row, col], picture, title if row == 0 else "")
    fig.tight_layout()
    return fig


def shifted_curve(points, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(epochs, values)`` of a learning curve ``[(epoch, value), ...]`` with every epoch moved ``start`` later.

    ``start``: the epochs of training the run's first weights already had (a staged FCN-16s starts from an FCN-32s
    trained for ``start`` epochs), so runs line up by their total training."""
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start must be a non-negative number of epochs, got {start!r}")
    pairs = np.asarray(list(points), dtype=np.float64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise ValueError(f"expected a non-empty list of (epoch, value) pairs, got shape {pairs.shape}")
    return pairs[:, 0] + start, pairs[:, 1]


def learning_curves_figure(curves: dict, *, start_epochs: dict | None = None, ylabel: str = "val mIoU",
                           title: str = "", xlabel: str = "epochs of training, counting the stages it started from",
                           ylim=(0.0, 1.0), styles: dict | None = None):
    """Learning curves on one axis: ``curves`` maps a run's name to ``[(epoch, value), ...]``.

    ``start_epochs`` (name -> epochs, default 0) shifts staged runs right (:func:`shifted_curve`); a dotted
    vertical line in the run's colour marks where it started. ``styles`` (name -> Matplotlib keyword arguments)
    sets colours or line styles. Returns the figure; one line per run, labelled with its name."""
    start_epochs, styles = dict(start_epochs or {}), dict(styles or {})
    unknown = sorted(set(start_epochs) - set(curves)) + sorted(set(styles) - set(curves))
    if unknown:
        raise ValueError(f"start_epochs / styles name runs that are not in curves: {unknown}")
    fig = new_figure(6.5, 2.8)
    ax = fig.subplots()
    for name, points in curves.items():
        x, y = shifted_curve(points, start_epochs.get(name, 0))
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=name, **styles.get(name, {}))
        if start_epochs.get(name, 0):
            ax.axvline(start_epochs[name], linestyle=":", color=line.get_color())
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
