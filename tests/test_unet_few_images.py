"""benchmarks/unet_few_images.py: its quick mode runs the whole grid code path and writes a readable results file."""

import importlib.util
import json

import pytest

from seglab.results import read_results
from seglab.utils import REPO_ROOT


def _script():
    spec = importlib.util.spec_from_file_location("unet_few_images", REPO_ROOT / "benchmarks" / "unet_few_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_mode_writes_one_row_per_run_with_provenance(tmp_path):
    assert _script().main(["--quick", "--threads", "1", "--results-dir", str(tmp_path)]) == 0
    results = read_results("unet_few_images_quick", results_dir=tmp_path)
    rows = results["rows"]
    # quick mode: seed 0, sizes 2 and 4, one 2-step schedule, each elastic strength of the default grid
    assert len(rows) == 2 * 3
    assert {(r["n"], r["elastic_std"]) for r in rows} == {(n, s) for n in (2, 4) for s in (0.0, 4.0, 8.0)}
    assert all(0.0 <= r["mIoU"] <= 1.0 and r["seconds"] > 0 for r in rows)
    assert results["command"].startswith("python benchmarks/unet_few_images.py --quick")
    assert results["machine"].startswith(("cpu", "cuda")) and results["params"]["seeds"] == [0]
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_grid_without_the_baseline_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _script().main(["--elastic-std", "4", "--results-dir", str(tmp_path)])
    assert "must include 0" in capsys.readouterr().err


def test_the_shipped_results_file_covers_the_grid_it_claims():
    results = read_results("unet_few_images")
    p = results["params"]
    assert len(p["seeds"]) >= 5  # the issue: at least five seeds
    keys = [(r["seed"], r["steps"], r["n"], r["elastic_std"]) for r in results["rows"]]
    assert len(keys) == len(set(keys)) == len(p["seeds"]) * len(p["steps"]) * len(p["sizes"]) * len(p["elastic_std"])
    assert json.dumps(results["rows"])  # plain JSON values
