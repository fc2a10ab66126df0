"""U-Net chapter explorers: elastic deformation, and input sizes through the valid / same network."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch

from seglab.widgets.base import Explorer, float_slider, int_slider

__all__ = ["elastic_explorer", "unet_size_explorer", "ElasticExplorer", "UNetSizeExplorer", "default_scene"]


def default_scene(index: int = 0):
    """A training scene ``(image float32[3, H, W], mask int64[H, W])`` from ``data/scenes`` (``make data`` makes it;
    a missing folder raises ``FileNotFoundError`` saying so)."""
    from seglab.data import SceneDataset

    return SceneDataset(split="train")[index]


class ElasticExplorer(Explorer):
    """Sliders std, grid and seed; the image and mask warped together, and the displacement field."""

    def __init__(self, image=None, mask=None):
        if image is None:
            image, default_mask = default_scene()
            mask = default_mask if mask is None else mask
        if mask is None:
            mask = torch.zeros(image.shape[-2:], dtype=torch.int64)
        from seglab.viz.unet import grid_lines

        self.scene_image, self.scene_mask = image, mask
        h, w = (int(n) for n in image.shape[-2:])
        self._step = max(h // 16, 2)
        self._grid_lines = torch.from_numpy(grid_lines(h, w, self._step))
        self._labels = set(np.unique(np.asarray(mask)).tolist())
        controls = {
            "std": float_slider("std (px)", 6.0, 0.0, 20.0, 0.5),
            "grid": int_slider("grid", 3, 2, 8),
            "seed": int_slider("seed", 0, 0, 50),
        }
        super().__init__(controls, title="Elastic deformation (U-Net, section 3.1)")

    def render(self, values):
        from seglab.data.elastic import elastic_displacement, warp
        from seglab.viz.unet import elastic_picture

        h, w = (int(n) for n in self.scene_image.shape[-2:])
        std, grid, seed = float(values["std"]), int(values["grid"]), int(values["seed"])
        field = elastic_displacement(h, w, std, grid, seed)
        image, mask = warp(self.scene_image, self.scene_mask, field)
        warped_grid, _ = warp(self._grid_lines, None, field)
        picture = elastic_picture(self.scene_image, self.scene_mask, image, mask, field, warped_grid, step=self._step)
        kept = set(np.unique(mask.numpy()).tolist()) <= self._labels
        magnitude = np.hypot(*field.numpy())
        code = ("from seglab.data.elastic import elastic_displacement, warp\n"
                f"field = elastic_displacement({h}, {w}, std={std!r}, grid={grid}, seed={seed})"
                f"  # (dy, dx) per pixel, shape (2, {h}, {w})\n"
                "warped_image, warped_mask = warp(image, mask, field)  # image [3, H, W], mask [H, W]: the scene shown")
        state = {"image": image, "mask": mask, "displacement": field, "labels_kept": kept,
                 "max_displacement": float(magnitude.max()), "pytorch": code,
                 "pytorch_note": "the same warp in code (<code>image</code>, <code>mask</code>: the scene shown)",
                 "message": f"largest shift {float(magnitude.max()):.1f} px; mask labels stay labels: {kept}"}
        return picture, state


def elastic_explorer(image=None, mask=None) -> ElasticExplorer:
    """Explore ``seglab.data.elastic_deform`` on ``image (float[3, H, W])`` and ``mask (int[H, W])``.

    Both default to a scene from ``data/scenes``."""
    return ElasticExplorer(image, mask)


class UNetSizeExplorer(Explorer):
    """Input size, depth and padding; every level's feature-map size, where cropping happens, and validity."""

    def __init__(self):
        controls = {
            "input_size": int_slider("input size", 572, 16, 700, "300px"),
            "depth": int_slider("depth", 4, 1, 5),
            "padding": W.ToggleButtons(options=["valid", "same"], value="valid", description="padding"),
        }
        super().__init__(controls, title="U-Net sizes: which inputs fit, and where the skips are cropped",
                         layout_rows=[["input_size", "depth"], ["padding"]])

    def render(self, values):
        from seglab.models.unet import unet_output_size, unet_size_trace, unet_size_trace_partial
        from seglab.viz.unet import levels_from_size_trace, unet_picture

        size, depth, padding = values["input_size"], values["depth"], values["padding"]
        code = (f"from seglab.models.unet import unet_output_size, unet_size_trace\n"
                f"output_size = unet_output_size({size}, depth={depth}, padding={padding!r})"
                "  # or a ValueError naming the nearest sizes that fit\n"
                f"trace = unet_size_trace({size}, depth={depth}, padding={padding!r})  # every level's size, as drawn")
        try:
            output = unet_output_size(size, depth, padding)
        except ValueError as exc:  # an invalid size is what this explorer teaches: draw how far it gets
            partial, _ = unet_size_trace_partial(size, depth, padding)
            levels = levels_from_size_trace(partial, 64)
            picture = unet_picture(levels, title=f"input {size}: not valid", failed=str(exc).split(": ", 1)[-1],
                                   depth=depth)
            return picture, {"valid": False, "error": str(exc), "levels": levels, "pytorch": code,
                             "message": f"<span style='color:#b00'>&#9888; {exc}</span>"}
        trace = unet_size_trace(size, depth, padding)
        levels = levels_from_size_trace(trace, 64)
        crops = {t["level"]: t.get("crop", 0) for t in trace if t["stage"] == "decoder"}
        picture = unet_picture(levels, title=f"input {size}x{size} -> output {output}x{output} ({padding} padding)",
                               depth=depth)
        return picture, {"valid": True, "output_size": output, "levels": levels, "crops": crops, "pytorch": code,
                         "message": f"valid: {size} -> {output}"}


def unet_size_explorer() -> UNetSizeExplorer:
    """Explore which input sizes a U-Net takes (``seglab.models.unet.unet_size_trace``)."""
    return UNetSizeExplorer()
