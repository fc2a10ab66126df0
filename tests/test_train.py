"""seglab.train: fit, resume, checkpoints, load_or_train, evaluate/predict, detection-style loss dicts, bad input."""

import re
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seglab.data.synthetic import SyntheticSegmentation
from seglab.metrics import mean_iou
from seglab.models.tiny import TinySegmenter
from seglab.train import (
    CheckpointError,
    History,
    evaluate,
    fit,
    load_checkpoint,
    load_or_train,
    predict,
    save_checkpoint,
)
from seglab.utils import set_seed


def make_model():
    # dropout draws from the global RNG, so resuming must restore it
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.2), nn.Conv2d(8, 4, 1))


def make_loader(generator=None, n=12, batch_size=4):
    return DataLoader(SyntheticSegmentation(n, 16, num_classes=4, seed=1), batch_size=batch_size, shuffle=True,
                      generator=generator)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run(epochs, checkpoint=None, use_generator=False, seed=0):
    set_seed(seed)
    model = make_model()
    loader = make_loader(torch.Generator().manual_seed(5) if use_generator else None)
    history = fit(model, loader, loader, epochs=epochs, lr=0.01, device="cpu", checkpoint=checkpoint, progress=False,
                  scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    return model, history


def test_fit_learns_and_records_history():
    model, history = run(3)
    assert isinstance(history, History) and history.epochs == 3 and len(history.step_loss) == 9
    assert history.epoch_loss[-1] < history.epoch_loss[0]
    assert set(history.val) == {"mIoU", "pixel_acc", "loss"} and len(history.val["mIoU"]) == 3
    assert history.lr == pytest.approx([0.005, 0.0025, 0.00125])  # the scheduler steps once per epoch
    assert history.seconds > 0 and history.step_terms == {}
    assert len(history.data_seconds) == len(history.step_seconds) == 3
    assert all(0 <= d < e and 0 < s < e for d, s, e in zip(history.data_seconds, history.step_seconds,
                                                           history.epoch_seconds))
    assert 0 <= history.data_share < 1
    set_seed(0)
    per_step = fit(make_model(), make_loader(), epochs=2, lr=0.01, device="cpu", progress=False,
                   scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
                   scheduler_every="step")
    assert per_step.lr == pytest.approx([0.01 * 0.5**3, 0.01 * 0.5**6])  # 3 steps per epoch

@pytest.mark.parametrize("use_generator", [False, True])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, use_generator):
    full, full_history = run(3, use_generator=use_generator)
    path = tmp_path / "run.pt"
    run(1, checkpoint=path, use_generator=use_generator)  # "interrupted" after epoch 1
    torch.manual_seed(123)  # whatever happens in between must not matter
    resumed, history = run(3, checkpoint=path, use_generator=use_generator, seed=7)
    assert history.epochs == 3 and history.step_loss == full_history.step_loss
    assert same_weights(weights(resumed), weights(full))
    assert load_checkpoint(path)["epoch"] == 3


def test_checkpoint_round_trip(tmp_path):
    set_seed(0)
    model, other = make_model(), make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(1, 3, 8, 8)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.pt", model=model, epoch=2, fingerprint="abc", optimizer=opt,
                    history=History(step_loss=[1.0, 0.5]).to_dict(), config={"size": 16})
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["epoch"] == 2 and state["config"] == {"size": 16} and state["history"]["step_loss"] == [1.0, 0.5]
    other.load_state_dict(state["model"])
    assert same_weights(weights(other), weights(model))
    assert "momentum_buffer" in state["optimizer"]["state"][0]


def test_truncated_checkpoint_is_reported_and_not_loaded(tmp_path):
    path = tmp_path / "cut.pt"
    run(1, checkpoint=path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 30, 100, len(data) // 2):  # the last cut stays for the fit below
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="cut.pt is damaged or cut short"):
            load_checkpoint(path)
    model = make_model()
    before = weights(model)
    with pytest.raises(CheckpointError, match="cut.pt"):
        fit(model, make_loader(), epochs=2, lr=0.01, device="cpu", checkpoint=path, progress=False)
    assert same_weights(weights(model), before)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


