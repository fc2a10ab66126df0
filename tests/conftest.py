"""Every test starts from the same random state, so a test that draws random inputs sees the same ones each run.
Tests marked ``gpu`` are skipped when CUDA is not available; those that compare CUDA with the CPU take the ``no_tf32``
fixture (float32 math on CUDA as on the CPU: no TF32) and say so."""

import contextlib

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


@contextlib.contextmanager
def full_float32_on_cuda():
    """TF32 off for CUDA matmuls and cuDNN convolutions inside the block (restored after).

    On Ampere and later GPUs cuDNN convolutions run in TF32 by default (``torch.backends.cudnn.allow_tf32``): about
    10 bits of mantissa, so a U-Net's logits differ from the CPU's by up to 3e-4 (seen on an H200, 2026-12-04). With
    TF32 off, CUDA and CPU float32 agree to float32 rounding and the comparisons keep tight tolerances."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture
def no_tf32():
    """For tests that compare CUDA against the CPU: :func:`full_float32_on_cuda` around the test."""
    with full_float32_on_cuda():
        yield


@pytest.fixture(autouse=True)
def _seed_everything():
    set_seed(0)
    yield


@pytest.fixture(scope="session")
def make_test_scenes(tmp_path_factory):
    """``make_test_scenes(num_train=6, num_val=2, size=128, seed=5)`` -> a folder written by
    :func:`seglab.data.make_scenes` (VOC, COCO instances and COCO panoptic), made once per session and set of
    arguments. Shared: read it, and copy it before damaging it."""
    from seglab.data import make_scenes

    made = {}

    def make(num_train: int = 6, num_val: int = 2, size: int = 128, seed: int = 5):
        key = (num_train, num_val, size, seed)
        if key not in made:
            made[key] = make_scenes(tmp_path_factory.mktemp("scenes") / "scenes", num_train, num_val, size=size,
                                    seed=seed)
        return made[key]

    return make


@pytest.fixture(scope="session")
def scenes(make_test_scenes):
    """The tests' standard scenes: 6 train and 2 val 128x128 scenes (seed 5, image ids 1-6 and 7-8)."""
    return make_test_scenes()


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
