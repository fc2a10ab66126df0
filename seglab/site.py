"""The executed edition: every chapter run and rendered to a static site that works offline (``make site``).

::

    python -m seglab.site                 # default mode -> build/site/ (students) and build/site-instructor/
    python -m seglab.site --quick         # quick mode (SEGLAB_QUICK=1): tiny runs, for CI and previews
    python -m seglab.site notebooks/01_transposed_conv.ipynb --out /tmp/site   # and /tmp/site-instructor

Each chapter notebook is executed once, in a fresh kernel (``nbclient``, widget state stored), and rendered with
nbconvert's lab template (``jupyter/site/templates/seglab_site``) into two editions: the **student edition** (``--out``,
default ``build/site/``: ``NAME.html`` per chapter and ``index.html`` with the chapter map taken from each notebook's
header cell and sections; nothing else, so it can be handed out) and the **instructor edition** (``--instructor-out``,
default the sibling ``OUT-instructor``: the same pages, plus ``lecturers_guide.html`` from ``docs/lecturers_guide.md``,
with its answers, and ``homework_guide.html`` from ``docs/homework_guide.md``).
Explorers appear in the state the run left them in, rendered by the ipywidgets HTML manager from the saved state,
in the page's font (the template's CSS). Two kinds of code cell are folded, input and output, behind a one-line
summary that opens them (an HTML ``<details>``, no script): the setup cell (tagged ``setup``: "setup: imports and
settings") and every cell tagged ``check`` ("show the checks"), the conventions of ``tests/test_chapter_pages.py``.

Each build writes ``timings.json`` into both editions: every chapter's seconds and every code cell's (from the
timestamps nbclient records, keyed by the cell's ``id``). A default-mode build of chapter notebooks from the command
line (``make site``; not with ``--no-record``) also records them in ``data/results/chapter_timings.json`` (chapters
it did not build keep their rows), from which ``seglab.guide`` computes the lecturer's guide's section times: the
instructor edition's guide is rendered with its computed parts brought up to date, and ``python -m seglab.guide``
does the same for ``docs/lecturers_guide.md``.

Everything a page loads lies in the site's ``static/`` folder: MathJax 2, require.js and the widget manager with its
fonts, copied from the npm packages that ``npm ci`` installed into ``build/site_npm`` (``jupyter/site/package.json``
and its lock file; ``make site`` does both). The site is built in a sibling folder and renamed into place at the
end, so a failed build leaves the previous site as it was.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from seglab import guide as guide_mod
from seglab.lecture import cell_source, chapter_notebooks, is_check, is_explorer, is_setup
from seglab.offline import remote_loads
from seglab.results import machine_description
from seglab.utils import CHECKPOINT_DIR, REPO_ROOT, SITE_NPM_DIR

__all__ = ["SITE_DIR", "INSTRUCTOR_DIR", "NODE_MODULES", "ASSETS", "GUIDES", "FOLDS", "SiteError", "Chapter",
           "read_chapter", "copy_assets", "execute_notebook", "fold_summary", "mark_folds", "render_page",
           "build_site", "instructor_dir", "main"]

SITE_DIR = REPO_ROOT / "build" / "site"
INSTRUCTOR_DIR = REPO_ROOT / "build" / "site-instructor"
NODE_MODULES = SITE_NPM_DIR / "node_modules"
TEMPLATES = REPO_ROOT / "jupyter" / "site" / "templates"
GUIDE = REPO_ROOT / "docs" / "lecturers_guide.md"
HOMEWORK_GUIDE = REPO_ROOT / "docs" / "homework_guide.md"
#: The instructor edition's extra pages: page name -> (title, markdown source). Never in the student edition.
GUIDES = {"lecturers_guide.html": ("Lecturer's guide", GUIDE),
          "homework_guide.html": ("Homework guide", HOMEWORK_GUIDE)}
#: The code cells a page folds, by tag (input and output behind the summary line; the template draws a <details>).
FOLDS = {"setup": "setup: imports and settings", "check": "show the checks"}
#: Written into every site folder; a folder without it is never replaced (so ``--out`` cannot delete other files).
MARKER = ".seglab-site"

#: What the pages load: site path -> path under node_modules (a folder is copied with the patterns given).
ASSETS = {
    "static/require.js": ("requirejs/require.js", None),
    "static/html-manager": ("@jupyter-widgets/html-manager/dist", ["embed-amd.js", "*.woff", "*.woff2", "*.ttf",
                                                                  "*.eot", "*.svg"]),
    "static/mathjax": ("mathjax", ["MathJax.js", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions/**/*",
                                   "jax/input/TeX/**/*", "jax/element/**/*", "jax/output/CommonHTML/**/*",
                                   "jax/output/PreviewHTML/**/*", "fonts/HTML-CSS/TeX/woff/**/*",
                                   "fonts/HTML-CSS/TeX/otf/**/*"]),
    "static/licenses/mathjax-LICENSE": ("mathjax/LICENSE", None),
    "static/licenses/fontawesome-LICENSE.txt": ("@fortawesome/fontawesome-free/LICENSE.txt", None),
}
#: nbconvert's settings pointing each page at the copies (relative URLs: every page is at the site's top level).
PAGE_ASSETS = {
    "require_js_url": "static/require.js",
    "mathjax_url": "static/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "widget_renderer_url": "static/html-manager/embed-amd.js",
}


class SiteError(RuntimeError):
    """The site could not be built (the message says why and what to do)."""


@dataclass
class Chapter:
    path: Path
    title: str          # the header cell's '# ' line
    body: str           # the rest of the header cell (subtitle, what you will build)
    sections: list[str]
    explorers: list[str]

    @property
    def page(self) -> str:
        return f"{self.path.stem}.html"


def read_chapter(path: Path, nb: dict | None = None) -> Chapter:
    """A chapter's map entry from its notebook: the header cell, the ``## `` sections and the explorers."""
    import nbformat

    if nb is None:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:  # nbformat raises several kinds for a file that is not a notebook
            raise SiteError(f"{path}: not a readable notebook ({err})") from err
    header = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    lines = cell_source(header).strip().splitlines() if header else []
    if not lines or not lines[0].startswith("# "):
        raise SiteError(f"{path}: no header cell (the first markdown cell must start with '# ')")
    sections, explorers = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            sections += [m.strip() for m in re.findall(r"^## (.+)$", cell_source(cell), re.MULTILINE)
                         if m.strip() not in ("Summary", "Exercises")]
        elif is_explorer(cell):
            explorers += re.findall(r"widgets\.(\w+)\(", cell_source(cell))
    return Chapter(Path(path), lines[0][2:].strip(), "\n".join(lines[1:]).strip(), sections, explorers)


