"""The learning curves of a training run: :func:`plot_history` draws a :class:`seglab.train.History` (or its
``to_dict()``) as a Matplotlib figure. Pure: a history in, a figure out; training itself never draws."""

from __future__ import annotations

import math

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_history"]


def _field(history, name: str, empty):
    value = history.get(name) if isinstance(history, dict) else getattr(history, name, None)
    return value if value is not None else empty


def plot_history(history, width: float = 9.0, height: float = 3.2) -> Figure:
    """A figure: training loss per step (and each loss term) on the left, validation metrics per epoch right.

    ``history``: a :class:`seglab.train.History` or its ``to_dict()`` (``step_loss``, ``step_terms``,
    ``epoch_loss``, ``val``). The loss axis turns logarithmic when the loss spans more than a factor of 30."""
    from seglab.viz import new_figure

    step_loss, step_terms = _field(history, "step_loss", []), _field(history, "step_terms", {})
    epoch_loss, val = _field(history, "epoch_loss", []), _field(history, "val", {})
    fig = new_figure(width, height)
    ax_loss, ax_val = fig.subplots(1, 2)
    ax_loss.plot(range(1, len(step_loss) + 1), step_loss, lw=0.8, label="loss", color="0.3")
    for name, values in step_terms.items():
        ax_loss.plot(range(1, len(values) + 1), values, lw=0.8, label=name)
    if epoch_loss and step_loss:
        per_epoch = len(step_loss) / len(epoch_loss)
        ax_loss.plot([per_epoch * (i + 1) for i in range(len(epoch_loss))], epoch_loss, "o-", color="k",
                     label="epoch mean")
    ax_loss.set(xlabel="step", ylabel="training loss", title="training")
    positive = [v for v in step_loss if v > 0 and math.isfinite(v)]
    if positive and max(positive) / min(positive) > 30:
        ax_loss.set_yscale("log")
    ax_loss.legend(fontsize=7)
    for name, values in val.items():
        ax_val.plot(range(1, len(values) + 1), values, "o-", label=f"val {name}")
    ax_val.set(xlabel="epoch", title="validation")
    ax_val.xaxis.set_major_locator(MaxNLocator(integer=True))
    if val:
        ax_val.legend(fontsize=7)
    fig.tight_layout()
    return fig
