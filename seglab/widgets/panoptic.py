"""Chapter 6: perturb a panoptic prediction and watch the matching, SQ, RQ and PQ respond."""

from __future__ import annotations

import ipywidgets as W

from seglab.data.perturb import OPERATIONS, perturb_segment
from seglab.metrics.panoptic import match_segments, matches_at_threshold, panoptic_quality
from seglab.viz.panoptic import panoptic_match_picture
from seglab.widgets.base import Explorer, float_slider, int_slider

__all__ = ["panoptic_explorer", "PanopticExplorer"]


def _default_dataset():
    """The validation scenes shipped in ``DATA_DIR / "scenes"`` as a panoptic dataset."""
    from seglab.data import SceneDataset
    from seglab.utils import DATA_DIR

    root = DATA_DIR / "scenes"
    if not root.is_dir():
        raise FileNotFoundError(f"panoptic_explorer() without a dataset shows the scenes in {root}, which is missing: "
                                "generate them with `make data` (or pass dataset=...)")
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
            dataset = _default_dataset()
        if len(dataset) == 0:
            raise ValueError("dataset is empty")
        if predictions is not None and len(predictions) != len(dataset):
            raise ValueError(f"predictions has {len(predictions)} items but dataset has {len(dataset)}")
        self.dataset, self.predictions, self._items = dataset, predictions, {}
        from seglab.data.classes import CATEGORIES

        self.categories = CATEGORIES
        self.names = {c["id"]: c["name"] for c in CATEGORIES}
        controls = {
            "index": int_slider("image", 0, 0, len(dataset) - 1),
            "segment": W.Dropdown(description="segment"),
            "operation": W.Dropdown(options=OPERATIONS, value="none", description="edit"),
            "amount": int_slider("pixels", 2, 0, 12),
            "other": W.Dropdown(description="other"),
            "threshold": float_slider("aside: IoU >", 0.5, 0.05, 0.95, 0.05),
        }
        self._controls = controls
        self._fill_segments(0)
        super().__init__(controls, title="Panoptic quality explorer (the threshold slider is a teaching aside: "
                         "PQ always uses IoU > 0.5)",
                         layout_rows=[["index", "segment", "operation"], ["amount", "other", "threshold"]])

    def _item(self, index: int):
        """(image, gt, pred) of image ``index``, read once (a small cache: the edits redraw without reading files)."""
        if index not in self._items:
            self._items[index] = self._read(index)
            while len(self._items) > 32:
                self._items.pop(next(iter(self._items)))
        return self._items[index]

    def _read(self, index: int):
        image, target = self.dataset[index]
        gt = (target["id_map"], target["segments_info"])
        pred = gt if self.predictions is None else self.predictions[index]
        pred = pred if isinstance(pred, tuple) else (pred["id_map"], pred["segments_info"])
        return image, gt, pred

    def _fill_segments(self, index: int) -> None:
        """The segment menus list the predicted segments of image ``index``; a thing is selected first."""
        _, _, pred = self._item(index)
        options = [(f"{s['id']} ({self.names.get(s['category_id'], s['category_id'])})", s["id"]) for s in pred[1]]
        options = options or [("(no segment)", -1)]
        for name in ("segment", "other"):
            self._controls[name].options = options
        thing_ids = {c["id"] for c in self.categories if c["isthing"]}
        things = [s["id"] for s in pred[1] if s["category_id"] in thing_ids]
        self._controls["segment"].value = things[0] if things else options[0][1]
        self._controls["other"].value = options[-1][1]

    def on_control(self, change) -> None:
        if change.owner is self.controls["index"]:
            self._fill_segments(change.new)

    def render(self, values):
        image, gt, pred = self._item(values["index"])
        pred = perturb_segment(pred[0], pred[1], values["segment"], values["operation"], values["amount"],
                               values["other"])
        match = match_segments(*gt, *pred, self.categories)
        result = panoptic_quality([gt], [pred], self.categories)
        aside = matches_at_threshold(match["pairs"], values["threshold"])
        edit = (f"edit: {values['operation']} {values['amount']} px on segment {values['segment']}"
                + (f" and {values['other']}" if values["operation"] == "merge with" else "")
                if values["operation"] != "none" else f"edit: none (pixels {values['amount']} unused)")
        table = edit + "\n\n" + _table(result, match, aside, values["threshold"], self.names)
        picture = panoptic_match_picture(image, gt, pred, match, highlight=values["segment"], table=table)
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
        return picture, state


def panoptic_explorer(dataset=None, predictions=None) -> PanopticExplorer:
    """A widget: ``index`` (image), ``segment`` + ``operation`` + ``amount`` (+ ``other`` for a merge) edit the
    prediction (default: the gt itself), ``threshold`` is the labelled teaching aside on non-unique matches.

    dataset: a panoptic dataset (``SceneDataset(split="val", task="panoptic")`` by default); predictions: a list of
    ``(id_map, segments_info)`` (or dicts), one per image.
    """
    return PanopticExplorer(dataset, predictions)
