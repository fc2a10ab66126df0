"""Pure renderers for panoptic segmentation: id maps in colour, and the matching of a prediction to the gt."""

from __future__ import annotations

import numpy as np

from seglab.data.classes import CATEGORIES, IGNORE_INDEX
from seglab.utils import to_numpy
from seglab.viz import distinct_colors, new_figure, to_numpy_image, voc_palette

__all__ = ["colorize_panoptic", "show_panoptic", "show_panoptic_match", "panoptic_match_picture"]

_PALETTE = voc_palette()
#: What VOID (segment id 0) looks like in each style: the VOC void cream, or white.
_VOID = {"shaded": _PALETTE[IGNORE_INDEX], "distinct": np.array([255, 255, 255], dtype=np.uint8)}
_CROWD_GREY = 160


def _is_thing(seg: dict, thing_categories: dict) -> bool:
    """A segment's own ``isthing``, else its category's, else the panoptic id convention (``id % 256 != 0``)."""
    if "isthing" in seg:
        return bool(seg["isthing"])
    if seg["category_id"] in thing_categories:
        return bool(thing_categories[seg["category_id"]])
    return seg["id"] % 256 != 0


def colorize_panoptic(id_map, segments_info, *, style: str = "shaded", categories=None) -> np.ndarray:
    """``int[H, W]`` segment ids -> ``uint8[H, W, 3]``; the one panoptic colouring of seglab.

    Stuff segments take their category's VOC colour (category id c -> palette entry c - 1, as in the semantic view).
    Things depend on ``style``: ``"shaded"`` (chapter 6) shades the category colour apart by instance and hatches
    crowd segments grey, VOID (0) in the VOC void cream; ``"distinct"`` (chapter 0) gives every thing its own
    colour (:func:`seglab.viz.distinct_colors`, seed 1), VOID white. A segment is a thing when its info says so
    (``"isthing"``), else when its category is one in ``categories`` (default: seglab's ``CATEGORIES``), else when
    its id is not a multiple of 256.
    """
    if style not in _VOID:
        raise ValueError(f"style must be one of {tuple(_VOID)}, got {style!r}")
    ids = to_numpy(id_map)
    if ids.ndim != 2:
        raise ValueError(f"id_map must have shape [H, W], got {ids.shape}")
    thing_categories = {c["id"]: c["isthing"] for c in (CATEGORIES if categories is None else categories)}
    things = [seg["id"] for seg in segments_info if _is_thing(seg, thing_categories)]
    own_colour = dict(zip(things, distinct_colors(len(things), seed=1))) if style == "distinct" else {}
    out = np.empty(ids.shape + (3,), dtype=np.uint8)
    out[...] = _VOID[style]
    yy, xx = np.mgrid[: ids.shape[0], : ids.shape[1]]
    for k, seg in enumerate(segments_info):
        region = ids == seg["id"]
        if seg["id"] in own_colour:
            out[region] = own_colour[seg["id"]]
            continue
        colour = _PALETTE[(int(seg["category_id"]) - 1) % IGNORE_INDEX].astype(np.float32)
        if seg["id"] in things:  # shaded: alternate lighter / darker shades
            colour = np.clip(colour * (0.55 + 0.15 * (k % 4)) + 40 * (k % 2), 0, 255)
        if style == "shaded" and seg.get("iscrowd", 0):
            colour = np.where(((yy + xx) % 4 < 2)[region][:, None], _CROWD_GREY, colour)
        out[region] = colour.astype(np.uint8)
    return out


def _outline(ax, region: np.ndarray, colour: str) -> None:
    if region.any():
        ax.contour(region.astype(float), levels=[0.5], colors=[colour], linewidths=1.5)


def show_panoptic(image, id_map, segments_info, *, title: str = "", scale: float = 2.6):
    """Image and its panoptic map side by side, each segment labelled with its id."""
    fig = new_figure(2 * scale, scale)
    axes = fig.subplots(1, 2)
    axes[0].imshow(to_numpy_image(image))
    axes[1].imshow(colorize_panoptic(id_map, segments_info), interpolation="nearest")
    ids = to_numpy(id_map)
    for seg in segments_info:
        ys, xs = np.nonzero(ids == seg["id"])
        if len(ys):
            axes[1].text(xs.mean(), ys.mean(), str(seg["id"]), fontsize=6, ha="center", va="center", color="w")
    for ax, head in zip(axes, ("image", title or "panoptic ids (0 = VOID, cream)")):
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(head, fontsize=9)
    return fig


