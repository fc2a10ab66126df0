"""python -m seglab.train: one process in-process, and two CPU processes under torchrun (DDP, gloo)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seglab.models import create_model
from seglab.train.__main__ import main
from seglab.train.checkpoint import load_checkpoint
from seglab.utils import set_seed

ROOT = Path(__file__).resolve().parents[1]


def test_cli_single_process(tmp_path, capsys):
    ck = tmp_path / "tiny.pt"
    assert main(["--model", "tiny_segmenter", "--epochs", "1", "--data", "synthetic", "--synthetic-length", "8",
                 "--batch-size", "4", "--device", "cpu", "--checkpoint", str(ck), "--quiet",
                 "--model-arg", "width=4"]) == 0
    assert "done: History(epochs=1" in capsys.readouterr().out
    state = load_checkpoint(ck)
    assert state["epoch"] == 1 and state["config"]["model"] == "tiny_segmenter"
    assert state["model"]["classifier.weight"].shape == (8, 4, 1, 1)  # --model-arg width=4 reached the builder
    with pytest.raises(ValueError, match="unknown model"):
        main(["--model", "no_such_model", "--epochs", "1", "--device", "cpu"])


@pytest.mark.slow
def test_torchrun_two_cpu_processes_end_with_identical_weights(tmp_path, make_test_scenes):
    data = make_test_scenes(8, 2, size=32, seed=0)  # tests/conftest.py
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "seglab.train", "--model", "tiny_segmenter", "--epochs", "2", "--data", str(data),
           "--batch-size", "2", "--lr", "0.01", "--device", "cpu", "--save-per-rank", str(out),
           "--checkpoint", str(out / "ck.pt"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.count("done: History(epochs=2") == 1  # only rank 0 prints
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    set_seed(0)
    initial = create_model("tiny_segmenter", num_classes=8).state_dict()
    assert any(not torch.equal(w0[k], initial[k]) for k in w0)  # it did train
    state = load_checkpoint(out / "ck.pt")  # written once, by rank 0
    assert state["epoch"] == 2 and state["config"]["world_size"] == 2
    assert all(torch.equal(state["model"][k], w0[k]) for k in w0)
    # 8 images / 2 ranks / batch 2 = 2 steps per epoch on each rank
    assert len(state["history"]["step_loss"]) == 4


def test_cli_recipe_quick_writes_weights_and_manifest(tmp_path, capsys):
    import json

    from seglab.train.__main__ import main

    assert main(["--recipe", "fcn32s", "--quick", "--out-dir", str(tmp_path), "--device", "cpu", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert printed["sha256"] == manifest["fcn32s"]["sha256"]
    assert manifest["fcn32s"]["command"] == "python -m seglab.train --recipe fcn32s --quick"


def test_cli_needs_a_model_or_a_recipe():
    import pytest

    from seglab.train.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--epochs", "1"])
