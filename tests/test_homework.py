"""Homework on nbgrader (issue 15): the assignments, the self-checks, the lecture exercises, the release (nbgrader
runs once, in a module-scoped fixture), bad input and the environment. Grading is in test_homework_grading.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from nbtools import cells as read_cells
from nbtools import nbgrader_meta
from nbtools import source as cell_source

from seglab import homework
from seglab.check import check_answer, rules
from seglab.check import fcn as fcn_checks
from seglab.check import panoptic as panoptic_checks
from seglab.check import roi as roi_checks
from seglab.check import segnet as segnet_checks
from seglab.check import transposed as transposed_checks
from seglab.check import unet as unet_checks
from seglab.losses import unet_weight_map
from seglab.models.unet import CropAndConcat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = homework.assignments()
pytestmark = pytest.mark.slow




def _regions(text: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{begin}\n(.*?)\n\s*{end}", text, flags=re.S)


# ------------------------------------------------------------------------------------------------ the sources
def test_one_homework_per_chapter_1_to_6_named_after_its_chapter():
    assert sorted(SOURCES, key=lambda c: int(c[2:])) == [f"ch{n}" for n in range(1, 7)]
    lectures = {p.name[:2]: p.stem for p in (ROOT / "notebooks").glob("0*.ipynb")}
    for path in SOURCES.values():
        assert path.parent == ROOT / "notebooks" / "homework"
        assert path.name == f"{lectures[path.name[:2]]}_homework.ipynb"


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_homework_has_graded_parts_with_points_and_a_total(chapter):
    cells = read_cells(SOURCES[chapter])
    parts = homework.grade_cells(SOURCES[chapter])
    assert len(parts) >= 5 and all(points > 0 for _, points in parts)
    ids = [nbgrader_meta(c)["grade_id"] for c in cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "duplicated grade ids confuse nbgrader"
    total = sum(points for _, points in parts)
    assert f"| | **total** | **{total:g}** |" in cell_source(cells[0])  # the stated total is the sum of the points
    for cell in cells:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None  # stored without outputs


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_parts_implement_the_mechanism_and_check_it_on_random_inputs(chapter):
    cells = read_cells(SOURCES[chapter])
    solutions = [c for c in cells if nbgrader_meta(c).get("solution")]
    tests = [c for c in cells if nbgrader_meta(c).get("grade")]
    assert len(solutions) == len(tests)
    functions = [c for c in solutions if re.search(r"^def \w+\(", cell_source(c), flags=re.M)]
    assert len(functions) >= 3  # at least three parts make the student implement a piece of the chapter
    for cell in solutions:
        assert len(_regions(cell_source(cell), "### BEGIN SOLUTION", "### END SOLUTION")) == 1
    for test in tests:
        text = cell_source(test)
        visible = text.split("### BEGIN HIDDEN TESTS")[0]
        assert re.search(r"result = check_\w+\(", visible) and "print(result)" in visible and "assert result" in visible
        assert nbgrader_meta(test)["locked"] is True
    for test in tests:  # function parts have hidden tests: the same seglab.check call with other seeds, no code
        text = cell_source(test)
        called = re.search(r"result = (check_\w+)\((\w+)", text)
        if any(f"def {called.group(2)}(" in cell_source(c) for c in functions):
            (hidden,) = _regions(text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
            assert re.fullmatch(rf"for seed in \([\d, ]+\):\n    hidden = {called.group(1)}\([^\n]*seed=seed\)\n"
                                r"    assert hidden, hidden", hidden), hidden


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_no_visible_cell_imports_what_the_student_writes_or_seglabs_reference(chapter):
    cells = read_cells(SOURCES[chapter])
    written = {m for c in cells if nbgrader_meta(c).get("solution")
               for m in re.findall(r"^def (\w+)\(", cell_source(c), re.M)}
    for cell in cells:
        if cell["cell_type"] != "code" or nbgrader_meta(cell).get("solution"):
            continue
        imports = " ".join(re.findall(r"^(?:from|import) [^\n(]*(?:\([^)]*\))?", cell_source(cell), flags=re.M))
        names = set(re.findall(r"\w+", imports))
        assert not names & written, f"{chapter}: a visible cell imports {names & written}"
        assert not re.search(r"seglab\.(ops|metrics|losses)|_reference|_naive", imports), imports


def test_check_answer_says_what_kind_of_value_it_wanted_but_not_the_value():
    assert check_answer(3, 3) and check_answer([1, 2.5], [1, 2.5]) and not check_answer(True, 1)
    assert "expected a number, got NoneType" in check_answer(None, 12345).message
    assert "expected a list of numbers, got int" in check_answer(7, [12345, 67890]).message
    assert check_answer([1, 2], [1, 2, 3]).message == "not yet"  # nor how many numbers
    hinted = check_answer(4, 12345, hint="count again")
    assert "hint: count again" in hinted.message and "12345" not in repr(hinted) + hinted._repr_html_()


def test_the_lectures_practice_questions_are_checked_without_showing_the_answer():
    for check, answer, wrong in [(transposed_checks.check_even_overlap_kernels, [9, 3, 6], [3, 6]),
                                 (unet_checks.check_border_gap, 10.73, 10.0),
                                 (segnet_checks.check_index_memory_ratio, 64, 32)]:
        assert check(answer) and not check(wrong) and not check(None) and not check(["x"])
        shown = repr(check(wrong)) + repr(check(None))
        assert not re.search(r"\b(9|10\.7\d*|64)\b", shown.replace(str(wrong), "")), shown


def _spy(reference):
    calls = []

    def student(*args, **kwargs):
        calls.append(repr((args, kwargs)))
        return reference(*args, **kwargs)

    return student, calls


FUNCTION_CHECKS = [
    (transposed_checks.check_trans_conv, transposed_checks.trans_conv_naive, {"stride_and_padding": True}),
    (transposed_checks.check_trans_conv_channels,
     lambda X, K, stride=1, padding=0: torch.nn.functional.conv_transpose2d(X[None], K, stride=stride,
                                                                          padding=padding)[0], {}),
    (transposed_checks.check_output_size, transposed_checks.conv_transpose2d_output_size, {"general": True}),
    (fcn_checks.check_fuse_4s, fcn_checks.fuse_4s_reference, {}),
    (unet_checks.check_valid_output_size, unet_checks._valid_output_reference, {"any_convs": True}),
    (unet_checks.check_border_weight, unet_checks._border_weight_of_all, {"from_all": True}),
    (segnet_checks.check_max_pool_with_indices,
     lambda x, k, s: torch.nn.functional.max_pool2d(x, k, s, return_indices=True), {"any_window": True}),
    (segnet_checks.check_unpool_codes, segnet_checks._codes_reference, {}),
    (segnet_checks.check_index_bytes, segnet_checks._encoder_bytes_reference, {"levels": True}),
    (roi_checks.check_bilinear_sample, roi_checks._channels_reference, {"channels": True}),
    (roi_checks.check_bin_sample_points, roi_checks.bin_sample_points_reference, {"rectangular": True}),
    (roi_checks.check_roi_align_bin, roi_checks._roi_align_bin_reference, {"channels": True}),
    (panoptic_checks.check_pq_by_kind, panoptic_checks.pq_by_kind_reference, {}),
    (transposed_checks.check_bilinear_kernel, lambda i, o, k: transposed_checks.bilinear_kernel(i, o, k), {}),
    (fcn_checks.check_mean_iou, fcn_checks._mean_iou_reference, {}),
    (fcn_checks.check_fuse_8s, fcn_checks.fuse_8s_reference, {}),
    (unet_checks.check_crop_and_concat, CropAndConcat(), {}),
    (unet_checks.check_weight_map, lambda mask, w0, sigma: unet_weight_map(mask, w0, sigma), {}),
    (segnet_checks.check_pack_indices, segnet_checks._pack_reference, {}),
    (segnet_checks.check_max_unpool, segnet_checks._unpool_reference, {}),
    (roi_checks.check_bilinear_sample, roi_checks.bilinear_sample_reference, {}),
    (roi_checks.check_bin_sample_points, roi_checks.bin_sample_points_reference, {}),
    (roi_checks.check_roi_align_bin, roi_checks._roi_align_bin_reference, {}),
    (panoptic_checks.check_match_image, panoptic_checks._match_image_reference, {}),
    (panoptic_checks.check_image_pq, panoptic_checks._image_pq_reference, {}),
    (panoptic_checks.check_pq_from_matching, panoptic_checks.pq_from_matching_reference, {}),
]


@pytest.mark.parametrize("check, reference, kwargs", FUNCTION_CHECKS,
                         ids=[f"{c[0].__name__}{'-' + '-'.join(c[2]) if c[2] else ''}" for c in FUNCTION_CHECKS])
def test_hidden_seeds_draw_other_random_inputs_and_the_reference_passes(check, reference, kwargs):
    seen = {}
    for seed in (0, 1, 2):
        student, calls = _spy(reference)
        with rules.enforced(False):  # the spy calls seglab's reference, which the rules forbid a student
            assert check(student, **kwargs, seed=seed), seed
        seen[seed] = set(calls)
    assert seen[1] - seen[0] and seen[2] - seen[1]  # a function that memorised the visible cases would fail


def test_new_checks_catch_typical_mistakes_with_a_counterexample():
    def no_diagonal(i, o, k):  # the filter in every channel pair
        return transposed_checks.bilinear_kernel(i, o, k, dtype=torch.float64)[:1, :1].expand(i, o, k, k)

    def reversed_bits(indices, width):
        packed = segnet_checks._pack_reference(indices, width)
        return sum(((packed >> s) & 3) << (6 - s) for s in (0, 2, 4, 6)).to(torch.uint8)

    def iou_with_void(p, t, k):
        return fcn_checks._mean_iou_reference(p, torch.where(t == 255, p, t), k)

    def no_void_rule(gm, gs, pm, ps):
        return panoptic_checks._match_image_reference(gm, gs, pm, ps) if (gm > 0).all() else []

    for check, wrong in [(transposed_checks.check_bilinear_kernel, no_diagonal),
                         (segnet_checks.check_pack_indices, reversed_bits), (fcn_checks.check_mean_iou, iou_with_void),
                         (unet_checks.check_crop_and_concat, lambda up, skip: torch.cat([up, skip[..., :up.shape[-2],
                                                                                                  :up.shape[-1]]], 1)),
                         (roi_checks.check_roi_align_bin, lambda f, *a: roi_checks._roi_align_bin_reference(f, *a) + 1),
                         (panoptic_checks.check_match_image, no_void_rule)]:
        with rules.enforced(False):  # these planted mistakes wrap seglab's references
            result = check(wrong)
        assert not result and "input:" in result.message and "expected:" in result.message, check.__name__


LECTURES = sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("name", LECTURES)
def test_lecture_exercises_are_practice_stubs_that_print_no_answer(name):
    cells = read_cells(ROOT / "notebooks" / name)
    start = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "## Exercises" in cell_source(c))
    intro = cell_source(cells[start])
    assert "Practice, not graded" in intro and "No solution is printed here" in intro
    homework_name = re.search(r"notebooks/homework/(\w+\.ipynb)", intro)
    assert (homework_name and (ROOT / "notebooks" / "homework" / homework_name.group(1)).exists()) or \
        name.startswith("00_")
    stubs = 0
    for cell in cells[start:]:
        text = cell_source(cell)
        assert "reference solution" not in text and "replace this solution" not in text
        if cell["cell_type"] != "code":
            continue
        assert "check_value(" not in text and "expected =" not in text  # no answer computed in plain sight
        for body in re.findall(r"^def [^\n]*:\n((?:    [^\n]*\n|\n)*)", text + "\n", flags=re.M):
            lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
            assert lines and all(ln.startswith("#") or ln.startswith("raise NotImplementedError") for ln in lines), body
            stubs += 1
        assert not re.search(r"^assert check_", text, flags=re.M)  # a stub's check cannot pass yet
        answers = re.findall(r"^(\w+) = (.*?)  # your answer", text, flags=re.M)
        assert all(value == "None" for _, value in answers), answers
    assert stubs >= 2


# ------------------------------------------------------------------------------------------------ the release
@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("homework")
    zips = homework.release(root / "course", root / "zips")
    return root, zips


def test_release_writes_one_zip_per_chapter_with_the_student_edition(course):
    root, zips = course
    assert sorted(zips) == sorted(SOURCES)
    for chapter, path in zips.items():
        with zipfile.ZipFile(path) as archive:
            assert archive.namelist() == [f"{chapter}/{SOURCES[chapter].name}"]
            released = archive.read(archive.namelist()[0])
        assert released == (root / "course" / "release" / chapter / SOURCES[chapter].name).read_bytes()
        assert (root / "course" / "source" / chapter / SOURCES[chapter].name).read_bytes() == \
            SOURCES[chapter].read_bytes()


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_no_line_of_a_solution_or_hidden_test_is_in_the_release(course, chapter):
    root, _ = course
    released = (root / "course" / "release" / chapter / SOURCES[chapter].name).read_text(encoding="utf-8")
    released_lines = {line.strip() for c in json.loads(released)["cells"] for line in cell_source(c).splitlines()}
    secret = []
    for cell in read_cells(SOURCES[chapter]):
        text = cell_source(cell)
        for region in _regions(text, "### BEGIN SOLUTION", "### END SOLUTION") + _regions(
                text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
            secret += [line.strip() for line in region.splitlines() if line.strip()]
    assert secret and not set(secret) & released_lines, set(secret) & released_lines
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
    stubs = [c for c in json.loads(released)["cells"] if c["cell_type"] == "code"
             and "raise NotImplementedError()" in cell_source(c)]
    expected = [nbgrader_meta(c)["grade_id"] for c in read_cells(SOURCES[chapter]) if nbgrader_meta(c).get("solution")]
    assert [nbgrader_meta(c)["grade_id"] for c in stubs] == expected


# ------------------------------------------------------------------------------------------------ bad input
def test_a_missing_submissions_folder_says_which_layout_it_expected(tmp_path):
    with pytest.raises(homework.LayoutError, match=r"does not exist; expected SUBMISSIONS/STUDENT/chN/"):
        homework.find_submissions(tmp_path / "nope", SOURCES)


@pytest.mark.parametrize("layout", ["flat", "unknown_assignment", "empty_chapter", "empty"])
def test_a_wrongly_laid_out_folder_says_what_it_found_and_expected(tmp_path, layout):
    notebook = SOURCES["ch1"].read_bytes()
    if layout == "flat":
        (tmp_path / SOURCES["ch1"].name).write_bytes(notebook)
    elif layout == "unknown_assignment":
        (tmp_path / "alice" / "homework1").mkdir(parents=True)
        (tmp_path / "alice" / "homework1" / "a.ipynb").write_bytes(notebook)
    elif layout == "empty_chapter":
        (tmp_path / "alice" / "ch1").mkdir(parents=True)
    with pytest.raises(homework.LayoutError) as info:
        homework.find_submissions(tmp_path, SOURCES)
    message = str(info.value)
    assert "Expected SUBMISSIONS/STUDENT/chN/NOTEBOOK.ipynb" in message
    found = {"flat": "is a file, not a student's folder", "unknown_assignment": "alice/homework1 is not an "
             "assignment folder", "empty_chapter": "alice/ch1 holds no .ipynb", "empty": "no STUDENT/chN folders"}
    assert found[layout] in message


def test_make_grade_on_a_wrong_folder_exits_non_zero_with_the_expected_layout(tmp_path):
    (tmp_path / "notebook.ipynb").write_text("{}")
    for args in ([f"SUBMISSIONS={tmp_path}"], [f"SUBMISSIONS={tmp_path / 'missing'}"], []):
        proc = subprocess.run(["make", "-s", "grade", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and "SUBMISSIONS/STUDENT/chN/NOTEBOOK.ipynb" in proc.stderr, proc.stderr


def test_make_grade_passes_the_cell_timeout_default_30(tmp_path):
    for args, expected in (([], "--timeout 30"), (["TIMEOUT=7"], "--timeout 7")):
        proc = subprocess.run(["make", "-n", "grade", f"SUBMISSIONS={tmp_path}", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert f'-m seglab.homework grade "{tmp_path}" {expected}' in proc.stdout, proc.stdout


def test_an_nbgrader_run_past_its_wall_clock_limit_is_killed_and_reported(tmp_path):
    started = time.time()
    code, output = homework._nbgrader(tmp_path, "--version", timeout=1.0, log=tmp_path / "log.txt")
    assert code == -1 and "stopped after 1 s (wall-clock limit)" in output and time.time() - started < 30
    assert (tmp_path / "log.txt").read_text() == output


# ------------------------------------------------------------------------------------------------ environment
def test_nbgrader_is_pinned_and_its_lab_extension_and_validate_are_enabled():
    assert '"nbgrader==0.9.6"' in (ROOT / "pyproject.toml").read_text()
    assert "- nbgrader==0.9.6" in (ROOT / "environment.yml").read_text()
    jupyter = Path(sys.executable).parent / "jupyter"
    labext = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True, timeout=120)
    line = next(ln for ln in (labext.stdout + labext.stderr).splitlines() if "@jupyter/nbgrader" in ln)
    assert "enabled" in line and "OK" in line
    server = subprocess.run([jupyter, "server", "extension", "list"], capture_output=True, text=True, timeout=120)
    assert re.search(r"nbgrader\.server_extensions\.validate_assignment\S*\s+\S*enabled", server.stdout + server.stderr)


def test_the_checked_in_config_sets_root_timeout_and_a_writable_exchange(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("SEGLAB_COURSE_DIR", str(tmp_path / "course"))
    config = PyFileConfigLoader(homework.CONFIG_FILE.name, str(homework.CONFIG_FILE.parent)).load_config()
    assert config.CourseDirectory.root == str(tmp_path / "course")
    assert config.Exchange.root == str(tmp_path / "course" / "exchange")
    assert config.Execute.timeout == 30 and config.Execute.interrupt_on_timeout is True
    monkeypatch.delenv("SEGLAB_COURSE_DIR")
    default = PyFileConfigLoader(homework.CONFIG_FILE.name, str(homework.CONFIG_FILE.parent)).load_config()
    assert default.CourseDirectory.root == str(ROOT / "build" / "course")


# ---------------------------------------------------------------------------------------- distinct from the lecture
def _solution_lines(path: Path) -> list[str]:
    lines = []
    for cell in read_cells(path):
        for region in _regions(cell_source(cell), "### BEGIN SOLUTION", "### END SOLUTION"):
            lines += [re.sub(r"\s+", " ", ln).strip() for ln in region.splitlines() if len(ln.strip()) >= 20]
    return lines


def test_no_lecture_cell_or_guide_shows_a_line_of_a_graded_solution():
    """Every chapter's notebook and both guides, read as text (the site's chapter pages show these cells; the student
    edition's pages are checked too, in tests/test_site.py)."""
    texts = {p.name: "\n".join(cell_source(c) for c in read_cells(p)) for p in (ROOT / "notebooks").glob("0*.ipynb")}
    texts.update({p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")})
    texts = {name: re.sub(r"\s+", " ", text) for name, text in texts.items()}
    checked = 0
    for chapter, path in SOURCES.items():
        for line in _solution_lines(path):
            checked += 1
            shown = [name for name, text in texts.items() if line in text]
            assert not shown, f"{chapter}: {line!r} is in {shown}"
    assert checked >= 60


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_graded_parts_are_variants_the_lecture_does_not_solve(chapter):
    """A graded function part is never checked as the lecture's exercise is: the homework asks for a variant (more
    channels, another layout, another window...), so the lecture's answer fails it."""
    lecture = next((ROOT / "notebooks").glob(f"{SOURCES[chapter].name[:2]}_*.ipynb"))
    lecture_text = "\n".join(cell_source(c) for c in read_cells(lecture))
    lecture_checks = set(re.findall(r"(check_\w+\(\w+(?:, [\w=]+)*\))", lecture_text))
    cells = read_cells(SOURCES[chapter])
    for cell in cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and re.match(r"def \w+\(", cell_source(cell)):
            grade_id = meta["grade_id"]
            test = next(cell_source(c) for c in cells if nbgrader_meta(c).get("grade_id") == f"{grade_id}_test")
            call = re.match(r"result = (check_\w+\(.*\))\n", test).group(1)
            assert call not in lecture_checks, f"{chapter}: the lecture's own check {call}"
    assert lecture_checks  # the lecture has exercises to compare with
