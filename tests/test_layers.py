"""The package's layers, as drawn in ``seglab/__init__.py``: every ``import seglab.X`` in seglab's own modules points
down. A new import that points up (train drawing a plot, a widget training a model, a metric reading a file) fails
here with the module, the line and the rule."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "seglab"

#: What each part of the package may import besides itself (``data.classes``: the class tables, constants only).
ALLOWED = {
    "_lazy": set(),
    "utils": {"_lazy"},
    "results": {"utils"},
    "ops": {"_lazy", "utils"},
    "data": {"_lazy", "utils"},
    "metrics": {"_lazy", "utils", "data.classes", "data.formats"},  # formats: COCO's RLE of arrays (coco_map)
    "losses": {"utils", "ops", "data.classes"},
    "models": {"_lazy", "utils", "ops", "losses", "data.classes", "data.formats"},
    "viz": {"_lazy", "utils", "data.classes", "data.formats"},
    "train": {"_lazy", "utils", "results", "ops", "losses", "models", "metrics", "data"},
    "widgets": {"_lazy", "utils", "viz", "models", "losses", "ops", "metrics", "data"},
    "check": {"_lazy", "utils", "ops", "metrics", "models", "losses", "data"},
    "homework": {"utils"},
    "lecture": {"utils"},
    "offline": {"utils"},
    "guide": {"utils", "results", "lecture"},
    "site": {"utils", "results", "lecture", "offline", "guide"},
}


def _part(module: str) -> str:
    """``seglab.train.engine`` -> ``train``; ``seglab.data.classes`` -> ``data.classes`` (for data's constants)."""
    parts = module.split(".")[1:]
    if not parts:
        return ""
    if parts[0] == "data" and len(parts) > 1 and parts[1] in ("classes", "formats"):
        return f"data.{parts[1]}"
    return parts[0]


#: An import on a line marked with this comment is a deprecated name kept for one release (it forwards to where the
#: name lives now), not a dependency: it is exempt, and the test counts that no more than these remain.
FORWARDER = "# layers: deprecated forwarder"
FORWARDERS_ALLOWED = 1  # seglab.metrics.pq_compute -> seglab.train.evaluation.pq_compute


def _imports():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        owner = rel.parts[0]
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if hasattr(node, "lineno") and FORWARDER in lines[node.lineno - 1]:
                continue
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] if node.module != "seglab" else [f"seglab.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.split(".")[0] == "seglab" and "." in name:
                    yield owner, _part(name), f"{path.relative_to(ROOT.parent)}:{node.lineno}"


def test_every_part_of_the_package_is_drawn():
    parts = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts <= set(ALLOWED), f"add {sorted(parts - set(ALLOWED))} to ALLOWED and to seglab/__init__.py"


@pytest.mark.parametrize("owner", sorted(ALLOWED))
def test_imports_point_down(owner):
    wrong = [f"{where}: {owner} imports seglab.{target}" for who, target, where in _imports()
             if who == owner and target != owner and target.split(".")[0] != owner
             and target not in ALLOWED[owner] and target.split(".")[0] not in ALLOWED[owner]]
    assert not wrong, "imports that point up or across the drawing in seglab/__init__.py:\n" + "\n".join(wrong)


def test_deprecated_forwarders_are_few_and_marked():
    marked = [f"{p}:{i}" for p in ROOT.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
              if FORWARDER in line]
    assert len(marked) <= FORWARDERS_ALLOWED, marked
