"""The executed site (``seglab.site``, ``make site``): pages named after the notebooks, an index from the header cells,
outputs and saved widget state in the pages, nothing loaded from the network, a failed build that leaves the
previous site alone, and two editions from one execution: the student edition without the guides' answers or any
homework solution, the instructor edition with the lecturer's and the homework guide; the setup cell and the check
cells folded behind a summary line; every cell's run time recorded. The site is built once, from chapter 1 in quick
mode (``quick_site`` in conftest.py; its instructor edition lies beside it); the folding and the timings file are
also checked on a site built from a tiny notebook (a few seconds)."""

import html as html_mod
import json
import re
from pathlib import Path

import pytest

from seglab import site as site_mod
from seglab.offline import remote_loads

ROOT = Path(__file__).resolve().parent.parent
STUDENT_PAGES = {"index.html", "01_transposed_conv.html"}
INSTRUCTOR_PAGES = STUDENT_PAGES | {"lecturers_guide.html", "homework_guide.html"}


@pytest.fixture(scope="module")
def instructor_site(quick_site):
    return site_mod.instructor_dir(quick_site)


def _text(page: Path) -> str:
    """What a reader sees on a page, without any whitespace (so markup that splits a sentence does not hide it):
    tags, scripts and styles dropped, entities decoded."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", "", raw, flags=re.S)
    return re.sub(r"\s+", "", html_mod.unescape(re.sub(r"<[^>]+>", "", raw)))


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def guide_answers() -> list[str]:
    """Fragments (25 characters or more) of every answer in the lecturer's guide: the text after each question."""
    text = (ROOT / "docs" / "lecturers_guide.md").read_text(encoding="utf-8")
    fragments = []
    for block in re.findall(r"\*\*Questions\.\*\*\n(.*?)(?=\n## |\Z)", text, flags=re.S):
        for answer in re.findall(r"^\d\. \*.+?\?\*\s+(.+?)(?=^\d\. |\Z)", block, flags=re.S | re.M):
            fragments += [f.strip() for f in re.split(r"[`*()\[\]:;]", answer) if len(f.strip()) >= 25]
    return fragments


def homework_solutions() -> list[str]:
    """Every line of 20 characters or more of the homework's solutions and hidden tests."""
    lines = []
    for path in sorted((ROOT / "notebooks" / "homework").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            text = "".join(cell["source"])
            for region in re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)\n\s*### END \1", text, flags=re.S):
                lines += [re.sub(r"\s+", " ", ln).strip() for ln in region[1].splitlines() if len(ln.strip()) >= 20]
    return lines


def _folds(html: str) -> list[tuple[str, str]]:
    """Each folded cell of a page: (its summary line, what the fold holds)."""
    return re.findall(r'<details class="seglab-fold[^"]*">\s*<summary>([^<]*)</summary>(.*?)</details>', html, re.S)


def test_fold_summaries_follow_the_tags():
    code = lambda text, tags: {"cell_type": "code", "metadata": {"tags": tags}, "source": text}  # noqa: E731
    assert site_mod.fold_summary(code("import torch", ["setup"])) == "setup: imports and settings"
    two = code("assert a\nfor x in y:\n    assert x", ["check"])
    assert site_mod.fold_summary(two) == "show the checks (2 asserts)"
    assert site_mod.fold_summary(code("check_all()", ["check"])) == "show the checks"
    assert site_mod.fold_summary(code("x = 1", [])) is None
    assert site_mod.fold_summary({"cell_type": "markdown", "metadata": {"tags": ["check"]}, "source": "x"}) is None


