"""The executed site in Chromium with the network blocked: pages open from ``file://`` alone.

Every request that is not a ``file:`` URL is aborted and recorded (there must be none), and so is any ``file:``
request that fails (a missing asset). On the index, each chapter page (student edition) and the lecturer's and the
homework guide (instructor edition, beside it): every image loaded
(``naturalWidth > 0``), MathJax typeset every formula (its output is present, no MathJax error, no ``$$`` left in
the text), and on chapter pages the explorers were drawn by the widget manager from the saved state, their titles in
the page's font (not the browser's serif default), and the setup and check cells folded until their summary line is
clicked. Screenshots are saved.
"""

from __future__ import annotations

import pytest

from seglab.site import instructor_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: (edition, page): the student edition's pages, and the guides, which only the instructor edition has.
PAGES = [("student", "index.html"), ("student", "01_transposed_conv.html"), ("instructor", "lecturers_guide.html"),
         ("instructor", "homework_guide.html"), ("instructor", "index.html")]

#: Waits for MathJax's queue to run dry, then reports what the page shows.
PAGE_STATE_JS = """
async () => {
  if (window.MathJax && MathJax.Hub) await new Promise(done => MathJax.Hub.Queue(done));
  const images = Array.from(document.images);
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  const markdown = Array.from(document.querySelectorAll('.jp-RenderedMarkdown'))
    .map(el => { const copy = el.cloneNode(true); copy.querySelectorAll('script').forEach(s => s.remove());
                 return copy.textContent; }).join('\\n');
  return {
    mathjax: !!(window.MathJax && MathJax.Hub),
    tex: document.querySelectorAll('script[type^="math/tex"]').length,
    typeset: document.querySelectorAll('.MathJax_CHTML').length,
    mathErrors: document.querySelectorAll('.MathJax_Error, .mjx-error, merror').length,
    rawDisplayMath: (markdown.match(/\\$\\$/g) || []).length,
    images: images.length,
    broken: images.filter(img => !(img.naturalWidth > 0)).map(img => img.src.slice(0, 80)),
    widgetImages: Array.from(document.querySelectorAll('img.widget-image')).filter(i => i.naturalWidth > 0).length,
    sliders: document.querySelectorAll('.widget-slider').length,
    pageFont: (el => el && getComputedStyle(el).fontFamily)(document.querySelector('.jp-RenderedMarkdown p')),
    widgetFonts: Array.from(document.querySelectorAll('.widget-html-content, .widget-label'))
      .map(el => getComputedStyle(el).fontFamily),
    folds: document.querySelectorAll('details.seglab-fold').length,
    openFolds: document.querySelectorAll('details.seglab-fold[open]').length,
    foldedCells: document.querySelectorAll('details.seglab-fold > .jp-CodeCell').length,
  };
}
"""


def test_site_works_offline_in_chromium(quick_site, browser, screenshot_dir):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    blocked, failed, errors = [], [], []

    def only_files(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for edition, name in PAGES:
            site = quick_site if edition == "student" else instructor_dir(quick_site)
            page.goto((site / name).as_uri(), wait_until="load", timeout=60_000)
            if name.startswith("0"):
                page.wait_for_selector("img.widget-image", timeout=60_000)   # the widget manager has drawn
            state = page.evaluate(PAGE_STATE_JS)
            page.screenshot(path=str(screenshot_dir / f"site-{edition}-{name.removesuffix('.html')}.png"),
                            full_page=False)
            assert state["mathjax"], f"{name}: MathJax did not load"
            assert not state["broken"], f"{name}: images not loaded: {state['broken']}"
            assert state["typeset"] >= state["tex"] and state["mathErrors"] == 0, f"{name}: {state}"
            assert state["rawDisplayMath"] == 0, f"{name}: '$$' left untypeset"
            if name == "01_transposed_conv.html":
                assert state["tex"] >= 1, "chapter 1's output-size formula is missing"
            if name == "lecturers_guide.html":
                assert state["tex"] >= 1, "the guide's PQ formula is missing"
            if name.startswith("0"):
                assert state["images"] >= 4, f"{name}: figures missing: {state}"
                assert state["widgetImages"] >= 2 and state["sliders"] >= 2, f"{name}: explorers not drawn: {state}"
                assert state["widgetFonts"] and set(state["widgetFonts"]) == {state["pageFont"]}, (
                    f"{name}: explorers not in the page's font: {state['pageFont']} vs {set(state['widgetFonts'])}")
                assert state["folds"] >= 2 and state["foldedCells"] == state["folds"], f"{name}: folds: {state}"
                assert state["openFolds"] == 0, f"{name}: a fold is open before it is clicked"
                hidden = page.locator("details.seglab-fold").last.locator(".jp-CodeCell")
                assert not hidden.is_visible()
                page.locator("details.seglab-fold > summary").last.click()
                assert hidden.is_visible(), f"{name}: clicking 'show the checks' did not show the cell"
        assert not blocked, f"the site tried to load from the network: {blocked}"
        assert not failed, f"requests failed (missing files?): {failed}"
        assert not errors, f"script errors: {errors}"
    finally:
        context.close()
