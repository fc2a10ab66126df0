"""The lecturer's guide (``docs/lecturers_guide.md``, ``seglab.guide``): its section times are what one rule gives from
the current notebooks and the measured cell times in ``data/results/chapter_timings.json``, and every chapter has
learning objectives and a list of what to cut when short of time.

``test_guide_times_are_what_the_rule_gives`` fails when a chapter was edited and ``python -m seglab.guide``
was not run again; it does not ask how fresh the timings are (a cell the last ``make site`` did not time counts by the
rule's stated fallback, and the table says so)."""

import json
import re
from pathlib import Path

import pytest

from seglab import guide, lecture

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "lecturers_guide.md"
CHAPTERS = lecture.chapter_notebooks(ROOT)


def _chapter_blocks(text: str) -> dict[str, str]:
    """The guide's text per chapter: from its '## Chapter N' heading to the next '## '."""
    return {m.group(1).zfill(2): m.group(0) for m in re.finditer(r"^## Chapter (\d+)\b.*?(?=^## |\Z)", text,
                                                                  flags=re.S | re.M)}


def test_guide_times_are_what_the_rule_gives():
    text = GUIDE.read_text(encoding="utf-8")
    assert guide.update_text(text) == text, "the guide's computed times are stale: run python -m seglab.guide"
    keys = re.findall(r"<!-- (times:\w+|runtimes|rule) -->", text)
    assert sorted(keys) == sorted([f"times:{p.name[:2]}" for p in CHAPTERS] + ["runtimes", "rule"])
    for key in keys:                                                  # each region is closed once
        assert text.count(f"<!-- /{key} -->") == 1, key


def test_every_chapter_has_objectives_and_a_cut_list():
    blocks = _chapter_blocks(GUIDE.read_text(encoding="utf-8"))
    assert sorted(blocks) == [p.name[:2] for p in CHAPTERS]
    for key, block in blocks.items():
        objectives = re.search(r"\*\*Learning objectives\.\*\*.*?\n((?:[*-] .*\n(?: {2,}.*\n)*)+)", block)
        assert objectives, f"chapter {key}: no learning objectives"
        n = len(re.findall(r"^[*-] ", objectives.group(1), flags=re.M))
        assert 3 <= n <= 5, f"chapter {key}: {n} learning objectives (3 to 5)"
        cuts = re.search(r"\*\*Cut if short\.\*\*.*?\n((?:[*-] .*\n(?: {2,}.*\n)*)+)", block)
        assert cuts and re.search(r"\blose", cuts.group(1)), f"chapter {key}: no cut list saying what is lost"
        # a section named in the cut list (in italics at the start of a bullet, or after 'Keep') is one of the chapter's
        path = next(p for p in CHAPTERS if p.name.startswith(key))
        headings = [t.title for t in guide.chapter_times(path, {"chapters": {}, "cells": {}}) if t.title]
        named = re.findall(r"^[*-] (?:Keep )?\*([^*]+)\*", cuts.group(1), flags=re.M)
        named += re.findall(r"^[*-] Keep .*?\*([^*]+)\*", cuts.group(1), flags=re.M)
        unknown = [n.rstrip(",:") for n in named if not any(n.rstrip(",:") in h for h in headings)]
        assert not unknown, f"chapter {key}: the cut list names sections the notebook does not have: {unknown}"


def test_no_typed_durations_outside_the_computed_regions():
    """Minutes and seconds in the guide come from the rule; the hand-written text states none."""
    text = re.sub(r"<!-- (times:\w+|runtimes|rule) -->.*?<!-- /\1 -->", "", GUIDE.read_text(encoding="utf-8"),
                  flags=re.S)
    duration = r"(?<![\w.-])\d+(?:\.\d+)?(?:\s+(?:s|sec|seconds?|min|minutes?|hours?)|\s?min|h)\b"
    typed = re.findall(r".{0,30}" + duration + r".{0,20}", text)
    assert not typed, typed


def _cell(kind, text, cell_id, tags=None):
    cell = {"cell_type": kind, "id": cell_id, "metadata": {"tags": tags} if tags else {}, "source": text}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _write(path: Path, cells) -> Path:
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    return path


def test_the_rule_on_a_small_notebook(tmp_path):
    words = " ".join(["word"] * 220)
    nb = _write(tmp_path / "09_demo.ipynb", [
        _cell("markdown", "# Chapter 9: Demo\n*A subtitle.*", "t0"),
        _cell("code", "import math", "setup0", ["setup"]),
        _cell("markdown", f"## 1. First\n{words}\n```\n## not a heading, not words\n```\n$$x = y$$", "m1"),
        _cell("code", "x = 1", "c1"),
        _cell("code", "assert x == 1", "k1", ["check"]),
        _cell("code", "widgets.demo_explorer()", "e1"),
        _cell("markdown", "## 2. Optional: beyond the paper\nMore.", "m2"),
        _cell("code", "y = 2", "c2"),
        _cell("markdown", "## Summary\nDone here.\n\n## Exercises\n**1.** Do this.", "m3"),
        _cell("code", "answer = None", "x1"),
    ])
    timings = {"chapters": {}, "cells": {"09_demo.ipynb": {"setup0": 2.0, "c1": 90.0, "k1": 30.0, "x1": 6.0,
                                                           "gone": 500.0}}}
    times = guide.chapter_times(nb, timings)
    assert [t.title for t in times] == ["", "1. First", "2. Optional: beyond the paper", "Summary", "Exercises"]
    title, first, optional, summary, exercises = times
    assert (title.words, title.folded, title.run_seconds, title.minutes) == (5, 1, 2.0, 1)
    # 222 words (the heading's 2) / 110 + 0.5 (one teaching cell) + 4 (one explorer) + 120 s (c1, k1; e1 untimed)
    # = 8.5 min -> 9
    assert (first.words, first.teaching, first.folded, first.explorers) == (222, 1, 1, 1)
    assert (first.run_seconds, first.timed, first.cells, first.minutes) == (120.0, 2, 3, 9)
    assert optional.optional and optional.timed == 0 and optional.minutes == 1
    assert summary.words == 3 and summary.cells == 0
    assert exercises.exercises and exercises.minutes == guide.EXERCISES_MINUTES  # 2 + 6 s
    assert guide.chapter_total(times) == 1 + 9 + 1 + 2                           # the optional section left out
    table = guide.times_table(nb, timings)
    assert table.startswith("**About 13 minutes**") and "optional: not in the total" in table
    assert "| 1. First | 222 | 1 | 1 | 1 | 120 (1 untimed) | 9 |" in table
    assert "Run times: 4 of 6 code cells timed" in table and "counts 0 s" in table


