"""Lecture mode: slide metadata for the chapter notebooks, set by rule rather than by hand.

A chapter notebook becomes a slideshow in JupyterLab (jupyterlab-slideshow reads each cell's
``metadata.slideshow.slide_type``). The types follow from the notebook's structure, so that editing a chapter and
running ``python -m seglab.lecture slides`` again gives slides that still fit::

    python -m seglab.lecture slides                       # every chapter notebook, rewritten in place
    python -m seglab.lecture slides notebooks/03_unet.ipynb
    python -m seglab.lecture slides --check               # exit 1 when a notebook's slides are not up to date

The rules, in order (see ``slide_types``):

* the title (the first markdown cell, ``# ...``) is a ``slide``; the setup cell (the first code cell, before the
  first section, tagged ``setup``), the cells tagged ``check`` (verification: asserts and cross-checks) and cells
  that only import are ``skip`` (hidden in the show, still run by Run All and by nbval);
* every markdown cell with a ``## `` heading starts a ``slide``;
* each explorer (a code cell calling ``widgets.NAME(...)``) is alone on a slide: with its lead-in when the markdown
  cell just before it is short, else on its own; the cell after it opens a ``subslide``;
* in the exercises section each exercise (``**1.**``, ``2.``, ...) starts a ``slide``;
* any other cell is a ``fragment`` while the current slide has room (about ``SLIDE_LINES`` lines, outputs estimated)
  and opens a ``subslide`` when it has not; a code cell introduced by the markdown just before it (which ends with
  ``:``) stays with it and gets no type.

Cells that simply continue a slide get no ``slideshow`` key at all: jupyterlab-slideshow hides a cell whose type
is ``"-"``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from seglab.utils import REPO_ROOT, atomic_write_bytes

__all__ = ["SLIDE_TYPES", "SLIDE_LINES", "chapter_notebooks", "slide_types", "apply_slides", "slide_groups",
           "is_explorer", "is_check", "is_setup", "tags", "cell_source", "write_notebook", "main"]

#: The values jupyterlab-slideshow understands (``None`` here means: no ``slideshow`` key, continue the slide).
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes")
#: About how many lines of text fit on one slide on a projector (code lines, wrapped markdown, estimated outputs).
SLIDE_LINES = 28
#: A markdown cell of at most this many lines right before an explorer shares the explorer's slide.
LEAD_IN_LINES = 8

_HEADING = re.compile(r"^## ", re.MULTILINE)
_EXPLORER = re.compile(r"(?<![\w.])widgets\.\w+\(")
_EXERCISE = re.compile(r"^(\*\*)?\(?\d+(\.|\)|\s*\(|\*\*)")
_IMPORT = re.compile(r"^(import\s|from\s+\S+\s+import\s)")
_FIGURE = re.compile(r"^(fig|\w*(draw|show)_\w*\(.*|\w*_figure\(.*)$")
_WRAP = 100


def chapter_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The chapter notebooks, ``notebooks/0*_*.ipynb`` (not the homework)."""
    return sorted((Path(root) / "notebooks").glob("0*_*.ipynb"))


