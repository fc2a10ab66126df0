"""JavaScript run in JupyterLab by the browser tests (with ``--LabApp.expose_app_in_browser``)."""

#: The current notebook's run state: its path, kernel readiness and status, code cells run and errors so far.
NOTEBOOK_STATE_JS = """
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.model) return null;
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  const cells = panel.content.model.cells;
  let total = 0, done = 0;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    total += 1;
    if (cell.executionCount !== null && cell.executionCount !== undefined) done += 1;
    for (let j = 0; j < cell.outputs.length; j++) {
      const out = cell.outputs.get(j).toJSON();
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
    }
  }
  return {path: panel.context.path, ready: ctx.isReady, status: kernel ? kernel.status : 'none', total, done, errors};
}
"""
