"""The executed edition: every chapter run and rendered to a static site that works offline (``make site``).

::

    python -m seglab.site                 # default mode (what a lecturer runs) -> build/site/
    python -m seglab.site --quick         # quick mode (SEGLAB_QUICK=1): tiny runs, for CI and previews
    python -m seglab.site notebooks/01_transposed_conv.ipynb --out /tmp/site

Each chapter notebook is executed in a fresh kernel (``nbclient``, widget state stored) and rendered with nbconvert's
lab template (``jupyter/site/templates/seglab_site``): ``NAME.html`` per chapter, ``index.html`` with the chapter map
taken from each notebook's header cell and sections, and ``lecturers_guide.html`` from ``docs/lecturers_guide.md``.
Explorers appear in the state the run left them in, rendered by the ipywidgets HTML manager from the saved state.

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

from seglab.lecture import chapter_notebooks, is_explorer
from seglab.offline import remote_loads
from seglab.results import machine_description
from seglab.utils import REPO_ROOT

__all__ = ["SITE_DIR", "NODE_MODULES", "ASSETS", "SiteError", "Chapter", "read_chapter", "copy_assets",
           "execute_notebook", "build_site", "main"]

SITE_DIR = REPO_ROOT / "build" / "site"
NODE_MODULES = Path(os.environ.get("SEGLAB_SITE_NPM", REPO_ROOT / "build" / "site_npm")) / "node_modules"
TEMPLATES = REPO_ROOT / "jupyter" / "site" / "templates"
GUIDE = REPO_ROOT / "docs" / "lecturers_guide.md"
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


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def read_chapter(path: Path, nb: dict | None = None) -> Chapter:
    """A chapter's map entry from its notebook: the header cell, the ``## `` sections and the explorers."""
    import nbformat

    if nb is None:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:  # nbformat raises several kinds for a file that is not a notebook
            raise SiteError(f"{path}: not a readable notebook ({err})") from err
    header = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    lines = _source(header).strip().splitlines() if header else []
    if not lines or not lines[0].startswith("# "):
        raise SiteError(f"{path}: no header cell (the first markdown cell must start with '# ')")
    sections, explorers = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            sections += [m.strip() for m in re.findall(r"^## (.+)$", _source(cell), re.MULTILINE)
                         if m.strip() not in ("Summary", "Exercises")]
        elif is_explorer(cell):
            explorers += re.findall(r"widgets\.(\w+)\(", _source(cell))
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


def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="seglab_site", extra_template_basedirs=[str(TEMPLATES)], **PAGE_ASSETS)


def _markdown_notebook(title: str, *texts: str):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(t) for t in texts])
    nb.metadata["title"] = title
    return nb


def _nav(chapters: list[Chapter], current: Chapter | None, guide: bool) -> str:
    links = ['<a href="index.html">All chapters</a>']
    if current is not None:
        k = chapters.index(current)
        if k > 0:
            links.append(f'<a href="{chapters[k - 1].page}">&larr; {chapters[k - 1].title}</a>')
        if k + 1 < len(chapters):
            links.append(f'<a href="{chapters[k + 1].page}">{chapters[k + 1].title} &rarr;</a>')
    if guide:
        links.append('<a href="lecturers_guide.html">Lecturer\'s guide</a>')
    if current is not None and current.explorers:
        links.append('<span class="seglab-note">Explorers show the picture they had when this page was built; '
                     "their controls move, but only a live kernel redraws (open the notebook in JupyterLab).</span>")
    return " ".join(links)


def _index_texts(chapters: list[Chapter], quick: bool, guide: bool) -> list[str]:
    mode = ("**quick mode** (`SEGLAB_QUICK=1`): tiny training runs, so the numbers and trained pictures are not "
            "the lecture's" if quick else "**default mode**, as a lecturer runs the chapters live")
    intro = (f"# seglab: the executed edition\n*Every chapter run top to bottom and rendered with its figures, tables, "
             f"printed results and explorers.*\n\nBuilt on {datetime.date.today().isoformat()} in {mode}. "
             "Each page works offline, from this folder alone; the explorers show their last state (move them "
             "live in JupyterLab: `make lab`).")
    if guide:
        intro += " For teaching: the [lecturer's guide](lecturers_guide.html) (timings, what to move, questions)."
    texts = [intro]
    for chapter in chapters:
        text = f"## [{chapter.title}]({chapter.page})\n\n{chapter.body}"
        if chapter.sections:
            text += "\n\n**Sections:** " + " · ".join(chapter.sections)
        if chapter.explorers:
            text += "\n\n**Explorers:** " + ", ".join(f"`widgets.{name}()`" for name in chapter.explorers)
        texts.append(text)
    return texts


