"""Boundary F1 (the "BF score" of Csurka et al., BMVC 2013) and the boundary pixels it scores.

The boundary pixels are defined once here: :func:`boundary_f1` counts them, :func:`boundary_mask` and
:func:`boundary_errors` hand the same pixels to pictures (chapter 2's boundary-error map), so a picture that says it
shows what the metric scores does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from seglab.data.classes import IGNORE_INDEX
from seglab.metrics._labels import as_labels, check_range, infer_num_classes

__all__ = ["boundary_f1", "boundary_f1_reference", "boundary_mask", "boundary_errors"]


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


def _matched_boundaries(labels, targets, tolerance: int, num_classes: int, ignore_index):
    """The pixels :func:`boundary_f1` counts, each ``bool[N,K,H,W]``: predicted boundary ``Bp``, true boundary
    ``Bt`` (both without ignored pixels), and the matched ``Bp`` / ``Bt`` pixels (another boundary within
    ``tolerance``)."""
    classes = torch.arange(num_classes, device=labels.device).view(1, num_classes, 1, 1)
    pred_b = _boundaries(labels.unsqueeze(1) == classes)  # [N, K, H, W]
    true_b = _boundaries(targets.unsqueeze(1) == classes)
    if ignore_index is not None:
        keep = (targets != ignore_index).unsqueeze(1)
        pred_b, true_b = pred_b & keep, true_b & keep
    return pred_b, true_b, pred_b & _dilate(true_b, tolerance), true_b & _dilate(pred_b, tolerance)


def _boundary_inputs(preds, targets, tolerance, num_classes, ignore_index):
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative int (pixels), got {tolerance!r}")
    labels = as_labels(preds, targets, num_classes)
    if labels.dim() != 3:
        raise ValueError(f"boundary_f1 expects targets of shape [N, H, W], got {tuple(targets.shape)}")
    if num_classes is None and preds.is_floating_point():
        num_classes = preds.shape[1]
    num_classes = infer_num_classes(labels, targets, num_classes, ignore_index)
    check_range("targets", targets, num_classes, ignore_index)
    check_range("preds", labels, num_classes, None)
    return labels, num_classes


def boundary_f1(preds: torch.Tensor, targets: torch.Tensor, tolerance: int = 2, num_classes: int | None = None,
                ignore_index: int | None = IGNORE_INDEX, reduction: str = "mean") -> torch.Tensor:
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
    pred_b, true_b, hit_pred, hit_true = _matched_boundaries(labels, targets, tolerance, k, ignore_index)
    n_pred = pred_b.sum((2, 3)).double()
    n_true = true_b.sum((2, 3)).double()
    hit_pred = hit_pred.sum((2, 3)).double()
    hit_true = hit_true.sum((2, 3)).double()
    precision = torch.where(n_pred > 0, hit_pred / n_pred.clamp(min=1), torch.zeros_like(n_pred))
    recall = torch.where(n_true > 0, hit_true / n_true.clamp(min=1), torch.zeros_like(n_true))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(denom))
    f1 = torch.where((n_pred > 0) | (n_true > 0), f1, torch.full_like(f1, float("nan"))).float()
    return f1.nanmean() if reduction == "mean" else f1


def boundary_f1_reference(preds: torch.Tensor, targets: torch.Tensor, tolerance: int = 2,
                          num_classes: int | None = None, ignore_index: int | None = IGNORE_INDEX) -> torch.Tensor:
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


def _label_tensor(labels, name: str) -> torch.Tensor:
    if isinstance(labels, np.ndarray):
        if labels.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
        labels = torch.from_numpy(labels.astype(np.int64))
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or a tensor of labels, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    return labels.long()


def _like(result: torch.Tensor, original):
    return result.cpu().numpy() if isinstance(original, np.ndarray) else result


def boundary_mask(labels, num_classes: int | None = None, ignore_index: int | None = IGNORE_INDEX):
    """The boundary pixels :func:`boundary_f1` uses, for one label map ``[H, W]`` (or a batch ``[N, H, W]``): the
    union over classes of each class's inner boundary (a pixel of class ``c`` with an 8-neighbour that is not
    ``c``; the image frame is not a boundary). Pixels labelled ``ignore_index`` are never boundary pixels.
    NumPy in -> ``bool`` NumPy out; tensor in -> ``bool`` tensor out (same device)."""
    original, labels = labels, _label_tensor(labels, "labels")
    if labels.dim() not in (2, 3):
        raise ValueError(f"labels must have shape [H, W] or [N, H, W], got {tuple(labels.shape)}")
    batch = labels if labels.dim() == 3 else labels[None]
    valid = batch[batch != ignore_index] if ignore_index is not None else batch
    k = num_classes if num_classes is not None else (int(valid.max()) + 1 if valid.numel() else 1)
    classes = torch.arange(k, device=batch.device).view(1, k, 1, 1)
    edges = _boundaries(batch.unsqueeze(1) == classes).any(1)
    return _like(edges if labels.dim() == 3 else edges[0], original)


def boundary_errors(pred, target, tolerance: int = 2, num_classes: int | None = None,
                    ignore_index: int | None = IGNORE_INDEX):
    """Where :func:`boundary_f1` loses points on one picture: ``(false_pred, missed_true)``, each ``bool[H, W]``.

    ``false_pred``: predicted boundary pixels of some class with no true boundary of that class within
    ``tolerance`` (they lower precision); ``missed_true``: true boundary pixels with no predicted one of their class
    nearby (they lower recall). Ignored target pixels are in neither. ``pred`` and ``target`` are label maps
    ``int[H, W]`` (NumPy or tensor); the output has the input's type. Summed per class these are exactly
    ``|Bp| - |matched Bp|`` and ``|Bt| - |matched Bt|`` of the metric.
    """
    original = pred
    pred = _label_tensor(pred, "pred")
    target = _label_tensor(target, "target").to(pred.device)
    if pred.dim() != 2 or pred.shape != target.shape:
        raise ValueError(f"pred and target must be label maps [H, W] of one shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    labels, k = _boundary_inputs(pred[None], target[None], tolerance, num_classes, ignore_index)
    pred_b, true_b, hit_pred, hit_true = _matched_boundaries(labels, target[None], tolerance, k, ignore_index)
    false_pred = (pred_b & ~hit_pred).any(1)[0]
    missed_true = (true_b & ~hit_true).any(1)[0]
    return _like(false_pred, original), _like(missed_true, original)
