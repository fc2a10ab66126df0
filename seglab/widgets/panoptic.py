"""Chapter 6: perturb a panoptic prediction and watch the matching, SQ, RQ and PQ respond."""

from __future__ import annotations

import functools
import tempfile

import ipywidgets as W
import numpy as np
import torch
from scipy import ndimage

from seglab.metrics.panoptic import match_segments, matches_at_threshold, panoptic_quality
from seglab.viz.panoptic import show_panoptic_match
from seglab.widgets.base import Explorer

__all__ = ["panoptic_explorer", "PanopticExplorer", "perturb_segment", "OPERATIONS"]

OPERATIONS = ("none", "dilate", "erode", "shift right", "shift down", "drop", "merge with")


def perturb_segment(id_map, segments_info, segment_id: int, operation: str, amount: int = 1, other_id=None):
    """Edit one predicted segment; returns a new ``(id_map int64[H, W], segments_info)``.

    dilate / erode by ``amount`` pixels (dilation takes pixels from neighbours, erosion leaves VOID); shift moves it
    ``amount`` pixels (the vacated pixels become VOID); drop turns it into VOID; merge with gives ``other_id``'s pixels
    to it. Segments left without pixels are removed from ``segments_info``.
    """
    ids = (id_map.detach().cpu().numpy() if isinstance(id_map, torch.Tensor) else np.asarray(id_map)).astype(np.int64)
    ids = ids.copy()
    known = {s["id"] for s in segments_info}
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    if operation != "none" and segment_id not in known:
        raise ValueError(f"segment_id {segment_id} is not in segments_info (ids: {sorted(known)})")
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    region = ids == segment_id
    if operation == "dilate" and amount:
        ids[ndimage.binary_dilation(region, iterations=amount)] = segment_id
    elif operation == "erode" and amount:
        ids[region & ~ndimage.binary_erosion(region, iterations=amount)] = 0
    elif operation.startswith("shift"):
        axis = 1 if operation == "shift right" else 0
        moved = np.zeros_like(region)
        src = [slice(None)] * 2
        dst = [slice(None)] * 2
        src[axis], dst[axis] = slice(0, region.shape[axis] - amount), slice(amount, None)
        moved[tuple(dst)] = region[tuple(src)]
        ids[region] = 0
        ids[moved] = segment_id
    elif operation == "drop":
        ids[region] = 0
    elif operation == "merge with":
        if other_id is None or other_id not in known or other_id == segment_id:
            raise ValueError("merge with needs a second, different segment (pick one in 'other')")
        ids[ids == other_id] = segment_id
    present = set(np.unique(ids).tolist())
    return ids, [dict(s) for s in segments_info if s["id"] in present]


@functools.lru_cache(maxsize=1)
def _fallback_dataset():
    """A few generated scenes in a temporary folder, for when data/scenes is missing."""
    from seglab.data import SceneDataset, make_scenes

    root = make_scenes(tempfile.mkdtemp(prefix="seglab_panoptic_"), num_train=0, num_val=6, size=96, seed=0)
    return SceneDataset(root, split="val", task="panoptic")


def _table(result: dict, match: dict, aside: dict, threshold: float, names: dict) -> str:
    lines = ["pair (gt, pred)     IoU   verdict"]
    tp = {(g, p) for g, p, _ in match["tp"]}
    for g, p, iou in sorted(match["pairs"], key=lambda x: -x[2])[:10]:
        lines.append(f"{g:>6} {p:>6}   {iou:6.3f}   {'TP' if (g, p) in tp else '-'}")
    lines += ["", "class       TP FP FN    SQ    RQ    PQ"]
    for cid, r in result["per_class"].items():
        if r["tp"] + r["fp"] + r["fn"]:
            lines.append(f"{names.get(cid, cid)!s:<10} {r['tp']:>3}{r['fp']:>3}{r['fn']:>3} "
                         f"{r['sq']:5.2f} {r['rq']:5.2f} {r['pq']:5.2f}")
    a = result["All"]
    lines += ["", f"All: SQ {a['sq']:.3f}  RQ {a['rq']:.3f}  PQ {a['pq']:.3f}  (n={a['n']})"]
    lines += [f"aside, IoU > {threshold:.2f}: {len(aside['matches'])} pairs;",
              f"  gt with >1 match {aside['gt_with_several']}", f"  pred with >1 match {aside['pred_with_several']}"]
    return "\n".join(lines)