def _match_outlines(gmap: np.ndarray, pmap: np.ndarray, match: dict, highlight) -> list:
    """``[(panel, region bool[H, W], colour name)]``: which segments the match picture outlines, and how (panel 1:
    ground truth, 2: prediction)."""
    outlines = [(1, gmap == gid, "orange") for gid in match["fn"]]
    outlines += [(2, pmap == pid, "lime") for _, pid, _ in match["tp"]]
    outlines += [(2, pmap == pid, "red") for pid in match["fp"]]
    outlines += [(2, pmap == pid, "grey") for pid in match["ignored"]]
    if highlight is not None:
        outlines.append((2, pmap == highlight, "white"))
    return outlines


_MATCH_HEADS = ("image", "ground truth (orange: FN)", "prediction (green TP, red FP)", "")


def show_panoptic_match(image, gt, pred, match: dict, *, highlight: int | None = None, table: str = "",
                        scale: float = 2.6):
    """Image, gt, prediction and a text panel.

    gt, pred: ``(id_map, segments_info)``; match: :func:`seglab.metrics.match_segments` output. Matched predicted
    segments are outlined green, false positives red, ignored ones grey, missed gt segments orange; ``highlight``
    (a predicted segment id) is outlined white. ``table`` is printed in the fourth panel.
    """
    fig = new_figure(4 * scale, scale * 1.1)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
    gmap, pmap = to_numpy(gt[0]), to_numpy(pred[0])
    axes[0].imshow(to_numpy_image(image))
    axes[1].imshow(colorize_panoptic(gmap, gt[1]), interpolation="nearest")
    axes[2].imshow(colorize_panoptic(pmap, pred[1]), interpolation="nearest")
    for panel, region, colour in _match_outlines(gmap, pmap, match, highlight):
        _outline(axes[panel], region, colour)
    for ax, head in zip(axes, _MATCH_HEADS):
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(head, fontsize=9)
    axes[3].axis("off")
    axes[3].text(0.0, 1.0, table, family="monospace", fontsize=7, va="top", ha="left", transform=axes[3].transAxes)
    return fig


_RGB = {"orange": (255, 165, 0), "lime": (0, 255, 0), "red": (255, 0, 0), "grey": (128, 128, 128),
        "white": (255, 255, 255)}


def panoptic_match_picture(image, gt, pred, match: dict, *, highlight: int | None = None, table: str = "",
                           scale: int = 2) -> np.ndarray:
    """:func:`show_panoptic_match` painted in pixels (``uint8[H, W, 3]``, images enlarged ``scale`` times): the
    same panels and outline colours, the table in a monospace font on the right."""
    from seglab.viz.raster import boundary, enlarge, rgb8, tile

    gmap, pmap = to_numpy(gt[0]), to_numpy(pred[0])
    pictures = [rgb8(image), colorize_panoptic(gmap, gt[1]), colorize_panoptic(pmap, pred[1])]
    pictures = [enlarge(p, scale).copy() for p in pictures]
    for panel, region, colour in _match_outlines(gmap, pmap, match, highlight):
        if region.any():
            pictures[panel][boundary(enlarge(region, scale), width=2)] = _RGB[colour]
    sheet, places = tile([(p, head) for p, head in zip(pictures, _MATCH_HEADS)], title_size=11)
    body = sheet.array()
    from seglab.viz.raster import Sheet

    top = places[0][1]
    if table:  # the whole table shows: the picture grows below the panels when the table is taller than they are
        bottom = Sheet(330, 1).text_bottom(4, top, table, size=11, mono=True)
        if bottom + 4 > body.shape[0]:
            pad = np.full((bottom + 4 - body.shape[0], *body.shape[1:]), 255, dtype=body.dtype)
            body = np.concatenate([body, pad], axis=0)
    text = Sheet(330, body.shape[0]).text(4, top, table, size=11, mono=True)
    return np.concatenate([body, text.array()], axis=1)