def copy_assets(site: Path, node_modules: Path = NODE_MODULES) -> list[Path]:
    """Copy what the pages load from ``node_modules`` into ``site``; returns the files written."""
    node_modules = Path(node_modules)
    missing = [src for src, _ in ASSETS.values() if not (node_modules / src).exists()]
    if missing:
        raise SiteError(f"the site's npm packages are missing from {node_modules} ({', '.join(missing)}): run "
                        "`make site-assets` (npm ci of jupyter/site/package.json into build/site_npm), or point "
                        "SEGLAB_SITE_NPM at a folder where it ran")
    written = []
    for target, (src, patterns) in ASSETS.items():
        src_path, dest = node_modules / src, site / target
        files = [(src_path, dest)] if patterns is None else [
            (f, dest / f.relative_to(src_path)) for pattern in patterns for f in src_path.glob(pattern) if f.is_file()]
        for source, out in files:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out)
            written.append(out)
    return written


def execute_notebook(path: Path, quick: bool, timeout: int | None = 3600, kernel_name: str = "python3",
                     extra_env: dict[str, str] | None = None):
    """Run a notebook top to bottom in a new kernel (in its own folder), widget state stored; returns it.

    The kernel gets this process's environment, ``SEGLAB_QUICK=1`` only when ``quick``, and ``extra_env``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "SEGLAB_QUICK"}
    if quick:
        env["SEGLAB_QUICK"] = "1"
    env.update(extra_env or {})
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, store_widget_state=True,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    try:
        client.execute(env=env, cwd=str(Path(path).parent))
    except (CellExecutionError, CellTimeoutError) as err:
        mode = "quick" if quick else "default"
        raise SiteError(f"{Path(path).name} failed in {mode} mode; the previous site is left as it was.\n{err}") \
            from err
    return nb


def fold_summary(cell) -> str | None:
    """The summary line a code cell is folded behind on its page, or None for a cell shown open."""
    if is_setup(cell):
        return FOLDS["setup"]
    if is_check(cell):
        n = len(re.findall(r"^\s*assert\b", cell_source(cell), flags=re.MULTILINE))
        return FOLDS["check"] + (f" ({n} assert{'s' if n != 1 else ''})" if n else "")
    return None


def mark_folds(nb) -> int:
    """Mark the cells to fold (``metadata.seglab_fold``: the summary; ``seglab_fold_kind``: setup or check) in the
    executed notebook, for the template; returns how many."""
    n = 0
    for cell in nb["cells"]:
        summary = fold_summary(cell)
        if summary:
            cell["metadata"]["seglab_fold"] = summary
            cell["metadata"]["seglab_fold_kind"] = "setup" if is_setup(cell) else "check"
            n += 1
    return n


def render_page(nb, nav: str, exporter=None) -> str:
    """One page of the site: ``nb`` (executed, or a markdown notebook) with the navigation bar, its setup and check
    cells folded."""
    mark_folds(nb)
    html, _ = (exporter or _exporter()).from_notebook_node(nb, resources={"seglab_nav": nav})
    return html


def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="seglab_site", extra_template_basedirs=[str(TEMPLATES)], **PAGE_ASSETS)


def _markdown_notebook(title: str, *texts: str):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(t) for t in texts])
    nb.metadata["title"] = title
    return nb


def _nav(chapters: list[Chapter], current: Chapter | None, guides: list[str]) -> str:
    links = ['<a href="index.html">All chapters</a>']
    if current is not None:
        k = chapters.index(current)
        if k > 0:
            links.append(f'<a href="{chapters[k - 1].page}">&larr; {chapters[k - 1].title}</a>')
        if k + 1 < len(chapters):
            links.append(f'<a href="{chapters[k + 1].page}">{chapters[k + 1].title} &rarr;</a>')
    for page in guides:
        links.append(f'<a href="{page}">{GUIDES[page][0].replace(chr(39), "&#39;")}</a>')
    if current is not None and current.explorers:
        links.append('<span class="seglab-note">Explorers show the picture they had when this page was built; '
                     "their controls move, but only a live kernel redraws (open the notebook in JupyterLab).</span>")
    return " ".join(links)


def _index_texts(chapters: list[Chapter], quick: bool, guides: list[str]) -> list[str]:
    mode = ("**quick mode** (`SEGLAB_QUICK=1`): tiny training runs, so the numbers and trained pictures are not "
            "the lecture's" if quick else "**default mode**, as a lecturer runs the chapters live")
    edition = "the instructor edition" if guides else "the executed edition"
    intro = (f"# seglab: {edition}\n*Every chapter run top to bottom and rendered with its figures, tables, "
             f"printed results and explorers.*\n\nBuilt on {datetime.date.today().isoformat()} in {mode}. "
             "Each page works offline, from this folder alone; the explorers show their last state (move them "
             "live in JupyterLab: `make lab`).")
    if "lecturers_guide.html" in guides:
        intro += (" For teaching: the [lecturer's guide](lecturers_guide.html) (objectives, section times, what to "
                  "cut, what to move, questions with their answers).")
    if "homework_guide.html" in guides:
        intro += " For grading: the [homework guide](homework_guide.html) (points, checks, common mistakes)."
    if guides:
        intro += " This edition is for instructors: hand out the student edition (`build/site/`) instead."
    texts = [intro]
    for chapter in chapters:
        text = f"## [{chapter.title}]({chapter.page})\n\n{chapter.body}"
        if chapter.sections:
            text += "\n\n**Sections:** " + " · ".join(chapter.sections)
        if chapter.explorers:
            text += "\n\n**Explorers:** " + ", ".join(f"`widgets.{name}()`" for name in chapter.explorers)
        texts.append(text)
    return texts


def _guide_text(path: Path, chapters: list[Chapter], results_dir=None) -> str:
    text = path.read_text(encoding="utf-8")
    if path == GUIDE:              # the computed times from the current notebooks and timings (seglab.guide)
        try:
            text = guide_mod.update_text(text, timings=guide_mod.read_timings(results_dir))
        except ValueError as err:
            raise SiteError(f"{path}: {err}") from err
    for chapter in chapters:       # links to the notebooks become links to their pages
        text = re.sub(rf"\((\.\./)?notebooks/{re.escape(chapter.path.name)}\)", f"({chapter.page})", text)
    return text


def instructor_dir(out: Path) -> Path:
    """Where the instructor edition goes by default: ``build/site-instructor`` beside ``build/site``, else
    ``OUT-instructor`` beside ``OUT``."""
    out = Path(out).resolve()
    return INSTRUCTOR_DIR.resolve() if out == SITE_DIR.resolve() else out.with_name(f"{out.name}-instructor")


def _refuse_foreign(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise SiteError(f"{out} exists and is not a site built by seglab.site (no {MARKER} in it): remove it or "
                        "choose another --out")


def _swap_in(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``, keeping the previous ``out`` until the rename succeeded."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        if old.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _check_offline(site: Path) -> None:
    """Refuse a site whose pages would load anything from the network."""
    found = [f"{page.name}: {line}" for page in sorted(site.glob("*.html"))
             for line in remote_loads(page.read_text(encoding="utf-8"))]
    if found:
        raise SiteError("pages would load from the network (the site must work offline):\n  " + "\n  ".join(found))


def _cached_checkpoints(extra_env: dict[str, str] | None) -> int:
    """How many default-mode checkpoints the kernels will find (a chapter that finds its own loads, not trains)."""
    folder = Path((extra_env or {}).get("SEGLAB_CHECKPOINT_DIR") or CHECKPOINT_DIR)
    return sum(1 for f in folder.glob("*.pt") if not f.name.endswith("_quick.pt")) if folder.is_dir() else 0


def build_site(out: Path = SITE_DIR, notebooks: list[Path] | None = None, quick: bool = False,
               node_modules: Path = NODE_MODULES, timeout: int | None = 3600, extra_env: dict[str, str] | None = None,
               log=print, instructor_out: Path | None = None, record: str | None = None, results_dir=None) -> Path:
    """Execute ``notebooks`` (default: every chapter) once and render both editions: the student edition into
    ``out`` and the instructor edition into ``instructor_out`` (default :func:`instructor_dir`); returns ``out``.

    ``record`` (the command that ran the build, default None: nothing recorded): in default mode, also write the
    measured times into ``data/results/chapter_timings.json`` (:func:`seglab.guide.record_timings`; another folder
    with ``results_dir``), which the instructor edition's guide then reads."""
    out = Path(out).resolve()
    instructor = Path(instructor_out).resolve() if instructor_out else instructor_dir(out)
    if instructor == out:
        raise SiteError("the student and the instructor editions need two folders")
    paths = [Path(p).resolve() for p in (notebooks or chapter_notebooks())]
    if not paths:
        raise SiteError("no chapter notebooks to build")
    for path in paths:
        if not path.is_file() or path.suffix != ".ipynb":
            raise SiteError(f"{path}: no such notebook")
    chapters = [read_chapter(p) for p in paths]
    for folder in (out, instructor):
        _refuse_foreign(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
    editions = {out: [], instructor: [page for page, (_, src) in GUIDES.items() if src.is_file()]}
    stagings = {folder: folder.with_name(f".{folder.name}.building-{os.getpid()}") for folder in editions}
    for staging in stagings.values():
        shutil.rmtree(staging, ignore_errors=True)
    try:
        for staging in stagings.values():
            copy_assets(staging, node_modules)
            (staging / MARKER).write_text("built by python -m seglab.site; replaced whole by the next build\n")
        exporter = _exporter()
        timings, cells = {}, {}
        cached = _cached_checkpoints(extra_env)
        for chapter in chapters:
            log(f"executing {chapter.path.name} ({'quick' if quick else 'default'} mode)")
            start = time.perf_counter()
            nb = execute_notebook(chapter.path, quick, timeout, extra_env=extra_env)  # once, for both editions
            timings[chapter.path.name] = round(time.perf_counter() - start, 1)
            cells[chapter.path.name] = guide_mod.cell_seconds(nb)
            log(f"  {chapter.path.name}: {timings[chapter.path.name]:.0f} s")
            nb.metadata["title"] = chapter.title
            for folder, guides in editions.items():
                html = render_page(nb, _nav(chapters, chapter, guides), exporter)
                (stagings[folder] / chapter.page).write_text(html, encoding="utf-8")
        timing_record = json.dumps(  # how long each chapter and each of its code cells (by id) took, and where
            {"mode": "quick" if quick else "default", "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"), "machine": machine_description(), "cached_checkpoints": cached,
             "seconds": timings, "cells": cells}, indent=1) + "\n"
        if record and not quick:
            path = guide_mod.record_timings(cells, timings, command=record, params={"cached_checkpoints": cached},
                                            results_dir=results_dir)
            log(f"recorded the run times in {path}")
        for folder, guides in editions.items():
            pages = {"index.html": _markdown_notebook("seglab: the executed edition",
                                                      *_index_texts(chapters, quick, guides))}
            for page in guides:
                title, source = GUIDES[page]
                pages[page] = _markdown_notebook(title, _guide_text(source, chapters, results_dir))
            for name, nb in pages.items():
                html = render_page(nb, _nav(chapters, None, guides), exporter)
                (stagings[folder] / name).write_text(html, encoding="utf-8")
            (stagings[folder] / "timings.json").write_text(timing_record)
            _check_offline(stagings[folder])
        for folder, staging in stagings.items():
            _swap_in(staging, folder)
    finally:
        for staging in stagings.values():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglab.site", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapter notebooks (default: all)")
    parser.add_argument("--quick", action="store_true", help="execute in quick mode (SEGLAB_QUICK=1)")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help=f"student edition (default {SITE_DIR})")
    parser.add_argument("--instructor-out", type=Path, default=None,
                        help=f"instructor edition (default {INSTRUCTOR_DIR}, or OUT-instructor beside --out)")
    parser.add_argument("--node-modules", type=Path, default=NODE_MODULES, help="where npm ci put the assets")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    parser.add_argument("--no-record", action="store_true",
                        help="do not record a default-mode build's run times in data/results/chapter_timings.json "
                             "(never recorded for a notebook that is not a chapter)")
    args = parser.parse_args(argv)
    command = " ".join(["python -m seglab.site", *(argv if argv is not None else sys.argv[1:])])
    chapters = {p.resolve() for p in chapter_notebooks()}
    record = not args.no_record and all(Path(p).resolve() in chapters for p in args.notebooks)  # chapters only
    try:
        out = build_site(args.out, args.notebooks or None, args.quick, args.node_modules, args.timeout,
                         instructor_out=args.instructor_out, record=command if record else None)
    except SiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    instructor = Path(args.instructor_out).resolve() if args.instructor_out else instructor_dir(out)
    print(f"site (students): {out / 'index.html'}\nsite (instructors): {instructor / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