class PanopticExplorer(Explorer):
    """Image slider, a segment and an edit for it, and the IoU-threshold teaching aside."""

    def __init__(self, dataset=None, predictions=None):
        if dataset is None:
            from seglab.data import SceneDataset

            try:
                dataset = SceneDataset(split="val", task="panoptic")
            except (FileNotFoundError, ValueError):
                dataset = _fallback_dataset()
        if len(dataset) == 0:
            raise ValueError("dataset is empty")
        if predictions is not None and len(predictions) != len(dataset):
            raise ValueError(f"predictions has {len(predictions)} items but dataset has {len(dataset)}")
        self.dataset, self.predictions, self._busy = dataset, predictions, False
        from seglab.data.classes import CATEGORIES

        self.categories = CATEGORIES
        self.names = {c["id"]: c["name"] for c in CATEGORIES}
        controls = {
            "index": W.IntSlider(value=0, min=0, max=len(dataset) - 1, description="image", continuous_update=False),
            "segment": W.Dropdown(description="segment"),
            "operation": W.Dropdown(options=OPERATIONS, value="none", description="edit"),
            "amount": W.IntSlider(value=2, min=0, max=12, description="pixels", continuous_update=False),
            "other": W.Dropdown(description="other"),
            "threshold": W.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, continuous_update=False,
                                       description="aside: IoU >", style={"description_width": "initial"}),
        }
        self._controls = controls
        self._fill_segments(0)
        super().__init__(controls, title="Panoptic quality explorer (the threshold slider is a teaching aside: "
                         "PQ always uses IoU > 0.5)",
                         layout_rows=[["index", "segment", "operation"], ["amount", "other", "threshold"]])

    def _item(self, index: int):
        image, target = self.dataset[index]
        gt = (target["id_map"], target["segments_info"])
        pred = gt if self.predictions is None else self.predictions[index]
        pred = pred if isinstance(pred, tuple) else (pred["id_map"], pred["segments_info"])
        return image, gt, pred

    def _fill_segments(self, index: int) -> None:
        _, _, pred = self._item(index)
        options = [(f"{s['id']} ({self.names.get(s['category_id'], s['category_id'])})", s["id"]) for s in pred[1]]
        options = options or [("(no segment)", -1)]
        self._busy = True
        try:
            for name in ("segment", "other"):
                self._controls[name].options = options
            thing_ids = {c["id"] for c in self.categories if c["isthing"]}
            things = [s["id"] for s in pred[1] if s["category_id"] in thing_ids]
            self._controls["segment"].value = things[0] if things else options[0][1]
            self._controls["other"].value = options[-1][1]
        finally:
            self._busy = False

    def _on_change(self, change) -> None:
        if self._busy:
            return
        if change.owner is self.controls["index"]:
            self._fill_segments(change.new)
        self.refresh()

    def render(self, values):
        image, gt, pred = self._item(values["index"])
        pred = perturb_segment(pred[0], pred[1], values["segment"], values["operation"], values["amount"],
                               values["other"])
        match = match_segments(*gt, *pred, self.categories)
        result = panoptic_quality([gt], [pred], self.categories)
        aside = matches_at_threshold(match["pairs"], values["threshold"])
        table = _table(result, match, aside, values["threshold"], self.names)
        fig = show_panoptic_match(image, gt, pred, match, highlight=values["segment"], table=table)
        a = result["All"]
        note = ""
        if aside["gt_with_several"] or aside["pred_with_several"]:
            note = " &mdash; <b>below 0.5 a segment can have several 'matches'</b>"
        state = {"index": values["index"], "pred": pred, "match": match, "result": result, "aside": aside,
                 "pq": a["pq"], "sq": a["sq"], "rq": a["rq"],
                 "tp": sum(r["tp"] for r in result["per_class"].values()),
                 "fp": sum(r["fp"] for r in result["per_class"].values()),
                 "fn": sum(r["fn"] for r in result["per_class"].values()),
                 "message": f"All: PQ {a['pq']:.3f}, SQ {a['sq']:.3f}, RQ {a['rq']:.3f} (PQ = SQ x RQ per class; "
                            "All averages each over the classes)"
                            + note}
        return fig, state


def panoptic_explorer(dataset=None, predictions=None) -> PanopticExplorer:
    """A widget: ``index`` (image), ``segment`` + ``operation`` + ``amount`` (+ ``other`` for a merge) edit the
    prediction (default: the gt itself), ``threshold`` is the labelled teaching aside on non-unique matches.

    dataset: a panoptic dataset (``SceneDataset(split="val", task="panoptic")`` by default); predictions: a list of
    ``(id_map, segments_info)`` (or dicts), one per image.
    """
    return PanopticExplorer(dataset, predictions)
