"""Chapter 0: browse the generated scenes in every task's view."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from seglab.viz.scenes import TASK_VIEWS, tasks_picture
from seglab.widgets.base import Explorer, int_slider

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
        self._cache: dict = {}
        count = len(self.datasets["semantic"])
        if count == 0:
            raise ValueError(f"the {split!r} split has no scenes")
        controls = {
            "index": int_slider("scene", 0, 0, count - 1, "300px"),
            "view": W.ToggleButtons(options=["all", *TASK_VIEWS], value="all", description="view"),
        }
        super().__init__(controls, title=f"Scenes ({split} split, {count} images)")

    def _scene(self, index: int):
        """The scene's image and its three targets (cached: the view toggle and a return visit read no files)."""
        if index not in self._cache:
            image, semantic = self.datasets["semantic"][index]
            self._cache[index] = (image, semantic, self.datasets["instance"][index][1],
                                  self.datasets["panoptic"][index][1])
            while len(self._cache) > 64:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[index]

    def render(self, values):
        index = values["index"]
        image, semantic, instance, panoptic = self._scene(index)
        views = TASK_VIEWS if values["view"] == "all" else (values["view"],)
        picture, panels = tasks_picture(image, semantic, instance, panoptic, views=views)
        stuff = sum(1 for s in panoptic["segments_info"] if s["category_id"] <= 4)
        state = {
            "index": index,
            "image": image,
            "semantic": semantic,
            "views": views,
            "pictures": {view: (panels[view] * 255 + 0.5).astype(np.uint8) if view == "image" else panels[view]
                         for view in views},
            "num_instances": int(instance["masks"].shape[0]),
            "num_segments": len(panoptic["segments_info"]),
            "message": f"{int(instance['masks'].shape[0])} things, {stuff} stuff regions",
        }
        return picture, state


def scene_browser(root=None, split: str = "val") -> SceneBrowser:
    """A widget over the scenes: ``scene`` slider, ``view`` toggle (all, image, semantic, instance, panoptic)."""
    return SceneBrowser(root, split)
