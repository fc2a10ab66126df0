"""Losses: U-Net's pixel-wise weight map and a weighted cross-entropy that uses it.

Ronneberger et al. 2015 (arXiv 1505.04597), equation (2): every pixel ``x`` gets a weight

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 * sigma**2))

where ``w_c`` balances the class frequencies and ``d1``, ``d2`` are the distances to the nearest and the second
nearest object (cell). The second term is large in the narrow background gaps between touching objects, so that the
network is pushed to keep them apart.

Choices made here (the paper leaves them open):

* ``d_k(x)`` is the Euclidean distance from ``x`` to the nearest pixel of object ``k``
  (``scipy.ndimage.distance_transform_edt`` once per object); a background pixel next to an object has ``d = 1``.
* The border term is added on background pixels only (inside an object ``d1 = 0`` would make it meaningless), and
  only when the mask has at least two objects.
* ``w_c(x) = P / (C * P_c)`` for the class ``c`` of ``x``: ``P`` labelled pixels, ``C`` classes present, ``P_c`` pixels
  of class ``c`` (inverse frequency, scaled so that ``w_c`` averages to 1 over the image). Classes are background and
  foreground by default, or the labels of ``semantic_mask``. ``class_balance=False`` makes ``w_c = 1``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from seglab.data.classes import IGNORE_INDEX
from seglab.utils import integer_map

__all__ = ["unet_weight_map", "unet_weight_map_naive", "class_balance_weights", "weighted_cross_entropy",
           "nearest_instance_distances", "border_term"]


def class_balance_weights(labels, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``w_c`` for a label map ``int[H, W]``: ``P / (C * P_c)`` per pixel, 0 on ``ignore_index`` pixels."""
    labels = integer_map(labels, "labels")
    valid = labels != ignore_index
    weights = np.zeros(labels.shape, dtype=np.float64)
    classes, counts = np.unique(labels[valid], return_counts=True)
    for c, n in zip(classes, counts):
        weights[labels == c] = valid.sum() / (len(classes) * n)
    return weights


def _two_nearest(instances: np.ndarray, distances) -> tuple[np.ndarray, np.ndarray] | None:
    ids = [int(i) for i in np.unique(instances) if i > 0]
    if len(ids) < 2:
        return None
    d = np.sort(np.stack([distances(instances, k) for k in ids]), axis=0)
    return d[0], d[1]


def nearest_instance_distances(instance_mask) -> tuple[np.ndarray, np.ndarray]:
    """``(d1, d2)``, float64 ``[H, W]``: every pixel's distance to the nearest and to the second-nearest object of
    ``instance_mask`` (``int[H, W]``, 0 = background; Euclidean, to the object's closest pixel). Both are ``inf``
    when the mask has fewer than two objects. They do not depend on ``w0`` or ``sigma``, so computing them once lets
    :func:`border_term` redraw the weight map for any setting at once (the explorer does)."""
    instances = integer_map(instance_mask, "instance_mask")
    pair = _two_nearest(instances, lambda inst, k: ndimage.distance_transform_edt(inst != k))
    if pair is None:
        return np.full(instances.shape, np.inf), np.full(instances.shape, np.inf)
    return pair


def border_term(d1, d2, background, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """The weight map's second term, ``w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` on ``background`` pixels (bool
    ``[H, W]``) and 0 on the objects: large in the narrow gaps between two objects, where both distances are
    small."""
    _check_params(w0, sigma)
    d1, d2, background = (np.asarray(a) for a in (d1, d2, background))
    term = np.zeros(d1.shape, dtype=np.float64)
    term[background] = float(w0) * np.exp(-((d1 + d2)[background] ** 2) / (2.0 * float(sigma) ** 2))
    return term


def _border_term(instances: np.ndarray, w0: float, sigma: float, distances) -> np.ndarray:
    pair = _two_nearest(instances, distances)
    if pair is None:
        return np.zeros(instances.shape, dtype=np.float64)
    return border_term(pair[0], pair[1], instances == 0, w0, sigma)


def _check_params(w0, sigma) -> None:
    if not float(w0) >= 0:
        raise ValueError(f"w0 must be a non-negative number, got {w0!r}")
    if not float(sigma) > 0:
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma!r}")


