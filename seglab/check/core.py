"""The machinery behind the self-checks: compare, and explain the first difference."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from seglab.utils import to_numpy

#: The one tolerance of every function check (cases are float64; integer results compare exactly within it).
ATOL, RTOL = 1e-6, 1e-5


@dataclass
class CheckResult:
    """Outcome of a self-check. ``bool(result)`` is ``passed``; it prints as a short verdict."""

    name: str
    passed: bool
    message: str
    counterexample: dict = field(default_factory=dict)
    label: str = ""  # shown instead of "pass"/"FAIL" (a form check says "form ok": it does not grade)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        head = f"{self.name}: {self.label or ('pass' if self.passed else 'FAIL')}"
        return f"{head} - {self.message}" if self.message else head

    def _repr_html_(self) -> str:
        colour = "#0a0" if self.passed else "#b00"
        text = self.message.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>")
        verdict = ("&#10004; " if self.passed else "&#10008; ") + (self.label or ("pass" if self.passed else "not yet"))
        return f"<div style='color:{colour}'><b>{self.name}: {verdict}</b><br><code>{text}</code></div>"


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.double()
    return to_numpy(value).astype(np.float64, copy=False)


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype}):\n{value}"
    return repr(value)


def _equal(got, want, atol: float, rtol: float) -> tuple[bool, str]:
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            return False, f"returned {keys}, expected a dict with keys {sorted(want)}"
        for key in want:
            ok, why = _equal(got[key], want[key], atol, rtol)
            if not ok:
                return False, f"[{key!r}]: {why}"
        return True, ""
    if isinstance(want, (tuple, list)) and isinstance(got, (tuple, list)):
        if len(got) != len(want):
            return False, f"returned {len(got)} values, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            ok, why = _equal(g, w, atol, rtol)
            if not ok:
                return False, f"item {i}: {why}"
        return True, ""
    try:
        g, w = _as_array(got), _as_array(want)
    except (TypeError, ValueError):
        return (got == want), f"returned {got!r}, expected {want!r}"
    if g.shape != w.shape:
        return False, f"returned shape {g.shape}, expected shape {w.shape}"
    if not np.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True):
        worst = np.unravel_index(np.argmax(np.abs(g - w)), g.shape) if g.size else ()
        return False, f"values differ; largest difference at index {tuple(int(i) for i in worst)}"
    return True, ""


def check_function(
    student: Callable,
    reference: Callable,
    cases: Iterable[tuple[tuple, dict] | tuple],
    *,
    name: str | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> CheckResult:
    """Run ``student`` and ``reference`` on every case ``(args, kwargs)`` (or a plain args tuple).

    Returns a pass, or a fail naming the first case that differs, with both results.
    """
    name = name or getattr(student, "__name__", "your function")
    count = 0
    for case in cases:
        if isinstance(case, tuple) and len(case) == 2 and isinstance(case[1], dict):
            args, kwargs = case
        else:
            args, kwargs = (case if isinstance(case, tuple) else (case,)), {}
        want = reference(*args, **kwargs)
        try:
            got = student(*args, **kwargs)
        except Exception as exc:  # a student's error is a result to report, not a crash
            return CheckResult(name, False, f"raised {type(exc).__name__}: {exc}", {"args": args, "kwargs": kwargs})
        ok, why = _equal(got, want, atol, rtol)
        count += 1
        if not ok:
            shown = ", ".join([*(_short(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            message = f"{why}\ninput: {shown}\nyours: {_short(got)}\nexpected: {_short(want)}"
            return CheckResult(name, False, message, {"args": args, "kwargs": kwargs, "got": got, "expected": want})
    if count == 0:
        raise ValueError("check_function needs at least one case")
    return CheckResult(name, True, f"agrees with the reference on {count} cases")


def check_value(answer: Any, expected: Any, *, name: str = "answer", atol: float = 1e-6, rtol: float = 1e-5,
                hint: str = "") -> CheckResult:
    """Check a single number or array answer against the expected one."""
    ok, why = _equal(answer, expected, atol, rtol)
    message = "correct" if ok else (why + (f"\nhint: {hint}" if hint else ""))
    return CheckResult(name, ok, message)


def _as_number(value):
    """A plain float from an int/float, a NumPy scalar or a one-element numeric tensor/array; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, np.number)):
        return float(value)
    if not isinstance(value, (torch.Tensor, np.ndarray)):
        return None
    array = to_numpy(value)
    return float(array.reshape(())) if array.size == 1 and array.dtype.kind in "iuf" else None


