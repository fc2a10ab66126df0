"""benchmarks/unet_few_images.py: its quick mode runs the whole grid code path and writes a readable results file."""

import importlib.util

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
    from fakes import assert_results_cover_grid

    results = read_results("unet_few_images")
    p = results["params"]
    cells = [(t, n, e) for t in p["steps"] for n in p["sizes"] for e in p["elastic_std"]]
    assert_results_cover_grid(results, lambda r: (r["seed"], r["steps"], r["n"], r["elastic_std"]), cells)
    for row in results["rows"]:  # each a score and a positive training time
        assert isinstance(row["mIoU"], float) and 0.0 <= row["mIoU"] <= 1.0 and row["seconds"] > 0, row


def test_each_run_is_a_variant_of_the_scripts_recipe(monkeypatch):
    """A grid cell is ``dataclasses.replace`` of FEW_IMAGES (seed, train_subset, elastic, steps), trained by
    train_recipe: the recipe itself is never changed."""
    import seglab.train.recipes as recipes

    script = _script()
    seen = []

    class Run:  # what train_recipe returns, without training
        model, wall_time_s = None, 1.0

    monkeypatch.setattr(recipes, "train_recipe", lambda recipe, **kw: seen.append(recipe) or Run())
    import seglab.train

    monkeypatch.setattr(seglab.train, "evaluate", lambda model, loader: {"mIoU": 0.5})
    assert script.train_one(4, 8.0, 3, 100, "cpu", None) == {"mIoU": 0.5, "seconds": 1.0}
    (recipe,) = seen
    assert (recipe.seed, recipe.train_subset, recipe.elastic, recipe.steps) == (3, 4, 8.0, 100)
    assert recipe.crop == 64 and recipe.scene_seed is None and recipe.schedule == "cosine" and not recipe.curve
    assert script.FEW_IMAGES.train_subset is None and script.FEW_IMAGES.elastic == 0.0
