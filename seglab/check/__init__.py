"""Homework self-checks: a student's function against seglab's reference, with a concrete counterexample.

``check_function(student, reference, cases)`` runs both on each case and returns a :class:`CheckResult`
that reads "pass" or names the first input where they differ.

Conventions shared by every chapter check: a function check is ``check_NAME(student, *, seed=0)`` (seed 0: the cases
shown; other seeds: further random cases, for hidden tests; a variant is a keyword flag), compares with one tolerance
(``core.ATOL``, ``core.RTOL``) and first applies its part's :class:`~seglab.check.rules.Rule` (no calling the
answer); a graded number is only checked for its form (``check_form``) where the student sees it, and against a
digest (``check_digest``) in the hidden test. Chapter checks (``check_trans_conv`` and so on) live in submodules and
resolve lazily from here.
"""

from __future__ import annotations

from seglab._lazy import lazy_exports
from seglab.check.core import (
    CheckResult,
    Form,
    answer_digest,
    check_answer,
    check_digest,
    check_form,
    check_function,
    check_value,
)
from seglab.check.rules import Rule, obey

__all__ = ["CheckResult", "Form", "Rule", "answer_digest", "check_answer", "check_digest", "check_form",
           "check_function", "check_value", "obey"]

#: Chapter checks live in these submodules and are found by name on first use.
_CHAPTERS = ["scenes", "transposed", "fcn", "unet", "segnet", "roi", "panoptic"]
__getattr__, _dir = lazy_exports(__name__, _CHAPTERS)

def __dir__():
    return sorted(set(__all__) | set(_dir()))
