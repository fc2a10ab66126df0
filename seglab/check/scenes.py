"""Self-checks for chapter 0 (segmentation tasks and formats)."""

from __future__ import annotations

import numpy as np

from seglab.check.core import CheckResult, check_function
from seglab.check.rules import Rule, obey
from seglab.data.formats import rgb_to_id

__all__ = ["check_rgb_to_id", "check_count_things", "SCENES_RULE"]

#: The lecture's practice exercises: seglab.data's readers hold the answers, panopticapi too.
SCENES_RULE = Rule("this reader", ("panopticapi.*",), "seglab.data.formats.rgb_to_id is what you re-implement.")


def check_rgb_to_id(student, *, seed: int = 0) -> CheckResult:
    """Your ``rgb_to_id(rgb uint8[H,W,3]) -> int64[H,W]`` against COCO panoptic's ``R + 256*G + 256^2*B``."""
    if (broken := obey(student, SCENES_RULE, name="rgb_to_id")) is not None:
        return broken
    rng = np.random.default_rng(seed)
    cases = [(np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.uint8),)]
    cases += [(rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8),) for _ in range(3)]
    return check_function(student, rgb_to_id, cases, name="rgb_to_id")


def check_count_things(student, dataset, *, seed: int = 0) -> CheckResult:
    """Your ``count_things(segments_info, categories) -> int`` on scenes of a panoptic dataset (seed 0: the first
    five; other seeds: five others)."""
    if (broken := obey(student, SCENES_RULE, name="count_things")) is not None:
        return broken
    from seglab.data.classes import CATEGORIES

    thing_ids = {c["id"] for c in CATEGORIES if c["isthing"]}
    reference = lambda info, categories: sum(1 for s in info if s["category_id"] in thing_ids)  # noqa: E731
    first = (5 * seed) % max(len(dataset), 1)
    cases = [((dataset[i][1]["segments_info"], CATEGORIES), {}) for i in range(first, min(first + 5, len(dataset)))]
    return check_function(student, reference, cases, name="count_things")