def _weight_map(instance_mask, w0, sigma, class_balance, semantic_mask, ignore_index, distances, dtype):
    _check_params(w0, sigma)
    instances = integer_map(instance_mask, "instance_mask")
    ignored = instances == ignore_index
    instances = np.where(ignored, 0, instances)
    if semantic_mask is not None:
        classes = integer_map(semantic_mask, "semantic_mask")
        if classes.shape != instances.shape:
            raise ValueError(f"semantic_mask shape {classes.shape} differs from instance_mask shape {instances.shape}")
        ignored = ignored | (classes == ignore_index)
    else:
        classes = (instances > 0).astype(np.int64)
    classes = np.where(ignored, ignore_index, classes)
    wc = class_balance_weights(classes, ignore_index) if class_balance else np.where(ignored, 0.0, 1.0)
    weights = wc + _border_term(instances, float(w0), float(sigma), distances)
    weights[ignored] = 0.0
    device = instance_mask.device if isinstance(instance_mask, torch.Tensor) else None
    return torch.as_tensor(weights, dtype=dtype, device=device)


def unet_weight_map(instance_mask, w0: float = 10.0, sigma: float = 5.0, class_balance: bool = True,
                    semantic_mask=None, ignore_index: int = IGNORE_INDEX, dtype=torch.float32) -> torch.Tensor:
    """U-Net's weight map ``Tensor[H, W]`` for ``instance_mask (int[H, W])``: 0 = background, k > 0 = object k.

    ``w = w_c + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` (border term on background pixels, see the module notes).
    ``ignore_index`` pixels (in either mask) get weight 0. Tensor in -> tensor on the same device out.
    """

    def edt(instances, k):
        return ndimage.distance_transform_edt(instances != k)

    return _weight_map(instance_mask, w0, sigma, class_balance, semantic_mask, ignore_index, edt, dtype)


def unet_weight_map_naive(instance_mask, w0: float = 10.0, sigma: float = 5.0, class_balance: bool = True,
                          semantic_mask=None, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Loop oracle for :func:`unet_weight_map`: distances by brute force over every pixel pair (float64)."""

    def brute(instances, k):
        ys, xs = np.nonzero(instances == k)
        out = np.zeros(instances.shape, dtype=np.float64)
        for y in range(instances.shape[0]):
            for x in range(instances.shape[1]):
                out[y, x] = min(((y - yy) ** 2 + (x - xx) ** 2) ** 0.5 for yy, xx in zip(ys, xs))
        return out

    return _weight_map(instance_mask, w0, sigma, class_balance, semantic_mask, ignore_index, brute, torch.float64)


def weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None,
                           ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Pixel-weighted cross-entropy: ``sum_x w(x) * CE(x) / (number of labelled pixels)``.

    ``logits (Tensor[N, K, H, W])``, ``targets (int64[N, H, W])``, ``weights (Tensor[N, H, W] or [H, W])``.
    With ``weights=None`` or all ones it equals ``F.cross_entropy(logits, targets, ignore_index=ignore_index)``.
    """
    if logits.dim() != 4:
        raise ValueError(f"logits must be a Tensor[N, K, H, W], got shape {tuple(logits.shape)}")
    if targets.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"targets must have shape {(logits.shape[0], *logits.shape[2:])} to match logits, "
                         f"got {tuple(targets.shape)}")
    per_pixel = F.cross_entropy(logits, targets.long(), ignore_index=ignore_index, reduction="none")
    if weights is not None:
        if weights.shape not in (targets.shape, targets.shape[1:]):
            raise ValueError(f"weights must have shape {tuple(targets.shape)} or {tuple(targets.shape[1:])}, "
                             f"got {tuple(weights.shape)}")
        per_pixel = per_pixel * weights.to(device=per_pixel.device, dtype=per_pixel.dtype)
    labelled = (targets != ignore_index).sum().clamp(min=1)
    return per_pixel.sum() / labelled