def cell_source(cell: dict) -> str:
    """A cell's source as one string (notebooks store a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()]


def _outside_fences(text: str) -> str:
    """Markdown without its fenced code blocks (a ``## `` inside a code block is not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def is_heading(cell: dict) -> bool:
    """A markdown cell with a ``## `` section heading anywhere in it."""
    return cell["cell_type"] == "markdown" and bool(_HEADING.search(_outside_fences(cell_source(cell))))


def is_title(cell: dict) -> bool:
    lines = _lines(cell_source(cell))
    return cell["cell_type"] == "markdown" and bool(lines) and lines[0].startswith("# ")


def is_explorer(cell: dict) -> bool:
    """A code cell that builds an explorer, ``widgets.NAME(...)`` (seglab's widget cells are one line), to show it:
    a cell tagged ``check`` that builds one to verify it is a check, not an explorer."""
    code = "\n".join(line.split("#")[0] for line in cell_source(cell).splitlines())
    return cell["cell_type"] == "code" and bool(_EXPLORER.search(code)) and not is_check(cell)


def _imports_only(cell: dict) -> bool:
    lines = [line for line in _lines(cell_source(cell)) if not line.lstrip().startswith("#")]
    return cell["cell_type"] == "code" and bool(lines) and all(_IMPORT.match(line) or line.startswith((" ", ")"))
                                                              for line in lines)


def tags(cell: dict) -> set[str]:
    """The cell's ``metadata.tags``."""
    return set(cell.get("metadata", {}).get("tags", []) or [])


def is_check(cell: dict) -> bool:
    """A code cell tagged ``check``: it verifies (asserts, cross-checks); folded on the site, skipped in the show."""
    return cell["cell_type"] == "code" and "check" in tags(cell)


def is_setup(cell: dict) -> bool:
    """A code cell tagged ``setup`` (the chapter's first code cell: imports and settings)."""
    return cell["cell_type"] == "code" and "setup" in tags(cell)


def _is_exercise(cell: dict) -> bool:
    lines = _lines(cell_source(cell))
    return cell["cell_type"] == "markdown" and bool(lines) and bool(_EXERCISE.match(lines[0]))


def _opens_exercises(cell: dict) -> bool:
    return cell["cell_type"] == "markdown" and bool(re.search(r"^## Exercises", cell_source(cell), re.MULTILINE))


def _height(cell: dict) -> int:
    """Rough screen lines of a cell on a slide: wrapped markdown; code lines plus an estimate of the output."""
    text = cell_source(cell).strip()
    if cell["cell_type"] != "code":
        rows = sum(max(1, math.ceil(len(line) / _WRAP)) for line in text.splitlines())
        return rows + 2 * text.count("$$") // 2 + 1
    lines = text.splitlines()
    height = len(lines) + 1
    last = lines[-1].strip() if lines else ""
    if _FIGURE.match(last) or "draw_" in last or "show_" in last:
        height += 16                                             # a figure
    elif last and not re.match(r"^(\w[\w, ]*=[^=]|assert\b|print\(|for\b|if\b|def\b|return\b|#)", last):
        height += 3                                              # the repr of a last expression
    for line in lines:
        if "print(" in line:
            height += 4 if line.startswith((" ", "\t")) else 1   # a print in a loop prints several lines
    if re.search(r"\b(fit|load_or_train|train_ch13|train)\(", text):
        height += 4                                              # progress bars, a live loss plot
    return height


@dataclass
class _Slide:
    used: int = 0          # lines used on the current slide or subslide


def slide_types(cells: list[dict]) -> list[str | None]:
    """The slide type of every cell (``None``: no ``slideshow`` key, the cell continues the current slide).

    Raises ``ValueError`` for a notebook without a title cell (a first markdown cell starting with ``# ``)."""
    kinds: list[str | None] = [None] * len(cells)
    markdown = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    if not markdown or not is_title(cells[markdown[0]]):
        raise ValueError("no title cell: the first markdown cell of a chapter must start with '# '")
    title = markdown[0]
    first_section = next((i for i, c in enumerate(cells) if is_heading(c)), len(cells))
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)
    slide = _Slide()
    in_exercises = False
    shown: list[int] = []              # indices of the cells shown so far (not skipped), in order
    i = 0
    while i < len(cells):
        cell = cells[i]
        previous = shown[-1] if shown else None
        if i == title:
            kinds[i], slide.used = "slide", _height(cell)
        elif (cell["cell_type"] == "raw" or (i == first_code and i < first_section) or is_setup(cell)
              or is_check(cell) or _imports_only(cell)):
            kinds[i] = "skip"
        elif is_explorer(cell):
            lead = previous if previous is not None and previous == i - 1 else None
            if lead is not None and cells[lead]["cell_type"] == "markdown" and kinds[lead] in ("slide", "subslide") \
                    and lead != title:
                kinds[i] = None                                   # the section's heading is its lead-in
            elif (lead is not None and cells[lead]["cell_type"] == "markdown" and lead != title
                  and len(_lines(cell_source(cells[lead]))) <= LEAD_IN_LINES and not in_exercises):
                kinds[lead], kinds[i] = "slide", None             # a short lead-in opens the explorer's slide
            else:
                kinds[i] = "slide"
            slide.used = 10 ** 6                                  # nothing else joins an explorer's slide
        else:
            if _opens_exercises(cell):
                in_exercises = True
            height = _height(cell)
            paired = None                                         # a code cell this markdown introduces
            if (cell["cell_type"] == "markdown" and i + 1 < len(cells) and cell_source(cell).rstrip().endswith(":")
                    and cells[i + 1]["cell_type"] == "code" and not is_explorer(cells[i + 1])
                    and not _imports_only(cells[i + 1]) and not is_check(cells[i + 1])
                    and not is_setup(cells[i + 1])):
                paired = i + 1
                height += _height(cells[paired])
            after_explorer = previous is not None and is_explorer(cells[previous])
            if is_heading(cell) or (in_exercises and _is_exercise(cell)):
                kinds[i], slide.used = "slide", height
            elif after_explorer or slide.used + height > SLIDE_LINES:
                kinds[i], slide.used = "subslide", height
            else:
                kinds[i], slide.used = "fragment", slide.used + height
            if paired is not None:
                shown.append(i)
                i = paired                                        # kinds[paired] stays None: it continues
        if kinds[i] != "skip":
            shown.append(i)
        i += 1
    return kinds


