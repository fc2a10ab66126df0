"""One GPU pass: ``make gpu-pass OUT=DIR`` (``python benchmarks/gpu_pass.py --out DIR``), about 10 minutes on one H200.

Runs, each with a time limit and its log in ``DIR/logs/``:

1. the ``gpu``-marked tests (``pytest -m gpu`` over the test files that have such tests);
2. ``benchmarks/run.py --device cuda`` (every benchmark row, CUDA rows included);
3. every shipped recipe (those in ``data/weights/manifest.json``) on CUDA:
   ``python -m seglab.train --recipe NAME --out-dir DIR/recipes --device cuda`` (weights and ``manifest.json`` land
   in ``DIR/recipes``; a recipe stopped by its limit leaves its epoch lines);

and writes ``DIR/summary.md`` (environment, steps, and a table per recipe: steps/s, wall time, epochs done, its
metric against the shipped CPU run's in ``data/weights/manifest.json``) and ``DIR/pass.json`` (the same as data).

``--quick`` (``make gpu-pass QUICK=1 OUT=DIR``) runs the same on the CPU in well under a minute, for the test suite:
the gpu tests of one file (skipped without CUDA), the loader benchmark in quick mode and one recipe with ``--quick``
(a few scenes, one epoch). Nothing is installed or downloaded: missing modules are listed with the wheels that
provide them (:data:`WHEELS`), and the steps that need them fail in their log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What a GPU machine needs besides Python 3.10+: import name -> the wheel (pip name) that provides it. torch and
#: torchvision must be CUDA builds (e.g. torch 2.11.0+cu130 and torchvision 0.26.0+cu130 ran the first pass).
WHEELS = {"torch": "torch (CUDA build)", "torchvision": "torchvision (CUDA build)", "numpy": "numpy",
          "PIL": "pillow", "pycocotools": "pycocotools", "tqdm": "tqdm", "pytest": "pytest",
          "matplotlib": "matplotlib", "ipywidgets": "ipywidgets", "IPython": "ipython", "skimage": "scikit-image",
          "scipy": "scipy", "torchmetrics": "torchmetrics", "pandas": "pandas"}

#: Seconds each step may take in a full pass (sum 570 s, plus start-up, within 10 minutes on one H200).
LIMITS = {"tests": 80, "bench": 95, "scenes": 80, "fcn32s": 25, "fcn16s": 25, "fcn8s": 25, "unet": 60,
          "segnet": 50, "mask_rcnn": 50, "mask_rcnn_roipool": 30, "unet_nuclei": 15, "unet_nuclei_plain": 15,
          "panoptic": 20}
QUICK_RECIPES = ("fcn32s",)
QUICK_LIMIT = 60

_EPOCH = re.compile(r"epoch (\d+)/(\d+): train loss [\d.naif]+\s+(.*?)\s+\(([\d.]+) s; data ([\d.]+) s, (\d+) steps "
                    r"([\d.]+) s = ([\d.]+) steps/s\)")


def missing_modules() -> dict:
    """``{import name: wheel}`` for the modules in :data:`WHEELS` that this Python cannot import."""
    import importlib.util

    return {name: wheel for name, wheel in WHEELS.items() if importlib.util.find_spec(name) is None}


def run_step(name: str, command: list[str], limit: float, log: Path, env: dict) -> dict:
    """Run ``command`` with its output in ``log``; kill its process group after ``limit`` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        try:
            code, status = process.wait(timeout=limit), None
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code, status = process.wait(), f"stopped at the {limit:.0f} s limit"
    seconds = time.perf_counter() - start
    status = status or ("ok" if code == 0 else f"failed (exit {code})")
    return {"step": name, "command": " ".join(command), "status": status, "seconds": round(seconds, 1),
            "log": str(log)}


