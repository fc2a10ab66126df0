"""Every test starts from the same random state, so a test that draws random inputs sees the same ones each run.
Tests marked ``gpu`` are skipped when CUDA is not available."""

import pytest
import torch

from seglab.utils import set_seed


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_everything():
    set_seed(0)
    yield


def pytest_terminal_summary(terminalreporter):
    """Print the explorers' in-browser round trips that the browser test records (also under pytest-xdist, whose
    workers' own output is not shown)."""
    lines = [value for reports in terminalreporter.stats.values() for report in reports
             for name, value in getattr(report, "user_properties", ()) if name == "explorer_round_trips"]
    if lines:
        terminalreporter.section("explorer round trips in the browser (a figure, not a test)")
        for text in sorted(set(lines)):
            terminalreporter.write_line(text)