def apply_slides(nb: dict) -> dict:
    """Set every cell's ``slideshow.slide_type`` by rule, in place; returns ``nb``. Other metadata is kept; a
    ``slideshow`` key the rule does not want is removed (so no cell is left with the hidden type ``"-"``)."""
    for cell, kind in zip(nb["cells"], slide_types(nb["cells"])):
        meta = cell.setdefault("metadata", {})
        if kind is None:
            meta.pop("slideshow", None)
        else:
            meta["slideshow"] = {"slide_type": kind}
    return nb


def slide_groups(cells: list[dict]) -> list[list[int]]:
    """The cells of each slide or subslide as the show presents them (skipped cells left out)."""
    groups: list[list[int]] = []
    for i, cell in enumerate(cells):
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if kind == "skip":
            continue
        if kind in ("slide", "subslide") or not groups:
            groups.append([])
        groups[-1].append(i)
    return groups


def notebook_text(nb: dict) -> str:
    """The notebook in the repository's JSON layout (one-space indent, UTF-8 kept, newline at the end)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _read(path: Path) -> tuple[dict, str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such notebook")
    text = path.read_text(encoding="utf-8")
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a notebook (invalid JSON: {err})") from err
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not an nbformat 4 notebook")
    return nb, text


def write_notebook(path: Path, nb: dict) -> None:
    atomic_write_bytes(path, notebook_text(nb).encode("utf-8"))


def update_slides(path: Path, check: bool = False) -> bool:
    """Apply the rule to the notebook at ``path`` (in place unless ``check``); True when it changed or would."""
    nb, text = _read(Path(path))
    try:
        apply_slides(nb)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    new = notebook_text(nb)
    if new == text:
        return False
    if not check:
        write_notebook(Path(path), nb)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglab.lecture", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    slides = sub.add_parser("slides", help="set slide metadata by rule (default: every chapter notebook)")
    slides.add_argument("notebooks", nargs="*", type=Path)
    slides.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is not up to date")
    args = parser.parse_args(argv)
    paths = args.notebooks or chapter_notebooks()
    if not paths:
        print(f"error: no chapter notebooks under {REPO_ROOT / 'notebooks'}", file=sys.stderr)
        return 2
    stale = []
    for path in paths:
        try:
            changed = update_slides(path, check=args.check)
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if changed:
            stale.append(path)
        verb = ("out of date" if args.check else "updated") if changed else "up to date"
        print(f"{path}: {verb}")
    if args.check and stale:
        print("run: python -m seglab.lecture slides " + " ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
