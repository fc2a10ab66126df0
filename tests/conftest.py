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