@pytest.mark.slow
def test_a_tiny_site_folds_setup_and_checks_and_records_cell_times(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Chapter 9: Tiny\n*A subtitle.*"},
        {"cell_type": "code", "id": "setup0", "metadata": {"tags": ["setup"]}, "execution_count": None,
         "outputs": [], "source": "import math\nSETUP_MARK = 'imports-here'"},
        {"cell_type": "markdown", "id": "sec1", "metadata": {}, "source": "## 1. A section\nSome text."},
        {"cell_type": "code", "id": "teach1", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "value = math.sqrt(16)\nprint('taught', value)"},
        {"cell_type": "code", "id": "check1", "metadata": {"tags": ["check"]}, "execution_count": None,
         "outputs": [], "source": "assert value == 4\nprint('verified-here')"}]}
    path = tmp_path / "09_tiny.ipynb"
    path.write_text(json.dumps(nb))
    out = site_mod.build_site(tmp_path / "site", [path], quick=False, log=lambda *a: None,
                              record="python -m seglab.site 09_tiny.ipynb", results_dir=tmp_path / "results")
    html = (out / "09_tiny.html").read_text(encoding="utf-8")
    folds = _folds(html)
    assert [summary for summary, _ in folds] == ["setup: imports and settings", "show the checks (1 assert)"]
    assert "imports" in folds[0][1] and "SETUP_MARK" in folds[0][1]                 # the setup cell's input...
    assert "assert" in folds[1][1] and "verified-here" in folds[1][1]               # the check's input and output
    assert "taught" in html and not any("taught" in inside for _, inside in folds)  # a teaching cell stays open
    timings = json.loads((out / "timings.json").read_text())
    assert timings["mode"] == "default" and set(timings["cells"]["09_tiny.ipynb"]) == {"setup0", "teach1", "check1"}
    recorded = json.loads((tmp_path / "results" / "chapter_timings.json").read_text())
    assert recorded["command"] == "python -m seglab.site 09_tiny.ipynb" and recorded["params"]["mode"] == "default"
    assert {r["cell"] for r in recorded["rows"]} == {"setup0", "teach1", "check1"}
    assert "seconds" in recorded["params"]["chapters"]["09_tiny.ipynb"]
    guide = (site_mod.instructor_dir(out) / "lecturers_guide.html").read_text(encoding="utf-8")
    assert "teaching cells" in guide and "<!-- times:" in guide       # the computed tables, rendered from the rule


def test_remote_loads_finds_what_a_page_fetches_and_ignores_links():
    page = """<html><head>
    <link rel="stylesheet" href="https://cdn.example/a.css"><link rel="icon" href="//cdn.example/favicon.ico">
    <script src="https://cdn.example/require.js"></script>
    <style>/* @import url(https://in.a.comment/x.css); */ @import url('https://fonts.example/css');
      .a { background: url("http://img.example/x.png") }</style>
    <script>var base = 'https://cdn.jsdelivr.net/npm/';  // https://only.a.comment
      import("https://esm.example/m.mjs"); var ns = "http://www.w3.org/2000/svg";</script>
    <script type="application/vnd.jupyter.widget-state+json">
      {"state": {"m": {"state": {"value": "<img src='https://widget.example/x.png'>"}}}}</script>
    </head><body><a href="https://arxiv.org/abs/1505.04597">the paper</a>
    <img srcset="https://a.example/1.png 1x, local.png 2x"><img src="static/ok.png">
    <div style="background: url(https://bg.example/x.png)"></div></body></html>"""
    hosts = sorted(re.search(r"//([^/]+)", line).group(1) for line in remote_loads(page))
    assert hosts == ["a.example", "bg.example", "cdn.example", "cdn.example", "cdn.example", "cdn.jsdelivr.net",
                     "esm.example", "fonts.example", "img.example", "widget.example"]


def test_read_chapter_takes_the_map_from_the_notebook():
    chapter = site_mod.read_chapter(ROOT / "notebooks" / "01_transposed_conv.ipynb")
    assert chapter.title == "Chapter 1: Transposed convolution" and chapter.page == "01_transposed_conv.html"
    assert chapter.body.startswith("*How a network turns") and "What you will build" in chapter.body
    assert chapter.sections[0] == "1. The scatter-add picture" and "Summary" not in chapter.sections
    assert chapter.explorers == ["transposed_conv_explorer", "upsampling_explorer"]


