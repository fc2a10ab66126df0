"""Chapter 5 explorers: move an RoI and see RoIAlign's bins and samples beside RoIPool's cells; browse Mask R-CNN."""

from __future__ import annotations

import ipywidgets as W
import torch

from seglab.ops import roi_align, roi_align_sampling_grid, roi_pool, roi_pool_bins
from seglab.viz.roi import instances_picture, roi_pooling_picture
from seglab.widgets.base import Explorer, float_slider, int_slider, shipped_models
from seglab.widgets.neighbours import PrefetchNeighbours

__all__ = ["roi_align_explorer", "mask_rcnn_explorer", "RoIAlignExplorer", "MaskRCNNExplorer", "default_features"]

SCALES = (1.0, 0.5, 0.25, 0.125)


def default_features(size: int = 16) -> torch.Tensor:
    """A smooth ``float64[size, size]`` map with a few blobs, so pooled values differ visibly."""
    r = torch.arange(size, dtype=torch.float64)[:, None]
    c = torch.arange(size, dtype=torch.float64)[None, :]
    s = size / 16
    return (2 * torch.exp(-((r - 5 * s) ** 2 + (c - 6 * s) ** 2) / (8 * s * s))
            + torch.exp(-((r - 11 * s) ** 2 + (c - 11 * s) ** 2) / (12 * s * s)) + 0.05 * c)


def _float(name, value, lo, hi):
    return float_slider(name, value, lo, hi, 0.1)


def _pytorch_roi_line(features_source: str, box, size: int, scale: float, sr: int, aligned: bool, shape) -> str:
    x1, y1, x2, y2 = box
    return (f"import torch, torchvision\n{features_source}\n"
            f"boxes = torch.tensor([[0, {x1!r}, {y1!r}, {x2!r}, {y2!r}]], dtype=torch.float64)"
            "  # (batch index, x1, y1, x2, y2) in input pixels\n"
            f"out = torchvision.ops.roi_align(x, boxes, output_size={size}, spatial_scale={scale!r}, "
            f"sampling_ratio={sr}, aligned={aligned})  # shape {tuple(shape)}\n"
            f"pooled = torchvision.ops.roi_pool(x, boxes, output_size={size}, spatial_scale={scale!r})"
            f"  # shape {tuple(shape)}")


