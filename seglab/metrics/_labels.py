"""Input checks shared by the semantic metrics: predicted labels from logits or labels, label ranges."""

from __future__ import annotations

import torch

__all__ = ["as_labels", "infer_num_classes", "check_range"]


def as_labels(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    """Check ``preds`` (labels ``int[N,H,W]`` or logits ``float[N,K,H,W]``) against ``targets`` (``int[N,H,W]``)
    and return predicted labels with the shape of ``targets``."""
    if not isinstance(preds, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(f"preds and targets must be tensors, got {type(preds).__name__} and {type(targets).__name__}")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer class labels (e.g. int64), got dtype {targets.dtype}")
    if preds.is_floating_point():  # logits or scores [N, K, H, W]
        fits = preds.dim() == targets.dim() + 1 and preds.shape[0] == targets.shape[0]
        if not fits or preds.shape[2:] != targets.shape[1:]:
            raise ValueError(
                f"logits of shape {tuple(preds.shape)} do not fit targets of shape {tuple(targets.shape)}: "
                "expected logits [N, K, H, W] with targets [N, H, W] (same N, H, W)"
            )
        if num_classes is not None and preds.shape[1] != num_classes:
            raise ValueError(f"logits have {preds.shape[1]} channels but num_classes={num_classes}")
        return preds.argmax(1)
    if preds.dtype == torch.bool or preds.is_complex():
        raise TypeError(f"preds must be integer labels or float logits, got dtype {preds.dtype}")
    if preds.shape != targets.shape:
        raise ValueError(
            f"predicted labels of shape {tuple(preds.shape)} do not match targets of shape {tuple(targets.shape)}"
        )
    return preds


def infer_num_classes(preds, targets, num_classes, ignore_index):
    """For labels without ``num_classes``: the largest label + 1 (the classes above it are absent, so mIoU and
    accuracy do not change)."""
    if num_classes is not None or not isinstance(preds, torch.Tensor) or preds.is_floating_point():
        return num_classes
    if not isinstance(targets, torch.Tensor):
        return None  # confusion_matrix reports the type error
    valid = targets[targets != ignore_index] if ignore_index is not None else targets
    return max(int(preds.max()) if preds.numel() else 0, int(valid.max()) if valid.numel() else 0) + 1


def check_range(name: str, labels: torch.Tensor, num_classes: int, ignore_index: int | None) -> None:
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bad.any():
        label = int(labels[bad][0])
        allowed = f"0..{num_classes - 1}" + ("" if ignore_index is None else f" or {ignore_index} (ignore)")
        raise ValueError(f"{name} contain label {label}, expected {allowed} for num_classes={num_classes}")
