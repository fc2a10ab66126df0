"""seglab.ops.roi_align / roi_pool against torchvision's native kernels (float64 oracles, randomized, fixed seeds)."""

from collections import OrderedDict

import pytest
import torch
import torchvision.ops as tvo

from seglab.ops import (
    MultiScaleRoIAlign,
    MultiScaleRoIPool,
    RoIAlign,
    RoIPool,
    feature_map_scale,
    fpn_levels,
    pyramid_scales,
    roi_align,
    roi_align_impl_for,
    roi_align_sampling_grid,
    roi_pool,
)


def random_case(gen, dtype=torch.float64, n=2, c=3, max_side=12, k=None, span=60.0, device="cpu"):
    """A random map and ``k`` RoIs (1 to 6 when not given, so that outputs are never empty)."""
    h, w = (int(torch.randint(1, max_side, (), generator=gen)) for _ in range(2))
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype).to(device)
    k = int(torch.randint(1, 7, (), generator=gen)) if k is None else k
    xy = torch.rand(k, 2, generator=gen, dtype=dtype) * span - span / 4  # many boxes partly/wholly off the map
    wh = torch.rand(k, 2, generator=gen, dtype=dtype) * span / 2
    wh[: k // 3] *= 0.05  # tiny boxes
    if k:
        wh[-1] = 0.0  # a degenerate box (a point)
    idx = torch.randint(0, n, (k, 1), generator=gen).to(dtype)
    rois = torch.cat([idx, xy, xy + wh], dim=1).to(device)
    return x, rois


SETTINGS = [(s, sr, al) for s in (1.0, 0.5, 0.25, 1 / 3) for sr in (-1, 0, 1, 2, 3) for al in (False, True)]


@pytest.mark.parametrize("scale,sampling_ratio,aligned", SETTINGS)
def test_roi_align_matches_torchvision_float64(scale, sampling_ratio, aligned):
    gen = torch.Generator().manual_seed(hash((scale, sampling_ratio, aligned)) % 2**31)
    for _ in range(4):
        x, rois = random_case(gen)
        size = tuple(int(v) for v in torch.randint(1, 6, (2,), generator=gen))
        want = tvo.roi_align(x, rois, size, scale, sampling_ratio, aligned)
        got = roi_align(x, rois, size, scale, sampling_ratio, aligned)
        assert got.shape == want.shape and got.dtype == torch.float64 and got.numel() > 0
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25, 1 / 3])
def test_roi_pool_matches_torchvision_float64(scale):
    gen = torch.Generator().manual_seed(int(scale * 1000))
    for _ in range(8):
        x, rois = random_case(gen)
        size = tuple(int(v) for v in torch.randint(1, 6, (2,), generator=gen))
        want = tvo.roi_pool(x, rois, size, scale)
        assert want.numel() > 0
        torch.testing.assert_close(roi_pool(x, rois, size, scale), want, atol=1e-10, rtol=0)


def test_float32_within_1e5_and_list_of_boxes():
    gen = torch.Generator().manual_seed(3)
    x, rois = random_case(gen, dtype=torch.float32, k=8, max_side=20)
    boxes = [rois[rois[:, 0] == i, 1:] for i in range(x.shape[0])]
    for sr, al in [(-1, False), (2, True)]:
        want = tvo.roi_align(x, boxes, 4, 0.5, sr, al)
        got = roi_align(x, boxes, 4, 0.5, sr, al)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(roi_pool(x, boxes, (2, 3), 0.5), tvo.roi_pool(x, boxes, (2, 3), 0.5), atol=1e-5, rtol=0)


def test_empty_box_sets_give_empty_outputs():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    for boxes in (torch.zeros(0, 5, dtype=torch.float64), [torch.zeros(0, 4, dtype=torch.float64)] * 2):
        assert roi_align(x, boxes, (3, 2)).shape == (0, 4, 3, 2)
        assert roi_pool(x, boxes, 3).shape == (0, 4, 3, 3)


def test_wholly_off_map_box_pools_to_zero():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    rois = torch.tensor([[0, 20.0, 20.0, 30.0, 30.0], [0, -30.0, -30.0, -20.0, -20.0]], dtype=torch.float64)
    for al in (False, True):
        out = roi_align(x, rois, 2, 1.0, -1, al)
        assert out.abs().max() == 0
        torch.testing.assert_close(out, tvo.roi_align(x, rois, 2, 1.0, -1, al))
    assert roi_pool(x, rois, 2).abs().max() == 0


def test_negative_size_boxes_with_fixed_sampling():
    """x2 < x1: torchvision's adaptive grid would be negative (its kernel errors), a fixed grid is defined."""
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    rois = torch.tensor([[0, 5.0, 6.0, 2.0, 1.0]], dtype=torch.float64)
    for al in (False, True):
        torch.testing.assert_close(roi_align(x, rois, 3, 1.0, 2, al), tvo.roi_align(x, rois, 3, 1.0, 2, al))
    torch.testing.assert_close(roi_pool(x, rois, 3), tvo.roi_pool(x, rois, 3))


