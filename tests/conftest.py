"""Every test starts from the same random state, so a test that draws random inputs sees the same ones each run."""

import pytest

from seglab.utils import set_seed


@pytest.fixture(autouse=True)
def _seed_everything():
    set_seed(0)
    yield
