"""Chapter 2 widget: which score streams does an FCN fuse, and what does each one contribute?"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as W
import numpy as np
import torch

from seglab.data.classes import IGNORE_INDEX
from seglab.metrics import pixel_accuracy
from seglab.models.fcn import FCN, STREAMS, decode_streams
from seglab.viz.fcn import fusion_picture
from seglab.widgets.base import Explorer, shipped_models
from seglab.widgets.neighbours import PrefetchNeighbours

__all__ = ["fcn_fusion_explorer", "FusionExplorer"]


class FusionExplorer(PrefetchNeighbours, Explorer):
    """Pick an image, a model and the streams to fuse (32s, +pool4, +pool3).

    The FCN decoder is linear (bias-free upsampling, fusion by summation), so a model's logits are exactly the sum
    of its streams decoded alone; leaving a stream out shows what the model predicts without it. Every model runs
    once per image and keeps its stream scores at their own strides (small); the neighbouring images are computed
    right after a picture is shown, so moving the image slider by one only decodes and redraws (issue 27: within
    150 ms in the browser with the machine loaded) and the stream checkboxes only redraw. ``state`` holds
    ``index``, ``model``, ``streams`` (the fused ones), ``pred`` (``int64[H,W]``), ``errors`` (``bool[H,W]``),
    ``pixel_accuracy`` (:func:`seglab.metrics.pixel_accuracy`), ``stream_scores`` (name -> ``float32[K,H,W]``) and
    ``stream_means`` (mean absolute upsampled score per stream).
    Without ``models`` it shows the shipped FCN-32s/16s/8s (untrained ones, with a notice, when those are missing).
    """

    def __init__(self, models: Mapping[str, FCN] | FCN | None = None, dataset=None, *, weights_dir=None):
        notice = ""
        if models is None:  # the suite's shipped weights (an untrained model of the same recipe if missing)
            variants = ("32s", "16s", "8s")
            loaded, notice = shipped_models([f"fcn{v}" for v in variants], weights_dir)
            models = {f"FCN-{v}": m for v, m in zip(variants, loaded)}
        if dataset is None:
            from seglab.data import SceneDataset

            dataset = SceneDataset(split="val")
        if isinstance(models, FCN):
            models = {f"FCN-{models.variant}": models}
        if not isinstance(models, Mapping) or not models:
            raise ValueError("models must be a non-empty dict name -> FCN (or a single FCN)")
        for name, model in models.items():
            if not isinstance(model, FCN):
                raise TypeError(f"models[{name!r}] must be a seglab.models.FCN, got {type(model).__name__}")
        if len(dataset) == 0:
            raise ValueError("dataset is empty")
        self.models, self.dataset = dict(models), dataset
        self._cache: dict = {}  # image index -> (image, target, {model name: {stream: score map at its stride}})
        self._decoded: tuple = (None, None)  # (model name, index) -> its streams upsampled, for the last one drawn
        finest = max(self.models, key=lambda n: len(self.models[n].streams))
        controls = {
            "image": W.IntSlider(value=0, min=0, max=len(dataset) - 1, description="image", continuous_update=False),
            "model": W.Dropdown(options=list(self.models), value=finest, description="model"),
            **{f"fuse_{s}": W.Checkbox(value=True, description=("" if s == "32s" else "+") + s, indent=False)
               for s in STREAMS},
        }
        super().__init__(controls, title="FCN skip fusion: what each stream adds",
                         layout_rows=[["image", "model"], [f"fuse_{s}" for s in STREAMS]],
                         notice=notice)

    def _coarse(self, index: int):
        """Every model's stream scores for image ``index`` (one run each, cached), before upsampling."""
        if index not in self._cache:
            image, target = self.dataset[index]
            coarse = {}
            for name, model in self.models.items():
                param = next(model.parameters())
                was_training = model.training
                model.eval()
                with torch.no_grad():
                    coarse[name] = model.stream_scores(image[None].to(param.device, param.dtype))
                model.train(was_training)
            self._cache[index] = (image, np.asarray(target), coarse)
        return self._cache[index]

    _compute = _coarse  # what PrefetchNeighbours runs for the images next to the one shown

    def _streams(self, name: str, index: int):
        """Image, target and each stream of model ``name`` upsampled to the image (``fcn_stream_scores``)."""
        if self._decoded[0] != (name, index):
            image, target, coarse = self._coarse(index)
            model = self.models[name]
            with torch.no_grad():  # fcn_stream_scores' decoding, of the cached scores
                scores = {k: v[0].cpu().numpy() for k, v in decode_streams(model, coarse[name],
                                                                           image.shape[-2:]).items()}
            self._decoded = ((name, index), (image, target, scores))
        return self._decoded[1]

    def render(self, values):
        name, index = values["model"], int(values["image"])
        model = self.models[name]
        selected = tuple(s for s in STREAMS if values[f"fuse_{s}"])
        if not selected:
            raise ValueError("select at least one stream to fuse")
        missing = [s for s in selected if s not in model.streams]
        if missing:
            raise ValueError(f"{name} (FCN-{model.variant}) has no {', '.join(missing)} stream; "
                             f"it fuses only {', '.join(model.streams)}")
        image, target, scores = self._streams(name, index)
        fused = sum(scores[s] for s in selected)  # NumPy: the cached scores of one image are small
        pred = fused.argmax(0)
        errors = (pred != target) & (target != IGNORE_INDEX)
        accuracy = float(pixel_accuracy(torch.from_numpy(pred), torch.as_tensor(target), model.num_classes))
        picture = fusion_picture(image, target, scores, selected, pred, model_name=name)
        state = {
            "index": index, "model": name, "streams": selected, "pred": pred, "errors": errors,
            "pixel_accuracy": accuracy, "stream_scores": scores,
            "stream_means": {s: float(np.abs(v).mean()) for s, v in scores.items()},
            "message": f"pixel accuracy {accuracy:.3f} with {' + '.join(selected)}",
            "pytorch": ("import torch\nfrom seglab.models.fcn import fcn_stream_scores\n"
                        "with torch.no_grad():  # model: the " + name + f" shown; image = dataset[{index}][0]\n"
                        "    scores = fcn_stream_scores(model.eval(), image[None])"
                        "  # stream name -> [1, K, H, W] upsampled scores\n"
                        f"pred = ({' + '.join(f'scores[{s!r}]' for s in selected)})[0].argmax(0)"
                        f"  # the fused prediction drawn, shape {tuple(pred.shape)}"),
        }
        return picture, state


def fcn_fusion_explorer(models=None, dataset=None, *, weights_dir=None) -> FusionExplorer:
    """Explore FCN skip fusion: ``models`` is a dict name -> trained :class:`~seglab.models.FCN` (or one FCN),
    ``dataset`` yields ``(image float[3,H,W], mask int64[H,W])``.

    Without ``models``, the suite's shipped FCN-32s, FCN-16s and FCN-8s (``load_pretrained("fcn32s")`` ...);
    without ``dataset``, the validation scenes (``SceneDataset(split="val")``)."""
    return FusionExplorer(models, dataset, weights_dir=weights_dir)