class RoIAlignExplorer(Explorer):
    """Box corners (input-image pixels), output size, sampling ratio (0 = adaptive), aligned and spatial scale.

    The corners are linked: moving ``x1`` past ``x2`` pushes ``x2`` along (and so on), so the box always has
    ``x2 >= x1`` and ``y2 >= y1``. ``state``: ``align`` / ``pool`` (the pooled ``[PH, PW]`` maps), ``box`` (the
    corners drawn), ``max_abs_diff`` / ``max_abs_diff_pool`` (against ``torchvision.ops.roi_align`` /
    ``roi_pool``), ``grid`` (the sample points), ``pool_rows`` / ``pool_cols`` (RoIPool's cells),
    ``misalignment_px`` (how far RoIPool's cells stray from the RoI's exact bin edges, in input-image pixels) and
    ``pytorch`` (the torchvision call that gives ``align`` and ``pool``; it expects ``features`` for a map you
    passed in).
    """

    def __init__(self, features=None, box=(13.0, 9.0, 45.0, 38.0)):
        self._default_features = features is None
        fmap = default_features() if features is None else torch.as_tensor(features, dtype=torch.float64)
        if fmap.dim() == 3:
            fmap = fmap[0]
        if fmap.dim() != 2:
            raise ValueError(f"features must be a [H, W] (or [C, H, W]) map, got shape {tuple(fmap.shape)}")
        self.features = fmap
        h, w = fmap.shape
        extent = max(h, w) * 4 + 8
        controls = {
            "x1": _float("x1", box[0], -8.0, extent), "y1": _float("y1", box[1], -8.0, extent),
            "x2": _float("x2", box[2], -8.0, extent), "y2": _float("y2", box[3], -8.0, extent),
            "output_size": int_slider("output_size", 2, 1, 7),
            "sampling_ratio": int_slider("sampling_ratio (0 = adaptive)", 2, 0, 4, "280px"),
            "aligned": W.Checkbox(value=False, description="aligned"),
            "spatial_scale": W.SelectionSlider(options=SCALES, value=0.25, description="spatial_scale"),
        }
        super().__init__(controls, title="RoIAlign vs RoIPool, bin by bin",
                         layout_rows=[["x1", "y1", "x2", "y2"], ["output_size", "sampling_ratio", "aligned",
                                                                 "spatial_scale"]])

    def on_control(self, change) -> None:
        """Keep x2 >= x1 and y2 >= y1: the moved corner pushes the other one along."""
        c = self.controls
        for lo, hi in (("x1", "x2"), ("y1", "y2")):
            if change.owner is c[lo] and c[lo].value > c[hi].value:
                c[hi].value = c[lo].value
            elif change.owner is c[hi] and c[hi].value < c[lo].value:
                c[lo].value = c[hi].value

    def render(self, values):
        import torchvision.ops as tvo

        x1, y1, x2, y2 = (round(float(values[k]), 3) for k in ("x1", "y1", "x2", "y2"))
        if x2 < x1 or y2 < y1:
            raise ValueError(f"the box needs x2 >= x1 and y2 >= y1 (got x1={x1}, x2={x2}, y1={y1}, y2={y2})")
        size, scale, aligned = values["output_size"], values["spatial_scale"], bool(values["aligned"])
        sr = values["sampling_ratio"] if values["sampling_ratio"] > 0 else -1
        box = torch.tensor([x1, y1, x2, y2], dtype=torch.float64)
        fmap = self.features[None, None]
        rois = torch.cat([torch.zeros(1, dtype=torch.float64), box])[None]
        align = roi_align(fmap, rois, size, scale, sr, aligned)[0, 0]
        pool = roi_pool(fmap, rois, size, scale)[0, 0]
        diff = float((align - tvo.roi_align(fmap, rois, size, scale, sr, aligned)[0, 0]).abs().max())
        diff_pool = float((pool - tvo.roi_pool(fmap, rois, size, scale)[0, 0]).abs().max())
        grid = roi_align_sampling_grid(box, size, scale, sr, aligned)
        h, w = self.features.shape
        rows, cols = roi_pool_bins(box, size, scale, h, w)
        offset = 0.5 if aligned else 0.0
        fbox = box * scale - offset
        exact_y = torch.linspace(y1 * scale, y2 * scale, size + 1)
        exact_x = torch.linspace(x1 * scale, x2 * scale, size + 1)
        stray = max(float((rows[:, 0] - exact_y[:-1]).abs().max()), float((cols[:, 0] - exact_x[:-1]).abs().max()))
        picture = roi_pooling_picture(self.features, fbox, grid, rows, cols, align, pool)
        ok = "&#10004;" if diff < 1e-10 and diff_pool < 1e-10 else "&#10008;"
        message = (f"{ok} seglab = torchvision (max |diff| RoIAlign {diff:.1e}, RoIPool {diff_pool:.1e}); "
                   f"grid {grid.grid[0]}x{grid.grid[1]} samples per bin; RoIPool's cell edges stray up to "
                   f"{stray / scale:.1f} input pixels from the exact bin edges")
        source = ("from seglab.widgets.roi import default_features\n"
                  "x = default_features()[None, None]  # float64[1, 1, 16, 16]: the map drawn"
                  if self._default_features else
                  "x = torch.as_tensor(features, dtype=torch.float64)[None, None]  # the [H, W] map you passed")
        code = _pytorch_roi_line(source, (x1, y1, x2, y2), size, scale, sr, aligned, (1, 1, size, size))
        state = {"align": align, "pool": pool, "box": (x1, y1, x2, y2), "max_abs_diff": diff,
                 "max_abs_diff_pool": diff_pool, "grid": grid, "pool_rows": rows, "pool_cols": cols,
                 "misalignment_px": stray / scale, "message": message, "pytorch": code,
                 "pytorch_note": "the same numbers from torchvision (<code>out</code> = RoIAlign output, "
                                 "<code>pooled</code> = RoIPool output):"}
        return picture, state


