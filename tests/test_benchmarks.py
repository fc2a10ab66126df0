"""Every benchmark runs (in quick mode, tiny sizes) and yields well-formed rows: the figures come from `make bench`."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
FILES = sorted(BENCH.glob("bench_*.py"))


def _load(path):
    import sys

    sys.path.insert(0, str(BENCH))
    name = path.stem if path.stem == "harness" else f"_bench_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_harness_table_and_median(monkeypatch):
    harness = _load(BENCH / "harness.py")
    calls = []
    # a clock whose three timed calls last 0.5, 0.1 and 0.3 s: the median is the middle one, warm-up runs untimed
    ticks = iter([0.0, 0.5, 1.0, 1.1, 2.0, 2.3])
    monkeypatch.setattr(harness.time, "perf_counter", lambda: next(ticks))
    seconds = harness.median_seconds(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and seconds == pytest.approx(0.3)
    table = harness.format_table([harness.Row("op", 1.5, "ms", "cpu", ratio=2.0, note="x")])
    assert "| op" in table and "2.00x" in table


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_benchmark_runs_in_quick_mode(path):
    rows = list(_load(path).rows(torch.device("cpu"), quick=True))
    assert rows, f"{path.name} produced no rows"
    for row in rows:
        assert row.name and row.unit and row.device
        assert math.isfinite(row.value) and row.value >= 0, row


@pytest.mark.slow
def test_pooler_ablation_script_runs_in_quick_mode(capsys, tmp_path):
    from seglab.results import read_results

    script = _load(BENCH / "ablation_pooler.py")
    assert script.main(["--quick", "--seeds", "0", "--device", "cpu", "--results-dir", str(tmp_path)]) == 0
    results = read_results("ablation_pooler_quick", results_dir=tmp_path)
    assert [(r["seed"], r["pooler"]) for r in results["rows"]] == [(0, "roi_pool"), (0, "roi_align")]
    assert results["params"]["steps"] == 2 and results["machine"].startswith("cpu")
    assert "--quick" in results["command"] and results["date"].endswith("UTC")
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| 0 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 5 and all("/" in c and "[" in c for c in cells[1:3])
    assert "seeds where RoIAlign won: AP" in out and "agnostic_AP75" in out


@pytest.mark.slow
def test_segnet_trials_script_runs_in_quick_mode(tmp_path, capsys):
    import json

    from seglab.results import read_results
    from seglab.train.recipes import RECIPES

    script = _load(BENCH / "segnet_trials.py")
    shipped = RECIPES["segnet"]
    assert script.main(["--quick", "--variants", "adamw_batch8", "--device", "cpu", "--threads", "1",
                        "--out", str(tmp_path / "trials"), "--results-dir", str(tmp_path)]) == 0
    assert RECIPES["segnet"] is shipped  # a variant is a value: the shipped recipe was never replaced
    stored = json.loads((tmp_path / "trials" / "adamw_batch8" / "manifest.json").read_text())["segnet"]
    assert stored["command"] == "python benchmarks/segnet_trials.py --variants adamw_batch8 --quick"
    assert stored["recipe"]["batch_size"] == 8 and stored["model_args"]["width"] == 0.25
    results = read_results("segnet_trials_quick", results_dir=tmp_path)
    (row,) = results["rows"]
    assert row["variant"] == "adamw_batch8" and row["batch_size"] == 8 and row["optimizer"] == "adamw"
    assert row["changes"] == script.VARIANTS["adamw_batch8"] and not row["shipped"]
    assert row["epochs"] == 1 and 0 <= row["things_IoU"] <= 1 and 0 <= row["stuff_IoU"] <= 1
    assert not row["prior_correction"] and 0 <= row["mIoU_corrected"] <= 1  # its weights, corrected, rescored
    assert (tmp_path / "trials" / "adamw_batch8" / "segnet.pt").is_file()
    assert "--quick" in results["command"] and results["date"].endswith("UTC")
    assert "| adamw_batch8 | adamw | 8 |" in capsys.readouterr().out


def test_segnet_trials_reads_back_a_trained_variant_and_retrains_a_changed_one(tmp_path, monkeypatch):
    import dataclasses
    import json

    from seglab.train import recipes

    script = _load(BENCH / "segnet_trials.py")
    changes = script.VARIANTS["adamw_batch8"]
    recipe = dataclasses.replace(recipes.RECIPES["segnet"], **changes)
    stored = {k: v for k, v in dataclasses.asdict(recipe).items() if k not in ("name", "model", "model_args")}
    del stored["optimizer"], stored["class_weights"]  # an entry written before these fields existed: defaults
    entry = {"model_args": recipe.model_args, "recipe": {**stored, "notes": "an older note"}, "date": "then"}
    (tmp_path / "b8").mkdir()
    (tmp_path / "b8" / "manifest.json").write_text(json.dumps({"segnet": entry}))
    trained = []
    monkeypatch.setattr(recipes, "run_recipe", lambda recipe, **kw: trained.append((recipe, kw)) or entry)
    shipped = recipes.RECIPES["segnet"]
    assert script.run_variant("b8", changes, tmp_path, False, False, "cpu") == entry
    assert trained == []  # same training, only the notes differ: read back
    script.run_variant("b8", {**changes, "lr": 1e-3}, tmp_path, False, False, "cpu")
    (recipe, kw), = trained  # another recipe: trained again, as a value, into the trial's folder
    assert recipe.batch_size == 8 and recipe.lr == 1e-3 and recipe.name == "segnet" and kw["out_dir"] == tmp_path / "b8"
    assert recipes.RECIPES["segnet"] is shipped and shipped.lr != 1e-3  # the shipped recipe was never touched


def test_the_pooler_results_file_uses_the_one_style_of_metric_keys():
    """Metric keys are identifiers (``mIoU``, ``pixel_acc``, ``mask_AP``, ``agnostic_AP``), never phrases with spaces:
    the shipped results file was rewritten so (its values untouched), and the script writes them so."""
    from seglab.results import read_results

    results = read_results("ablation_pooler")
    assert all(" " not in key for row in results["rows"] for key in row)
    assert {"AP", "AP75", "agnostic_AP", "agnostic_AP75"} <= set(results["rows"][0])
    assert "keys_renamed" in results["params"]
