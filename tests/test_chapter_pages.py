"""What a student reads on a chapter page (issue 29): short teaching cells, checks in cells of their own, no targets of
ours in the text, headline numbers from the held-out test split.

The conventions, also in the README's *Writing a chapter*:

* the first code cell (imports, settings) is tagged ``setup``; the site folds it and the slideshow skips it;
* a cell whose job is to verify (asserts, cross-checks) is tagged ``check``; the site folds it behind "show the
  checks", the slideshow skips it, nbval runs it like any other cell;
* every other code cell teaches: at most ``MAX_LINES`` lines of code (blank and comment-only lines not counted) and
  no ``assert`` statement of its own;
* the markdown never states a goal or target of the suite: chapters state effects and numbers.
"""

import ast
import re
from pathlib import Path

import pytest
from nbtools import cells, source

from seglab import lecture

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = lecture.chapter_notebooks(ROOT)
MAX_LINES = 15


def _python(text: str) -> str:
    """The cell's source with IPython magics and shell escapes commented out, so ``ast`` can read it."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines())


def _code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def _asserts(text: str) -> int:
    return sum(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(_python(text))))


def _code_cells(path):
    return [c for c in cells(path) if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cell_is_tagged(path):
    first = _code_cells(path)[0]
    assert "setup" in lecture.tags(first), f"{path.name}: tag the first code cell 'setup' (the site folds it)"
    assert [c for c in _code_cells(path) if "setup" in lecture.tags(c)] == [first], "one setup cell, the first"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_teaching_cells_are_short_and_assert_nothing(path):
    bad = []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code" or lecture.tags(cell) & {"check", "setup"}:
            continue
        text = source(cell)
        n, asserts = _code_lines(text), _asserts(text)
        if n > MAX_LINES or asserts:
            bad.append(f"cell {i} ({cell.get('id')}): {n} lines, {asserts} asserts: {text.splitlines()[0][:60]!r}")
    assert not bad, (f"{path.name}: teaching cells over {MAX_LINES} lines of code or with asserts (move the "
                     "asserts to a cell tagged 'check'):\n" + "\n".join(bad))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_check_cells_check_something(path):
    checks = [c for c in _code_cells(path) if "check" in lecture.tags(c)]
    assert checks, f"{path.name}: no cell tagged 'check'"
    empty = [c.get("id") for c in checks if not _asserts(source(c)) and "seglab.check" not in source(c)
             and "check." not in source(c)]
    assert not empty, f"{path.name}: cells tagged 'check' without an assert: {empty}"


GOAL = re.compile(r"\b(goal|goals|target of the suite|pass mark)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_goals_of_ours_in_student_text(path):
    hits = [f"cell {i}: ...{m.string[max(0, m.start() - 50):m.end() + 30]!r}" for i, c in enumerate(cells(path))
            if c["cell_type"] == "markdown" for m in GOAL.finditer(source(c))]
    assert not hits, f"{path.name} states a goal of the suite:\n" + "\n".join(hits)


def test_checker_catches_what_it_should():
    """The rules above would fail on a cell that breaks them (so these tests can fail)."""
    assert _asserts("x = 1\nassert x == 1\n") == 1
    assert _asserts("%time f()\nfor i in range(3):\n    assert i < 3\n") == 1
    assert _code_lines("# a comment\n\nx = 1\n  # indented comment\ny = 2\n") == 2
    assert GOAL.search("The suite's goal is SegNet within five points")
    assert not GOAL.search("goalkeeper")
