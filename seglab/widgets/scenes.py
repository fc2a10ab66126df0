"""Chapter 0: browse the generated scenes in every task's view."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from seglab.viz.scenes import TASK_VIEWS, show_tasks
from seglab.widgets.base import Explorer

__all__ = ["scene_browser", "SceneBrowser"]


class SceneBrowser(Explorer):
    """Index slider and a view toggle over one split of the scenes.

    ``state``: ``index``, ``image``, ``semantic``, ``views`` (the panels drawn), ``pictures`` (view -> the array
    each panel shows), ``num_instances``, ``num_segments``.
    """

    def __init__(self, root=None, split: str = "val"):
        from seglab.data import SceneDataset

        self.datasets = {task: SceneDataset(root, split=split, task=task)
                         for task in ("semantic", "instance", "panoptic")}
        count = len(self.datasets["semantic"])
        if count == 0:
            raise ValueError(f"the {split!r} split has no scenes")
        controls = {
            "index": W.IntSlider(value=0, min=0, max=count - 1, description="scene", continuous_update=False),
            "view": W.ToggleButtons(options=["all", *TASK_VIEWS], value="all", description="view"),
        }
        super().__init__(controls, title=f"Scenes ({split} split, {count} images)")

    def render(self, values):
        index = values["index"]
        image, semantic = self.datasets["semantic"][index]
        _, instance = self.datasets["instance"][index]
        _, panoptic = self.datasets["panoptic"][index]
        views = TASK_VIEWS if values["view"] == "all" else (values["view"],)
        fig = show_tasks(image, semantic, instance, panoptic, views=views)
        stuff = sum(1 for s in panoptic["segments_info"] if s["category_id"] <= 4)
        state = {
            "index": index,
            "image": image,
            "semantic": semantic,
            "views": views,
            "pictures": {view: np.asarray(ax.images[0].get_array()) for view, ax in zip(views, fig.axes)},
            "num_instances": int(instance["masks"].shape[0]),
            "num_segments": len(panoptic["segments_info"]),
            "message": f"{int(instance['masks'].shape[0])} things, {stuff} stuff regions",
        }
        return fig, state


def scene_browser(root=None, split: str = "val") -> SceneBrowser:
    """A widget over the scenes: ``scene`` slider, ``view`` toggle (all, image, semantic, instance, panoptic)."""
    return SceneBrowser(root, split)
