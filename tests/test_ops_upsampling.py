"""seglab.ops.upsample: the six upsampling methods of chapter 1, each checked against what it claims to be."""

import pytest
import torch
import torch.nn.functional as F

from seglab.ops import UPSAMPLING_METHODS, upsample


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_method_gives_the_target_size(scale):
    g = torch.Generator().manual_seed(scale)
    target = torch.rand(3, 6 * scale, 5 * scale, generator=g)
    low = F.avg_pool2d(target[None], scale)[0]
    for method in UPSAMPLING_METHODS:
        out = upsample(low, scale, method, target)
        assert out.shape == target.shape and out.dtype == low.dtype, method


def test_methods_are_what_they_say():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 24, 24, generator=g, dtype=torch.float64)
    low = F.avg_pool2d(target[None], 2)[0]
    bilinear = F.interpolate(low[None], scale_factor=2, mode="bilinear", align_corners=False)[0]
    assert torch.equal(upsample(low, 2, "nearest"), low.repeat_interleave(2, 1).repeat_interleave(2, 2))
    assert torch.equal(upsample(low, 2, "bilinear"), bilinear)
    inner = (slice(None), slice(1, -1), slice(1, -1))  # transposed conv = bilinear away from the border
    torch.testing.assert_close(upsample(low, 2, "transposed conv, bilinear init")[inner], bilinear[inner])
    fit = upsample(low, 2, "transposed conv, least-squares fit", target)
    init = upsample(low, 2, "transposed conv, bilinear init")
    assert ((fit - target) ** 2).sum() <= ((init - target) ** 2).sum() + 1e-9  # the best kernel beats bilinear
    unpooled = upsample(F.max_pool2d(target[None], 2)[0], 2, "max-unpooling (SegNet preview)", target)
    kept = unpooled != 0
    assert kept.sum() == low.numel() and torch.equal(unpooled[kept], target[kept])  # each max back in place
    again = upsample(low, 2, "transposed conv, random init")
    assert torch.equal(again, upsample(low, 2, "transposed conv, random init"))  # seeded by the scale


def test_bad_method_or_missing_target():
    with pytest.raises(ValueError, match="method must be one of"):
        upsample(torch.zeros(1, 4, 4), 2, "cubic", torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="needs the full-resolution target"):
        upsample(torch.zeros(1, 4, 4), 2, "transposed conv, least-squares fit")
