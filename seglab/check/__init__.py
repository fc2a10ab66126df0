"""Homework self-checks: a student's function against seglab's reference, with a concrete counterexample.

``check_function(student, reference, cases)`` runs both on each case and returns a :class:`CheckResult`
that reads "pass" or names the first input where they differ. Chapter checks (``check_trans_conv`` and so on)
live in submodules and resolve lazily from here.
"""

from __future__ import annotations

from seglab._lazy import lazy_exports
from seglab.check.core import CheckResult, check_answer, check_function, check_value

__all__ = ["CheckResult", "check_answer", "check_function", "check_value"]

#: Chapter checks live in these submodules and are found by name on first use.
_CHAPTERS = ["scenes", "transposed", "fcn", "unet", "segnet", "roi", "panoptic"]
__getattr__, _dir = lazy_exports(__name__, _CHAPTERS)

def __dir__():
    return sorted(set(__all__) | set(_dir()))