def roi_align_explorer(features=None) -> RoIAlignExplorer:
    """Sliders for an RoI on a feature map: RoIAlign's bins and bilinear samples beside RoIPool's integer cells."""
    return RoIAlignExplorer(features)


class MaskRCNNExplorer(PrefetchNeighbours, Explorer):
    """Image index and score threshold for a trained Mask R-CNN on an instance dataset: boxes, classes, masks.

    The model runs once per image (its outputs are cached), so the threshold slider only redraws; the neighbouring
    images are run right after a picture is shown, so moving the image slider by one only redraws (issue 27: within
    150 ms in the browser with the machine loaded; a detection takes about 75 ms on the CPU). Without a model,
    the suite's shipped ``mask_rcnn`` weights are used (:func:`seglab.models.load_pretrained`); when they are
    missing, an untrained model of the same recipe is shown with a message saying so.
    """

    def __init__(self, model=None, dataset=None, class_names=None, score_threshold: float = 0.5, weights_dir=None):
        notice = ""
        if model is None:
            (model,), notice = shipped_models(["mask_rcnn"], weights_dir)
        if dataset is None:
            from seglab.data import SceneDataset

            dataset = SceneDataset(split="val", task="instance")
        if len(dataset) == 0:
            raise ValueError("dataset is empty: mask_rcnn_explorer needs at least one (image, target) item")
        self.model, self.dataset, self._cache = model, dataset, {}
        if class_names is None:
            from seglab.data.classes import CLASS_NAMES, THING_CLASSES

            class_names = ["background", *(CLASS_NAMES[k] for k in THING_CLASSES)]
        self.class_names = class_names
        controls = {
            "image": int_slider("image", 0, 0, len(dataset) - 1, continuous_update=False),
            "score_threshold": float_slider("score threshold", score_threshold, 0.0, 1.0, 0.05),
        }
        super().__init__(controls, title="Mask R-CNN predictions", notice=notice)

    def _predict(self, index):
        if index not in self._cache:
            from seglab.models.maskrcnn import detect

            image, target = self.dataset[index]
            self._cache[index] = (image, target, detect(self.model, [image])[0])
        return self._cache[index]

    _compute = _predict  # what PrefetchNeighbours runs for the images next to the one shown

    def render(self, values):
        image, target, out = self._predict(int(values["image"]))
        thr = float(values["score_threshold"])
        picture, kept = instances_picture(image, out, target=target, score_threshold=thr,
                                          class_names=self.class_names)
        keep = out["scores"] >= thr
        state = {"image": image, "output": out, "target": target,
                 "num_detections": int(len(out["scores"])), "kept": int(keep.sum()),
                 "labels": out["labels"][keep].tolist(), "scores": out["scores"][keep].tolist(),
                 "boxes": out["boxes"][keep], "num_targets": int(len(target["labels"])),
                 "message": f"{int(keep.sum())} of {len(out['scores'])} detections have score >= {thr:.2f}; "
                            f"{len(target['labels'])} ground-truth instances",
                 "pytorch": ("from seglab.models.maskrcnn import detect\n"
                             "out = detect(model, [image])[0]"
                             f"  # model: the one shown; image = dataset[{values['image']}][0]\n"
                             f"keep = out['scores'] >= {thr!r}  # the {int(keep.sum())} detections drawn: "
                             "out['boxes'][keep], out['labels'][keep], out['masks'][keep]")}
        return picture, state


def mask_rcnn_explorer(model=None, dataset=None, *, weights_dir=None) -> MaskRCNNExplorer:
    """Browse a Mask R-CNN's predictions (boxes, classes, masks) on ``dataset`` with a score threshold.

    ``model`` defaults to the suite's shipped trained weights (``load_pretrained("mask_rcnn")``), ``dataset`` to
    the validation scenes (``SceneDataset(split="val", task="instance")``)."""
    return MaskRCNNExplorer(model, dataset, weights_dir=weights_dir)
