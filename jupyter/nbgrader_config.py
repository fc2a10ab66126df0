"""nbgrader settings for seglab's homework (read by `make homework`, `make grade` and `python -m seglab.homework`).

The course directory defaults to build/course (SEGLAB_COURSE_DIR overrides it); `make homework` writes a small
nbgrader_config.py there that loads this file, so `nbgrader ...` and `jupyter lab` (Formgrader) work when started
from the course directory.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (nbgrader's config loader provides get_config)

root = Path(os.environ.get("SEGLAB_COURSE_DIR", Path(__file__).resolve().parents[1] / "build" / "course"))
c.CourseDirectory.root = str(root)
c.CourseDirectory.course_id = "seglab"
# Students' code runs with a per-cell limit: a cell that runs longer is interrupted and scores 0 (CellTimeoutError).
c.Execute.timeout = int(os.environ.get("SEGLAB_CELL_TIMEOUT", "30"))
c.Execute.interrupt_on_timeout = True
# The Lab extension's assignment list needs a writable exchange folder (the default /srv/nbgrader/exchange is not).
c.Exchange.root = str(root / "exchange")
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
