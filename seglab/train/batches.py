"""Batches in, loss out: moving a batch to the device and computing the training loss (helpers of ``fit``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seglab.data.classes import IGNORE_INDEX

__all__ = ["segmentation_loss", "to_device", "compute_loss", "logits_of", "check_loader"]


def segmentation_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX,
                      weight: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel-wise cross-entropy, averaged over the non-ignored pixels (``logits float[N,K,H,W]``, ``targets
    int64[N,H,W]``), with clear errors for mismatched sizes and labels out of range. ``weight`` (float[K]): a weight
    per class, the mean then taken with the pixels' weights (as ``F.cross_entropy`` does)."""
    if logits.dim() != 4 or targets.dim() != 3 or logits.shape[0] != targets.shape[0] \
            or logits.shape[2:] != targets.shape[1:]:
        raise ValueError(f"logits of shape {tuple(logits.shape)} do not fit targets of shape {tuple(targets.shape)}: "
                         "expected logits [N, K, H, W] and targets [N, H, W] with the same N, H, W")
    num_classes = logits.shape[1]
    bad = ((targets < 0) | (targets >= num_classes)) & (targets != ignore_index)
    if bad.any():
        raise ValueError(f"targets contain label {int(targets[bad][0])}, expected 0..{num_classes - 1} "
                         f"or {ignore_index} (ignore) for logits with {num_classes} classes")
    if weight is not None and tuple(weight.shape) != (num_classes,):
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected ({num_classes},): one per class")
    weight = weight.to(logits.device, logits.dtype) if weight is not None else None
    return F.cross_entropy(logits, targets.long(), weight=weight, ignore_index=ignore_index)


def compute_loss(net, images, targets, extras, loss_fn):
    """Forward pass and loss. Returns ``(loss, terms)``; ``terms`` is a dict of floats for loss-dict models."""
    if isinstance(images, (list, tuple)):  # detection convention: model(images, targets) -> dict of losses
        outputs = net(list(images), list(targets))
    else:
        outputs = net(images)
    outputs = logits_of(outputs)
    if isinstance(outputs, dict):  # a dict of scalar losses (torchvision detection models in train mode)
        names = list(outputs)
        loss = torch.stack([outputs[n].float() for n in names]).sum()
        values = torch.stack([outputs[n].detach().float() for n in names]).tolist()
        return loss, dict(zip(names, values))
    return (loss_fn or segmentation_loss)(outputs, targets, *extras), None


def logits_of(outputs):
    """torchvision's segmentation models return ``{"out": logits, "aux": ...}``: keep ``out``."""
    if isinstance(outputs, dict) and "out" in outputs and outputs["out"].dim() == 4:
        return outputs["out"]
    if isinstance(outputs, dict) and any(v.dim() != 0 for v in outputs.values()):
        raise ValueError(f"the model returned a dict with non-scalar entries {list(outputs)}: expected logits "
                         "[N, K, H, W], {'out': logits}, or a dict of scalar losses")
    return outputs


def to_device(batch, device):
    """Move a batch ``(images, targets, *extras)`` to ``device``: tensors, lists of tensors and lists of target
    dicts alike. Returns ``(images, targets, extras)``."""
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise ValueError("each batch must be (images, targets, *extras); got "
                         f"{type(batch).__name__}{'' if not isinstance(batch, (list, tuple)) else f' of {len(batch)}'}")
    moved = [_move(item, device) for item in batch]
    return moved[0], moved[1], moved[2:]


def _move(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _move(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_move(v, device) for v in obj]
    return obj


def check_loader(loader, name: str) -> None:
    """A clear error for a loader with 0 batches."""
    try:
        n = len(loader)
    except TypeError:  # an IterableDataset without __len__
        return
    if n == 0:
        raise ValueError(f"{name} is empty (0 batches): check the data set path/split, and that batch_size is not "
                         "larger than the data set when drop_last=True")
