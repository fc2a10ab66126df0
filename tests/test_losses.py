"""U-Net weight map (hand-computed values, loop oracle) and the weighted cross-entropy."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.losses import class_balance_weights, unet_weight_map, unet_weight_map_naive, weighted_cross_entropy


def two_columns():
    """5x5: object 1 is column 0, object 2 is column 3; background columns 1, 2 and 4."""
    mask = torch.zeros(5, 5, dtype=torch.int64)
    mask[:, 0] = 1
    mask[:, 3] = 2
    return mask


def test_weight_map_two_objects_by_hand():
    w = unet_weight_map(two_columns(), w0=10.0, sigma=5.0, class_balance=True, dtype=torch.float64)
    fg, bg = 25 / (2 * 10), 25 / (2 * 15)  # w_c: 10 object pixels, 15 background pixels
    gap = bg + 10 * math.exp(-(1 + 2) ** 2 / 50)  # columns 1 and 2: distances 1 and 2
    outside = bg + 10 * math.exp(-(1 + 4) ** 2 / 50)  # column 4: 1 to object 2, 4 to object 1
    expected = torch.tensor([fg, gap, gap, fg, outside], dtype=torch.float64).expand(5, 5)
    assert torch.allclose(w, expected, atol=1e-12)
    plain = unet_weight_map(two_columns(), class_balance=False, dtype=torch.float64)
    assert torch.allclose(plain, expected - torch.tensor([fg - 1, bg - 1, bg - 1, fg - 1, bg - 1]), atol=1e-12)


def test_weight_map_diagonal_distances_by_hand():
    mask = np.zeros((3, 3), dtype=np.int64)
    mask[0, 0], mask[2, 2] = 1, 2
    w = unet_weight_map(mask, w0=2.0, sigma=1.5, class_balance=False, dtype=torch.float64)
    term = lambda d1, d2: 2.0 * math.exp(-((d1 + d2) ** 2) / (2 * 1.5**2))  # noqa: E731
    assert w[0, 2].item() == pytest.approx(1 + term(2, 2))
    assert w[1, 0].item() == pytest.approx(1 + term(1, math.sqrt(5)))
    assert w[1, 1].item() == pytest.approx(1 + term(math.sqrt(2), math.sqrt(2)))
    assert w[0, 0].item() == 1.0 and w[2, 2].item() == 1.0


def test_weight_map_matches_loop_oracle_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(3):
        mask = np.zeros((12, 14), dtype=np.int64)
        for k in range(1, 4):
            y, x = rng.integers(0, 10, size=2)
            mask[y:y + 3, x:x + 4] = k
        mask[0, :3] = 255
        fast = unet_weight_map(mask, w0=10, sigma=3, dtype=torch.float64)
        slow = unet_weight_map_naive(mask, w0=10, sigma=3)
        assert torch.allclose(fast, slow, atol=1e-10)
        assert torch.all(fast[0, :3] == 0)  # ignored pixels weigh nothing


def test_weight_map_single_object_has_no_border_term_and_balance_means_one():
    mask = torch.zeros(6, 6, dtype=torch.int64)
    mask[1:3, 1:3] = 4
    w = unet_weight_map(mask, dtype=torch.float64)
    assert w.mean().item() == pytest.approx(1.0)  # w_c averages to 1
    assert torch.allclose(torch.as_tensor(class_balance_weights(mask > 0)), w)
    semantic = torch.zeros(6, 6, dtype=torch.int64)
    semantic[:, 3:] = 2
    ws = unet_weight_map(mask, semantic_mask=semantic, dtype=torch.float64)
    assert torch.allclose(ws, torch.full((6, 6), 1.0, dtype=torch.float64))  # two classes of 18 pixels


def test_weight_map_bad_inputs():
    with pytest.raises(ValueError, match="instance_mask must be a 2-D"):
        unet_weight_map(torch.zeros(1, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer"):
        unet_weight_map(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="sigma"):
        unet_weight_map(two_columns(), sigma=0)


def test_weighted_cross_entropy_reduces_to_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    targets = torch.randint(0, 4, (2, 6, 7))
    targets[0, 0, :3] = 255
    ref = F.cross_entropy(logits, targets, ignore_index=255)
    assert torch.allclose(weighted_cross_entropy(logits, targets), ref)
    assert torch.allclose(weighted_cross_entropy(logits, targets, torch.ones(6, 7)), ref)
    weights = torch.rand(2, 6, 7, dtype=torch.float64)
    per_pixel = F.cross_entropy(logits, targets, ignore_index=255, reduction="none")
    expected = (weights * per_pixel).sum() / (targets != 255).sum()
    assert torch.allclose(weighted_cross_entropy(logits, targets, weights), expected)
    with pytest.raises(ValueError, match="weights must have shape"):
        weighted_cross_entropy(logits, targets, torch.ones(5, 7))
    with pytest.raises(ValueError, match="targets must have shape"):
        weighted_cross_entropy(logits, targets[:, :-1])


def test_weighted_cross_entropy_gradient_follows_weights():
    logits = torch.zeros(1, 2, 1, 2, requires_grad=True)
    targets = torch.tensor([[[0, 0]]])
    weighted_cross_entropy(logits, targets, torch.tensor([[1.0, 3.0]])).backward()
    g = logits.grad[0, 0, 0]
    assert g[1].item() == pytest.approx(3 * g[0].item())
