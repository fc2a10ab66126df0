"""A live loss plot for notebooks: pass ``plot=LivePlot()`` to :func:`seglab.train.fit` (or ``load_or_train``).

Training stays headless (``seglab.train`` imports neither Matplotlib nor IPython): ``fit`` calls its ``plot``
monitor as ``plot(history, force=False)`` after each step and ``plot(history, force=True)`` after each epoch, and
:class:`LivePlot` redraws :func:`seglab.viz.history.plot_history` into one notebook output.
"""

from __future__ import annotations

import io
import time

__all__ = ["LivePlot", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures can be displayed), False in scripts, tests and torchrun."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class LivePlot:
    """Redraw a training history in one notebook output while training runs.

    Redraws at most every ``interval`` seconds (and never more often than 10x the time a redraw takes), so that
    drawing costs at most a few percent of the training time; ``force=True`` draws now. Outside a notebook
    (``only_in_notebook=True``, the default) it draws nothing, so a notebook's cell runs unchanged as a script.
    ``history``: the history to draw when called without one (the old ``LivePlot(history).update()`` form)."""

    def __init__(self, history=None, interval: float = 5.0, only_in_notebook: bool = True):
        self.history, self.interval = history, interval
        self.enabled = in_notebook() or not only_in_notebook
        self.handle, self.last, self.cost = None, 0.0, 0.0

    def __call__(self, history=None, force: bool = False) -> None:
        self.update(history, force=force)

    def update(self, history=None, force: bool = False) -> None:
        if isinstance(history, bool):  # the old update(force) form
            history, force = None, history
        history = history if history is not None else self.history
        now = time.perf_counter()
        if history is None or not self.enabled or (not force and now - self.last < max(self.interval,
                                                                                       10 * self.cost)):
            return
        from IPython.display import Image, display

        from seglab.viz.history import plot_history

        buffer = io.BytesIO()
        plot_history(history).savefig(buffer, format="png")
        image = Image(data=buffer.getvalue())
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        self.last = time.perf_counter()
        self.cost = self.last - now
