"""The executed site (``seglab.site``, ``make site``): pages named after the notebooks, an index from the header cells,
outputs and saved widget state in the pages, nothing loaded from the network, and a failed build that leaves the
previous site alone. The site is built once, from chapter 1 in quick mode (``quick_site`` in conftest.py)."""

import json
import re
from pathlib import Path

import pytest

from seglab import site as site_mod
from seglab.offline import remote_loads

ROOT = Path(__file__).resolve().parent.parent


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
def test_site_pages_are_named_after_the_notebooks(quick_site):
    names = {p.name for p in quick_site.glob("*.html")}
    assert names == {"index.html", "01_transposed_conv.html", "lecturers_guide.html"}
    timings = json.loads((quick_site / "timings.json").read_text())  # each chapter's execution time, and where
    assert timings["mode"] == "quick" and list(timings["seconds"]) == ["01_transposed_conv.ipynb"]
    assert timings["seconds"]["01_transposed_conv.ipynb"] > 0 and timings["machine"].startswith(("cpu", "cuda"))
    for url in site_mod.PAGE_ASSETS.values():
        assert (quick_site / url.split("?")[0]).is_file(), url


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "01_transposed_conv.html", "lecturers_guide.html"])
def test_site_pages_load_nothing_from_the_network(quick_site, page):
    html = (quick_site / page).read_text(encoding="utf-8")
    assert remote_loads(html) == []
    for src in re.findall(r'<(?:script|img)[^>]*\bsrc="([^"]+)"', html):   # every local file it loads exists
        if not src.startswith("data:"):
            assert (quick_site / src.split("?")[0]).is_file(), src


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


@pytest.mark.slow
def test_index_shows_the_chapter_map(quick_site):
    html = (quick_site / "index.html").read_text(encoding="utf-8")
    assert 'href="01_transposed_conv.html"' in html and "Chapter 1: Transposed convolution" in html
    assert "2. Padding, stride and the output size" in html and "What you will build" in html
    assert "widgets.upsampling_explorer()" in html and "quick mode" in html
    guide = (quick_site / "lecturers_guide.html").read_text(encoding="utf-8")
    assert 'href="01_transposed_conv.html"' in guide             # the notebook link became the page's


def test_cli_reports_a_bad_notebook(tmp_path, capsys):
    assert site_mod.main([str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "site")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    (tmp_path / "bad.ipynb").write_text("not json")
    assert site_mod.main([str(tmp_path / "bad.ipynb"), "--out", str(tmp_path / "site")]) == 2
    assert "not a readable notebook" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()