def epochs_of(log: Path) -> list[dict]:
    """The epoch summaries that ``fit`` printed into a log."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    rows = []
    for match in _EPOCH.finditer(text.replace("\r", "\n")):
        metrics = dict(re.findall(r"val (\S+) ([\d.]+)", match.group(3)))
        rows.append({"epoch": int(match.group(1)), "epochs": int(match.group(2)),
                     "metrics": {k: float(v) for k, v in metrics.items()}, "seconds": float(match.group(4)),
                     "data_seconds": float(match.group(5)), "steps": int(match.group(6)),
                     "step_seconds": float(match.group(7))})
    return rows


def headline(entry: dict | None):
    """(metric name, value) of a manifest entry: mIoU, mask AP, the DSB score (nuclei) or PQ."""
    metrics = (entry or {}).get("metrics") or {}
    if "dsb_score" in metrics:
        return "DSB score", metrics["dsb_score"]
    if "mIoU" in metrics:
        return "mIoU", metrics["mIoU"]
    if "mask" in metrics:
        return "mask AP", metrics["mask"]["AP"]
    if "All" in metrics:
        return "PQ", metrics["All"]["pq"]
    return None, None


def recipe_row(name: str, step: dict, manifest: dict, shipped: dict) -> dict:
    epochs = epochs_of(Path(step["log"]))
    steps, step_seconds = sum(e["steps"] for e in epochs), sum(e["step_seconds"] for e in epochs)
    data_seconds = sum(e["data_seconds"] for e in epochs)
    entry = manifest.get(name) if step["status"] == "ok" else None
    metric, value = headline(entry)
    if value is None and epochs and epochs[-1]["metrics"]:  # stopped early: the last validation it printed
        key, value = next(iter(epochs[-1]["metrics"].items()))
        metric = {"mIoU": "mIoU", "mask_AP": "mask AP", "dsb_score": "DSB score"}.get(key, key)
    ship_metric, ship_value = headline(shipped.get(name))
    row = {"recipe": name, "status": step["status"], "wall_s": step["seconds"],
           "epochs": f"{epochs[-1]['epoch']}/{epochs[-1]['epochs']}" if epochs else "-",
           "steps_per_s": round(steps / step_seconds, 2) if step_seconds else None,
           "data_share": round(data_seconds / (data_seconds + step_seconds), 4) if step_seconds else None,
           "metric": metric or ship_metric, "value": value, "shipped_value": ship_value,
           "shipped_wall_s": (shipped.get(name) or {}).get("wall_time_s")}
    row["difference"] = round(value - ship_value, 4) if value is not None and ship_value is not None else None
    return row


def summary_markdown(result: dict) -> str:
    env, lines = result["environment"], []
    lines += [f"# GPU pass {env['date']}", "", f"- device: {env['device']}", f"- torch {env['torch']}, "
              f"torchvision {env['torchvision']}, Python {env['python']}", f"- mode: {result['mode']}",
              f"- missing modules: {', '.join(f'{k} (wheel {v})' for k, v in env['missing'].items()) or 'none'}",
              "", "| step | status | seconds | log |", "|---|---|---|---|"]
    lines += [f"| {s['step']} | {s['status']} | {s['seconds']} | {Path(s['log']).name} |" for s in result["steps"]]
    lines += ["", "| recipe | status | epochs | steps/s | data share | wall s | metric | this pass | shipped CPU run "
              "| difference | shipped wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else str(v)  # noqa: E731
    for r in result["recipes"]:
        share = "-" if r["data_share"] is None else f"{100 * r['data_share']:.1f}%"
        lines.append(f"| {r['recipe']} | {r['status']} | {r['epochs']} | {fmt(r['steps_per_s'])} | {share} | "
                     f"{r['wall_s']} | {fmt(r['metric'])} | {fmt(r['value'])} | {fmt(r['shipped_value'])} | "
                     f"{fmt(r['difference'])} | {fmt(r['shipped_wall_s'])} |")
    return "\n".join(lines) + "\n"


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def shipped_recipes() -> list[str]:
    """The recipes whose weights ship in data/weights (in the recipe table's order: a stage after the one it
    starts from, a merge after its components); recipes for your own data (VOC/COCO folders) are left out."""
    from seglab.train.recipes import RECIPES

    shipped = read_manifest(ROOT / "data" / "weights" / "manifest.json")
    return [name for name in RECIPES if name in shipped]


def gpu_test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("*.py")
                  if "mark.gpu" in p.read_text(errors="replace"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for logs, manifests and the summary")
    parser.add_argument("--quick", action="store_true", help="the same on the CPU, tiny (for the test suite)")
    parser.add_argument("--recipes", default=None,
                        help="comma-separated recipe names (default: the shipped ones; --quick: fcn32s)")
    parser.add_argument("--skip", default="", help="comma-separated steps to leave out: tests, bench, scenes")
    args = parser.parse_args(argv)
    import torch
    import torchvision

    from seglab.train.recipes import RECIPES

    out = Path(args.out).resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.quick else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_pass: no CUDA device here; run with --quick (QUICK=1) for the CPU smoke pass", file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.quick:
        env.update(SEGLAB_QUICK="1", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
    shipped = read_manifest(ROOT / "data" / "weights" / "manifest.json")
    names = args.recipes.split(",") if args.recipes else (list(QUICK_RECIPES) if args.quick else shipped_recipes())
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; known: {', '.join(RECIPES)}")
    limit = (lambda step: QUICK_LIMIT) if args.quick else (lambda step: LIMITS.get(step, 60))  # noqa: E731
    py, steps = sys.executable, []
    skip = set(filter(None, args.skip.split(",")))
    tests = ["tests/test_utils.py"] if args.quick else gpu_test_files()
    if "tests" not in skip:
        steps.append(run_step("tests", [py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *tests],
                              limit("tests"), out / "logs" / "tests.log", env))
    bench = [py, "benchmarks/run.py", "--device", device, "--progress"] + (["--quick", "--only", "loader"]
                                                                          if args.quick else [])
    if "bench" not in skip:
        steps.append(run_step("bench", bench, limit("bench"), out / "logs" / "bench.log", env))
    if not args.quick and "scenes" not in skip:  # the recipes' 4,000 training scenes, made once outside their limits
        scenes = [py, "-c", "from seglab.train.recipes import RECIPES, recipe_scenes\n"
                  f"for name in {names!r}:\n"
                  "    r = RECIPES[name]\n"
                  "    if hasattr(r, 'scene_seed'):\n"
                  "        print(name, recipe_scenes(r.train_scenes, r.scene_seed), flush=True)\n"]
        steps.append(run_step("scenes", scenes, limit("scenes"), out / "logs" / "scenes.log", env))
    recipe_steps = {}
    for name in names:
        command = [py, "-m", "seglab.train", "--recipe", name, "--out-dir", str(out / "recipes"), "--device", device]
        parts = [getattr(RECIPES[name], role, None) for role in ("semantic", "instance")]  # a merge's components
        missing = [p for p in parts if isinstance(p, str) and p not in read_manifest(out / "recipes" / "manifest.json")]
        if missing:
            recipe_steps[name] = {"step": f"recipe {name}", "command": " ".join(command), "seconds": 0.0,
                                  "status": f"skipped: needs {' and '.join(missing)} finished in this pass",
                                  "log": str(out / "logs" / f"recipe_{name}.log")}
            steps.append(recipe_steps[name])
            continue
        recipe_steps[name] = run_step(f"recipe {name}", command + (["--quick"] if args.quick else []), limit(name),
                                      out / "logs" / f"recipe_{name}.log", env)
        steps.append(recipe_steps[name])
    manifest = read_manifest(out / "recipes" / "manifest.json")
    result = {
        "mode": "quick (CPU, --quick recipes)" if args.quick else "full (CUDA)",
        "environment": {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "device": torch.cuda.get_device_name() if device == "cuda" else
                        f"cpu ({os.cpu_count()} cores, {env.get('OMP_NUM_THREADS', 'default')} threads)",
                        "torch": torch.__version__, "torchvision": torchvision.__version__,
                        "python": sys.version.split()[0], "missing": missing_modules(), "wheels": WHEELS},
        "steps": steps,
        "recipes": [recipe_row(name, step, manifest, shipped) for name, step in recipe_steps.items()],
    }
    (out / "pass.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(result))
    print(summary_markdown(result))
    return 1 if any(s["status"].startswith("failed") for s in steps) else 0  # a step stopped by its limit is data


if __name__ == "__main__":
    sys.exit(main())
