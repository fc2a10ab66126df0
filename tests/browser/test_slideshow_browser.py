"""Lecture mode in JupyterLab: chapter 1 as a jupyterlab-slideshow deck with a live kernel.

As a lecturer does it: open the chapter, Run All (quick mode here), start the deck on the title slide, step forward
(``deck:forward``, what the deck's arrow button and the right arrow key run) until the first explorer is on screen,
then move one of its sliders with the keyboard: the picture must change and the deck must stay on that slide.
Screenshots of the title slide and of the explorer before and after go to the screenshot folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lab_state import NOTEBOOK_STATE_JS

from seglab import lecture

ROOT = Path(__file__).resolve().parents[2]
NAME = "01_transposed_conv.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Cells the deck shows now (jupyterlab-slideshow marks them ``jp-deck-mod-onscreen``), by notebook index.
ONSCREEN_JS = """
() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-deck-mod-onscreen'))
  .map(cell => Number(cell.dataset.windowedListIndex)).sort((a, b) => a - b)
"""


def _wait(page, predicate, timeout, what):
    deadline, state = time.time() + timeout, None
    while time.time() < deadline:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        if state is not None and (predicate(state) or state["errors"]):
            return state
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last state: {state}")


def test_chapter_runs_as_a_slideshow_with_a_live_explorer(lab_server, browser, screenshot_dir):
    base, token, _ = lab_server
    cells = json.loads((ROOT / "notebooks" / NAME).read_text())["cells"]
    explorer = next(i for i, cell in enumerate(cells) if lecture.is_explorer(cell))
    title = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "markdown")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/workspaces/deck/tree/{NAME}?reset&token={token}", wait_until="domcontentloaded",
                  timeout=120_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
        _wait(page, lambda s: s["ready"] and s["status"] == "idle", 120, "the kernel")
        page.locator("#jp-main-statusbar").get_by_text("Idle").first.wait_for(timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        state = _wait(page, lambda s: s["done"] == s["total"] and s["status"] == "idle", 300, "Run All")
        assert not state["errors"], state["errors"]

        assert "deck:start" in page.evaluate("() => window.jupyterapp.commands.listCommands()"), \
            "jupyterlab-slideshow is not installed (pip install jupyterlab-slideshow==0.3.4)"
        page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }")
        page.evaluate("() => window.jupyterapp.commands.execute('deck:start')")
        page.wait_for_function("() => document.body.dataset.jpDeckMode === 'presenting'", timeout=30_000)
        page.wait_for_function(f"() => ({ONSCREEN_JS})().includes({title})", timeout=30_000)
        page.screenshot(path=str(screenshot_dir / "slideshow-01-title.png"))
        assert page.evaluate(ONSCREEN_JS) == [title], "the deck should open on the title slide alone"

        for _ in range(80):
            if explorer in page.evaluate(ONSCREEN_JS):
                break
            page.evaluate("() => window.jupyterapp.commands.execute('deck:forward')")
            time.sleep(0.3)
        onscreen = page.evaluate(ONSCREEN_JS)
        assert explorer in onscreen, f"never reached the explorer (cell {explorer}); last slide: {onscreen}"
        assert set(onscreen) <= {explorer - 1, explorer}, f"the explorer shares its slide with {onscreen}"

        area = page.locator(f".jp-Cell[data-windowed-list-index='{explorer}'] .jp-OutputArea-output").first
        image = area.locator("img.widget-image").first
        image.wait_for(timeout=30_000)
        page.screenshot(path=str(screenshot_dir / "slideshow-01-explorer-before.png"))
        before = image.screenshot()
        handle = area.locator(".widget-slider .noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")
        deadline, after = time.time() + 30, before
        while time.time() < deadline and after == before:
            time.sleep(0.2)
            after = image.screenshot()
        page.screenshot(path=str(screenshot_dir / "slideshow-01-explorer-after.png"))
        assert after != before, "moving the slider on the slide did not change the picture"
        assert page.evaluate(ONSCREEN_JS) == onscreen, "the arrow key on a slider turned the slide"
        state = page.evaluate(NOTEBOOK_STATE_JS)
        assert not state["errors"], state["errors"]
        page.evaluate("() => window.jupyterapp.commands.execute('deck:stop')")
    finally:
        page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                      "window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        context.close()
