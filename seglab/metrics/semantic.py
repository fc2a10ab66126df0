"""Semantic segmentation metrics: confusion matrix, IoU, pixel accuracy, boundary F1 and a batch meter.

Everything is computed from one ``K x K`` confusion matrix (rows = ground truth, columns = prediction), built
with ``torch.bincount`` on the input's device. Pixels whose target is ``ignore_index`` (``IGNORE_INDEX``, "void")
are left out. The IoU of class ``c`` is ``TP / (TP + FP + FN)`` (Long et al., FCN, arXiv 1411.4038, "mean IU");
a class that is absent from both the predictions and the targets has no IoU (``nan``) and is left out of the mean,
as ``torchmetrics.MulticlassJaccardIndex(average="macro")`` does.
"""

from __future__ import annotations

import torch

from seglab.data.classes import IGNORE_INDEX
from seglab.metrics._labels import as_labels, check_range, infer_num_classes
from seglab.metrics.boundary import boundary_errors, boundary_f1, boundary_f1_reference, boundary_mask

__all__ = [
    "confusion_matrix",
    "iou_from_confusion",
    "mean_iou",
    "pixel_accuracy",
    "boundary_f1",
    "boundary_f1_reference",
    "boundary_mask",
    "boundary_errors",
    "SegmentationMeter",
]


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None,
                     ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Count pixels by (true class, predicted class).

    ``preds``: labels ``int[N,H,W]`` or logits ``float[N,K,H,W]`` (argmax over ``K``); ``targets``: ``int[N,H,W]``
    (any matching shape works for labels). ``num_classes`` may be left out for logits. Returns ``int64[K,K]`` on the
    input's device: ``cm[t, p]`` = number of pixels of true class ``t`` predicted as ``p``; ``ignore_index``
    pixels of the targets are not counted.
    """
    if num_classes is None:
        if not (isinstance(preds, torch.Tensor) and preds.is_floating_point() and preds.dim() >= 2):
            raise ValueError("num_classes is needed when preds are labels (it is read from logits' dim 1)")
        num_classes = preds.shape[1]
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    labels = as_labels(preds, targets, num_classes)
    check_range("targets", targets, num_classes, ignore_index)
    valid = targets != ignore_index if ignore_index is not None else torch.ones_like(targets, dtype=torch.bool)
    t, p = targets[valid].long(), labels[valid].long()
    check_range("preds", p, num_classes, None)
    counts = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_from_confusion(cm: torch.Tensor) -> torch.Tensor:
    """Per-class IoU ``float32[K]`` from a confusion matrix ``int[K,K]``; ``nan`` where a class is absent from
    both predictions and targets (its union is 0)."""
    if cm.dim() != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square [K, K] matrix, got shape {tuple(cm.shape)}")
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp
    iou = tp / union  # 0/0 -> nan for absent classes
    return iou.float()


def mean_iou(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None,
             ignore_index: int | None = IGNORE_INDEX, per_class: bool = False):
    """Mean intersection over union over the classes present in ``preds`` or ``targets``.

    A class absent from both has no IoU and is left out of the mean (torchmetrics' ``average="macro"`` does the
    same). Returns a ``float32`` scalar, or ``(miou, iou float32[K])`` with ``nan`` for absent classes when
    ``per_class=True``. Shapes as in :func:`confusion_matrix`; for labels ``num_classes`` defaults to the largest
    label + 1 (pass it to get a per-class vector of fixed length).
    """
    num_classes = infer_num_classes(preds, targets, num_classes, ignore_index)
    iou = iou_from_confusion(confusion_matrix(preds, targets, num_classes, ignore_index))
    miou = iou.nanmean()
    return (miou, iou) if per_class else miou


def pixel_accuracy(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None,
                   ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
    """Fraction of non-ignored pixels labelled correctly (``float32`` scalar; ``nan`` if every pixel is ignored)."""
    num_classes = infer_num_classes(preds, targets, num_classes, ignore_index)
    cm = confusion_matrix(preds, targets, num_classes, ignore_index).double()
    return (cm.diagonal().sum() / cm.sum()).float()


class SegmentationMeter:
    """Accumulate a confusion matrix over batches; ``compute()`` gives mIoU, pixel accuracy and per-class IoU.

    >>> meter = SegmentationMeter(num_classes=8)
    >>> for images, masks in loader:             # doctest: +SKIP
    ...     meter.update(model(images), masks)   # logits [N,K,H,W] or labels [N,H,W]
    >>> meter.compute()["mIoU"]                  # doctest: +SKIP
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.reset()

    def reset(self) -> None:
        self.confusion: torch.Tensor | None = None  # int64[K, K] on the device of the first update

    @torch.no_grad()
    def update(self, logits_or_preds: torch.Tensor, targets: torch.Tensor) -> None:
        cm = confusion_matrix(logits_or_preds.detach(), targets, self.num_classes, self.ignore_index)
        self.confusion = cm if self.confusion is None else self.confusion + cm.to(self.confusion.device)

    def all_reduce(self) -> None:
        """Sum the confusion matrices of every process (call on every rank under torch.distributed)."""
        import torch.distributed as dist

        if self.confusion is not None and dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.confusion)

    def compute(self) -> dict:
        """``{"mIoU": float, "pixel_acc": float, "per_class_iou": list[float] (nan = class absent)}``."""
        if self.confusion is None:
            raise ValueError("SegmentationMeter.compute() called before any update()")
        cm = self.confusion.double()
        iou = iou_from_confusion(self.confusion)
        total = cm.sum()
        return {
            "mIoU": float(iou.nanmean()),
            "pixel_acc": float(cm.diagonal().sum() / total) if total > 0 else float("nan"),
            "per_class_iou": [float(v) for v in iou],
        }

    def __repr__(self) -> str:
        return f"SegmentationMeter(num_classes={self.num_classes}, ignore_index={self.ignore_index})"
