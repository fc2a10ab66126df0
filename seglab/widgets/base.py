"""The shared shape of every explorer: controls on top, a picture below, the PyTorch line, state for tests.

A chapter widget subclasses :class:`Explorer` and implements :meth:`Explorer.render`, which reads the control
values and returns ``(picture, state_dict)``. The picture is a ``uint8[H, W, 3]`` array painted by a
``seglab.viz`` renderer (the fast path, a few milliseconds) or, for custom subclasses, a Matplotlib figure. The
base class wires the controls with ``observe(..., names="value")``, shows the picture as a PNG image (so browser
tests can see it change) and keeps ``state`` up to date.

Never blank: a ``ValueError`` from ``render`` is a setting the explorer teaches about (PyTorch would refuse it
too); the last valid picture stays on screen with the reason beside it, and ``state`` keeps that picture's arrays
plus ``error`` (the reason) and ``drawn_values`` (the controls the picture shows). Any other exception is a bug: it is
shown in the widget too (never only logged) and recorded as ``state["exception"]``.
"""

from __future__ import annotations

import contextlib
import html
import time

import ipywidgets as W
import numpy as np

__all__ = ["Explorer", "int_slider", "float_slider", "figure_to_png", "picture_to_png", "code_html", "shipped_models"]


def picture_to_png(picture) -> tuple[bytes, np.ndarray]:
    """Encode a picture (``uint8[H, W, 3]`` array, or a Matplotlib figure) as PNG; also return its RGB array.

    Figures are drawn once on an Agg canvas at their own size (no ``bbox_inches="tight"``, which draws twice).
    """
    from seglab.viz.raster import png_bytes

    if not isinstance(picture, np.ndarray):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(picture)
        canvas.draw()
        picture = np.asarray(canvas.buffer_rgba())[..., :3]
    picture = np.ascontiguousarray(picture, dtype=np.uint8)
    return png_bytes(picture), picture


def figure_to_png(fig) -> bytes:
    """Render a Matplotlib figure to PNG bytes."""
    return picture_to_png(fig)[0]


def int_slider(description: str, value: int, lo: int, hi: int, width: str = "200px",
               continuous_update: bool = True) -> W.IntSlider:
    """An ``IntSlider`` for cheap renders: it updates while dragging and shows its whole description."""
    return W.IntSlider(value=value, min=lo, max=hi, description=description, continuous_update=continuous_update,
                       style={"description_width": "initial"}, layout=W.Layout(width=width))


def float_slider(description: str, value: float, lo: float, hi: float, step: float, width: str = "230px",
                 continuous_update: bool = True) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=continuous_update, style={"description_width": "initial"},
                         layout=W.Layout(width=width))


def code_html(code: str, note: str = "") -> str:
    """The PyTorch line as a block that one click selects whole (ready to copy), with a note above it."""
    head = f"<div style='font-size:90%;color:#555'>{note}</div>" if note else ""
    return (f"{head}<pre style='user-select:all;-webkit-user-select:all;background:#f6f8fa;padding:4px 6px;"
            f"margin:2px 0;font-size:12px;line-height:1.3;white-space:pre-wrap'>{html.escape(code)}</pre>")


class Explorer(W.VBox):
    """Base class: ``controls`` dict, ``state`` dict, an image, a message line and the PyTorch line.

    Subclasses pass their controls (an ordered dict name -> control) to ``__init__`` and implement
    ``render(values) -> (picture, state)``; they may override :meth:`on_control` to keep other controls
    consistent (linked bounds) before the picture is redrawn. A ``"pytorch"`` entry in the returned state (code
    that reproduces what is drawn) is shown under the picture, ready to copy.
    """

    def __init__(self, controls: dict, *, title: str = "", layout_rows: list[list[str]] | None = None,
                 notice: str = ""):
        self.controls = dict(controls)
        self.state: dict = {}
        self._last_good: dict | None = None
        self._quiet = False
        self.notice = notice  # a standing note (e.g. which weights are shown), above the message
        self.image = W.Image(format="png", layout=W.Layout(align_self="flex-start", max_width="100%"))
        self.message = W.HTML()
        self.code = W.HTML()
        self.title = W.HTML(f"<b>{title}</b>") if title else W.HTML()
        rows = layout_rows or [list(self.controls)]
        boxes = [W.HBox([self.controls[n] for n in row]) for row in rows]
        super().__init__([self.title, *boxes, self.message, self.image, self.code])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.refresh()
        if self._last_good is None:  # the initial settings cannot be drawn: a builder argument is wrong
            raise ValueError(self.state.get("error") or self.state.get("exception"))

    # ------------------------------------------------------------------ controls
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    @contextlib.contextmanager
    def hold(self):
        """Change controls (e.g. new slider bounds) without a redraw per change; the caller redraws once."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def on_control(self, change) -> None:
        """Hook: a control changed (``change.owner``, ``change.new``); adjust others before the redraw."""

    def _on_change(self, change) -> None:
        if self._quiet:
            return
        try:
            with self.hold():
                self.on_control(change)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never only logged
            self._show_exception(exc)
            return
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def render(self, values: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw from the current control values."""
        start = time.perf_counter()
        values = self.values()
        try:
            picture, state = self.render(values)
            png, rgb = picture_to_png(picture)
        except ValueError as exc:
            self._keep_last_picture(str(exc), values)
            return
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never only logged
            self._show_exception(exc)
            return
        state = dict(state)
        state["values"] = values
        state["picture"] = rgb
        state["render_seconds"] = time.perf_counter() - start
        self.image.value = png
        self.state = self._last_good = state
        self.message.value = self._notice_html() + state.get("message", "")
        self.code.value = code_html(state["pytorch"], state.get("pytorch_note", "")) if state.get("pytorch") else ""

    def _notice_html(self) -> str:
        return f"<div style='color:#8a5300'>&#9432; {self.notice}</div>" if self.notice else ""

    def _keep_last_picture(self, reason: str, values: dict) -> None:
        last = self._last_good or {}
        self.state = {**last, "error": reason, "values": values, "drawn_values": last.get("values")}
        shown = " (the picture still shows the last valid setting)" if last else ""
        self.message.value = (self._notice_html() +
                              f"<span style='color:#b00'>&#9888; {html.escape(reason)}</span>{shown}")

    def _show_exception(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.state = {**(self._last_good or {}), "exception": text, "values": self.values()}
        self.message.value = (self._notice_html() + "<span style='color:#b00'>&#9888; the explorer failed: "
                              f"{html.escape(text)}</span>")


def shipped_models(names, weights_dir=None):
    """The suite's trained models for an explorer, one per name, from the one loader
    (:func:`seglab.models.load_pretrained` with ``missing="untrained"``), and a notice: ``""`` when all loaded; else
    the missing ones are untrained models of the same architecture and the notice says so, why, and how to build the
    weights (the loader's message)."""
    from seglab.models import load_pretrained

    models = [load_pretrained(name, weights_dir=weights_dir, missing="untrained") for name in names]
    missing = [name for name, model in zip(names, models) if model.load_error]
    if not missing:
        return models, ""
    reasons = list(dict.fromkeys(model.load_error for model in models if model.load_error))
    listed = ", ".join(f"<b>{html.escape(n)}</b>" for n in missing)
    return models, (f"Trained weights {listed} not available ({html.escape('; '.join(reasons))}): showing "
                    f"<b>untrained</b> models of the same architecture. Pass trained models, or build the weights "
                    f"with the command above.")
