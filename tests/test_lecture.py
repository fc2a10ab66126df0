"""Slide metadata of the chapter notebooks (``seglab.lecture``): set by rule, and up to date.

``test_slides_are_up_to_date`` fails when a chapter was edited and ``python -m seglab.lecture slides`` was not run
again; the others check what the rule promises a lecturer on every chapter."""

import json
from pathlib import Path

import pytest
from nbtools import cells, source

from seglab import lecture

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = lecture.chapter_notebooks(ROOT)


def _kind(cell):
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type")


def test_every_chapter_is_found():
    assert [p.name[:2] for p in CHAPTERS] == ["00", "01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_slides_are_up_to_date(path):
    text = path.read_text(encoding="utf-8")
    nb = lecture.apply_slides(json.loads(text))
    assert lecture.notebook_text(nb) == text, (
        f"{path.name}: slide metadata is not what the rule gives; run: python -m seglab.lecture slides "
        f"notebooks/{path.name}")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_slides(path):
    nb_cells = cells(path)
    kinds = [_kind(c) for c in nb_cells]
    assert "-" not in kinds, "jupyterlab-slideshow hides cells of type '-'"
    assert set(kinds) <= {None, *lecture.SLIDE_TYPES}
    title = next(i for i, c in enumerate(nb_cells) if c["cell_type"] == "markdown")
    assert source(nb_cells[title]).startswith("# ") and kinds[title] == "slide", "no title slide"
    setup = next(i for i, c in enumerate(nb_cells) if c["cell_type"] == "code")
    assert "import" in source(nb_cells[setup]) and kinds[setup] == "skip", "the setup cell is shown"
    sections = [i for i, c in enumerate(nb_cells) if lecture.is_heading(c)]
    assert len(sections) >= 5
    assert all(kinds[i] == "slide" for i in sections), [source(nb_cells[i])[:40] for i in sections if
                                                         kinds[i] != "slide"]
    skipped = [i for i, k in enumerate(kinds) if k == "skip"]
    checks = [i for i, c in enumerate(nb_cells) if lecture.is_check(c)]
    assert set(checks) <= set(skipped), "a check cell is shown"
    others = [i for i in skipped if i != setup and i not in checks]      # plumbing: cells that only import
    assert len(others) <= 1, f"only setup, checks and plumbing are hidden: cells {others}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_explorer_has_a_slide_of_its_own(path):
    nb_cells = cells(path)
    explorers = [i for i, c in enumerate(nb_cells) if lecture.is_explorer(c)]
    assert explorers, f"{path.name} has no explorer"
    groups = lecture.slide_groups(nb_cells)
    for i in explorers:
        group = next(g for g in groups if i in g)
        others = [j for j in group if j != i]
        assert all(nb_cells[j]["cell_type"] == "markdown" for j in others), f"cell {i} shares its slide with code"
        assert len(others) <= 1 and all(j == i - 1 for j in others), f"cell {i}: only its lead-in may join it"


def _nb(*specs):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": kind, "metadata": {}, "source": text} for kind, text in specs]}


def test_the_rule_on_a_small_notebook():
    nb = _nb(("markdown", "# Chapter 9: Demo\n*A subtitle.*"), ("code", "import torch\nfrom seglab import widgets"),
             ("markdown", "## 1. First\nText that introduces the code:"), ("code", "x = 1\nx"),
             ("markdown", "A short remark."), ("code", "y = 2"),
             ("markdown", "Move the slider:"), ("code", "widgets.demo_explorer()"), ("code", "z = 3"),
             ("markdown", "## Exercises\n**1.** Do this."), ("code", "answer = None"),
             ("markdown", "**2.** Then that."), ("code", "import math"),
             ("markdown", "Verified below:"), ("code", "assert z == 3"), ("code", "w = 4"))
    nb["cells"][4]["metadata"] = {"slideshow": {"slide_type": "-"}, "tags": ["keep-me"]}
    nb["cells"][1]["metadata"] = {"tags": ["setup"]}
    nb["cells"][5]["metadata"] = nb["cells"][14]["metadata"] = {"tags": ["check"]}
    kinds = [_kind(c) for c in lecture.apply_slides(nb)["cells"]]
    # the check cells (5, 14) are skipped; a markdown cell ending with ':' does not take a check cell as its code
    assert kinds == ["slide", "skip", "slide", None, "fragment", "skip", "slide", None, "subslide", "slide",
                     "fragment", "slide", "skip", "fragment", "skip", "fragment"]
    assert nb["cells"][4]["metadata"]["tags"] == ["keep-me"]      # other metadata is kept
    assert nb["cells"][5]["metadata"] == {"tags": ["check"], "slideshow": {"slide_type": "skip"}}
    verify = {"cell_type": "code", "metadata": {"tags": ["check"]}, "source": "e = widgets.demo_explorer()\nassert e"}
    assert lecture.is_explorer(nb["cells"][7]) and not lecture.is_explorer(verify)   # a check is not shown


def test_a_notebook_without_a_title_is_refused():
    with pytest.raises(ValueError, match="title"):
        lecture.slide_types(_nb(("markdown", "## 1. No title"), ("code", "x = 1"))["cells"])


def test_cli_writes_atomically_and_checks(tmp_path, capsys):
    path = tmp_path / "09_demo.ipynb"
    nb = _nb(("markdown", "# Chapter 9: Demo"), ("code", "import torch"), ("markdown", "## 1. A section"),
             ("markdown", "Ünïcode stays as it is."))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert lecture.main(["slides", "--check", str(path)]) == 1
    assert lecture.main(["slides", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert "Ünïcode" in text and text.endswith("}\n") and '\n "cells": [\n' in text
    assert lecture.main(["slides", "--check", str(path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["09_demo.ipynb"]    # no temporary file left behind
    assert lecture.main(["slides", str(tmp_path / "missing.ipynb")]) == 2
    (tmp_path / "bad.ipynb").write_text("not json")
    assert lecture.main(["slides", str(tmp_path / "bad.ipynb")]) == 2
    assert "not a notebook" in capsys.readouterr().err