def _guide_text(chapters: list[Chapter]) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    for chapter in chapters:       # links to the notebooks become links to their pages
        text = re.sub(rf"\((\.\./)?notebooks/{re.escape(chapter.path.name)}\)", f"({chapter.page})", text)
    return text


def _check_offline(site: Path) -> None:
    """Refuse a site whose pages would load anything from the network."""
    found = [f"{page.name}: {line}" for page in sorted(site.glob("*.html"))
             for line in remote_loads(page.read_text(encoding="utf-8"))]
    if found:
        raise SiteError("pages would load from the network (the site must work offline):\n  " + "\n  ".join(found))


def build_site(out: Path = SITE_DIR, notebooks: list[Path] | None = None, quick: bool = False,
               node_modules: Path = NODE_MODULES, timeout: int | None = 3600, extra_env: dict[str, str] | None = None,
               log=print) -> Path:
    """Execute and render ``notebooks`` (default: every chapter) into the site folder ``out``; returns ``out``."""
    out = Path(out).resolve()
    paths = [Path(p).resolve() for p in (notebooks or chapter_notebooks())]
    if not paths:
        raise SiteError("no chapter notebooks to build")
    for path in paths:
        if not path.is_file() or path.suffix != ".ipynb":
            raise SiteError(f"{path}: no such notebook")
    chapters = [read_chapter(p) for p in paths]
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise SiteError(f"{out} exists and is not a site built by seglab.site (no {MARKER} in it): remove it or "
                        "choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        copy_assets(staging, node_modules)
        (staging / MARKER).write_text("built by python -m seglab.site; replaced whole by the next build\n")
        exporter, guide = _exporter(), GUIDE.is_file()
        timings = {}
        for chapter in chapters:
            log(f"executing {chapter.path.name} ({'quick' if quick else 'default'} mode)")
            start = time.perf_counter()
            nb = execute_notebook(chapter.path, quick, timeout, extra_env=extra_env)
            timings[chapter.path.name] = round(time.perf_counter() - start, 1)
            log(f"  {chapter.path.name}: {timings[chapter.path.name]:.0f} s")
            nb.metadata["title"] = chapter.title
            html, _ = exporter.from_notebook_node(nb, resources={"seglab_nav": _nav(chapters, chapter, guide)})
            (staging / chapter.page).write_text(html, encoding="utf-8")
        pages = {"index.html": _markdown_notebook("seglab: the executed edition", *_index_texts(chapters, quick,
                                                                                                  guide))}
        if guide:
            pages["lecturers_guide.html"] = _markdown_notebook("Lecturer's guide", _guide_text(chapters))
        for name, nb in pages.items():
            html, _ = exporter.from_notebook_node(nb, resources={"seglab_nav": _nav(chapters, None, guide)})
            (staging / name).write_text(html, encoding="utf-8")
        (staging / "timings.json").write_text(json.dumps(  # how long each chapter took to execute, and where
            {"mode": "quick" if quick else "default", "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"), "machine": machine_description(), "seconds": timings}, indent=1) + "\n")
        _check_offline(staging)
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
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglab.site", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapter notebooks (default: all)")
    parser.add_argument("--quick", action="store_true", help="execute in quick mode (SEGLAB_QUICK=1)")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help=f"site folder (default {SITE_DIR})")
    parser.add_argument("--node-modules", type=Path, default=NODE_MODULES, help="where npm ci put the assets")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    args = parser.parse_args(argv)
    try:
        out = build_site(args.out, args.notebooks or None, args.quick, args.node_modules, args.timeout)
    except SiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"site: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
