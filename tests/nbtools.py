"""Reading notebook cells in tests (the homework tests share these)."""

import json
from pathlib import Path


def cells(path) -> list[dict]:
    """The cells of the notebook at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    """A cell's source as one string."""
    return "".join(cell["source"])


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata (empty for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {})