def test_missing_npm_packages_say_what_to_run(tmp_path):
    with pytest.raises(site_mod.SiteError, match="make site-assets"):
        site_mod.build_site(tmp_path / "site", [ROOT / "notebooks" / "01_transposed_conv.ipynb"], quick=True,
                            node_modules=tmp_path / "nothing-here", log=lambda *a: None)
    assert list(tmp_path.iterdir()) == []                  # no half-built folder left behind


def test_a_failed_build_leaves_the_previous_site(tmp_path):
    old = tmp_path / "site"
    old.mkdir()
    (old / "index.html").write_text("the previous site")
    (old / site_mod.MARKER).write_text("")
    broken = tmp_path / "09_broken.ipynb"
    broken.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Chapter 9: Broken"},
        {"cell_type": "code", "id": "fails", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "1 / 0"}]}))
    with pytest.raises(site_mod.SiteError, match="09_broken.ipynb failed in quick mode") as err:
        site_mod.build_site(old, [broken], quick=True, log=lambda *a: None)
    assert "ZeroDivisionError" in str(err.value)
    assert (old / "index.html").read_text() == "the previous site"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["09_broken.ipynb", "site"]


def test_a_folder_that_is_not_a_site_is_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(site_mod.SiteError, match="not a site built by seglab.site"):
        site_mod.build_site(tmp_path, [ROOT / "notebooks" / "01_transposed_conv.ipynb"], quick=True,
                            log=lambda *a: None)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_site_pages_are_named_after_the_notebooks(quick_site, instructor_site):
    assert {p.name for p in quick_site.glob("*.html")} == STUDENT_PAGES
    assert {p.name for p in instructor_site.glob("*.html")} == INSTRUCTOR_PAGES
    for site in (quick_site, instructor_site):
        timings = json.loads((site / "timings.json").read_text())  # each chapter's execution time, and where
        assert timings["mode"] == "quick" and list(timings["seconds"]) == ["01_transposed_conv.ipynb"]
        assert timings["seconds"]["01_transposed_conv.ipynb"] > 0 and timings["machine"].startswith(("cpu", "cuda"))
        code_ids = {c["id"] for c in json.loads((ROOT / "notebooks" / "01_transposed_conv.ipynb").read_text())["cells"]
                    if c["cell_type"] == "code"}
        assert set(timings["cells"]["01_transposed_conv.ipynb"]) == code_ids   # every code cell's time, by id
        for url in site_mod.PAGE_ASSETS.values():
            assert (site / url.split("?")[0]).is_file(), url
    # one execution for both editions: the same run's record, and the same chapter page apart from the navigation
    assert (quick_site / "timings.json").read_text() == (instructor_site / "timings.json").read_text()
    def strip_nav(page):  # the guides' links and the ids nbconvert draws at random for each rendering
        text = re.sub(r' <a href="[a-z_]+_guide\.html">[^<]*</a>', "", page.read_text())
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", text)

    assert strip_nav(quick_site / "01_transposed_conv.html") == strip_nav(instructor_site / "01_transposed_conv.html")


@pytest.mark.slow
@pytest.mark.parametrize("edition, page", [("student", p) for p in sorted(STUDENT_PAGES)] +
                         [("instructor", p) for p in sorted(INSTRUCTOR_PAGES)])
def test_site_pages_load_nothing_from_the_network(quick_site, instructor_site, edition, page):
    site = quick_site if edition == "student" else instructor_site
    html = (site / page).read_text(encoding="utf-8")
    assert remote_loads(html) == []
    for src in re.findall(r'<(?:script|img)[^>]*\bsrc="([^"]+)"', html):   # every local file it loads exists
        if not src.startswith("data:"):
            assert (site / src.split("?")[0]).is_file(), src


