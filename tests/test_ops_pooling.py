"""seglab.ops.pooling: the naive max pooling with indices and unpooling against PyTorch's built-ins."""

import pytest
import torch
import torch.nn.functional as F

from seglab.ops import (
    max_pool2d_with_indices_naive,
    max_unpool2d_naive,
    pack_pool_indices,
    unpack_pool_indices,
    unpool_output_size,
)


def _random_case(g):
    n, c = torch.randint(1, 4, (2,), generator=g).tolist()
    h, w = torch.randint(2, 12, (2,), generator=g).tolist()
    kh, kw = [min(k, s) for k, s in zip(torch.randint(1, 4, (2,), generator=g).tolist(), (h, w))]
    sh, sw = torch.randint(1, 4, (2,), generator=g).tolist()
    return (n, c, h, w), (kh, kw), (sh, sw)


def test_pool_matches_torch_random_float64():
    g = torch.Generator().manual_seed(0)
    for _ in range(25):
        shape, k, s = _random_case(g)
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        want_v, want_i = F.max_pool2d(x, k, s, return_indices=True)
        got_v, got_i = max_pool2d_with_indices_naive(x, k, s)
        assert torch.equal(got_i, want_i) and torch.equal(got_v, want_v)
        assert got_v.dtype == torch.float64 and got_i.dtype == torch.int64


def test_pool_ties_first_maximum_in_row_major_order_wins():
    # Measured on CPU: with equal values PyTorch keeps the first one in the window (row-major), never a later one.
    x = torch.ones(1, 1, 4, 4)
    _, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    assert idx.flatten().tolist() == [0, 2, 8, 10]
    assert torch.equal(max_pool2d_with_indices_naive(x)[1], idx)
    x = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])  # three equal maxima; the top-right one (index 1) wins
    assert F.max_pool2d(x, 2, return_indices=True)[1].item() == 1
    assert max_pool2d_with_indices_naive(x)[1].item() == 1


def test_pool_ties_random_integers_and_nan():
    g = torch.Generator().manual_seed(1)
    for _ in range(25):
        shape, k, s = _random_case(g)
        x = torch.randint(0, 3, shape, generator=g).float()  # many ties
        x[torch.rand(shape, generator=g) < 0.1] = float("nan")
        want_v, want_i = F.max_pool2d(x, k, s, return_indices=True)
        got_v, got_i = max_pool2d_with_indices_naive(x, k, s)
        assert torch.equal(got_i, want_i)
        assert torch.allclose(got_v, want_v, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.int64])
def test_pool_keeps_dtype(dtype):
    x = torch.randint(-5, 5, (2, 3, 7, 5)).to(dtype)
    want_v, want_i = F.max_pool2d(x, 2, 2, return_indices=True)
    got_v, got_i = max_pool2d_with_indices_naive(x, 2, 2)
    assert got_v.dtype == dtype and torch.equal(got_v, want_v) and torch.equal(got_i, want_i)


def test_pool_3d_input():
    x = torch.randn(3, 5, 6)
    want = F.max_pool2d(x, 2, return_indices=True)
    got = max_pool2d_with_indices_naive(x)
    assert got[0].shape == (3, 2, 3) and torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_unpool_matches_torch_random_odd_sizes():
    g = torch.Generator().manual_seed(2)
    for _ in range(15):
        n, c = torch.randint(1, 4, (2,), generator=g).tolist()
        h, w = torch.randint(2, 15, (2,), generator=g).tolist()
        x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
        v, i = F.max_pool2d(x, 2, 2, return_indices=True)
        for size in [(h, w), (n, c, h, w), torch.Size([n, c, h, w]), [h, w]]:
            want = F.max_unpool2d(v, i, 2, 2, output_size=size)
            got = max_unpool2d_naive(v, i, size)
            assert got.dtype == torch.float64 and torch.equal(got, want)
        if h % 2 == 0 and w % 2 == 0:
            assert torch.equal(max_unpool2d_naive(v, i), F.max_unpool2d(v, i, 2, 2))