@pytest.mark.parametrize("ties", [False, True])
def test_gradients_match_torchvision(ties):
    gen = torch.Generator().manual_seed(7 + ties)
    for trial in range(6):
        x, rois = random_case(gen, k=5)
        if ties:  # few distinct values: many ties inside RoIPool's bins
            x = torch.randint(0, 3, x.shape, generator=gen).to(x.dtype)
        grad = torch.randn(rois.shape[0], x.shape[1], 3, 2, generator=gen, dtype=x.dtype)
        args = [((3, 2), 0.5, [-1, 2][trial % 2], bool(trial % 3 == 0)), ((3, 2), 0.5)]
        for ours, theirs, a in [(roi_align, tvo.roi_align, args[0]), (roi_pool, tvo.roi_pool, args[1])]:
            x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
            ours(x1, rois, *a).backward(grad)
            theirs(x2, rois, *a).backward(grad)
            torch.testing.assert_close(x1.grad, x2.grad, atol=1e-10, rtol=0)


def test_gradcheck_small():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    rois = torch.tensor([[0, 0.3, 0.7, 4.2, 3.9], [0, -1.0, 2.0, 3.0, 8.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, 3, 1.0, -1, True), (x,))
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (2, 3), 0.5, 2, False), (x,))
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, 2, 1.0), (x,))


def test_boxes_get_no_gradient_like_torchvision():
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.5, 0.5, 3.0, 3.0]], dtype=torch.float64, requires_grad=True)
    roi_align(x, rois, 2).sum().backward()
    assert rois.grad is None and x.grad is not None


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2, 3])
def test_sampling_grid_agrees_with_roi_align(aligned, sampling_ratio):
    """On a map whose value is its x (or y) coordinate, each bin's RoIAlign output is the mean sample coordinate."""
    h, w = 20, 24
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    fmap = torch.stack([xs, ys])[None]
    box = torch.tensor([6.3, 4.1, 30.7, 25.2], dtype=torch.float64)
    grid = roi_align_sampling_grid(box, (3, 4), 0.5, sampling_ratio, aligned)
    gh, gw = grid.grid
    assert grid.points.shape == (3, 4, gh * gw, 2) and grid.count == gh * gw
    if sampling_ratio > 0:
        assert grid.grid == (sampling_ratio, sampling_ratio)
    out = tvo.roi_align(fmap, torch.cat([torch.zeros(1, dtype=torch.float64), box])[None], (3, 4), 0.5,
                        sampling_ratio, aligned)[0]
    torch.testing.assert_close(grid.points.mean(dim=2).permute(2, 0, 1), out, atol=1e-10, rtol=0)
    # sample points sit strictly inside their bins
    assert bool(((grid.ys > grid.y_edges[:-1, None]) & (grid.ys < grid.y_edges[1:, None])).all())
    assert bool(((grid.xs > grid.x_edges[:-1, None]) & (grid.xs < grid.x_edges[1:, None])).all())


