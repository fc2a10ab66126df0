"""Chapter 2's plotting helpers: learning curves of staged runs lined up by their total training."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from seglab.viz.fcn import learning_curves_figure, shifted_curve


def test_shifted_curve_moves_the_epochs_only():
    x, y = shifted_curve([(1, 0.5), (2, 0.75)], start=8)
    assert x.tolist() == [9.0, 10.0] and y.tolist() == [0.5, 0.75]
    x, y = shifted_curve([[1, 0.1]])
    assert x.tolist() == [1.0] and y.tolist() == [0.1]


@pytest.mark.parametrize("points, start", [([], 0), ([(1, 0.5, 3)], 0), ([(1, 0.5)], -1), ([(1, 0.5)], 1.5),
                                           ([(1, 0.5)], True)])
def test_shifted_curve_refuses_bad_input(points, start):
    with pytest.raises(ValueError):
        shifted_curve(points, start)


def test_learning_curves_figure_draws_one_shifted_line_per_run():
    curves = {"FCN-32s": [(1, 0.4), (2, 0.5)], "FCN-16s": [(1, 0.6), (2, 0.7)]}
    fig = learning_curves_figure(curves, start_epochs={"FCN-16s": 2}, styles={"FCN-32s": {"linestyle": "--"}})
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == set(curves)
    assert np.array_equal(lines["FCN-16s"].get_xdata(), [3.0, 4.0])
    assert np.array_equal(lines["FCN-32s"].get_xdata(), [1.0, 2.0]) and lines["FCN-32s"].get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)


def test_learning_curves_figure_refuses_unknown_runs():
    with pytest.raises(ValueError, match="FCN-8s"):
        learning_curves_figure({"FCN-32s": [(1, 0.4)]}, start_epochs={"FCN-8s": 8})