def test_unpool_inverts_pool_on_maxima():
    x = torch.randn(2, 3, 9, 7)
    v, i = F.max_pool2d(x, 2, 2, return_indices=True)
    up = max_unpool2d_naive(v, i, x.shape)
    assert (up != 0).sum() == v.numel()  # one non-zero per window
    assert torch.equal(up.flatten(2).gather(2, i.flatten(2)), v.flatten(2))
    assert torch.equal(x.flatten(2).gather(2, i.flatten(2)), v.flatten(2))


def test_unpool_overlapping_pool_3d_and_dtype():
    x = torch.randn(4, 8, 8).half()
    v, i = F.max_pool2d(x, 3, 2, return_indices=True)
    want = F.max_unpool2d(v, i, 3, 2, output_size=(8, 8))
    got = max_unpool2d_naive(v, i, (8, 8), kernel_size=3, stride=2)
    assert got.dtype == torch.float16 and torch.equal(got, want)


def test_unpool_output_size_rules_and_errors():
    assert unpool_output_size((1, 1, 3, 4)) == (6, 8)
    assert unpool_output_size((3, 4), output_size=(7, 9)) == (7, 9)
    with pytest.raises(ValueError, match="strictly between 4 and 8"):
        unpool_output_size((3, 4), output_size=(8, 8))
    with pytest.raises(ValueError, match="output_size must hold 2 or 4 ints"):
        unpool_output_size((3, 4), output_size=(1, 7, 9))
    x = torch.zeros(1, 1, 7, 9)
    x[..., 5, 7] = 1.0  # a maximum at flat index 5*9+7 = 52, beyond the default 6x8 = 48 output
    v, i = F.max_pool2d(x, 2, 2, return_indices=True)
    assert int(i.max()) == 52
    with pytest.raises(ValueError, match="indices must lie in"):
        max_unpool2d_naive(v, i)  # default 6x8 is too small for indices from 7x9
    with pytest.raises(ValueError, match="indices must have the shape of x"):
        max_unpool2d_naive(v, i[..., :1], (7, 9))
    with pytest.raises(ValueError, match="indices must be int64"):
        max_unpool2d_naive(v, i.int(), (7, 9))
    with pytest.raises(ValueError, match="kernel_size must be"):
        max_pool2d_with_indices_naive(v, kernel_size=0)
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        max_pool2d_with_indices_naive(torch.randn(1, 1, 1, 5))
    with pytest.raises(ValueError, match=r"x must have shape \[N, C, H, W\]"):
        max_pool2d_with_indices_naive(torch.randn(5, 5))


def test_pack_indices_two_bits_roundtrip():
    g = torch.Generator().manual_seed(3)
    for h, w in [(8, 8), (7, 9), (5, 3)]:
        x = torch.randn(2, 3, h, w, generator=g)
        _, i = F.max_pool2d(x, 2, 2, return_indices=True)
        packed = pack_pool_indices(i, w)
        assert packed.dtype == torch.uint8 and packed.numel() == (i.numel() + 3) // 4
        assert torch.equal(unpack_pool_indices(packed, i.shape, w), i)
        assert packed.numel() * 32 <= i.numel() * 8 + 32  # 2 bits instead of 64
    _, i = F.max_pool2d(torch.randn(1, 1, 6, 6), 3, 3, return_indices=True)
    with pytest.raises(ValueError, match="2x2 windows"):
        pack_pool_indices(i, 6)


@pytest.mark.gpu
def test_cuda_matches_torch(no_tf32):  # TF32 off (conftest.no_tf32); max pooling is exact anyway: torch.equal
    x = torch.randn(2, 3, 9, 11, device="cuda")
    want_v, want_i = F.max_pool2d(x, 2, 2, return_indices=True)
    got_v, got_i = max_pool2d_with_indices_naive(x)
    assert got_i.device.type == "cuda" and torch.equal(got_i, want_i) and torch.equal(got_v, want_v)
    up = max_unpool2d_naive(want_v, want_i, x.shape)
    assert torch.equal(up, F.max_unpool2d(want_v, want_i, 2, 2, output_size=x.shape))
    assert torch.equal(unpack_pool_indices(pack_pool_indices(want_i, 11), want_i.shape, 11), want_i)