def test_checkpoint_from_another_model_is_refused(tmp_path):
    path = tmp_path / "a.pt"
    run(1, checkpoint=path)
    with pytest.raises(CheckpointError, match="different run"):
        fit(TinySegmenter(4), make_loader(), epochs=2, lr=0.01, device="cpu", checkpoint=path, progress=False)


class FailingLoader:
    """A loader that must not be iterated (to prove that a checkpoint was loaded instead of training)."""

    def __len__(self):
        return 3

    def __iter__(self):
        raise AssertionError("load_or_train trained although a matching checkpoint existed")


def test_load_or_train(tmp_path):
    path = tmp_path / "lot.pt"
    set_seed(0)
    trained = make_model()
    history = load_or_train(trained, path, make_loader(), epochs=2, lr=0.01, device="cpu", progress=False,
                            config={"data": "synthetic"})
    assert history.epochs == 2
    fresh = make_model()
    again = load_or_train(fresh, path, FailingLoader(), epochs=2, lr=0.01, device="cpu", progress=False,
                          config={"data": "synthetic"})
    assert same_weights(weights(fresh), weights(trained)) and again.step_loss == history.step_loss
    with pytest.warns(UserWarning, match="does not match"):  # another config: train again
        other = load_or_train(make_model(), path, make_loader(), epochs=1, lr=0.01, device="cpu", progress=False,
                              config={"data": "other"})
    assert other.epochs == 1
    path.write_bytes(path.read_bytes()[:100])  # a damaged file is replaced by a fresh run
    with pytest.warns(UserWarning, match="damaged"):
        fresh_run = load_or_train(make_model(), path, make_loader(), epochs=1, lr=0.01, device="cpu", progress=False)
    assert fresh_run.epochs == 1
    assert load_checkpoint(path)["epoch"] == 1
    # with a custom training function
    calls = []

    def train_fn(model):
        calls.append(1)
        return History(epoch_loss=[0.3])

    path2 = tmp_path / "fn.pt"
    load_or_train(make_model(), path2, train_fn=train_fn, config={"k": 1})
    h = load_or_train(make_model(), path2, train_fn=train_fn, config={"k": 1})
    assert len(calls) == 1 and h.epoch_loss == [0.3]
    load_or_train(make_model(), path2, train_fn=train_fn, config={"k": 2})
    assert len(calls) == 2


def test_evaluate_and_predict():
    set_seed(0)
    model = TinySegmenter(4).eval()
    loader = make_loader(n=8)
    out = evaluate(model, loader, num_classes=4)
    images = torch.stack([x for x, _ in loader.dataset])
    masks = torch.stack([y for _, y in loader.dataset])
    preds = predict(model, images, batch_size=3)
    assert preds.shape == (8, 16, 16) and preds.dtype == torch.int64
    assert out["mIoU"] == pytest.approx(mean_iou(preds, masks, 4).item(), abs=1e-6)
    assert set(out) == {"mIoU", "pixel_acc", "per_class_iou", "loss"} and len(out["per_class_iou"]) == 4
    assert predict(model, images[0]).shape == (16, 16)