def test_modules_and_repr():
    x = torch.randn(1, 3, 8, 8)
    rois = torch.tensor([[0, 1.0, 1.0, 6.0, 7.0]])
    m = RoIAlign((2, 3), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    assert "output_size=(2, 3)" in repr(m) and "aligned=True" in repr(m)
    torch.testing.assert_close(m(x, rois), tvo.RoIAlign((2, 3), 0.5, 2, True)(x, rois))
    p = RoIPool(2, 0.5)
    assert "RoIPool(output_size=(2, 2)" in repr(p)
    torch.testing.assert_close(p(x, rois), tvo.roi_pool(x, rois, 2, 0.5))


def test_multiscale_pooler_matches_torchvision():
    gen = torch.Generator().manual_seed(5)
    feats = OrderedDict((name, torch.randn(2, 4, s, s, generator=gen)) for name, s in [("0", 32), ("1", 16), ("2", 8)])
    boxes = []
    for _ in range(2):
        xy = torch.rand(10, 2, generator=gen) * 80
        boxes.append(torch.cat([xy, xy + 4 + torch.rand(10, 2, generator=gen) * 60], 1))
    ours = MultiScaleRoIAlign(["0", "1", "2"], 7, 2)
    theirs = tvo.MultiScaleRoIAlign(["0", "1", "2"], 7, 2)
    torch.testing.assert_close(ours(feats, boxes, [(128, 128)] * 2), theirs(feats, boxes, [(128, 128)] * 2),
                               atol=1e-5, rtol=0)
    pool = MultiScaleRoIPool(["0", "1", "2"], 7, 2)
    out = pool(feats, boxes, [(128, 128)] * 2)
    assert out.shape == (20, 4, 7, 7)
    native = MultiScaleRoIPool(["0", "1", "2"], 7, impl="torchvision")
    torch.testing.assert_close(out, native(feats, boxes, [(128, 128)] * 2))


def _random_pyramid(gen, levels: int, image_shapes):
    h = max(s[0] for s in image_shapes)
    w = max(s[1] for s in image_shapes)
    return OrderedDict((str(i), torch.randn(len(image_shapes), 3, max(1, (h + 3) // 2 ** (i + 2)),
                                            max(1, (w + 3) // 2 ** (i + 2)), generator=gen)) for i in range(levels))


def _random_boxes(gen, count: int, extent: int):
    xy = torch.rand(count, 2, generator=gen) * extent
    return torch.cat([xy, xy + 1 + torch.rand(count, 2, generator=gen) * extent], 1)


def test_pyramid_scales_and_fpn_levels_equal_torchvisions_rules():
    """The plain level rules against torchvision's own (private) helpers, on random pyramids and boxes."""
    from torchvision.ops.poolers import _setup_scales

    gen = torch.Generator().manual_seed(21)
    assert feature_map_scale(32, 128) == 0.25 and feature_map_scale(33, 128) == 0.25
    for trial in range(40):
        shapes = [tuple(int(v) for v in torch.randint(40, 400, (2,), generator=gen)) for _ in range(2)]
        feats = list(_random_pyramid(gen, 1 + trial % 4, shapes).values())
        canonical_scale, canonical_level = (224, 4) if trial % 2 else (36, 3)
        scales, k_min, k_max = pyramid_scales([f.shape for f in feats], shapes)
        tv_scales, tv_mapper = _setup_scales(feats, shapes, canonical_scale, canonical_level)
        assert scales == tv_scales and (k_min, k_max) == (tv_mapper.k_min, tv_mapper.k_max)
        boxes = [_random_boxes(gen, 20, 400), _random_boxes(gen, 5, 40)]
        levels = fpn_levels(boxes, k_min, k_max, canonical_scale, canonical_level)
        assert levels.dtype == torch.int64 and torch.equal(levels, tv_mapper(boxes))
    with pytest.raises(ValueError, match="image_shapes"):
        pyramid_scales([(1, 3, 8, 8)], [])


@pytest.mark.parametrize("aligned", [False, True])
def test_multiscale_pooler_matches_torchvision_on_random_pyramids(aligned):
    gen = torch.Generator().manual_seed(22 + aligned)
    for trial in range(6):
        shapes = [tuple(int(v) for v in torch.randint(48, 200, (2,), generator=gen)) for _ in range(2)]
        names = [str(i) for i in range(1 + trial % 4)]
        feats = _random_pyramid(gen, len(names), shapes)
        boxes = [_random_boxes(gen, 8, 150) for _ in shapes]
        ours = MultiScaleRoIAlign(names, (7, 5), 2, canonical_scale=56, aligned=aligned)
        theirs = tvo.MultiScaleRoIAlign(names, (7, 5), 2, canonical_scale=56)
        want = theirs(feats, boxes, shapes) if not aligned else None
        got = ours(feats, boxes, shapes)
        assert got.shape == (16, 3, 7, 5)
        if want is not None:
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
        else:  # torchvision's pooler has no `aligned`: pool each box on the level the rules pick
            scales, k_min, k_max = pyramid_scales([f.shape for f in feats.values()], shapes)
            levels = fpn_levels(boxes, k_min, k_max, 56)
            rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(boxes)])
            for j, level in enumerate(levels.tolist()):
                one = tvo.roi_align(feats[names[level]], rois[j : j + 1], (7, 5), scales[level], 2, True)
                torch.testing.assert_close(got[j : j + 1], one, atol=1e-5, rtol=0)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="boxes must be a Tensor\\[K, 5\\]"):
        roi_align(x, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="boxes\\[0\\] must be a Tensor\\[L, 4\\]"):
        roi_pool(x, [torch.zeros(3, 5)], 2)
    with pytest.raises(ValueError, match="input must be a Tensor\\[N, C, H, W\\]"):
        roi_align(x[0], torch.zeros(1, 5), 2)
    with pytest.raises(ValueError, match="output_size must be >= 1, got 0"):
        roi_align(x, torch.zeros(1, 5), 0)
    with pytest.raises(ValueError, match=r"output_size must be an int or a \(height, width\) pair of ints"):
        RoIPool((2, 2, 2))
    with pytest.raises(ValueError, match="output_size must be an int or a"):
        roi_align(x, torch.zeros(1, 5), 2.5)
    with pytest.raises(ValueError, match="box must hold 4 numbers"):
        roi_align_sampling_grid([1, 2, 3], 2)
    with pytest.raises(TypeError, match="boxes must be"):
        roi_pool(x, "boxes", 2)


@pytest.mark.parametrize("op", [roi_align, roi_pool])
def test_batch_index_beyond_the_batch_names_the_batch_size(op):
    x = torch.randn(2, 3, 8, 8)
    for index in (2.0, 7.0, -1.0):  # torchvision's kernels read out of bounds here; ours said "index out of range"
        rois = torch.tensor([[0.0, 1, 1, 5, 5], [index, 0, 0, 4, 4]])
        with pytest.raises(ValueError, match=rf"RoI 1 has batch index {index:g}, but the input holds a batch of 2"):
            op(x, rois, 2)
    with pytest.raises(ValueError, match="batch of 1"):
        op(x[:1], [torch.zeros(1, 4), torch.zeros(1, 4)], 2)  # a list of two images' boxes for one map
    assert op(x, torch.tensor([[1.0, 0, 0, 4, 4]]), 2).shape == (1, 3, 2, 2)


@pytest.mark.parametrize("op", [roi_align, roi_pool])
@pytest.mark.parametrize("scale", [-0.5, 0.0, float("nan"), "1/16", True])
def test_spatial_scale_must_be_positive(op, scale):
    x, rois = torch.randn(1, 2, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]])
    with pytest.raises(ValueError, match="spatial_scale must be a positive number"):
        op(x, rois, 2, scale)


def test_auto_impl_picks_torchvision_on_cuda_only_and_both_give_the_same_pooling():
    assert [roi_align_impl_for("auto", d) for d in ("cpu", "cuda", "cuda:1", torch.device("meta"))] == [
        "seglab", "torchvision", "torchvision", "seglab"]
    assert roi_align_impl_for("torchvision", "cpu") == "torchvision"
    assert roi_align_impl_for("seglab", "cuda") == "seglab"
    with pytest.raises(ValueError, match="roi_align_impl must be one of 'auto', 'seglab', 'torchvision'"):
        MultiScaleRoIAlign(["0"], 7, 2, impl="native")
    gen = torch.Generator().manual_seed(5)
    feats = OrderedDict((name, torch.randn(1, 4, s, s, generator=gen)) for name, s in [("0", 32), ("1", 16)])
    boxes = [_random_boxes(gen, 12, 60)]
    outs = {}
    for impl in ("auto", "seglab", "torchvision"):
        pooler = MultiScaleRoIAlign(["0", "1"], 7, 2, impl=impl)
        outs[impl] = pooler(feats, boxes, [(128, 128)])
        assert pooler.last_impl == ("seglab" if impl == "auto" else impl)
    torch.testing.assert_close(outs["auto"], outs["seglab"], atol=0, rtol=0)
    torch.testing.assert_close(outs["seglab"], outs["torchvision"], atol=1e-5, rtol=0)


@pytest.mark.gpu
def test_cuda_matches_torchvision_cuda(no_tf32):  # TF32 off (conftest.no_tf32), tolerances per dtype below
    gen = torch.Generator().manual_seed(13)
    for sr, al in [(-1, False), (2, True)]:
        x, rois = random_case(gen, k=6, device="cuda")
        for dtype, tol in [(torch.float64, 1e-10), (torch.float32, 1e-5)]:
            xd, rd = x.to(dtype), rois.to(dtype)
            out = roi_align(xd, rd, 3, 0.5, sr, al)
            assert out.device.type == "cuda" and out.dtype == dtype
            torch.testing.assert_close(out, tvo.roi_align(xd, rd, 3, 0.5, sr, al), atol=tol, rtol=0)
            torch.testing.assert_close(roi_pool(xd, rd, 3, 0.5), tvo.roi_pool(xd, rd, 3, 0.5), atol=tol, rtol=0)


def test_chunked_paths_match(monkeypatch):
    """The memory-bounding chunks of RoIs give the same values and gradients as one pass."""
    import seglab.ops.roi as roi_mod

    gen = torch.Generator().manual_seed(17)
    x, rois = random_case(gen, k=9, max_side=14)
    x.requires_grad_()
    want_a, want_p = roi_align(x, rois, 3, 0.5, -1, True), roi_pool(x, rois, 3, 0.5)
    monkeypatch.setattr(roi_mod, "_ALIGN_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(roi_mod, "_POOL_CHUNK_ELEMENTS", 1)
    got_a, got_p = roi_align(x, rois, 3, 0.5, -1, True), roi_pool(x, rois, 3, 0.5)
    torch.testing.assert_close(got_a, want_a, atol=1e-12, rtol=0)
    torch.testing.assert_close(got_p, want_p, atol=0, rtol=0)
    g1, = torch.autograd.grad(want_a.sum() + want_p.sum(), x)
    g2, = torch.autograd.grad(got_a.sum() + got_p.sum(), x)
    torch.testing.assert_close(g1, g2, atol=1e-12, rtol=0)
