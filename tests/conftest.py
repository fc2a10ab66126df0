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


#: The chapter the site tests build in quick mode: chapter 1 has figures, printed results, two explorers and a displayed
#: formula; the index and the lecturer's guide (more formulas) come with every build.
SITE_CHAPTERS = ("01_transposed_conv.ipynb",)


@pytest.fixture(scope="session")
def quick_site(tmp_path_factory):
    """``build_site`` of ``SITE_CHAPTERS`` in quick mode, built once per run: pytest-xdist workers share it (the
    first one builds it under a file lock; checkpoints go to a temporary folder, not the repository's)."""
    import fcntl
    import os
    from pathlib import Path

    from seglab.site import build_site

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    site, chapters = root / "quick-site", [Path(__file__).parent.parent / "notebooks" / n for n in SITE_CHAPTERS]
    with open(root / "quick-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (site / "index.html").exists():
            build_site(site, chapters, quick=True, extra_env={"SEGLAB_CHECKPOINT_DIR": str(root / "site-ckpt")},
                       log=lambda *args: None)
    return site