def test_update_text_rewrites_only_the_marked_regions(tmp_path):
    nb = _write(tmp_path / "09_demo.ipynb", [_cell("markdown", "# Chapter 9: Demo\n## 1. A\nText.", "t0"),
                                             _cell("code", "x = 1", "c1")])
    timings = {"chapters": {"09_demo.ipynb": {"seconds": 12.3, "date": "2026-12-01 10:00 UTC",
                                              "machine": "cpu: x86_64, 2 cores, 1 threads", "cached_checkpoints": 0}},
               "cells": {"09_demo.ipynb": {"c1": 3.0}}}
    text = ("Hand-written, 40 min stays.\n<!-- runtimes -->\nold\n<!-- /runtimes -->\nmiddle\n<!-- times:09 -->\n"
            "stale table\n<!-- /times:09 -->\n<!-- rule -->\nold rule\n<!-- /rule -->\nend\n")
    new = guide.update_text(text, [nb], timings)
    assert new.startswith("Hand-written, 40 min stays.\n<!-- runtimes -->\n") and new.endswith("<!-- /rule -->\nend\n")
    flat = " ".join(new.split())
    assert "took 12 s (chapter 9)" in flat and "from an empty checkpoint folder" in flat and "stale" not in new
    assert f"{guide.WORDS_PER_MINUTE} words a minute" in flat and "\nmiddle\n" in new
    assert guide.update_text(new, [nb], timings) == new                          # idempotent
    with pytest.raises(ValueError, match="no chapter notebook"):
        guide.update_text("<!-- times:42 -->\nx\n<!-- /times:42 -->", [nb], timings)


def test_cell_seconds_come_from_nbclient_timestamps():
    nb = {"cells": [
        {"cell_type": "code", "id": "a", "metadata": {"execution": {
            "iopub.status.busy": "2026-12-01T10:00:00.000000Z", "iopub.execute_input": "2026-12-01T10:00:00.100000Z",
            "shell.execute_reply": "2026-12-01T10:00:02.400000Z", "iopub.status.idle": "2026-12-01T10:00:02.500000Z"}}},
        {"cell_type": "code", "id": "b", "metadata": {}},                        # not executed: no time
        {"cell_type": "markdown", "id": "c", "metadata": {}}]}
    assert guide.cell_seconds(nb) == {"a": 2.5}


def test_record_timings_keeps_the_chapters_it_did_not_run(tmp_path):
    guide.record_timings({"01_a.ipynb": {"x": 1.0, "y": 2.0}, "02_b.ipynb": {"z": 3.0}},
                         {"01_a.ipynb": 3.5, "02_b.ipynb": 3.1}, command="python -m seglab.site",
                         params={"cached_checkpoints": 0}, results_dir=tmp_path)
    guide.record_timings({"02_b.ipynb": {"z": 4.0, "w": 1.0}}, {"02_b.ipynb": 5.2}, command="python -m seglab.site x",
                         results_dir=tmp_path)
    timings = guide.read_timings(tmp_path)
    assert timings["cells"] == {"01_a.ipynb": {"x": 1.0, "y": 2.0}, "02_b.ipynb": {"z": 4.0, "w": 1.0}}
    assert timings["chapters"]["01_a.ipynb"]["seconds"] == 3.5 and timings["chapters"]["02_b.ipynb"]["seconds"] == 5.2
    assert timings["chapters"]["01_a.ipynb"]["cached_checkpoints"] == 0
    assert timings["command"] == "python -m seglab.site x" and timings["machine"].startswith(("cpu", "cuda"))
    raw = json.loads((tmp_path / "chapter_timings.json").read_text())         # a results file like the others
    assert raw["rows"][0] == {"chapter": "01_a.ipynb", "cell": "x", "seconds": 1.0}
    assert raw["params"]["mode"] == "default"
    assert guide.read_timings(tmp_path / "empty") == {"chapters": {}, "cells": {}, "date": None, "machine": None,
                                                      "command": None}


def test_cli_checks_and_rewrites(tmp_path, capsys):
    path = tmp_path / "guide.md"
    path.write_text("<!-- rule -->\nstale\n<!-- /rule -->\n")
    assert guide.main(["--check", "--guide", str(path)]) == 1
    assert "python -m seglab.guide" in capsys.readouterr().err
    assert guide.main(["--guide", str(path)]) == 0 and guide.main(["--check", "--guide", str(path)]) == 0
    assert "stale" not in path.read_text() and [p.name for p in tmp_path.iterdir()] == ["guide.md"]
    assert guide.main(["--guide", str(tmp_path / "missing.md")]) == 2
