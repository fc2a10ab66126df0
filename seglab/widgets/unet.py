"""U-Net chapter explorers: elastic deformation, input sizes through the valid / same network, and the weight map
on real touching nuclei."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch

from seglab.widgets.base import Explorer, float_slider, int_slider

__all__ = ["elastic_explorer", "unet_size_explorer", "weight_map_explorer", "ElasticExplorer", "UNetSizeExplorer",
           "WeightMapExplorer", "default_scene", "NUCLEI_WINDOW"]

#: ``(top, left, size)``: the 128 x 128 window of the micrograph that the weight-map explorer opens on (7 pairs of
#: touching nuclei, the most of any window on a 32-pixel grid).
NUCLEI_WINDOW = (384, 32, 128)


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


class WeightMapExplorer(Explorer):
    """Sliders w0 and sigma; the image, its objects, the weight map and its border term (U-Net's eq. 2)."""

    def __init__(self, image=None, instances=None, zoom: int = 2):
        from seglab.losses import class_balance_weights, nearest_instance_distances

        if image is None or instances is None:
            from seglab.data.nuclei import load_nuclei

            top, left, size = NUCLEI_WINDOW
            whole_image, whole_instances = load_nuclei()
            image = whole_image[:, top:top + size, left:left + size] if image is None else image
            instances = whole_instances[top:top + size, left:left + size] if instances is None else instances
        self.nuclei_image, self.instances = image, np.asarray(instances).astype(np.int64)
        self.zoom = zoom
        # what does not depend on the sliders, once: the distances to the two nearest objects, the class term and
        # the two pictures of the image
        from seglab.viz.raster import enlarge, grid_panel, rgb8
        from seglab.viz.unet import outline_objects

        self.d1, self.d2 = nearest_instance_distances(self.instances)
        self.class_term = class_balance_weights((self.instances > 0).astype(np.int64))
        self._box = tuple(n * zoom for n in self.instances.shape)
        self._image_panels = [
            (grid_panel(rgb8(image)[..., 0] / 255.0, self._box, cmap="gray", vmin=0, vmax=1, lines=False), "image"),
            (enlarge(outline_objects(image, self.instances), zoom), "nuclei (outlines)")]
        controls = {
            "w0": float_slider("w0", 10.0, 0.0, 20.0, 0.5),
            "sigma": float_slider("sigma (px)", 5.0, 1.0, 15.0, 0.5),
        }
        super().__init__(controls, title="The U-Net weight map on touching nuclei (U-Net, eq. 2)")

    def render(self, values):
        from seglab.losses import border_term
        from seglab.viz.raster import grid_panel, tile

        w0, sigma = float(values["w0"]), float(values["sigma"])
        border = border_term(self.d1, self.d2, self.instances == 0, w0, sigma)
        weights = self.class_term + border
        vmax = max(float(weights.max()), 1.0)
        panels = [*self._image_panels,
                  (grid_panel(weights, self._box, cmap="magma", vmin=0, vmax=vmax, lines=False),
                   f"weight map (0 to {vmax:.1f})"),
                  (grid_panel(border, self._box, cmap="magma", vmin=0, vmax=max(w0, 1e-6), lines=False),
                   f"border term (0 to w0 = {w0:g})")]
        sheet, _ = tile(panels, cols=4)
        gaps = int((border > 1.0).sum())
        code = ("from seglab.losses import unet_weight_map\n"
                f"weights = unet_weight_map(instances, w0={w0!r}, sigma={sigma!r})  # instances: int[H, W], 0 = "
                "background (the nuclei shown)")
        state = {"weights": weights, "border": border, "max_weight": float(weights.max()), "gap_pixels": gaps,
                 "pytorch": code, "pytorch_note": "the same map in code",
                 "message": f"largest weight {float(weights.max()):.1f}; {gaps} background pixels get a border "
                            f"weight above 1 (the narrow gaps between nuclei)"}
        return sheet.array(), state



def weight_map_explorer(image=None, instances=None) -> WeightMapExplorer:
    """Move ``w0`` and ``sigma`` of U-Net's weight map (:func:`seglab.losses.unet_weight_map`) on ``instances``
    (``int[H, W]``, 0 = background) and ``image``: by default a 128 x 128 window of the real nuclei micrograph
    (:func:`seglab.data.load_nuclei`, :data:`NUCLEI_WINDOW`) with seven pairs of touching nuclei."""
    return WeightMapExplorer(image, instances)
