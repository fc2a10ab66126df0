"""benchmarks/gpu_pass.py (`make gpu-pass`): the quick pass runs on the CPU and writes its summary; the log parsing and
the table it builds from them."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_pass.py"


def _module():
    spec = importlib.util.spec_from_file_location("_gpu_pass", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_epoch_lines_and_the_recipe_row(tmp_path):
    gpu_pass = _module()
    log = tmp_path / "recipe_unet.log"
    log.write_text("epoch 1/24:  40%|####  | 100/250\repoch 1/24: train loss 0.9000  val mIoU 0.5200  "
                   "(12.0 s; data 0.5 s, 250 steps 10.0 s = 25.0 steps/s)\n"
                   "epoch 2/24: train loss 0.7000  val mIoU 0.5500  "
                   "(11.0 s; data 0.5 s, 250 steps 9.5 s = 26.3 steps/s)\n")
    epochs = gpu_pass.epochs_of(log)
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[1]["metrics"] == {"mIoU": 0.55}
    step = {"status": "stopped at the 60 s limit", "seconds": 60.2, "log": str(log)}
    shipped = {"unet": {"metrics": {"mIoU": 0.944}, "wall_time_s": 5870.0}}
    row = gpu_pass.recipe_row("unet", step, {}, shipped)
    assert row["epochs"] == "2/24" and row["value"] == 0.55 and row["shipped_value"] == 0.944
    assert row["steps_per_s"] == pytest.approx(500 / 19.5, abs=0.01) and row["difference"] == pytest.approx(-0.394)
    assert row["data_share"] == pytest.approx(1 / 20.5, abs=1e-4)
    assert gpu_pass.headline({"metrics": {"All": {"pq": 0.85}}}) == ("PQ", 0.85)
    assert gpu_pass.headline({"metrics": {"mask": {"AP": 0.6}}}) == ("mask AP", 0.6)


def test_every_shipped_recipe_has_a_limit_and_the_full_pass_fits_ten_minutes():
    gpu_pass = _module()
    shipped = gpu_pass.shipped_recipes()
    assert {"fcn32s", "unet", "mask_rcnn", "panoptic"} <= set(shipped) and set(shipped) <= set(gpu_pass.LIMITS)
    assert shipped.index("fcn32s") < shipped.index("fcn16s") and shipped[-1] == "panoptic"
    assert sum(gpu_pass.LIMITS.values()) <= 570  # leaves half a minute of start-up within 10 minutes


def test_a_step_past_its_limit_is_stopped_and_its_log_kept(tmp_path):
    gpu_pass = _module()
    code = "import time; print('epoch 1 done', flush=True); time.sleep(60)"
    step = gpu_pass.run_step("slow", [sys.executable, "-c", code], 1.5, tmp_path / "slow.log", {})
    assert step["status"] == "stopped at the 2 s limit" and step["seconds"] < 30
    assert "epoch 1 done" in (tmp_path / "slow.log").read_text()
    assert gpu_pass.run_step("ok", [sys.executable, "-c", "pass"], 30, tmp_path / "ok.log", {})["status"] == "ok"


def test_a_merge_without_its_components_is_skipped(tmp_path):
    gpu_pass = _module()
    assert gpu_pass.main(["--quick", "--out", str(tmp_path), "--recipes", "panoptic", "--skip", "tests,bench"]) == 0
    (row,) = json.loads((tmp_path / "pass.json").read_text())["recipes"]
    assert row["status"] == "skipped: needs unet and mask_rcnn finished in this pass" and row["epochs"] == "-"


@pytest.mark.slow
def test_quick_pass_runs_on_the_cpu(tmp_path):
    """What `make gpu-pass QUICK=1 OUT=DIR` runs, on the CPU (about 30 s)."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "pass.json").read_text())
    assert [s["step"] for s in data["steps"]] == ["tests", "bench", "recipe fcn32s"]
    assert all(s["status"] == "ok" for s in data["steps"])
    (row,) = data["recipes"]
    assert row["recipe"] == "fcn32s" and row["epochs"] == "1/1" and row["metric"] == "mIoU"
    assert row["steps_per_s"] > 0 and row["shipped_value"] > 0.4
    assert (tmp_path / "recipes" / "manifest.json").is_file() and (tmp_path / "logs" / "bench.log").is_file()
    summary = (tmp_path / "summary.md").read_text()
    assert "| fcn32s | ok | 1/1 |" in summary and "CachedSceneLoader" in (tmp_path / "logs" / "bench.log").read_text()
