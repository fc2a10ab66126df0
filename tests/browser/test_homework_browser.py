"""A student's homework in the browser: a released notebook (the chapter-1 zip that `make homework` hands out,
unpacked into the notebook folder `make lab` serves) opens in JupyterLab in headless Chromium; an answer is typed into
a solution cell; its check cell prints "pass"; nbgrader's Validate button reports the parts still open.

Reuses the session's JupyterLab server and Chromium from ``conftest.py``.
"""

from __future__ import annotations

import json
import time
import zipfile

import pytest

from seglab import homework

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHAPTER = "ch1"
ANSWER = ("def output_size(n, k, s, p, output_padding, dilation):\n"
          "    return (n - 1) * s - 2 * p + dilation * (k - 1) + output_padding + 1\n")

CELL_STATE_JS = """
(index) => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (panel.content.model.cells.length <= index) return null;  // still loading
  const cell = panel.content.model.cells.get(index);
  const outputs = [];
  const n = cell.outputs ? cell.outputs.length : 0;  // markdown cells have none
  for (let j = 0; j < n; j++) outputs.push(cell.outputs.get(j).toJSON());
  return {status: kernel ? kernel.status : 'none', count: cell.executionCount, outputs,
          source: cell.sharedModel.getSource()};
}
"""


def _wait(page, predicate, index, timeout, what):
    deadline, state = time.time() + timeout, None
    while time.time() < deadline:
        state = page.evaluate(CELL_STATE_JS, index)
        if state is not None and predicate(state):
            return state
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last state: {state}")


def _run_cell(page, index, timeout=120):
    page.evaluate("(i) => { const nb = window.jupyterapp.shell.currentWidget.content; nb.activeCellIndex = i; }", index)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    return _wait(page, lambda s: s["count"] is not None and s["status"] == "idle", index, timeout, f"cell {index}")


def _text(outputs) -> str:
    parts = []
    for out in outputs:
        parts.append("".join(out.get("text", "")) if out.get("output_type") == "stream" else "")
        parts.append("".join(out.get("data", {}).get("text/plain", "")))
        parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def released(lab_server, tmp_path_factory):
    """Release chapter 1 with nbgrader and unpack its zip into the served notebook folder, as a student would."""
    _, _, notebooks = lab_server
    work = tmp_path_factory.mktemp("homework-release")
    zip_path = homework.release(work / "course", work / "zips", [CHAPTER])[CHAPTER]
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(notebooks / "my-homework")
    (name,) = [p for p in (notebooks / "my-homework" / CHAPTER).glob("*.ipynb")]
    return f"my-homework/{CHAPTER}/{name.name}", json.loads(name.read_text(encoding="utf-8"))["cells"]


def test_a_student_types_an_answer_sees_pass_and_validate_reports(released, lab_server, browser, screenshot_dir):
    base, token, _ = lab_server
    path, cells = released
    ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells]
    setup, answer, check = ids.index("ch1_setup"), ids.index("ch1_output_size"), ids.index("ch1_output_size_test")
    assert "raise NotImplementedError()" in "".join(cells[answer]["source"])  # the student's edition
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/workspaces/homework/tree/{path}?reset&token={token}", wait_until="domcontentloaded",
                  timeout=120_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                               "window.jupyterapp.shell.currentWidget.content", timeout=120_000)
        _wait(page, lambda s: s["status"] == "idle", setup, 120, "the kernel to be idle")
        page.locator("#jp-main-statusbar").get_by_text("Idle").first.wait_for(timeout=60_000)
        assert page.locator(".validate-button").count() >= 1  # nbgrader's Lab extension is active here

        page.evaluate("(i) => { const nb = window.jupyterapp.shell.currentWidget.content; nb.activeCellIndex = i;"
                      " nb.scrollToItem(i); }", answer)
        editor = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-mod-active .cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(ANSWER)
        state = page.evaluate(CELL_STATE_JS, answer)
        assert state["source"].strip() == ANSWER.strip(), state["source"]

        _run_cell(page, setup)
        _run_cell(page, answer)
        state = _run_cell(page, check)
        text = _text(state["outputs"])
        assert "output_size: pass" in text and "Error" not in text, text
        shown = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-mod-active .jp-OutputArea-output")
        shown.first.scroll_into_view_if_needed()
        assert "pass" in shown.first.inner_text()
        page.screenshot(path=str(screenshot_dir / "homework-pass.png"))

        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first.click()
        dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
        dialog.wait_for(timeout=180_000)
        report = dialog.inner_text()
        page.screenshot(path=str(screenshot_dir / "homework-validate.png"))
        graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        assert report.count("The following cell failed:") == len(graded) - 1, report  # every other part is open
        assert "check_trans_conv_channels(trans_conv" in report and "AssertionError" in report
        assert "check_output_size(output_size" not in report, report  # the answered part passes
    finally:
        page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                      "window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        context.close()
