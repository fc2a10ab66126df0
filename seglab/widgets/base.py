"""The shared shape of every explorer: controls on top, a rendered picture below, state for tests.

A chapter widget subclasses :class:`Explorer` and implements :meth:`Explorer.render`, which reads
``self.values()`` and returns ``(figure, state_dict)``. The base class wires the controls with
``observe(..., names="value")``, shows the figure as a PNG image (so browser tests can see it change), turns
a ``ValueError`` from the model of the widget into a readable message instead of a traceback, and keeps
``state`` up to date.
"""

from __future__ import annotations

import io
import time

import ipywidgets as W
import matplotlib.pyplot as plt


def figure_to_png(fig) -> bytes:
    """Render a Matplotlib figure to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def int_slider(description: str, value: int, lo: int, hi: int, width: str = "200px") -> W.IntSlider:
    """An ``IntSlider`` for cheap renders: it updates while dragging and shows its whole description."""
    return W.IntSlider(value=value, min=lo, max=hi, description=description, continuous_update=True,
                       style={"description_width": "initial"}, layout=W.Layout(width=width))


class Explorer(W.VBox):
    """Base class: ``controls`` dict, ``state`` dict, an image and a message line.

    Subclasses pass their controls (an ordered dict name -> control) to ``__init__`` and implement
    ``render(values) -> (fig, state)``. Raise ``ValueError`` in ``render`` for invalid settings: the message is
    shown in the widget and ``state["error"]`` holds it.
    """

    def __init__(self, controls: dict, *, title: str = "", layout_rows: list[list[str]] | None = None):
        self.controls = dict(controls)
        self.state: dict = {}
        self.image = W.Image(format="png", layout=W.Layout(align_self="flex-start", max_width="100%"))
        self.message = W.HTML()
        self.title = W.HTML(f"<b>{title}</b>") if title else W.HTML()
        rows = layout_rows or [list(self.controls)]
        boxes = [W.HBox([self.controls[n] for n in row]) for row in rows]
        super().__init__([self.title, *boxes, self.message, self.image])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.refresh()

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def render(self, values: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def _on_change(self, change) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-render from the current control values."""
        start = time.perf_counter()
        try:
            fig, state = self.render(self.values())
        except ValueError as exc:
            self.state = {"error": str(exc), "values": self.values()}
            self.message.value = f"<span style='color:#b00'>&#9888; {exc}</span>"
            return
        self.image.value = figure_to_png(fig)
        state = dict(state)
        state.setdefault("values", self.values())
        state["render_seconds"] = time.perf_counter() - start
        self.state = state
        self.message.value = state.get("message", "")