class FakeDetector(nn.Module):
    """Follows torchvision's detection convention: model(list of images, list of target dicts) -> dict of losses."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))

    def forward(self, images, targets):
        assert isinstance(images, list) and isinstance(targets, list) and "boxes" in targets[0]
        mean = torch.stack([im.mean() for im in images]).mean()
        return {"loss_classifier": (self.w * mean) ** 2, "loss_box_reg": self.w.abs(), "loss_mask": 0.5 * self.w ** 2}


def test_detection_loss_dict_is_summed_and_logged():
    items = [(torch.rand(3, 8, 8), {"boxes": torch.tensor([[0.0, 0, 4, 4]]), "labels": torch.tensor([1])})
             for _ in range(4)]
    loader = DataLoader(items, batch_size=2, collate_fn=lambda b: tuple(zip(*b)))
    history = fit(FakeDetector(), loader, loader, epochs=2, lr=0.05, device="cpu", progress=False)
    assert set(history.step_terms) == {"loss_classifier", "loss_box_reg", "loss_mask"}
    assert all(len(v) == 4 for v in history.step_terms.values())
    total = [sum(t) for t in zip(*history.step_terms.values())]
    assert history.step_loss == pytest.approx(total, rel=1e-6)
    assert history.val == {}  # detection validation needs val_fn


def test_nan_loss_stops_with_epoch_and_step():
    calls = []

    def loss_fn(logits, targets):
        calls.append(1)
        loss = nn.functional.cross_entropy(logits, targets, ignore_index=255)
        return loss * float("nan") if len(calls) == 5 else loss

    with pytest.raises(FloatingPointError, match="epoch 2, step 2"):
        fit(make_model(), make_loader(), epochs=3, lr=0.01, device="cpu", loss_fn=loss_fn, progress=False)


def test_bad_input():
    empty = DataLoader(TensorDataset(torch.zeros(0, 3, 8, 8), torch.zeros(0, 8, 8, dtype=torch.long)), batch_size=2)
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(make_model(), empty, epochs=1, lr=0.01, device="cpu", progress=False)
    half = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1))
    with pytest.raises(ValueError, match="do not fit targets"):
        fit(half, make_loader(), epochs=1, lr=0.01, device="cpu", progress=False)
    bad = DataLoader(TensorDataset(torch.rand(2, 3, 8, 8), torch.full((2, 8, 8), 9)), batch_size=2)
    with pytest.raises(ValueError, match="label 9"):
        fit(make_model(), bad, epochs=1, lr=0.01, device="cpu", progress=False)
    with pytest.raises(ValueError, match="lr"):
        fit(make_model(), make_loader(), epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(make_model(), make_loader(), epochs=0, lr=0.1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="CUDA"):
        fit(make_model(), make_loader(), epochs=1, lr=0.1, device="cpu", amp=True, progress=False)


@pytest.mark.gpu
def test_cuda_amp_fit_and_resume(tmp_path):
    set_seed(0)
    model, loader = TinySegmenter(4), make_loader()
    history = fit(model, loader, loader, epochs=2, lr=0.01, device="cuda", checkpoint=tmp_path / "g.pt", progress=False)
    assert next(model.parameters()).device.type == "cuda" and history.epochs == 2
    state = load_checkpoint(tmp_path / "g.pt")
    assert state["scaler"] is not None  # amp was on by default on CUDA
    history = fit(model, loader, loader, epochs=3, lr=0.01, device="cuda", checkpoint=tmp_path / "g.pt", progress=False)
    assert history.epochs == 3


def test_torchvision_style_out_dict_is_used_as_logits():
    class OutDict(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = make_model()

        def forward(self, x):
            return {"out": self.net(x), "aux": self.net(x)}

    set_seed(0)
    model = OutDict()
    history = fit(model, make_loader(), make_loader(), epochs=1, lr=0.01, device="cpu", progress=False)
    assert history.step_terms == {} and len(history.val["mIoU"]) == 1
    assert predict(model, torch.rand(2, 3, 16, 16)).shape == (2, 16, 16)


def test_live_plot_is_throttled(monkeypatch):
    import IPython.display

    from seglab.widgets.live import LivePlot, in_notebook

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    assert not in_notebook()  # tests and scripts draw nothing unless asked
    history = History(step_loss=[1.0, 0.5], epoch_loss=[0.7], val={"mIoU": [0.2]})
    LivePlot()(history, force=True)
    assert shown == []  # outside a notebook a LivePlot draws nothing
    live = LivePlot(interval=60, only_in_notebook=False)
    live(history)
    live(history)  # within the interval: skipped
    assert len(shown) == 1 and shown[0].data[:4] == b"\x89PNG"
    live(history, force=True)
    assert len(shown) == 2


def test_fit_tells_its_monitor_and_plots_live_in_viz():
    from seglab.viz.history import plot_history

    calls = []
    set_seed(0)
    history = fit(make_model(), make_loader(), epochs=2, lr=0.01, device="cpu", progress=False,
                  plot=lambda h, force=False: calls.append((len(h.step_loss), force)))
    assert calls == [(1, False), (2, False), (3, False), (3, True), (4, False), (5, False), (6, False), (6, True)]
    fig = plot_history(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2  # step loss and epoch means
    assert len(plot_history(history.to_dict()).axes) == 2
    with pytest.raises(TypeError, match="monitor"):
        fit(make_model(), make_loader(), epochs=1, lr=0.01, device="cpu", progress=False, plot="yes")


def test_old_call_forms_warn_or_say_where_the_plot_went():
    """Training imports no renderer (tests/test_layers.py), so the old forms cannot draw: plot=True warns and trains
    headless, plot=False is headless, and History.plot / seglab.train.history.LivePlot name their new homes."""
    with pytest.warns(DeprecationWarning, match="LivePlot"):
        history = fit(make_model(), make_loader(n=4), epochs=1, lr=0.01, device="cpu", progress=False, plot=True)
    assert history.epochs == 1
    fit(make_model(), make_loader(n=4), epochs=1, lr=0.01, device="cpu", progress=False, plot=False)
    with pytest.raises(AttributeError, match="seglab.viz.history.plot_history"):
        history.plot()
    import seglab.train.history as old_home

    with pytest.raises(AttributeError, match="seglab.widgets.live.LivePlot"):
        old_home.LivePlot  # noqa: B018
    assert History.from_dict(history.to_dict()).step_loss == history.step_loss  # no __getattr__ surprise


def test_history_from_a_checkpoint_without_timings_loads():
    old = {"step_loss": [1.0, 0.8], "epoch_loss": [0.9, 0.7], "lr": [0.1, 0.1], "val": {}, "epoch_seconds": [1, 1]}
    history = History.from_dict(old)
    assert history.epochs == 2 and len(history.data_seconds) == 2 and all(v != v for v in history.step_seconds)
    history.log_epoch(0.5, 2.0, 0.1, data_seconds=0.5, step_seconds=1.5)
    assert history.data_seconds[-1] == 0.5 and history.data_share == 0.25


def test_epoch_summary_prints_data_and_step_time(capsys):
    set_seed(0)
    fit(make_model(), make_loader(), epochs=1, lr=0.01, device="cpu", progress=True)
    err = capsys.readouterr()
    line = [t for t in (err.out + err.err).splitlines() if t.startswith("epoch 1/1:")][0]
    assert re.search(r"; data \d+\.\d s, 3 steps \d+\.\d s = [\d.]+ steps/s\)$", line), line


def test_training_is_headless():
    """seglab.train imports neither seglab.viz nor Matplotlib nor IPython, also while it trains (issue 26)."""
    code = ("import sys, torch\n"
            "from seglab.train import fit\n"
            "from seglab.data.synthetic import SyntheticSegmentation\n"
            "loader = torch.utils.data.DataLoader(SyntheticSegmentation(4, 16, num_classes=4, seed=1), batch_size=2)\n"
            "fit(torch.nn.Conv2d(3, 4, 1), loader, loader, epochs=1, lr=0.01, device='cpu', progress=False)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'IPython')"
            " or m.startswith('seglab.viz') or m.startswith('seglab.widgets')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.slow
def test_torchvision_mask_rcnn_trains_through_fit():
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    set_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 16, 3, stride=4, padding=1), nn.ReLU())
    backbone.out_channels = 16
    model = MaskRCNN(backbone, num_classes=3, min_size=64, max_size=64,
                     rpn_anchor_generator=AnchorGenerator(((16, 32),), ((1.0,),)),
                     box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
                     box_detections_per_img=10, rpn_batch_size_per_image=32, box_batch_size_per_image=16)
    items = []
    for i in range(4):
        image = torch.zeros(3, 64, 64)
        masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
        masks[0, 10 + i:40, 12:44 - i] = 1
        image[:, masks[0].bool()] = 1.0
        box = torch.tensor([[12.0, 10 + i, 44 - i, 40]])
        items.append((image, {"boxes": box, "labels": torch.tensor([1 + i % 2]), "masks": masks, "image_id": i}))
    loader = DataLoader(items, batch_size=2, collate_fn=lambda b: tuple(zip(*b)))
    history = fit(model, loader, epochs=2, lr=1e-3, device="cpu", progress=False)
    terms = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    assert set(history.step_terms) == terms
    assert len(history.step_loss) == 4 and all(len(v) == 4 for v in history.step_terms.values())