@pytest.mark.slow
def test_student_edition_shows_no_guide_answer_and_no_homework_solution(quick_site, instructor_site):
    answers, solutions = guide_answers(), homework_solutions()
    assert len(answers) >= 14 and len(solutions) >= 60  # the extraction finds them (else this test could not fail)
    answers, solutions = [_squeeze(a) for a in answers], [_squeeze(s) for s in solutions]
    guide = _text(instructor_site / "lecturers_guide.html")
    assert [a for a in answers if a not in guide] == []  # the instructor edition has every answer
    homework_guide = _text(instructor_site / "homework_guide.html")
    assert "Anewterm" in homework_guide and "python-mseglab.checkdigest" in homework_guide
    for page in sorted(quick_site.rglob("*.html")):
        text = _text(page)
        shown = [a for a in answers if a in text] + [s for s in solutions if s in text]
        assert not shown, f"{page.name} shows {shown[:3]}"
        assert "lecturers_guide.html" not in page.read_text() and "homework_guide.html" not in page.read_text()
    assert not list(quick_site.rglob("*guide*"))


def test_the_two_editions_need_two_folders(tmp_path):
    with pytest.raises(site_mod.SiteError, match="two folders"):
        site_mod.build_site(tmp_path / "site", [ROOT / "notebooks" / "01_transposed_conv.ipynb"], quick=True,
                            instructor_out=tmp_path / "site", log=lambda *a: None)
    assert site_mod.instructor_dir(site_mod.SITE_DIR) == site_mod.INSTRUCTOR_DIR
    assert site_mod.instructor_dir(tmp_path / "x") == tmp_path / "x-instructor"


@pytest.mark.slow
def test_chapter_pages_hold_the_outputs_and_the_explorers_state(quick_site):
    html = (quick_site / "01_transposed_conv.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 4                   # the figures
    assert "learned kernel: final MSE" in html                              # a printed result
    state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    models = json.loads(state.group(1))["state"]
    assert sum(m["model_name"] == "ImageModel" for m in models.values()) >= 2   # both explorers' pictures
    assert html.count('type="application/vnd.jupyter.widget-view+json"') >= 2
    assert '<a href="index.html">' in html and "<title>Chapter 1: Transposed convolution</title>" in html
    cells = json.loads((ROOT / "notebooks" / "01_transposed_conv.ipynb").read_text())["cells"]
    summaries = [site_mod.fold_summary(c) for c in cells if site_mod.fold_summary(c)]
    assert [summary for summary, _ in _folds(html)] == summaries     # the setup and every check cell folded, in order
    assert summaries[:1] == ["setup: imports and settings"]


@pytest.mark.slow
def test_index_shows_the_chapter_map(quick_site, instructor_site):
    for site in (quick_site, instructor_site):
        html = (site / "index.html").read_text(encoding="utf-8")
        assert 'href="01_transposed_conv.html"' in html and "Chapter 1: Transposed convolution" in html
        assert "2. Padding, stride and the output size" in html and "What you will build" in html
        assert "widgets.upsampling_explorer()" in html and "quick mode" in html
    assert "lecturers_guide.html" not in (quick_site / "index.html").read_text()
    index = (instructor_site / "index.html").read_text(encoding="utf-8")
    assert 'href="lecturers_guide.html"' in index and 'href="homework_guide.html"' in index
    assert "instructor edition" in index
    guide = (instructor_site / "lecturers_guide.html").read_text(encoding="utf-8")
    assert 'href="01_transposed_conv.html"' in guide             # the notebook link became the page's


def test_cli_reports_a_bad_notebook(tmp_path, capsys):
    assert site_mod.main([str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "site")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    (tmp_path / "bad.ipynb").write_text("not json")
    assert site_mod.main([str(tmp_path / "bad.ipynb"), "--out", str(tmp_path / "site")]) == 2
    assert "not a readable notebook" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()
