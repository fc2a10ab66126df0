"""The lecturer's guide's computed parts: section times by one rule, from the notebooks and measured run times.

::

    python -m seglab.guide            # rewrite the computed regions of docs/lecturers_guide.md
    python -m seglab.guide --check    # change nothing; exit 1 when they are not what the rule gives

**The rule** (:func:`chapter_times`). A chapter splits into sections at its ``## `` headings (the part before the
first heading is the title section; a cell holding two headings is split between them). A section's minutes are

* talk: its markdown words at ``WORDS_PER_MINUTE`` (explaining, not reading aloud), plus ``CODE_CELL_MINUTES`` for
  each teaching code cell (the cells tagged ``setup`` or ``check`` are folded on the site and skipped in the
  slideshow: no talk), plus ``EXPLORER_MINUTES`` for each explorer (``widgets.NAME(...)``);
* run: the measured seconds of each of its code cells, from the last default-mode ``make site``
  (``data/results/chapter_timings.json``, one row per cell, keyed by the cell's ``id``). A cell the file has no time
  for (new, or renamed since the run) counts ``UNTIMED_SECONDS``; the table says how many cells were timed;

rounded to whole minutes, at least one. The exercises section counts ``EXERCISES_MINUTES`` (introduce them; they are
done in the lab session) plus its cells' run time. A section whose heading says "optional" or "beyond the paper" is
listed but left out of the chapter's total. The total is the sum of the rounded rows.

The guide marks each computed region with HTML comments, ``<!-- times:01 -->`` ... ``<!-- /times:01 -->`` for a
chapter's table and ``<!-- runtimes -->`` ... ``<!-- /runtimes -->`` for the whole-chapter run times; everything
outside them is written by hand and left alone; ``<!-- rule -->`` ... ``<!-- /rule -->`` states the rule with the
constants above. ``tests/test_guide.py`` fails when a region is not what the rule
gives from the current notebooks and the timings file (it does not ask how fresh the timings are).
"""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from seglab.lecture import cell_source, chapter_notebooks, is_check, is_explorer, is_setup
from seglab.utils import REPO_ROOT, atomic_write_bytes

__all__ = ["GUIDE", "TIMINGS", "WORDS_PER_MINUTE", "CODE_CELL_MINUTES", "EXPLORER_MINUTES", "EXERCISES_MINUTES",
           "UNTIMED_SECONDS", "Section", "sections", "word_count", "cell_seconds", "read_timings", "record_timings",
           "chapter_times", "chapter_total", "times_table", "rule_text", "runtimes_text", "update_text",
           "update_guide"]

GUIDE = REPO_ROOT / "docs" / "lecturers_guide.md"
#: The results file (``data/results/chapter_timings.json``) that ``make site`` writes in default mode.
TIMINGS = "chapter_timings"

WORDS_PER_MINUTE = 110
CODE_CELL_MINUTES = 0.5
EXPLORER_MINUTES = 4
EXERCISES_MINUTES = 2
#: A section whose heading contains one of these (any case) is optional: listed, not in the chapter's total.
OPTIONAL_TITLES = ("optional", "beyond the paper")
#: What a code cell without a measured time counts (the table says how many cells had one).
UNTIMED_SECONDS = 0.0

_HEADING_LINE = re.compile(r"^## (.+)$", re.MULTILINE)


