"""Homework on nbgrader (issues 15 and 30): grading. nbgrader runs once (a module-scoped fixture) on six students' work:
the instructor's editions (full marks), the untouched release (zero), one planted wrong answer, one answer that loops
forever, one unreadable notebook, and a cheater who calls the answer in one part of every chapter (0 on that part,
with the message). Its own file, so that pytest-xdist can run it beside the other homework tests.
"""

from __future__ import annotations

import copy
import csv
import html
import json
import re
from pathlib import Path

import pytest
from nbtools import cells as read_cells
from nbtools import nbgrader_meta
from nbtools import source as cell_source
from test_check_rules import CHEATS

from seglab import homework

SOURCES = homework.assignments()
CELL_TIMEOUT = 20
pytestmark = pytest.mark.slow




def _edit(nb: dict, grade_id: str, old: str, new: str) -> dict:
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb["cells"] if nbgrader_meta(c).get("grade_id") == grade_id)
    assert old in cell_source(cell), f"{old!r} not in {grade_id}"
    cell["source"] = cell_source(cell).replace(old, new)
    return nb


def _text_of_html(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------------------------ grading
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    homework.release(root / "course", root / "zips")
    subs = root / "submissions"
    for chapter, source in SOURCES.items():
        for student, path in (("instructor", source), ("untouched", root / "course" / "release" / chapter /
                                                        source.name)):
            (subs / student / chapter).mkdir(parents=True)
            (subs / student / chapter / source.name).write_bytes(path.read_bytes())
    nb = json.loads(SOURCES["ch1"].read_text(encoding="utf-8"))
    planted = _edit(nb, "ch1_trans_conv", "+= X[c, i, j] * K[c]", "= X[c, i, j] * K[c]")  # "=" loses the overlaps
    looping = _edit(nb, "ch1_conv_matrix_column", "kh, kw = K.shape", "while True:\n        pass")
    for student, content in (("planted", planted), ("looping", looping)):
        (subs / student / "ch1").mkdir(parents=True)
        (subs / student / "ch1" / "my_copy.ipynb").write_text(json.dumps(content))  # renamed: graded anyway
    for chapter, grade_id in CHEATED.items():  # one part of every chapter calls the answer
        source = json.loads(SOURCES[chapter].read_text(encoding="utf-8"))
        cell = next(c for c in source["cells"] if nbgrader_meta(c).get("grade_id") == grade_id)
        head = cell_source(cell).split("\n", 1)[0]
        prelude, body = ALIASED.get(grade_id, ("", next(b for g, b, _ in CHEATS if g == grade_id)))
        cell["source"] = prelude + head + "\n    " + body.replace("\n", "\n    ") + "\n"
        (subs / "cheater" / chapter).mkdir(parents=True)
        (subs / "cheater" / chapter / SOURCES[chapter].name).write_text(json.dumps(source))
    (subs / "unreadable" / "ch2").mkdir(parents=True)
    (subs / "unreadable" / "ch2" / SOURCES["ch2"].name).write_text("{ this is not a notebook")
    messages = []
    results = homework.grade(subs, root / "course", root / "grades", timeout=CELL_TIMEOUT, log=messages.append)
    return root, {(r.student, r.assignment): r for r in results}, messages


#: The part of each chapter where the cheater calls the answer (the call: tests/test_check_rules.py's CHEATS).
CHEATED = {"ch1": "ch1_trans_conv", "ch2": "ch2_mean_iou", "ch3": "ch3_weight_map", "ch4": "ch4_max_pool",
           "ch5": "ch5_roi_align_bin", "ch6": "ch6_image_pq"}
#: Chapter 1's cheat imports the built-in under another name at the top of the answer cell.
ALIASED = {"ch1_trans_conv": ("import torch.nn.functional as nnf\n\n\n",
                              "return nnf.conv_transpose2d(X[None], K, stride=stride, padding=padding)[0]")}


def _parts(result):
    return {grade_id.rsplit("_test", 1)[0]: (points, max_points) for grade_id, points, max_points in result.parts}


def test_instructors_editions_get_full_marks_in_every_chapter(graded):
    _, results, _ = graded
    for chapter in SOURCES:
        r = results[("instructor", chapter)]
        assert r.status == "graded" and r.max_points == sum(p for _, p in homework.grade_cells(SOURCES[chapter]))
        assert r.points == r.max_points, _parts(r)


def test_the_untouched_release_scores_zero_and_is_graded(graded):
    _, results, _ = graded
    for chapter in SOURCES:
        r = results[("untouched", chapter)]
        assert r.status == "graded" and r.points == 0 and r.max_points > 0


def test_a_planted_wrong_answer_loses_exactly_its_part_and_the_feedback_shows_the_counterexample(graded):
    _, results, _ = graded
    r = results[("planted", "ch1")]
    lost = {part: p for part, p in _parts(r).items() if p[0] != p[1]}
    assert r.status == "graded" and lost == {"ch1_trans_conv": (0.0, 4.0)}
    feedback = _text_of_html(r.feedback)
    shown = feedback[feedback.index("trans_conv: FAIL"):][:1500]
    assert "input: tensor" in shown and "yours: tensor" in shown and "expected: tensor" in shown
    assert "+= X[c, i, j] * K[c]" not in feedback  # the reference solution is not in anyone's feedback


def test_a_part_that_loops_forever_is_cut_off_and_grading_goes_on(graded):
    root, results, _ = graded
    r = results[("looping", "ch1")]
    lost = {part: p for part, p in _parts(r).items() if p[0] != p[1]}
    assert r.status == "graded" and lost == {"ch1_conv_matrix_column": (0.0, 3.0)}
    autograded = root / "course" / "autograded" / "looping" / "ch1" / SOURCES["ch1"].name
    cell = next(c for c in read_cells(autograded)
                if nbgrader_meta(c).get("grade_id") == "ch1_conv_matrix_column_test")
    assert any(o.get("ename") == "CellTimeoutError" for o in cell["outputs"])
    assert "CellTimeoutError" in _text_of_html(r.feedback)


def test_a_part_that_calls_the_answer_scores_zero_with_the_message_in_every_chapter(graded):
    _, results, _ = graded
    for chapter, grade_id in CHEATED.items():
        r = results[("cheater", chapter)]
        lost = {part: p for part, p in _parts(r).items() if p[0] != p[1]}
        points = dict(homework.grade_cells(SOURCES[chapter]))[f"{grade_id}_test"]
        assert r.status == "graded" and lost == {grade_id: (0.0, points)}, (chapter, lost)
        named = next(n for g, _, n in CHEATS if g == grade_id)
        feedback = _text_of_html(r.feedback)
        assert "not allowed in this part" in feedback and named in feedback and "the rule: write " in feedback


def test_an_unreadable_submission_is_reported_and_stops_no_one(graded):
    _, results, messages = graded
    r = results[("unreadable", "ch2")]
    assert r.status.startswith("not graded") and r.points == 0 and r.feedback is None
    assert len(results) == 6 + 6 + 3 + 6
    assert all(v.status == "graded" for k, v in results.items() if k[0] != "unreadable")
    assert any(m.startswith("unreadable ch2: 0/15 (not graded") for m in messages)


def test_grades_csv_has_points_per_student_and_part_and_agrees_with_nbgraders_export(graded):
    root, results, _ = graded
    rows = list(csv.DictReader((root / "grades" / "grades.csv").open()))
    assert list(rows[0]) == ["student", "assignment", "part", "points", "max_points", "status"]
    for (student, chapter), r in results.items():
        mine = [row for row in rows if row["student"] == student and row["assignment"] == chapter]
        assert [row["part"] for row in mine] == [g for g, _ in homework.grade_cells(SOURCES[chapter])] + ["total"]
        assert float(mine[-1]["points"]) == sum(float(row["points"]) for row in mine[:-1]) == r.points
    export = {(row["student_id"], row["assignment"]): row for row in csv.DictReader((root / "grades" /
                                                                                    "totals.csv").open())}
    assert set(results) <= set(export)  # nbgrader lists every student x assignment, 0 where nothing was handed in
    for key, row in export.items():
        points = results[key].points if key in results else 0.0
        assert float(row["score"]) == points
        assert float(row["max_score"]) == sum(p for _, p in homework.grade_cells(SOURCES[key[1]]))


def test_one_feedback_html_per_graded_submission(graded):
    root, results, _ = graded
    pages = sorted((root / "grades" / "feedback").glob("*/*/*.html"))
    assert pages == sorted(r.feedback for r in results.values() if r.status == "graded")
    text = _text_of_html(results[("untouched", "ch3")].feedback)
    assert "Score: 0.0" in text or "0.0 / 15.0" in text or "0 / 15" in text


