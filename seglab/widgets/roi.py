"""Chapter 5 explorers: move an RoI and see RoIAlign's bins and samples beside RoIPool's cells; browse Mask R-CNN."""

from __future__ import annotations

import ipywidgets as W
import torch

from seglab.ops import roi_align, roi_align_sampling_grid, roi_pool, roi_pool_bins
from seglab.viz.roi import draw_instances, draw_roi_pooling
from seglab.widgets.base import Explorer

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
    return W.FloatSlider(value=value, min=lo, max=hi, step=0.1, description=name, continuous_update=True,
                         style={"description_width": "initial"}, layout=W.Layout(width="230px"))


class RoIAlignExplorer(Explorer):
    """Box corners (input-image pixels), output size, sampling ratio (0 = adaptive), aligned and spatial scale.

    ``state``: ``align`` / ``pool`` (the pooled ``[PH, PW]`` maps), ``max_abs_diff`` / ``max_abs_diff_pool``
    (against ``torchvision.ops.roi_align`` / ``roi_pool``), ``grid`` (the sample points), ``pool_rows`` /
    ``pool_cols`` (RoIPool's cells) and ``misalignment_px`` (how far RoIPool's cells stray from the RoI's exact bin
    edges, in input-image pixels).
    """

    def __init__(self, features=None, box=(13.0, 9.0, 45.0, 38.0)):
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
            "output_size": W.IntSlider(value=2, min=1, max=7, description="output_size"),
            "sampling_ratio": W.IntSlider(value=2, min=0, max=4, description="sampling_ratio (0 = adaptive)",
                                          style={"description_width": "initial"}),
            "aligned": W.Checkbox(value=False, description="aligned"),
            "spatial_scale": W.SelectionSlider(options=SCALES, value=0.25, description="spatial_scale"),
        }
        super().__init__(controls, title="RoIAlign vs RoIPool, bin by bin",
                         layout_rows=[["x1", "y1", "x2", "y2"], ["output_size", "sampling_ratio", "aligned",
                                                                 "spatial_scale"]])

    def render(self, values):
        import torchvision.ops as tvo

        x1, y1, x2, y2 = (values[k] for k in ("x1", "y1", "x2", "y2"))
        if x2 < x1 or y2 < y1:
            raise ValueError(f"the box needs x2 >= x1 and y2 >= y1 (got x1={x1}, x2={x2}, y1={y1}, y2={y2})")
        size, scale, aligned = values["output_size"], values["spatial_scale"], values["aligned"]
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
        exact_y = torch.linspace(float(box[1]) * scale, float(box[3]) * scale, size + 1)
        exact_x = torch.linspace(float(box[0]) * scale, float(box[2]) * scale, size + 1)
        stray = max(float((rows[:, 0] - exact_y[:-1]).abs().max()), float((cols[:, 0] - exact_x[:-1]).abs().max()))
        fig = draw_roi_pooling(self.features, fbox, grid, rows, cols, align, pool)
        ok = "&#10004;" if diff < 1e-10 and diff_pool < 1e-10 else "&#10008;"
        message = (f"{ok} seglab = torchvision (max |diff| RoIAlign {diff:.1e}, RoIPool {diff_pool:.1e}); "
                   f"grid {grid.grid[0]}x{grid.grid[1]} samples per bin; RoIPool's cell edges stray up to "
                   f"{stray / scale:.1f} input pixels from the exact bin edges")
        state = {"align": align, "pool": pool, "max_abs_diff": diff, "max_abs_diff_pool": diff_pool, "grid": grid,
                 "pool_rows": rows, "pool_cols": cols, "misalignment_px": stray / scale, "message": message}
        return fig, state


def roi_align_explorer(features=None) -> RoIAlignExplorer:
    """Sliders for an RoI on a feature map: RoIAlign's bins and bilinear samples beside RoIPool's integer cells."""
    return RoIAlignExplorer(features)


class MaskRCNNExplorer(Explorer):
    """Image index and score threshold for a trained Mask R-CNN on an instance dataset: boxes, classes, masks."""

    def __init__(self, model, dataset, class_names=None, score_threshold: float = 0.5):
        if len(dataset) == 0:
            raise ValueError("dataset is empty: mask_rcnn_explorer needs at least one (image, target) item")
        self.model, self.dataset, self._cache = model, dataset, {}
        if class_names is None:
            from seglab.data.classes import CLASS_NAMES, THING_CLASSES

            class_names = ["background", *(CLASS_NAMES[k] for k in THING_CLASSES)]
        self.class_names = class_names
        controls = {
            "image": W.IntSlider(value=0, min=0, max=len(dataset) - 1, description="image", continuous_update=False),
            "score_threshold": W.FloatSlider(value=score_threshold, min=0.0, max=1.0, step=0.05,
                                             description="score threshold", continuous_update=False,
                                             style={"description_width": "initial"}),
        }
        super().__init__(controls, title="Mask R-CNN predictions")

    def _predict(self, index):
        if index not in self._cache:
            from seglab.models.maskrcnn import detect

            image, target = self.dataset[index]
            self._cache[index] = (image, target, detect(self.model, [image])[0])
        return self._cache[index]

    def render(self, values):
        image, target, out = self._predict(values["image"])
        thr = values["score_threshold"]
        fig = draw_instances([image], [out], targets=[target], score_threshold=thr, class_names=self.class_names)
        keep = out["scores"] >= thr
        state = {"num_detections": int(len(out["scores"])), "kept": int(keep.sum()),
                 "labels": out["labels"][keep].tolist(), "scores": out["scores"][keep].tolist(),
                 "num_targets": int(len(target["labels"])),
                 "message": f"{int(keep.sum())} of {len(out['scores'])} detections have score >= {thr:.2f}; "
                            f"{len(target['labels'])} ground-truth instances"}
        return fig, state


def mask_rcnn_explorer(model, dataset) -> MaskRCNNExplorer:
    """Browse a Mask R-CNN's predictions (boxes, classes, masks) on ``dataset`` with a score threshold."""
    return MaskRCNNExplorer(model, dataset)
