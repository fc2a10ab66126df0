"""benchmarks/unet_nuclei.py: its quick mode trains, scores and writes a results file with provenance; the grid and
the paired summary; the shipped results file covers what it claims."""

import importlib.util

import pytest

from seglab.results import read_results
from seglab.utils import REPO_ROOT

needs_stardist = pytest.mark.skipif(importlib.util.find_spec("stardist") is None,
                                    reason="the stardist wheel is not installed (make lab / make test install it)")


def _script():
    spec = importlib.util.spec_from_file_location("unet_nuclei", REPO_ROOT / "benchmarks" / "unet_nuclei.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_stardist
def test_quick_mode_writes_one_row_per_run_with_provenance(tmp_path):
    assert _script().main(["--quick", "--threads", "1", "--results-dir", str(tmp_path)]) == 0
    results = read_results("unet_nuclei_quick", results_dir=tmp_path)
    rows = results["rows"]
    assert [(r["num_crops"], r["elastic"], r["weight_map"]) for r in rows] == [(1, True, True), ("all", False, False)]
    for row in rows:
        for region in ("val", "test"):
            assert 0.0 <= row[f"{region}_dsb_score"] <= 1.0 and 0.0 <= row[f"{region}_foreground_iou"] <= 1.0
            assert 0 <= row[f"{region}_merged_pairs"] <= row[f"{region}_touching_pairs"]
        assert row["test_touching_pairs"] == 16 and row["steps"] == 2
    assert results["command"].startswith("python benchmarks/unet_nuclei.py --quick")
    assert results["machine"].startswith(("cpu", "cuda")) and results["params"]["seeds"] == [0]
    assert results["params"]["regions"]["train"] == [0, 0, 256, 256]
    assert not list(tmp_path.glob(".*tmp*"))


@needs_stardist
def test_resume_reuses_the_finished_runs_of_an_interrupted_run(tmp_path, monkeypatch):
    import json

    script = _script()
    finished = {"seed": 0, "num_crops": 1, "elastic": True, "weight_map": True, "steps": 2, "seconds": 9.0}
    (tmp_path / "unet_nuclei_quick.partial.jsonl").write_text(json.dumps(finished) + "\n{torn")
    trained = []
    monkeypatch.setattr(script, "train_one", lambda *task: trained.append(task) or dict(
        finished, num_crops="all", elastic=False, weight_map=False, seconds=1.0))
    assert script.main(["--quick", "--resume", "--results-dir", str(tmp_path)]) == 0
    assert [task[:3] for task in trained] == [(None, False, False)]  # only the run that had not finished
    rows = read_results("unet_nuclei_quick", results_dir=tmp_path)["rows"]
    assert [r["seconds"] for r in rows] == [9.0, 1.0] and not list(tmp_path.glob("*.partial.jsonl"))


def test_the_grid_pairs_every_amount_of_data_and_the_weight_map():
    runs = _script().grid()
    assert len(runs) == 9
    assert {(r["num_crops"], r["elastic"]) for r in runs if r["weight_map"]} == \
        {(n, e) for n in (1, 2, 4, None) for e in (False, True)}
    assert [r for r in runs if not r["weight_map"]] == [{"num_crops": None, "elastic": False, "weight_map": False}]


def test_summary_counts_seeds_where_the_first_side_is_ahead():
    script = _script()
    rows = []
    for seed, (with_map, without) in enumerate([(2, 5), (4, 3), (1, 6)]):
        base = {"seed": seed, "num_crops": "all", "elastic": False, "test_dsb_score": 0.5, "test_f1": 0.5,
                "test_foreground_iou": 0.8, "val_dsb_score": 0.5}
        rows += [dict(base, weight_map=True, test_merged_pairs=with_map, test_dsb_score=0.4 + 0.1 * seed),
                 dict(base, weight_map=False, test_merged_pairs=without)]
    (merged, dsb, *_) = script.summarize(rows)
    assert merged["metric"] == "test_merged_pairs" and merged["seeds"] == 3
    assert merged["first_better_on"] == 2  # fewer merged pairs is better: seeds 0 and 2
    assert merged["first"] == pytest.approx(7 / 3) and merged["second"] == pytest.approx(14 / 3)
    assert dsb["metric"] == "test_dsb_score" and dsb["first_better_on"] == 1  # 0.4, 0.5, 0.6 vs 0.5


def test_bad_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _script().main(["--data", "3", "--results-dir", str(tmp_path)])
    assert "--data takes 1, 2, 4 or all" in capsys.readouterr().err


def test_the_shipped_results_file_covers_the_grid_it_claims():
    from fakes import assert_results_cover_grid

    grid = [("all" if g["num_crops"] is None else g["num_crops"], g["elastic"], g["weight_map"])
            for g in _script().grid()]
    assert_results_cover_grid(read_results("unet_nuclei"),
                              lambda r: (r["seed"], r["num_crops"], r["elastic"], r["weight_map"]), grid)
