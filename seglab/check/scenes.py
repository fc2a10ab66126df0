"""Self-checks for chapter 0 (segmentation tasks and formats)."""

from __future__ import annotations

import numpy as np

from seglab.check.core import CheckResult, check_function
from seglab.data.formats import rgb_to_id

__all__ = ["check_rgb_to_id", "check_count_things"]


def check_rgb_to_id(student_fn) -> CheckResult:
    """Your ``rgb_to_id(rgb uint8[H,W,3]) -> int64[H,W]`` against COCO panoptic's ``R + 256*G + 256^2*B``."""
    rng = np.random.default_rng(0)
    cases = [(np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.uint8),)]
    cases += [(rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8),) for _ in range(3)]
    return check_function(student_fn, rgb_to_id, cases, name="rgb_to_id", atol=0, rtol=0)


def check_count_things(student_fn, dataset) -> CheckResult:
    """Your ``count_things(segments_info, categories) -> int`` on the first scenes of a panoptic dataset."""
    from seglab.data.classes import CATEGORIES

    thing_ids = {c["id"] for c in CATEGORIES if c["isthing"]}
    reference = lambda info, categories: sum(1 for s in info if s["category_id"] in thing_ids)  # noqa: E731
    cases = [((dataset[i][1]["segments_info"], CATEGORIES), {}) for i in range(min(5, len(dataset)))]
    return check_function(student_fn, reference, cases, name="count_things", atol=0, rtol=0)
