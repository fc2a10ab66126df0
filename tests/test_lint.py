"""`make lint` stays clean: ruff (configured in pyproject.toml) over the package, the tests and the benchmarks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "seglab", "tests", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_ignore_label_is_a_name_not_a_literal():
    """``ignore_index`` defaults and comparisons use ``seglab.data.classes.IGNORE_INDEX``, defined once."""
    import re

    literal = re.compile(r"ignore_index\s*(:[^=,)]*)?=\s*255\b|ignore_index\s*[!=]=\s*255\b")
    definition = re.compile(r"^\s*IGNORE_INDEX\s*(:[^=]*)?=[^=]")
    found, defined = [], []
    for path in sorted((ROOT / "seglab").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            found += [where] if literal.search(line) else []
            defined += [where] if definition.search(line) else []
    assert not found, "use IGNORE_INDEX instead of 255:\n" + "\n".join(found)
    assert len(defined) == 1 and defined[0].startswith("seglab/data/classes.py"), defined
