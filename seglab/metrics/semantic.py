"""Semantic segmentation metrics: confusion matrix, IoU, pixel accuracy, boundary F1 and a batch meter.

Everything is computed from one ``K x K`` confusion matrix (rows = ground truth, columns = prediction), built
with ``torch.bincount`` on the input's device. Pixels whose target is ``ignore_index`` (255, "void") are left out.
The IoU of class ``c`` is ``TP / (TP + FP + FN)`` (Long et al., FCN, arXiv 1411.4038, "mean IU"); a class that is
absent from both the predictions and the targets has no IoU (``nan``) and is left out of the mean, as
``torchmetrics.MulticlassJaccardIndex(average="macro")`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "confusion_matrix",
    "iou_from_confusion",
    "mean_iou",
    "pixel_accuracy",
    "boundary_f1",
    "boundary_f1_reference",
    "SegmentationMeter",
]


def _as_labels(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None) -> torch.Tensor:
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


def _infer_num_classes(preds, targets, num_classes, ignore_index):
    """For labels without ``num_classes``: the largest label + 1 (the classes above it are absent, so mIoU and
    accuracy do not change)."""
    if num_classes is not None or not isinstance(preds, torch.Tensor) or preds.is_floating_point():
        return num_classes
    if not isinstance(targets, torch.Tensor):
        return None  # confusion_matrix reports the type error
    valid = targets[targets != ignore_index] if ignore_index is not None else targets
    return max(int(preds.max()) if preds.numel() else 0, int(valid.max()) if valid.numel() else 0) + 1


def _check_range(name: str, labels: torch.Tensor, num_classes: int, ignore_index: int | None) -> None:
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bad.any():
        label = int(labels[bad][0])
        allowed = f"0..{num_classes - 1}" + ("" if ignore_index is None else f" or {ignore_index} (ignore)")
        raise ValueError(f"{name} contain label {label}, expected {allowed} for num_classes={num_classes}")


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None,
                     ignore_index: int | None = 255) -> torch.Tensor:
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
    labels = _as_labels(preds, targets, num_classes)
    _check_range("targets", targets, num_classes, ignore_index)
    valid = targets != ignore_index if ignore_index is not None else torch.ones_like(targets, dtype=torch.bool)
    t, p = targets[valid].long(), labels[valid].long()
    _check_range("preds", p, num_classes, None)
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
             ignore_index: int | None = 255, per_class: bool = False):
    """Mean intersection over union over the classes present in ``preds`` or ``targets``.

    A class absent from both has no IoU and is left out of the mean (torchmetrics' ``average="macro"`` does the
    same). Returns a ``float32`` scalar, or ``(miou, iou float32[K])`` with ``nan`` for absent classes when
    ``per_class=True``. Shapes as in :func:`confusion_matrix`; for labels ``num_classes`` defaults to the largest
    label + 1 (pass it to get a per-class vector of fixed length).
    """
    num_classes = _infer_num_classes(preds, targets, num_classes, ignore_index)
    iou = iou_from_confusion(confusion_matrix(preds, targets, num_classes, ignore_index))
    miou = iou.nanmean()
    return (miou, iou) if per_class else miou


def pixel_accuracy(preds: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None,
                   ignore_index: int | None = 255) -> torch.Tensor:
    """Fraction of non-ignored pixels labelled correctly (``float32`` scalar; ``nan`` if every pixel is ignored)."""
    num_classes = _infer_num_classes(preds, targets, num_classes, ignore_index)
    cm = confusion_matrix(preds, targets, num_classes, ignore_index).double()
    return (cm.diagonal().sum() / cm.sum()).float()


# --- boundary F1 --------------------------------------------------------------------------------------------------

def _boundaries(masks: torch.Tensor) -> torch.Tensor:
    """``bool[N,K,H,W]`` masks -> their inner boundary: mask pixels with an 8-neighbour outside the mask.

    The image frame is not a boundary (max_pool's padding is -inf, so off-image pixels never count)."""
    m = masks.float()
    eroded = -F.max_pool2d(-m, kernel_size=3, stride=1, padding=1)  # min over the 3x3 window inside the image
    return masks & (eroded < 0.5)


def _dilate(masks: torch.Tensor, tolerance: int) -> torch.Tensor:
    """Every pixel within Chebyshev distance ``tolerance`` of a ``True`` pixel (a square window)."""
    if tolerance == 0:
        return masks
    return F.max_pool2d(masks.float(), kernel_size=2 * tolerance + 1, stride=1, padding=tolerance) > 0.5


def _boundary_inputs(preds, targets, tolerance, num_classes, ignore_index):
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative int (pixels), got {tolerance!r}")
    labels = _as_labels(preds, targets, num_classes)
    if labels.dim() != 3:
        raise ValueError(f"boundary_f1 expects targets of shape [N, H, W], got {tuple(targets.shape)}")
    if num_classes is None:
        num_classes = preds.shape[1] if preds.is_floating_point() else None
    if num_classes is None:
        valid_t = targets[targets != ignore_index] if ignore_index is not None else targets
        num_classes = int(max(int(labels.max()) if labels.numel() else 0,
                              int(valid_t.max()) if valid_t.numel() else 0)) + 1
    _check_range("targets", targets, num_classes, ignore_index)
    _check_range("preds", labels, num_classes, None)
    return labels, num_classes


def boundary_f1(preds: torch.Tensor, targets: torch.Tensor, tolerance: int = 2, num_classes: int | None = None,
                ignore_index: int | None = 255, reduction: str = "mean") -> torch.Tensor:
    """Boundary F1 score (the "BF score" of Csurka et al., BMVC 2013), computed with tensor ops (GPU friendly).

    Definition used here, per image and class ``c``:

    * the boundary of a binary mask is the set of its pixels that have at least one of their 8 neighbours outside
      the mask (the image frame does not count as outside);
    * ``Bp`` / ``Bt`` are the boundaries of ``preds == c`` / ``targets == c``; boundary pixels whose target is
      ``ignore_index`` are dropped from both;
    * a boundary pixel is matched when the other boundary has a pixel within ``tolerance`` pixels of it, distance
      measured as Chebyshev distance ``max(|dy|, |dx|)`` (a square window, so dilation is a max-pool; Csurka et al.
      use the Euclidean distance);
    * precision ``P = |matched Bp| / |Bp|``, recall ``R = |matched Bt| / |Bt|``, ``F1 = 2PR / (P + R)``, with
      ``P`` (or ``R``) = 0 when ``Bp`` (or ``Bt``) is empty, and ``F1 = 0`` when ``P + R = 0``.

    A (image, class) pair counts only when ``Bp`` or ``Bt`` is non-empty. ``preds``: labels ``int[N,H,W]`` or logits
    ``float[N,K,H,W]``; ``targets``: ``int[N,H,W]``. ``reduction="mean"`` returns the mean F1 over the counted pairs
    (a ``float32`` scalar, ``nan`` if none); ``"none"`` returns ``float32[N,K]`` with ``nan`` for pairs not counted.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    labels, k = _boundary_inputs(preds, targets, tolerance, num_classes, ignore_index)
    classes = torch.arange(k, device=labels.device).view(1, k, 1, 1)
    pred_b = _boundaries(labels.unsqueeze(1) == classes)  # [N, K, H, W]
    true_b = _boundaries(targets.unsqueeze(1) == classes)
    if ignore_index is not None:
        keep = (targets != ignore_index).unsqueeze(1)
        pred_b, true_b = pred_b & keep, true_b & keep
    n_pred = pred_b.sum((2, 3)).double()
    n_true = true_b.sum((2, 3)).double()
    hit_pred = (pred_b & _dilate(true_b, tolerance)).sum((2, 3)).double()
    hit_true = (true_b & _dilate(pred_b, tolerance)).sum((2, 3)).double()
    precision = torch.where(n_pred > 0, hit_pred / n_pred.clamp(min=1), torch.zeros_like(n_pred))
    recall = torch.where(n_true > 0, hit_true / n_true.clamp(min=1), torch.zeros_like(n_true))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(denom))
    f1 = torch.where((n_pred > 0) | (n_true > 0), f1, torch.full_like(f1, float("nan"))).float()
    return f1.nanmean() if reduction == "mean" else f1


def boundary_f1_reference(preds: torch.Tensor, targets: torch.Tensor, tolerance: int = 2,
                          num_classes: int | None = None, ignore_index: int | None = 255) -> torch.Tensor:
    """Slow loop version of :func:`boundary_f1` (``reduction="none"``), written pixel by pixel as the definition
    reads; a test oracle. Returns ``float32[N,K]``."""
    labels, k = _boundary_inputs(preds, targets, tolerance, num_classes, ignore_index)
    labels, targets = labels.cpu().tolist(), targets.cpu().tolist()
    n, h, w = len(labels), len(labels[0]), len(labels[0][0])

    def boundary(img, c):
        pts = set()
        for y in range(h):
            for x in range(w):
                if img[y][x] != c:
                    continue
                nbrs = [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                        if (dy or dx) and 0 <= y + dy < h and 0 <= x + dx < w]
                if any(img[yy][xx] != c for yy, xx in nbrs):
                    pts.add((y, x))
        return pts

    out = torch.full((n, k), float("nan"))
    for i in range(n):
        for c in range(k):
            keep = lambda pts: {p for p in pts if ignore_index is None or targets[i][p[0]][p[1]] != ignore_index}  # noqa: B023
            bp, bt = keep(boundary(labels[i], c)), keep(boundary(targets[i], c))
            if not bp and not bt:
                continue
            near = lambda p, pts: any(max(abs(p[0] - q[0]), abs(p[1] - q[1])) <= tolerance for q in pts)
            prec = sum(near(p, bt) for p in bp) / len(bp) if bp else 0.0
            rec = sum(near(q, bp) for q in bt) / len(bt) if bt else 0.0
            out[i, c] = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return out


class SegmentationMeter:
    """Accumulate a confusion matrix over batches; ``compute()`` gives mIoU, pixel accuracy and per-class IoU.

    >>> meter = SegmentationMeter(num_classes=8)
    >>> for images, masks in loader:             # doctest: +SKIP
    ...     meter.update(model(images), masks)   # logits [N,K,H,W] or labels [N,H,W]
    >>> meter.compute()["mIoU"]                  # doctest: +SKIP
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
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
