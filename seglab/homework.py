"""Homework on nbgrader: release the chapter assignments, grade submissions, write grades and feedback.

The instructor's editions (solutions and hidden tests in place) are ``notebooks/homework/NN_<chapter>_homework.ipynb``;
chapter ``NN`` is the nbgrader assignment ``chN``. Everything else is nbgrader's own machinery, run as its command-line
tool in a course directory (``build/course`` by default, settings in ``jupyter/nbgrader_config.py``)::

    python -m seglab.homework release                 # generate_assignment for every chapter -> build/homework/chN.zip
    python -m seglab.homework grade SUBMISSIONS       # SUBMISSIONS/STUDENT/chN/*.ipynb -> build/grades/

Grading runs students' code: every cell has a time limit (``--timeout``, nbgrader's ``Execute.timeout``); one nbgrader
process grades everything (it starts slowly) under a wall-clock limit; a submission that does not come out graded is
retried alone, in its own process with its own limit, and one that still fails or hangs is reported and scored 0
without stopping the others. Grade inside a container or VM (nbgrader's advice).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from seglab.utils import REPO_ROOT

__all__ = ["SOURCE_DIR", "CONFIG_FILE", "LayoutError", "assignments", "grade_cells", "prepare_course", "release",
           "find_submissions", "grade", "main"]

SOURCE_DIR = REPO_ROOT / "notebooks" / "homework"
CONFIG_FILE = REPO_ROOT / "jupyter" / "nbgrader_config.py"
BUILD = REPO_ROOT / "build"
_SOURCE_NAME = re.compile(r"^(\d\d)_\w+_homework\.ipynb$")
LAYOUT = ("SUBMISSIONS/STUDENT/chN/NOTEBOOK.ipynb (nbgrader's layout), for example "
          "SUBMISSIONS/alice/ch1/01_transposed_conv_homework.ipynb")


class LayoutError(ValueError):
    """The submissions folder is missing or not laid out as ``STUDENT/chN/*.ipynb``."""


def assignments(source_dir: Path = SOURCE_DIR) -> dict[str, Path]:
    """``{"ch1": .../01_transposed_conv_homework.ipynb, ...}``: one assignment per instructor's edition."""
    found = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        match = _SOURCE_NAME.match(path.name)
        if match:
            found[f"ch{int(match.group(1))}"] = path
    if not found:
        raise FileNotFoundError(f"no homework notebooks (NN_<chapter>_homework.ipynb) in {source_dir}")
    return found


def grade_cells(notebook: Path) -> list[tuple[str, float]]:
    """``[(grade_id, points)]`` of a notebook's graded cells, in order (nbgrader's cell metadata)."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in cells]
    return [(m["grade_id"], float(m.get("points", 0))) for m in meta if m.get("grade")]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _nbgrader(course: Path, *args: str, timeout: float | None = None, log: Path | None = None) -> tuple[int, str]:
    """Run ``nbgrader ARGS`` in ``course`` (its own process group, killed whole on timeout).

    Returns ``(exit code, output)``; a timeout gives exit code -1."""
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    # nbgrader runs `alembic` (its database migrations) from PATH: put this environment's scripts first
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.Popen(cmd, cwd=course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1"})
    try:
        output, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel it started notices its parent is gone and exits
        output, _ = proc.communicate()
        code, output = -1, output + f"\n[seglab] stopped after {timeout:.0f} s (wall-clock limit)\n"
    if log is not None:
        _atomic_write(log, output.encode())
    return code, output


def prepare_course(course: Path, chapters: list[str] | None = None, source_dir: Path = SOURCE_DIR) -> dict[str, Path]:
    """Copy the instructor's editions into ``course/source/chN/`` and write the course's ``nbgrader_config.py``."""
    course = Path(course).resolve()
    sources = assignments(source_dir)
    chosen = {k: v for k, v in sources.items() if chapters is None or k in chapters}
    unknown = sorted(set(chapters or []) - set(sources))
    if unknown:
        raise ValueError(f"unknown assignments {unknown}; known: {sorted(sources)}")
    config = (f"# Written by seglab.homework: the shared settings, then this course directory.\n"
              f"c = get_config()  # noqa: F821\nload_subconfig({str(CONFIG_FILE)!r})  # noqa: F821\n"
              f"c.CourseDirectory.root = {str(course)!r}\nc.Exchange.root = {str(course / 'exchange')!r}\n")
    _atomic_write(course / "nbgrader_config.py", config.encode())
    for chapter, path in chosen.items():
        _atomic_write(course / "source" / chapter / path.name, path.read_bytes())
    (course / "exchange").mkdir(exist_ok=True)
    return chosen


def release(course: Path = BUILD / "course", out_dir: Path = BUILD / "homework",
            chapters: list[str] | None = None) -> dict[str, Path]:
    """``nbgrader generate_assignment`` for each chapter, then one zip per chapter in ``out_dir``: ``{chN: zip}``."""
    course, out_dir = Path(course).resolve(), Path(out_dir).resolve()
    chosen = prepare_course(course, chapters)
    pattern = "*" if chapters is None else (chapters[0] if len(chapters) == 1 else None)
    for assignment in [pattern] if pattern else list(chosen):  # one nbgrader process when it can
        code, output = _nbgrader(course, "generate_assignment", assignment, "--force", timeout=900)
        if code != 0:
            raise RuntimeError(f"nbgrader generate_assignment {assignment} failed (exit {code}):\n{output[-3000:]}")
    zips = {}
    for chapter in chosen:
        released = sorted((course / "release" / chapter).glob("*.ipynb"))
        if not released:
            raise RuntimeError(f"nbgrader generate_assignment wrote nothing to {course / 'release' / chapter}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in released:
                archive.write(path, f"{chapter}/{path.name}")
        _atomic_write(out_dir / f"{chapter}.zip", buffer.getvalue())
        zips[chapter] = out_dir / f"{chapter}.zip"
    return zips


def find_submissions(submissions: Path, known: dict[str, Path]) -> dict[tuple[str, str], list[Path]]:
    """``{(student, chN): [notebooks]}`` from ``SUBMISSIONS/STUDENT/chN/*.ipynb``; a wrong layout raises
    :class:`LayoutError` saying what was expected and what was found."""
    root = Path(submissions)
    if not root.is_dir():
        raise LayoutError(f"submissions folder {root} {'is not a folder' if root.exists() else 'does not exist'}; "
                          f"expected {LAYOUT}")
    found, problems = {}, []
    for student in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not student.is_dir():
            problems.append(f"{student.name} is a file, not a student's folder")
            continue
        for chapter in sorted(p for p in student.iterdir() if not p.name.startswith(".")):
            notebooks = sorted(chapter.glob("*.ipynb")) if chapter.is_dir() else []
            if chapter.name not in known:
                problems.append(f"{student.name}/{chapter.name} is not an assignment folder ({', '.join(known)})")
            elif not notebooks:
                problems.append(f"{student.name}/{chapter.name} holds no .ipynb notebook")
            else:
                found[(student.name, chapter.name)] = notebooks
    if problems or not found:
        listed = "; ".join(problems[:8]) or "no STUDENT/chN folders with notebooks"
        raise LayoutError(f"{root} is not laid out as expected: {listed}. Expected {LAYOUT}")
    return found


@dataclass
class GradedSubmission:
    student: str
    assignment: str
    status: str  # "graded" or why not
    parts: list[tuple[str, float, float]] = field(default_factory=list)  # (grade_id, points, max_points)
    feedback: Path | None = None

    @property
    def points(self) -> float:
        return sum(p for _, p, _ in self.parts)

    @property
    def max_points(self) -> float:
        return sum(m for _, _, m in self.parts)


def _needs_release(course: Path, chapter: str, source: Path) -> bool:
    copy = course / "source" / chapter / source.name
    return not ((course / "release" / chapter).is_dir() and copy.exists() and copy.read_bytes() == source.read_bytes())


def _code_cells(notebook: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"])


def _scores(course: Path, student: str, chapter: str, notebook: str, parts: list[tuple[str, float]]):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = []
        for grade_id, max_points in parts:
            try:
                score = float(gradebook.find_grade(grade_id, notebook, chapter, student).score)
            except MissingEntry:
                return None
            scores.append((grade_id, score, max_points))
        return scores


def grade(submissions: Path, course: Path = BUILD / "course", out_dir: Path = BUILD / "grades", *,
          timeout: int = 30, log=print) -> list[GradedSubmission]:
    """Autograde every submission, generate feedback, write ``out_dir/grades.csv`` (points per student and part),
    ``out_dir/totals.csv`` (nbgrader's export) and ``out_dir/feedback/STUDENT/chN/*.html``."""
    course, out_dir = Path(course).resolve(), Path(out_dir).resolve()
    known = assignments()
    found = find_submissions(submissions, known)
    chapters = sorted({chapter for _, chapter in found}, key=lambda c: int(c[2:]))
    stale = [c for c in chapters if _needs_release(course, c, known[c])]
    if stale:
        log(f"releasing {', '.join(stale)} first (nbgrader needs the assignment in its gradebook)")
        release(course, course / "zips", stale)
    shutil.rmtree(course / "submitted", ignore_errors=True)  # a staging area: exactly this run's submissions
    names = {}
    for (student, chapter), notebooks in found.items():
        expected, target = known[chapter].name, course / "submitted" / student / chapter
        target.mkdir(parents=True)
        names[(student, chapter)] = [p.name for p in notebooks]
        for path in notebooks:  # a single notebook under another name is graded under the assignment's name
            shutil.copyfile(path, target / (expected if len(notebooks) == 1 else path.name))
        shutil.rmtree(course / "autograded" / student / chapter, ignore_errors=True)
        shutil.rmtree(course / "feedback" / student / chapter, ignore_errors=True)

    def budget(keys):  # wall-clock limit: every cell at its limit, plus start-up
        return sum(timeout * (_code_cells(known[c]) + 2) + 60 for _, c in keys) + 120

    def autograde(assignment, student, log_name):
        return _nbgrader(course, "autograde", assignment, f"--student={student}", "--create", "--force",
                         f"--Execute.timeout={timeout}", timeout=budget(found if student == "*" else
                                                                        [(student, assignment)]),
                         log=out_dir / "logs" / log_name)

    def outcome(student, chapter):
        expected = known[chapter].name
        if not (course / "autograded" / student / chapter / expected).exists():
            return None
        return _scores(course, student, chapter, Path(expected).stem, grade_cells(known[chapter]))

    started = time.time()
    batch, _ = autograde("*", "*", "autograde.log")  # one nbgrader process for all (it starts slowly)
    results = []
    for student, chapter in sorted(found, key=lambda k: (k[0], int(k[1][2:]))):
        scores = outcome(student, chapter) if batch != -1 else None
        if scores is None:  # isolate it: grade this submission alone, so it cannot take the others down
            code, _ = autograde(chapter, student, f"autograde-{student}-{chapter}.log")
            scores = outcome(student, chapter) if code != -1 else None
            reason = "wall-clock limit" if code == -1 else f"nbgrader exit {code}"
        if scores is not None:
            status = "graded"
        else:
            if known[chapter].name not in names[(student, chapter)] and len(names[(student, chapter)]) > 1:
                reason = f"no notebook named {known[chapter].name}"
            status = f"not graded ({reason}; see {out_dir / 'logs'})"
            scores = [(grade_id, 0.0, points) for grade_id, points in grade_cells(known[chapter])]
        results.append(GradedSubmission(student, chapter, status, scores))
        log(f"{student} {chapter}: {results[-1].points:g}/{results[-1].max_points:g} ({status})")
    log(f"autograded {len(results)} submissions in {time.time() - started:.0f} s")
    _nbgrader(course, "generate_feedback", "*", "--force", timeout=600, log=out_dir / "logs" / "feedback.log")
    for result in results:
        html = course / "feedback" / result.student / result.assignment / (Path(known[result.assignment].name).stem
                                                                           + ".html")
        if result.status == "graded" and html.exists():
            result.feedback = out_dir / "feedback" / result.student / result.assignment / html.name
            _atomic_write(result.feedback, html.read_bytes())
    _write_csv(out_dir / "grades.csv", results)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:  # nbgrader's own export: total per student and assignment
        code, _ = _nbgrader(course, "export", f"--to={Path(tmp) / 'totals.csv'}", timeout=300,
                            log=out_dir / "logs" / "export.log")
        if code == 0:
            os.replace(Path(tmp) / "totals.csv", out_dir / "totals.csv")
    return results


def _write_csv(path: Path, results: list[GradedSubmission]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "assignment", "part", "points", "max_points", "status"])
    for r in results:
        for grade_id, points, max_points in r.parts:
            writer.writerow([r.student, r.assignment, grade_id, f"{points:g}", f"{max_points:g}", r.status])
        writer.writerow([r.student, r.assignment, "total", f"{r.points:g}", f"{r.max_points:g}", r.status])
    _atomic_write(path, buffer.getvalue().encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglab.homework", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="nbgrader generate_assignment for every chapter, one zip per chapter")
    rel.add_argument("--course", type=Path, default=BUILD / "course")
    rel.add_argument("--out", type=Path, default=BUILD / "homework")
    rel.add_argument("--chapters", nargs="*", help="e.g. ch1 ch3 (default: all)")
    gra = sub.add_parser("grade", help="autograde SUBMISSIONS/STUDENT/chN/*.ipynb, feedback and grades.csv")
    gra.add_argument("submissions", type=Path, nargs="?")
    gra.add_argument("--course", type=Path, default=BUILD / "course")
    gra.add_argument("--out", type=Path, default=BUILD / "grades")
    gra.add_argument("--timeout", type=int, default=30, help="seconds per cell (default 30)")
    args = parser.parse_args(argv)
    if args.command == "release":
        for chapter, path in release(args.course, args.out, args.chapters).items():
            print(f"{chapter}: {path}")
        return 0
    if args.submissions is None:
        print(f"error: no submissions folder given; expected {LAYOUT} (make grade SUBMISSIONS=DIR)", file=sys.stderr)
        return 2
    try:
        results = grade(args.submissions, args.course, args.out, timeout=args.timeout)
    except LayoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in results if r.status != "graded"]
    print(f"graded {len(results) - len(failed)} of {len(results)} submissions; grades: {args.out / 'grades.csv'}, "
          f"feedback: {args.out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
