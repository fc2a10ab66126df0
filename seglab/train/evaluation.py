"""Scoring and using a trained semantic model: :func:`evaluate` (mIoU, pixel accuracy, loss) and :func:`predict`."""

from __future__ import annotations

import torch

from seglab.data.classes import IGNORE_INDEX
from seglab.metrics.semantic import SegmentationMeter
from seglab.train.batches import check_loader, logits_of, segmentation_loss, to_device

__all__ = ["evaluate", "predict"]


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


