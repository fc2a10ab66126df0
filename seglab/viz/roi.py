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
