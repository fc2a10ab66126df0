"""What a training run records (:class:`History`) and a live plot of it for notebooks (:class:`LivePlot`)."""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field

__all__ = ["History", "LivePlot", "in_notebook"]


@dataclass
class History:
    """Everything :func:`seglab.train.fit` logs, as plain lists of floats (saved inside checkpoints).

    * ``step_loss``: training loss of every optimisation step (the summed loss for detection models);
    * ``step_terms``: each loss term per step, e.g. ``{"loss_classifier": [...], "loss_box_reg": [...],
      "loss_mask": [...]}`` for torchvision's Mask R-CNN (empty for semantic models);
    * ``epoch_loss``: mean training loss of each epoch; ``lr``: learning rate at the end of each epoch;
    * ``val``: validation metrics per epoch, e.g. ``{"mIoU": [...], "pixel_acc": [...], "loss": [...]}``;
    * ``epoch_seconds``: wall time of each epoch (training + validation).
    """

    step_loss: list = field(default_factory=list)
    step_terms: dict = field(default_factory=dict)
    epoch_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val: dict = field(default_factory=dict)
    epoch_seconds: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_loss)

    @property
    def seconds(self) -> float:
        """Total training time so far (all epochs, including resumed ones)."""
        return float(sum(self.epoch_seconds))

    def log_step(self, loss: float, terms: dict | None = None) -> None:
        self.step_loss.append(loss)
        for name, value in (terms or {}).items():
            self.step_terms.setdefault(name, []).append(value)

    def log_epoch(self, loss: float, seconds: float, lr: float, val: dict | None = None) -> None:
        self.epoch_loss.append(loss)
        self.epoch_seconds.append(seconds)
        self.lr.append(lr)
        for name, value in (val or {}).items():
            if isinstance(value, (int, float)):
                self.val.setdefault(name, []).append(float(value))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def plot(self, width: float = 9.0, height: float = 3.2):
        """A figure: training loss per step (and each loss term) on the left, validation metrics per epoch right."""
        from matplotlib.ticker import MaxNLocator

        from seglab.viz import new_figure

        fig = new_figure(width, height)
        ax_loss, ax_val = fig.subplots(1, 2)
        steps = range(1, len(self.step_loss) + 1)
        ax_loss.plot(steps, self.step_loss, lw=0.8, label="loss", color="0.3")
        for name, values in self.step_terms.items():
            ax_loss.plot(range(1, len(values) + 1), values, lw=0.8, label=name)
        if self.epoch_loss and self.step_loss:
            per_epoch = len(self.step_loss) / len(self.epoch_loss)
            ax_loss.plot([per_epoch * (i + 1) for i in range(len(self.epoch_loss))], self.epoch_loss, "o-",
                         color="k", label="epoch mean")
        ax_loss.set(xlabel="step", ylabel="training loss", title="training")
        positive = [v for v in self.step_loss if v > 0 and math.isfinite(v)]
        if positive and max(positive) / min(positive) > 30:
            ax_loss.set_yscale("log")
        ax_loss.legend(fontsize=7)
        for name, values in self.val.items():
            ax_val.plot(range(1, len(values) + 1), values, "o-", label=f"val {name}")
        ax_val.set(xlabel="epoch", title="validation")
        ax_val.xaxis.set_major_locator(MaxNLocator(integer=True))
        if self.val:
            ax_val.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.val.items() if v}
        loss = f"{self.epoch_loss[-1]:.4f}" if self.epoch_loss else "-"
        return f"History(epochs={self.epochs}, steps={len(self.step_loss)}, last loss={loss}, val={last}, " \
               f"seconds={self.seconds:.1f})"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures can be displayed), False in scripts, tests and torchrun."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class LivePlot:
    """Redraw ``history.plot()`` in one notebook output while training runs.

    Redraws at most every ``interval`` seconds (and never more often than 10x the time a redraw takes), so that
    drawing costs at most a few percent of the training time. ``update(force=True)`` draws now.
    """

    def __init__(self, history: History, interval: float = 5.0):
        self.history, self.interval = history, interval
        self.handle, self.last, self.cost = None, 0.0, 0.0

    def update(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < max(self.interval, 10 * self.cost):
            return
        from IPython.display import Image, display

        fig = self.history.plot()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        image = Image(data=buffer.getvalue())
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        self.last = time.perf_counter()
        self.cost = self.last - now
