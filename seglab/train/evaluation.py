"""Scoring trained models: :func:`evaluate` (a semantic model on a loader: mIoU, pixel accuracy, loss) and
:func:`predict`, which ``fit`` uses; :func:`evaluate_model` and :func:`evaluate_panoptic`, the metrics that the
weights manifest records (semantic: mIoU, pixel accuracy, boundary F1, per-class IoU; instance: COCO mask and box AP;
panoptic: PQ / SQ / RQ)."""

from __future__ import annotations

import torch

from seglab.data.classes import IGNORE_INDEX
from seglab.metrics.semantic import SegmentationMeter
from seglab.train.batches import check_loader, logits_of, segmentation_loss, to_device

__all__ = ["evaluate", "predict", "evaluate_model", "semantic_scores", "evaluate_panoptic", "evaluate_nuclei",
           "pq_compute"]


@torch.no_grad()
def evaluate(model, loader, num_classes: int | None = None, device=None, *, ignore_index: int = IGNORE_INDEX,
             amp: bool = False) -> dict:
    """Score a semantic model on ``loader`` of ``(images, masks)``: ``{"mIoU", "pixel_acc", "per_class_iou",
    "loss"}`` (loss = mean cross-entropy over the non-ignored pixels). ``num_classes`` defaults to the logits'
    channel count. Under torch.distributed the counts of all ranks are summed."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    check_loader(loader, "loader")
    was_training = model.training
    model.eval()
    meter, loss_sum, pixels = None, 0.0, 0
    try:
        for batch in loader:
            images, masks, _ = to_device(batch, device)
            if isinstance(images, (list, tuple)):
                raise ValueError("evaluate() scores semantic models on (images tensor, masks) batches; "
                                 "for detection models pass fit(..., val_fn=...)")
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                logits = logits_of(model(images))
            if meter is None:
                meter = SegmentationMeter(num_classes or logits.shape[1], ignore_index)
            meter.update(logits, masks)
            valid = int((masks != ignore_index).sum())
            if valid:
                loss_sum += float(segmentation_loss(logits.float(), masks, ignore_index)) * valid
                pixels += valid
    finally:
        model.train(was_training)
    if meter is None:
        raise ValueError("loader yielded no batches")
    meter.all_reduce()
    return {**meter.compute(), "loss": loss_sum / pixels if pixels else float("nan")}


@torch.no_grad()
def predict(model, images, device=None, batch_size: int = 16) -> torch.Tensor:
    """Predicted labels of a semantic model: ``images float[N,3,H,W]`` -> ``int64[N,H,W]`` (or ``float[3,H,W]`` ->
    ``int64[H,W]``), on the images' device; computed in chunks of ``batch_size`` in eval mode."""
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4):
        raise ValueError(f"images must be a tensor [N, 3, H, W] or [3, H, W], got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    single = images.dim() == 3
    batch = images.unsqueeze(0) if single else images
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        labels = torch.cat([logits_of(model(chunk.to(device))).argmax(1).to(images.device)
                            for chunk in batch.split(batch_size)])
    finally:
        model.train(was_training)
    return labels[0] if single else labels


def evaluate_model(recipe_or_task, model, val_loader=None, device=None, *, split: str = "val") -> dict:
    """The manifest's metrics of ``model`` on a split of the shipped scenes (default val), or on ``val_loader``.

    Semantic: mIoU, pixel accuracy, boundary F1 (tolerance 2 px) and per-class IoU. Instance: COCO mask and box
    AP / AP50 / AP75 and class-agnostic mask AP."""
    from torch.utils.data import DataLoader

    from seglab.data import SceneDataset, detection_collate

    if getattr(recipe_or_task, "data", None) == "nuclei":  # instances of the micrograph's val region or ``split``
        return evaluate_nuclei(model, "val" if val_loader is not None else split, device)
    task = getattr(recipe_or_task, "task", recipe_or_task)
    if task not in ("semantic", "instance"):
        raise ValueError(f"evaluate_model scores 'semantic' or 'instance' models (a recipe or a task), got {task!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if val_loader is None:
        collate = detection_collate if task == "instance" else None
        val_loader = DataLoader(SceneDataset(split=split, task=task), batch_size=16, collate_fn=collate)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if task == "semantic":
                return _semantic_metrics(model, val_loader, device)
            return _instance_metrics(model, val_loader, device)
    finally:
        model.train(was_training)


class _SemanticScores:
    """The manifest's semantic metrics accumulated over batches of predicted labels (confusion matrix and the
    boundary F1 of every image and class present)."""

    def __init__(self, num_classes: int):
        self.num_classes, self.meter, self.f1_sum, self.count = num_classes, SegmentationMeter(num_classes), 0.0, 0

    def update(self, preds: torch.Tensor, masks: torch.Tensor) -> None:
        from seglab.metrics import boundary_f1

        self.meter.update(preds, masks)
        f1 = boundary_f1(preds, masks, num_classes=self.num_classes, reduction="none")
        self.f1_sum, self.count = self.f1_sum + float(f1.nansum()), self.count + int((~f1.isnan()).sum())

    def compute(self) -> dict:
        scores = self.meter.compute()
        return {"mIoU": round(float(scores["mIoU"]), 6), "pixel_acc": round(float(scores["pixel_acc"]), 6),
                "boundary_f1": round(self.f1_sum / max(self.count, 1), 6),
                "per_class_iou": [round(float(v), 6) for v in scores["per_class_iou"]]}


def semantic_scores(preds: torch.Tensor, masks: torch.Tensor, num_classes: int) -> dict:
    """The metrics :func:`evaluate_model` gives a semantic model, from its predicted labels ``int64[N, H, W]`` and
    the ``masks`` (``IGNORE_INDEX`` ignored): for a notebook that keeps the predictions for other uses."""
    if preds.shape != masks.shape:
        raise ValueError(f"preds and masks must have the same shape, got {tuple(preds.shape)} and "
                         f"{tuple(masks.shape)}")
    scores = _SemanticScores(num_classes)
    scores.update(preds, masks)
    return scores.compute()


def _semantic_metrics(model, loader, device) -> dict:
    scores = None
    for images, masks in loader:
        logits = model(images.to(device))
        scores = scores or _SemanticScores(logits.shape[1])
        scores.update(logits.argmax(1).cpu(), masks)
    return scores.compute()


def _instance_metrics(model, loader, device) -> dict:
    from seglab.metrics import coco_map

    outputs, targets = [], []
    for images, batch_targets in loader:
        outputs += [{k: v.cpu() for k, v in o.items()} for o in model([im.to(device) for im in images])]
        targets += batch_targets
    scores = coco_map(outputs, targets, ["segm", "bbox"])
    agnostic = coco_map(outputs, targets, "segm", class_agnostic=True)
    pick = lambda s: {k: round(float(s[k]), 6) for k in ("AP", "AP50", "AP75")}  # noqa: E731
    return {"mask": pick(scores["segm"]), "box": pick(scores["bbox"]), "mask_class_agnostic": pick(agnostic)}


def evaluate_panoptic(semantic_model, instance_model, merge_args: dict | None = None, dataset=None,
                      device=None, *, split: str = "val") -> dict:
    """PQ / SQ / RQ of the merged pipeline on the shipped val split (or ``dataset``, a panoptic ``SceneDataset`` or a
    ``Subset`` of one), as a panoptic manifest entry records them.

    Each image goes through :func:`seglab.models.panoptic.panoptic_predict` (``merge_args``: its merge keywords) and
    the predictions are scored by :func:`seglab.metrics.panoptic_quality` (panopticapi's rules). Returns
    ``{"All" | "Things" | "Stuff": {"pq", "sq", "rq", "n"}, "per_class": {class name: {"pq", "sq", "rq", "tp", "fp",
    "fn"}}}`` (fractions, rounded to 6 digits)."""
    from seglab.data import SceneDataset
    from seglab.data.classes import CATEGORIES
    from seglab.metrics import panoptic_quality
    from seglab.models.panoptic import panoptic_predict

    dataset = dataset if dataset is not None else SceneDataset(split=split, task="panoptic")
    device = torch.device(device) if device is not None else next(semantic_model.parameters()).device
    gt, pred = [], []
    for i in range(len(dataset)):
        image, target = dataset[i]
        (id_map, info), = panoptic_predict(semantic_model, instance_model, [image.to(device)], CATEGORIES,
                                           **(merge_args or {}))
        gt.append((target["id_map"], target["segments_info"]))
        pred.append((id_map.cpu(), info))
    result = panoptic_quality(gt, pred, CATEGORIES)
    r6 = lambda v: round(float(v), 6) if isinstance(v, float) else v  # noqa: E731
    scores = {group: {k: r6(v) for k, v in result[group].items()} for group in ("All", "Things", "Stuff")}
    scores["per_class"] = {c["name"]: {k: r6(v) for k, v in result["per_class"][c["id"]].items()} for c in CATEGORIES}
    return scores


def evaluate_nuclei(model, region: str = "test", device=None) -> dict:
    """A 2-class nuclei model on a region of the real micrograph (:data:`seglab.data.nuclei.NUCLEI_REGIONS`): the
    predicted instances are the connected components of its foreground (4-connected), matched to the true nuclei;
    :func:`seglab.metrics.instances.instance_scores` (DSB score, PQ, F1 at IoU 0.5, touching and merged pairs) plus
    the foreground IoU, rounded to 6 digits."""
    from seglab.train.nuclei import score_nuclei

    scores = score_nuclei(model, region, device=device)
    return {k: round(float(v), 6) if isinstance(v, float) else v for k, v in scores.items()}


def pq_compute(gt_json, gt_folder, pred_json, pred_folder) -> dict:
    """:func:`seglab.metrics.panoptic_quality` on files in COCO panoptic format (what :func:`seglab.data.make_scenes`
    and :func:`seglab.data.save_coco_panoptic` write), as panopticapi's ``pq_compute`` but without a process pool.

    gt_json / pred_json: paths to (or loaded dicts of) ``{"annotations": [{"image_id", "file_name",
    "segments_info"}], "categories": [...]}`` (categories are read from the gt file); gt_folder / pred_folder: the
    folders with the RGB PNGs (``id = R + 256*G + 256**2*B``). Every gt image needs a prediction; extra
    predictions are ignored (as in panopticapi). Errors name the image and the segment. The files are read by
    :func:`seglab.data.read_panoptic_pairs`, one image at a time, and scored by
    :func:`seglab.metrics.panoptic_quality_of_pairs`."""
    from seglab.data.coco_io import read_panoptic_pairs
    from seglab.metrics.panoptic import panoptic_quality_of_pairs

    categories, pairs = read_panoptic_pairs(gt_json, gt_folder, pred_json, pred_folder)
    return panoptic_quality_of_pairs(pairs, categories)
