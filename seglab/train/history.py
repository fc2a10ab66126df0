"""What a training run records: :class:`History`. Drawing it is :func:`seglab.viz.history.plot_history`'s job
(and :class:`seglab.widgets.live.LivePlot`'s while training runs): training itself stays headless."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

__all__ = ["History"]

_TIMINGS = ("data_seconds", "step_seconds")


@dataclass
class History:
    """Everything :func:`seglab.train.fit` logs, as plain lists of floats (saved inside checkpoints).

    * ``step_loss``: training loss of every optimisation step (the summed loss for detection models);
    * ``step_terms``: each loss term per step, e.g. ``{"loss_classifier": [...], "loss_box_reg": [...],
      "loss_mask": [...]}`` for torchvision's Mask R-CNN (empty for semantic models);
    * ``epoch_loss``: mean training loss of each epoch; ``lr``: learning rate at the end of each epoch;
    * ``val``: validation metrics per epoch, e.g. ``{"mIoU": [...], "pixel_acc": [...], "loss": [...]}``;
    * ``epoch_seconds``: wall time of each epoch (training + validation);
    * ``data_seconds``: time of each epoch spent waiting for batches (the loader and the copy to the device), and
      ``step_seconds``: time in the training steps (forward, backward, optimizer), as timm's and detectron2's
      ``data_time``. Histories saved before these existed load with NaN for their epochs.
    """

    step_loss: list = field(default_factory=list)
    step_terms: dict = field(default_factory=dict)
    epoch_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val: dict = field(default_factory=dict)
    epoch_seconds: list = field(default_factory=list)
    data_seconds: list = field(default_factory=list)
    step_seconds: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_loss)

    @property
    def seconds(self) -> float:
        """Total training time so far (all epochs, including resumed ones)."""
        return float(sum(self.epoch_seconds))

    @property
    def data_share(self) -> float:
        """Share of the data wait in data + step time over the epochs that measured it (NaN when none did)."""
        pairs = [(d, s) for d, s in zip(self.data_seconds, self.step_seconds) if math.isfinite(d + s)]
        total = sum(d + s for d, s in pairs)
        return sum(d for d, _ in pairs) / total if total > 0 else math.nan

    def log_step(self, loss: float, terms: dict | None = None) -> None:
        self.step_loss.append(loss)
        for name, value in (terms or {}).items():
            self.step_terms.setdefault(name, []).append(value)

    def log_epoch(self, loss: float, seconds: float, lr: float, val: dict | None = None, *,
                  data_seconds: float = math.nan, step_seconds: float = math.nan) -> None:
        self.epoch_loss.append(loss)
        self.epoch_seconds.append(seconds)
        self.data_seconds.append(float(data_seconds))
        self.step_seconds.append(float(step_seconds))
        self.lr.append(lr)
        for name, value in (val or {}).items():
            if isinstance(value, (int, float)):
                self.val.setdefault(name, []).append(float(value))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> History:
        history = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        for name in _TIMINGS:  # older checkpoints: NaN for the epochs that did not measure it
            values = getattr(history, name)
            if len(values) < history.epochs:
                setattr(history, name, [math.nan] * (history.epochs - len(values)) + list(values))
        return history

    def __getattr__(self, name: str):
        if name == "plot":  # removed: training imports no renderer (tests/test_layers.py)
            raise AttributeError("History.plot() moved out of training: use seglab.viz.history.plot_history(history) "
                                 "(a figure) or fit(..., plot=seglab.widgets.live.LivePlot()) (live in a notebook)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.val.items() if v}
        loss = f"{self.epoch_loss[-1]:.4f}" if self.epoch_loss else "-"
        return f"History(epochs={self.epochs}, steps={len(self.step_loss)}, last loss={loss}, val={last}, " \
               f"seconds={self.seconds:.1f})"


def __getattr__(name: str):
    if name in ("LivePlot", "in_notebook"):  # moved up the layers: training imports no display code
        raise AttributeError(f"seglab.train.history.{name} moved to seglab.widgets.live.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
