"""The boundary pixels are defined once: boundary_mask and boundary_errors mark exactly what boundary_f1 counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.data.classes import IGNORE_INDEX
from seglab.metrics import boundary_errors, boundary_f1, boundary_mask


def blobs(seed: int, k: int = 4, shift=(1, 2)):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, k, (5, 6), generator=g).repeat_interleave(4, 0).repeat_interleave(4, 1)
    pred = torch.roll(target, shifts=shift, dims=(0, 1))
    pred[torch.rand(pred.shape, generator=g) < 0.03] = 0  # a few stray pixels
    target[:3] = IGNORE_INDEX
    return pred, target


def f1_from_pixels(pred, target, tolerance, k):
    """Per-class F1 rebuilt only from boundary_mask and boundary_errors (no other boundary code)."""
    valid = target != IGNORE_INDEX
    edges_p, edges_t = boundary_mask(pred, k), boundary_mask(target, k)
    false_pred, missed_true = boundary_errors(pred, target, tolerance, k)
    out = []
    for c in range(k):
        bp, bt = edges_p & (pred == c) & valid, edges_t & (target == c)
        if not bp.sum() and not bt.sum():
            out.append(float("nan"))
            continue
        p = float((bp & ~false_pred).sum() / bp.sum()) if bp.sum() else 0.0
        r = float((bt & ~missed_true).sum() / bt.sum()) if bt.sum() else 0.0
        out.append(2 * p * r / (p + r) if p + r else 0.0)
    return torch.tensor(out)


@pytest.mark.parametrize("seed, tolerance", [(0, 0), (1, 1), (2, 2), (3, 3)])
def test_boundary_errors_are_the_pixels_boundary_f1_counts(seed, tolerance):
    pred, target = blobs(seed)
    expected = boundary_f1(pred[None], target[None], tolerance, num_classes=4, reduction="none")[0]
    rebuilt = f1_from_pixels(pred, target, tolerance, 4)
    torch.testing.assert_close(rebuilt, expected, equal_nan=True, atol=1e-6, rtol=0)


def test_boundary_errors_numpy_and_tensor_agree_and_skip_ignored_pixels():
    pred, target = blobs(5)
    false_t, missed_t = boundary_errors(pred, target, tolerance=1)
    false_n, missed_n = boundary_errors(pred.numpy(), target.numpy().astype(np.uint8), tolerance=1)
    assert isinstance(false_n, np.ndarray) and false_n.dtype == bool and false_n.shape == target.shape
    np.testing.assert_array_equal(false_n, false_t.numpy())
    np.testing.assert_array_equal(missed_n, missed_t.numpy())
    ignored = (target == IGNORE_INDEX).numpy()
    assert not false_n[ignored].any() and not missed_n[ignored].any()
    assert false_n.any() and missed_n.any()
    none_wrong = boundary_errors(target.clamp(max=3), target)
    assert not none_wrong[0].any() and not none_wrong[1].any()


def test_boundary_mask_is_the_8_neighbour_inner_boundary():
    labels = np.zeros((6, 7), dtype=np.int64)
    labels[2:4, 2:5] = 1
    edges = boundary_mask(labels)
    # class 1 (2x3 block): all its pixels; class 0: the ring of pixels touching it, diagonals included
    expected = np.zeros_like(labels, dtype=bool)
    expected[1:5, 1:6] = True
    assert edges.dtype == bool
    np.testing.assert_array_equal(edges, expected)
    assert not boundary_mask(np.zeros((4, 4), dtype=np.int64)).any()  # the frame is no boundary
    void = labels.copy()
    void[2:4, 2:5] = IGNORE_INDEX  # void pixels are never boundary pixels; their neighbours are
    np.testing.assert_array_equal(boundary_mask(void), expected & (void != IGNORE_INDEX))
    batch = boundary_mask(torch.from_numpy(np.stack([labels, void])))
    assert batch.shape == (2, 6, 7) and torch.equal(batch[0], torch.from_numpy(expected))


def test_boundary_errors_bad_input():
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        boundary_errors(np.zeros((2, 4, 4), dtype=np.int64), np.zeros((2, 4, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="integer labels"):
        boundary_errors(np.zeros((4, 4)), np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="tolerance"):
        boundary_errors(np.zeros((4, 4), dtype=np.int64), np.zeros((4, 4), dtype=np.int64), tolerance=-1)
