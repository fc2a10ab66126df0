"""Explorers whose image slider runs a model: the images next to the one shown are computed right after its
picture is out, so moving the slider by one only redraws (issue 27: every move within 150 ms in the browser)."""

from __future__ import annotations

import contextlib

__all__ = ["PrefetchNeighbours"]


class PrefetchNeighbours:
    """Mixin before :class:`seglab.widgets.base.Explorer`: after each redraw, ``self._compute(i)`` runs for the
    images ``i`` next to ``controls["image"]`` that are not in ``self._cache`` yet (a failure there is left for the
    redraw of that image to show)."""

    def refresh(self) -> None:
        super().refresh()
        index = int(self.controls["image"].value)
        for near in (index + 1, index - 1):
            if 0 <= near < len(self.dataset) and near not in self._cache:
                with contextlib.suppress(Exception):
                    self._compute(near)