def check_answer(answer: Any, expected: Any, *, name: str = "answer", hint: str = "", atol: float = 1e-6,
                 rtol: float = 1e-6) -> CheckResult:
    """Check a graded number (or a list of numbers) WITHOUT ever showing ``expected``.

    The verdict is "pass" or "not yet" plus ``hint``; the message says what kind of value was expected (a number,
    a list of numbers) but never the value itself, nor how many numbers a list should hold.
    """
    several = isinstance(expected, (list, tuple))
    wanted = list(expected) if several else [expected]
    given = answer if several else [answer]
    if several and not isinstance(answer, (list, tuple)):
        return CheckResult(name, False, f"expected a list of numbers, got {type(answer).__name__}")
    numbers = [_as_number(v) for v in given]
    for value, number in zip(given, numbers):
        if number is None:
            return CheckResult(name, False, f"expected {'numbers' if several else 'a number'}, got "
                               f"{type(value).__name__}")
    if len(numbers) != len(wanted):  # a wrong count is just "not yet": the length would give part of the answer
        return CheckResult(name, False, "not yet" + (f"; hint: {hint}" if hint else ""))
    ok = all(np.isclose(n, float(w), atol=atol, rtol=rtol) for n, w in zip(numbers, wanted))
    return CheckResult(name, ok, "correct" if ok else "not yet" + (f"; hint: {hint}" if hint else ""))


# ------------------------------------------------------------------------------------------------ graded numbers
@dataclass(frozen=True)
class Form:
    """What a numeric answer must look like: an integer or a float, within ``[low, high]`` (None: unbounded)."""

    kind: str = "integer"  # "integer" or "float"
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        what = "an integer" if self.kind == "integer" else "a number"
        if self.low is not None and self.high is not None:
            return f"{what} in [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{what} >= {self.low:g}"
        if self.high is not None:
            return f"{what} <= {self.high:g}"
        return what

    def accepts(self, answer) -> bool:
        number = _as_number(answer)
        if number is None or not math.isfinite(number):
            return False
        if self.kind == "integer" and number != int(number):
            return False
        return (self.low is None or number >= self.low) and (self.high is None or number <= self.high)


def check_form(answer: Any, form: Form, *, name: str = "answer") -> CheckResult:
    """The self-check of a graded number: says whether ``answer`` has the expected type and range, and nothing
    else. Every answer of the right form gets the same message; right or wrong is decided by the hidden test."""
    if form.accepts(answer):
        return CheckResult(name, True, f"{form.describe()}, as asked; whether it is right is decided when your "
                           "notebook is graded", label="right form")
    got = type(answer).__name__ if _as_number(answer) is None else "a value outside that"
    return CheckResult(name, False, f"expected {form.describe()}, got {got}", label="not yet")


def _canonical(value, decimals: int | None) -> str | None:
    number = _as_number(value)
    if number is None or not math.isfinite(number):
        return None
    if decimals is None:
        return str(int(number)) if number == int(number) else None
    return f"{round(number, decimals):.{decimals}f}"


def answer_digest(value: Any, key: str, decimals: int | None = None) -> str:
    """``sha256:...`` of ``value`` (an integer, or a float rounded to ``decimals``) salted with the part's ``key``:
    what a hidden test compares with, so that the number itself is in no cell and in no feedback page.
    ``python -m seglab.check digest KEY VALUE [--decimals N]`` prints it."""
    text = _canonical(value, decimals)
    if text is None:
        raise ValueError(f"{value!r} is not {'an integer' if decimals is None else 'a number'}")
    return "sha256:" + hashlib.sha256(f"seglab:{key}:{text}".encode()).hexdigest()


def check_digest(answer: Any, key: str, digest: str, *, decimals: int | None = None,
                 name: str = "answer") -> CheckResult:
    """The hidden test of a graded number: ``answer`` against ``digest`` (from :func:`answer_digest`). The message
    never holds the expected value."""
    text = _canonical(answer, decimals)
    ok = text is not None and answer_digest(answer, key, decimals) == digest
    return CheckResult(name, ok, "correct" if ok else "not the expected value")