def word_count(markdown: str) -> int:
    """Words a lecturer talks through: fenced code, display math, HTML comments and link targets left out."""
    text = re.sub(r"^```.*?^```", " ", markdown, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return len(re.findall(r"[^\W_][\w'’-]*", text))


@dataclass
class Section:
    title: str                                   # the heading ('' for the part before the first heading)
    words: int = 0
    teaching: list[str] = field(default_factory=list)   # ids of the teaching code cells
    folded: list[str] = field(default_factory=list)     # ids of the setup and check cells
    explorers: list[str] = field(default_factory=list)  # ids of the explorer cells

    @property
    def code(self) -> list[str]:
        return self.teaching + self.folded + self.explorers

    @property
    def exercises(self) -> bool:
        return self.title.strip().lower() == "exercises"

    @property
    def optional(self) -> bool:
        return any(word in self.title.lower() for word in OPTIONAL_TITLES)


def _split_markdown(text: str) -> list[tuple[str | None, str]]:
    """``(heading or None, text)`` parts: the text before the first ``## `` heading, then one part per heading
    (headings inside fenced code are not headings)."""
    fences = [m.span() for m in re.finditer(r"^```.*?^```", text, flags=re.MULTILINE | re.DOTALL)]
    heads = [m for m in _HEADING_LINE.finditer(text) if not any(a <= m.start() < b for a, b in fences)]
    parts = [(None, text[:heads[0].start()] if heads else text)]
    for k, m in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        parts.append((m.group(1).strip(), text[m.start():end]))
    return parts


def sections(cells: list[dict]) -> list[Section]:
    """The chapter's sections in order: the title section, then one per ``## `` heading."""
    out = [Section("")]
    for k, cell in enumerate(cells):
        cell_id = cell.get("id") or f"#{k}"           # a cell without an id is never timed
        if cell["cell_type"] == "markdown":
            for heading, text in _split_markdown(cell_source(cell)):
                if heading is not None:
                    out.append(Section(heading))
                out[-1].words += word_count(text)
        elif cell["cell_type"] == "code":
            kind = ("explorers" if is_explorer(cell) else "folded" if is_check(cell) or is_setup(cell)
                    else "teaching")
            getattr(out[-1], kind).append(cell_id)
    if out[0].words == 0 and not out[0].code and len(out) > 1:
        out.pop(0)
    return out


# ---------------------------------------------------------------------------------------------------- timings
def cell_seconds(nb) -> dict[str, float]:
    """Each executed code cell's run time, from the timestamps nbclient stores (``metadata.execution``), by id."""
    def when(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    seconds = {}
    for cell in nb["cells"]:
        stamps = cell.get("metadata", {}).get("execution", {})
        start = stamps.get("iopub.status.busy") or stamps.get("iopub.execute_input")
        end = stamps.get("iopub.status.idle") or stamps.get("shell.execute_reply")
        if cell.get("cell_type") == "code" and cell.get("id") and start and end:
            seconds[cell["id"]] = round(max(0.0, (when(end) - when(start)).total_seconds()), 2)
    return seconds


def read_timings(results_dir=None) -> dict:
    """The timings file as ``{"chapters": {name: {"seconds", "date", ...}}, "cells": {name: {id: s}}, ...}``;
    empty maps when there is none yet (every cell is then untimed)."""
    from seglab.results import read_results

    try:
        results = read_results(TIMINGS, results_dir)
    except FileNotFoundError:
        return {"chapters": {}, "cells": {}, "date": None, "machine": None, "command": None}
    cells: dict[str, dict[str, float]] = {}
    for row in results["rows"]:
        cells.setdefault(row["chapter"], {})[row["cell"]] = row["seconds"]
    return {"chapters": results.get("params", {}).get("chapters", {}), "cells": cells, "date": results["date"],
            "machine": results["machine"], "command": results["command"]}


def record_timings(chapters: dict[str, dict[str, float]], totals: dict[str, float], *, command: str,
                   params: dict | None = None, results_dir=None) -> Path:
    """Write the measured cell times of ``chapters`` (name -> {cell id: seconds}) and their whole-chapter
    ``totals`` into the timings results file; chapters not in this run keep their earlier rows."""
    from seglab.results import machine_description, write_results

    old = read_timings(results_dir)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kept = {name: info for name, info in old["chapters"].items() if name not in chapters}
    info = {name: {"seconds": totals[name], "cells": len(chapters[name]), "date": date,
                   "machine": machine_description(), **(params or {})} for name in chapters}
    merged = {**kept, **info}
    cells = {**{n: c for n, c in old["cells"].items() if n not in chapters}, **chapters}
    rows = [{"chapter": name, "cell": cell, "seconds": s} for name in sorted(cells) for cell, s in cells[name].items()]
    return write_results(TIMINGS, rows, command=command, params={"mode": "default",
                                                                 "chapters": dict(sorted(merged.items()))},
                         results_dir=results_dir)


# ---------------------------------------------------------------------------------------------------- the rule
@dataclass
class SectionTime:
    title: str
    words: int
    teaching: int
    folded: int
    explorers: int
    run_seconds: float
    timed: int
    cells: int
    minutes: int
    exercises: bool
    optional: bool


def _round(minutes: float) -> int:
    return max(1, math.floor(minutes + 0.5))


def chapter_times(path: Path, timings: dict | None = None) -> list[SectionTime]:
    """The rule (see the module's docstring) on the notebook at ``path`` with ``timings`` (:func:`read_timings`)."""
    timings = read_timings() if timings is None else timings
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    measured = timings["cells"].get(Path(path).name, {})
    out = []
    for sec in sections(nb["cells"]):
        timed = [c for c in sec.code if c in measured]
        run = sum(measured[c] for c in timed) + UNTIMED_SECONDS * (len(sec.code) - len(timed))
        if sec.exercises:
            minutes = EXERCISES_MINUTES + run / 60
        else:
            minutes = (sec.words / WORDS_PER_MINUTE + CODE_CELL_MINUTES * len(sec.teaching)
                       + EXPLORER_MINUTES * len(sec.explorers) + run / 60)
        out.append(SectionTime(sec.title, sec.words, len(sec.teaching), len(sec.folded), len(sec.explorers),
                               run, len(timed), len(sec.code), _round(minutes), sec.exercises, sec.optional))
    return out


def chapter_total(times: list[SectionTime]) -> int:
    return sum(t.minutes for t in times if not t.optional)


def _seconds(s: float) -> str:
    return f"{s:.0f}" if s >= 10 else f"{s:.1f}"


def times_table(path: Path, timings: dict | None = None) -> str:
    """The guide's computed region for one chapter: its total, the table by section, and how many cells were timed."""
    timings = read_timings() if timings is None else timings
    times = chapter_times(path, timings)
    lines = [f"**About {chapter_total(times)} minutes** by the rule of *How the times are computed* (the sum of the "
             "rows" + (", optional sections left out" if any(t.optional for t in times) else "") + ").", "",
             "| section | words | teaching cells | setup, checks | explorers | run (s) | minutes |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for t in times:
        title = t.title or "title, what you will build"
        if t.exercises:
            title += f" (introduce in {EXERCISES_MINUTES} min; done in the lab)"
        if t.optional:
            title += " (optional: not in the total)"
        run = _seconds(t.run_seconds) + (f" ({t.cells - t.timed} untimed)" if t.timed < t.cells else "")
        words, teaching = ("–", "–") if t.exercises else (t.words, t.teaching)      # not counted there
        lines.append(f"| {title} | {words} | {teaching} | {t.folded} | {t.explorers} | {run} | {t.minutes} |")
    cells, timed = sum(t.cells for t in times), sum(t.timed for t in times)
    info = timings["chapters"].get(Path(path).name)
    when = f" (site build in default mode, {info['date']}, {info['machine']})" if info else ""
    untimed = "" if timed == cells else f"; an untimed cell counts {UNTIMED_SECONDS:g} s"
    lines += ["", _wrap(f"Run times: {timed} of {cells} code cells timed{when}{untimed}.")]
    return "\n".join(lines)


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=116, break_long_words=False, break_on_hyphens=False)


def rule_text() -> str:
    """The guide's computed statement of the rule, with the constants the code uses."""
    return _wrap(f"A section's minutes are its markdown words at {WORDS_PER_MINUTE} words a minute (explaining, not "
            f"reading aloud), plus {CODE_CELL_MINUTES:g} min per teaching code cell, plus {EXPLORER_MINUTES:g} min per "
            "explorer, plus the measured run time of all its code cells (setup and check cells included: Run All "
            "runs them, though the slideshow skips them and the site folds them), rounded to whole minutes, at "
            f"least 1. The exercises count {EXERCISES_MINUTES:g} min (introduce them; they are for the lab session) "
            "plus their cells' run time. A section titled as optional or as going beyond the paper is listed but not "
            "in the total; the total is "
            "the sum of the rows. Run times are those of the last default-mode `make site` "
            "(`data/results/chapter_timings.json`, per cell, keyed by the cell's id); a cell that run did not time "
            f"(added or renamed since) counts {UNTIMED_SECONDS:g} s, and each table says how many cells were timed.")


def runtimes_text(timings: dict | None = None, notebooks: list[Path] | None = None) -> str:
    """The guide's computed sentence on whole-chapter run times (from the timings file)."""
    timings = read_timings() if timings is None else timings
    notebooks = chapter_notebooks() if notebooks is None else notebooks
    done, missing = [], []
    for path in notebooks:
        info = timings["chapters"].get(Path(path).name)
        label = f"chapter {int(Path(path).name[:2])}" if Path(path).name[:2].isdigit() else Path(path).stem
        (done if info else missing).append(f"{info['seconds']:.0f} s ({label})" if info else label)
    if not done:
        return "No default-mode run has been timed yet: run `make site`."
    infos = [timings["chapters"][Path(p).name] for p in notebooks if Path(p).name in timings["chapters"]]
    dates = sorted({i["date"][:10] for i in infos})
    machines = sorted({i["machine"] for i in infos})
    cached = sorted({i.get("cached_checkpoints") for i in infos if i.get("cached_checkpoints") is not None})
    if not cached:
        state = ""
    elif cached == [0]:
        state = "which started from an empty checkpoint folder, "
    else:
        n = "/".join(map(str, cached))
        state = (f"which found {n} live-model checkpoint{'s' if cached != [1] else ''} already cached (those models "
                 "loaded instead of training), ")
    text = (f"In the last timed default-mode site build ({', '.join(dates)}, on {'; '.join(machines)}; "
            f"`data/results/chapter_timings.json`), {state}a whole chapter took " + ", ".join(done) + ".")
    if missing:
        text += " Not timed yet: " + ", ".join(missing) + "."
    return _wrap(text)


_REGION = re.compile(r"(<!-- (times:\w+|runtimes|rule) -->\n)(.*?)(\n<!-- /\2 -->)", re.DOTALL)


def update_text(text: str, notebooks: list[Path] | None = None, timings: dict | None = None) -> str:
    """``text`` with every computed region rewritten (unknown chapter keys are refused)."""
    timings = read_timings() if timings is None else timings
    notebooks = chapter_notebooks() if notebooks is None else notebooks
    by_key = {Path(p).name[:2]: Path(p) for p in notebooks}

    def region(m: re.Match) -> str:
        key = m.group(2)
        if key == "runtimes":
            body = runtimes_text(timings, notebooks)
        elif key == "rule":
            body = rule_text()
        else:
            chapter = key.split(":", 1)[1]
            if chapter not in by_key:
                raise ValueError(f"<!-- {key} -->: no chapter notebook notebooks/{chapter}_*.ipynb")
            body = times_table(by_key[chapter], timings)
        return m.group(1) + "\n" + body + "\n" + m.group(4)      # blank lines: the body is a markdown block

    return _REGION.sub(region, text)


def update_guide(path: Path = GUIDE, check: bool = False) -> bool:
    """Rewrite the computed regions of the guide at ``path`` (unless ``check``); True when they changed or would."""
    text = Path(path).read_text(encoding="utf-8")
    new = update_text(text)
    if new == text:
        return False
    if not check:
        atomic_write_bytes(Path(path), new.encode("utf-8"))
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m seglab.guide", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the guide is not up to date")
    parser.add_argument("--guide", type=Path, default=GUIDE, help=f"the guide to update (default {GUIDE})")
    args = parser.parse_args(argv)
    check, path = args.check, args.guide
    try:
        changed = update_guide(path, check)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if check and changed:
        print(f"{path}: computed parts out of date; run: python -m seglab.guide", file=sys.stderr)
        return 1
    print(f"{path}: {'updated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
