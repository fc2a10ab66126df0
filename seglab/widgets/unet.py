"""U-Net chapter explorers: elastic deformation, and input sizes through the valid / same network."""

from __future__ import annotations

import ipywidgets as W
import torch

from seglab.widgets.base import Explorer

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
        self.scene_image, self.scene_mask = image, mask
        controls = {
            "std": W.FloatSlider(value=6.0, min=0.0, max=20.0, step=0.5, description="std (px)",
                                 continuous_update=False),
            "grid": W.IntSlider(value=3, min=2, max=8, description="grid", continuous_update=False),
            "seed": W.IntSlider(value=0, min=0, max=50, description="seed", continuous_update=False),
        }
        super().__init__(controls, title="Elastic deformation (U-Net, section 3.1)")

    def render(self, values):
        from seglab.data.elastic import elastic_displacement, warp
        from seglab.viz.unet import draw_elastic, grid_lines

        h, w = (int(n) for n in self.scene_image.shape[-2:])
        step = max(h // 16, 2)
        field = elastic_displacement(h, w, values["std"], values["grid"], values["seed"])
        image, mask = warp(self.scene_image, self.scene_mask, field)
        warped_grid, _ = warp(torch.from_numpy(grid_lines(h, w, step)), None, field)
        fig = draw_elastic(self.scene_image, self.scene_mask, image, mask, field, warped_grid, step=step)
        kept = set(mask.unique().tolist()) <= set(self.scene_mask.unique().tolist())
        magnitude = field.norm(dim=0)
        state = {"image": image, "mask": mask, "displacement": field, "labels_kept": kept,
                 "max_displacement": float(magnitude.max()),
                 "message": f"largest shift {float(magnitude.max()):.1f} px; mask labels stay labels: {kept}"}
        return fig, state


def elastic_explorer(image=None, mask=None) -> ElasticExplorer:
    """Explore ``seglab.data.elastic_deform`` on ``image (float[3, H, W])`` and ``mask (int[H, W])``.

    Both default to a scene from ``data/scenes``."""
    return ElasticExplorer(image, mask)


class UNetSizeExplorer(Explorer):
    """Input size, depth and padding; every level's feature-map size, where cropping happens, and validity."""

    def __init__(self):
        controls = {
            "input_size": W.IntSlider(value=572, min=16, max=700, description="input size", continuous_update=False),
            "depth": W.IntSlider(value=4, min=1, max=5, description="depth", continuous_update=False),
            "padding": W.ToggleButtons(options=["valid", "same"], value="valid", description="padding"),
        }
        super().__init__(controls, title="U-Net sizes: which inputs fit, and where the skips are cropped",
                         layout_rows=[["input_size", "depth"], ["padding"]])

    def render(self, values):
        from seglab.models.unet import unet_output_size, unet_size_trace, unet_size_trace_partial
        from seglab.viz.unet import draw_unet, levels_from_size_trace

        size, depth, padding = values["input_size"], values["depth"], values["padding"]
        try:
            output = unet_output_size(size, depth, padding)
        except ValueError as exc:
            partial, _ = unet_size_trace_partial(size, depth, padding)  # as far as the size gets
            levels = levels_from_size_trace(partial, 64)
            fig = draw_unet(levels, title=f"input {size}: not valid", failed=str(exc).split(": ", 1)[-1], depth=depth)
            return fig, {"valid": False, "error": str(exc), "levels": levels,
                         "message": f"<span style='color:#b00'>&#9888; {exc}</span>"}
        trace = unet_size_trace(size, depth, padding)
        levels = levels_from_size_trace(trace, 64)
        crops = {t["level"]: t.get("crop", 0) for t in trace if t["stage"] == "decoder"}
        fig = draw_unet(levels, title=f"input {size}x{size} -> output {output}x{output} ({padding} padding)")
        return fig, {"valid": True, "output_size": output, "levels": levels, "crops": crops,
                     "message": f"valid: {size} -> {output}"}


def unet_size_explorer() -> UNetSizeExplorer:
    """Explore which input sizes a U-Net takes (``seglab.models.unet.unet_size_trace``)."""
    return UNetSizeExplorer()
