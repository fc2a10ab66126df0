"""seglab.ops.transposed against PyTorch's conv_transpose2d / conv2d (float64 oracles, fixed seeds)."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.ops import (
    bilinear_kernel,
    bilinear_upsampler,
    conv2d_matrix,
    conv2d_output_size,
    conv_transpose2d_matmul,
    conv_transpose2d_naive,
    conv_transpose2d_output_size,
    overlap_count,
    trans_conv_naive,
)

D64 = torch.float64


def random_config(seed):
    """One random transposed-conv setting that PyTorch accepts (non-empty output, valid output_padding)."""
    rng = random.Random(seed)
    while True:
        s, p, d = (rng.randint(1, 3), rng.randint(1, 3)), rng.randint(0, 2), rng.randint(1, 2)
        k = (rng.randint(1, 5), rng.randint(1, 5))
        op = rng.randint(0, max(max(s), d) - 1)
        op = min(op, max(s[0], d) - 1, max(s[1], d) - 1)
        groups = rng.choice([1, 1, 2, 3])
        c_in, c_out_g = groups * rng.randint(1, 2), rng.randint(1, 3)
        n, h, w = rng.randint(1, 2), rng.randint(1, 4), rng.randint(1, 4)
        sizes = [(h - 1) * s[0] - 2 * p + d * (k[0] - 1) + op + 1, (w - 1) * s[1] - 2 * p + d * (k[1] - 1) + op + 1]
        if min(sizes) >= 1:
            gen = torch.Generator().manual_seed(seed)
            x = torch.randn(n, c_in, h, w, dtype=D64, generator=gen)
            weight = torch.randn(c_in, c_out_g, *k, dtype=D64, generator=gen)
            bias = torch.randn(c_out_g * groups, dtype=D64, generator=gen)
            return x, weight, bias, dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)


@pytest.mark.parametrize("seed", range(40))
def test_naive_and_matmul_match_conv_transpose2d(seed):
    x, weight, bias, kw = random_config(seed)
    want = F.conv_transpose2d(x, weight, bias, **kw)
    got = conv_transpose2d_naive(x, weight, bias, **kw)
    assert got.shape == want.shape and got.dtype == D64
    torch.testing.assert_close(got, want)
    groups = kw.pop("groups")
    dense = conv_transpose2d_matmul(x, weight, **kw, groups=groups)
    torch.testing.assert_close(dense + bias.view(1, -1, 1, 1), want)
    sparse = conv_transpose2d_matmul(x, weight, **kw, groups=groups, sparse=True)
    torch.testing.assert_close(sparse, dense)
    size = conv_transpose2d_output_size(tuple(x.shape[2:]), tuple(weight.shape[2:]), kw["stride"], kw["padding"],
                                        kw["output_padding"], kw["dilation"])
    assert size == tuple(want.shape[2:])


def test_output_padding_beyond_stride_uses_dilation_rule():
    """output_padding >= stride is legal when it is below the dilation: y gets zero rows appended."""
    x = torch.randn(1, 2, 3, 3, dtype=D64)
    w = torch.randn(2, 1, 3, 3, dtype=D64)
    kw = dict(stride=1, padding=1, output_padding=1, dilation=2)
    want = F.conv_transpose2d(x, w, **kw)
    torch.testing.assert_close(conv_transpose2d_matmul(x, w, **kw), want)
    torch.testing.assert_close(conv_transpose2d_naive(x, w, **kw), want)


@pytest.mark.parametrize("seed", range(25))
def test_conv2d_matrix_matches_conv2d_and_its_transpose(seed):
    rng = random.Random(100 + seed)
    s, p, d, k, groups = rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 2), rng.randint(1, 5), rng.choice([1, 2])
    c_in, c_out = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
    h, w = rng.randint(d * (k - 1) + 1, 9), rng.randint(d * (k - 1) + 1, 9)
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(c_out, c_in // groups, k, k, dtype=D64, generator=gen)
    x = torch.randn(1, c_in, h, w, dtype=D64, generator=gen)
    y = F.conv2d(x, weight, stride=s, padding=p, dilation=d, groups=groups)
    M = conv2d_matrix(weight, (h, w), s, p, d, groups=groups)
    assert M.shape == (y.numel(), x.numel()) and M.dtype == D64
    torch.testing.assert_close(M @ x.flatten(), y.flatten())
    Ms = conv2d_matrix(weight, (h, w), s, p, d, groups=groups, sparse=True)
    assert Ms.is_sparse
    torch.testing.assert_close(Ms.to_dense(), M)
    # M^T y is conv_transpose2d with the output_padding that recovers the size (h, w)
    op = tuple((n + 2 * p - d * (k - 1) - 1) % s for n in (h, w))
    if max(op) < max(s, d):
        xt = F.conv_transpose2d(y, weight, stride=s, padding=p, output_padding=op, dilation=d, groups=groups)
        torch.testing.assert_close(M.T @ y.flatten(), xt.flatten())


def test_conv2d_matrix_is_the_gradient_of_conv2d():
    x = torch.randn(1, 1, 5, 5, dtype=D64, requires_grad=True)
    K = torch.randn(1, 1, 3, 3, dtype=D64)
    y = F.conv2d(x, K, stride=2)
    g = torch.randn_like(y)
    (grad,) = torch.autograd.grad(y, x, g)
    torch.testing.assert_close(grad, F.conv_transpose2d(g, K, stride=2))
    torch.testing.assert_close(grad.flatten(), conv2d_matrix(K, 5, stride=2).T @ g.flatten())


def test_d2l_examples():
    X = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    want = torch.tensor([[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]])
    torch.testing.assert_close(trans_conv_naive(X, K), want)
    torch.testing.assert_close(trans_conv_naive(X, K, padding=1), torch.tensor([[4.0]]))
    Kc = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    W = conv2d_matrix(Kc, 3)  # d2l's kernel2matrix: 4 x 9
    assert W.shape == (4, 9)
    torch.testing.assert_close(W[0], torch.tensor([1.0, 2, 0, 3, 4, 0, 0, 0, 0]))


@pytest.mark.parametrize("seed", range(12))
def test_trans_conv_naive_matches_torch(seed):
    rng = random.Random(seed)
    while True:  # draw until the output is not empty
        s, p = rng.randint(1, 3), rng.randint(0, 2)
        h, w, kh, kw = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 5), rng.randint(1, 5)
        if min((h - 1) * s + kh, (w - 1) * s + kw) - 2 * p >= 1:
            break
    X, K = torch.randn(h, w, dtype=D64), torch.randn(kh, kw, dtype=D64)
    want = F.conv_transpose2d(X[None, None], K[None, None], stride=s, padding=p)[0, 0]
    torch.testing.assert_close(trans_conv_naive(X, K, stride=s, padding=p), want)


def test_output_size_formula_against_module():
    for n, k, s, p, op, d in [(3, 3, 2, 1, 1, 1), (5, 4, 2, 1, 0, 1), (7, 5, 3, 2, 2, 1), (4, 3, 1, 0, 1, 2)]:
        layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d)
        got = layer(torch.zeros(1, 1, n, n)).shape[-1]
        assert conv_transpose2d_output_size(n, k, s, p, op, d) == got
    assert conv_transpose2d_output_size((3, 4), (2, 3), (2, 1)) == (6, 6)
    assert conv_transpose2d_output_size(3, (2, 3), 2) == (6, 7)  # any pair argument gives a pair
    assert conv_transpose2d_output_size(np.int64(3), 3, 2) == 7  # NumPy ints are ints


@pytest.mark.parametrize("seed", range(30))
def test_conv2d_output_size_matches_conv2d(seed):
    rng = random.Random(seed)
    h, w, k = rng.randint(1, 9), rng.randint(1, 9), (rng.randint(1, 4), rng.randint(1, 4))
    s, p, d = (rng.randint(1, 3), rng.randint(1, 3)), rng.randint(0, 2), rng.randint(1, 2)
    try:
        size = conv2d_output_size((h, w), k, s, p, d)
    except ValueError as exc:
        assert "input_size" in str(exc)
        with pytest.raises(RuntimeError):
            F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, *k), stride=s, padding=p, dilation=d)
        return
    assert size == tuple(F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, *k), stride=s, padding=p,
                                  dilation=d).shape[2:])
    assert conv2d_output_size(h, k[0], s[0], p, d) == size[0]  # all ints -> an int


def test_one_pair_rule_for_every_op():
    """seglab.ops._args._pair: ints (NumPy ones too) or pairs; bools, floats and other lengths rejected by name."""
    from seglab.ops._args import _pair

    assert _pair(3, "k") == (3, 3) and _pair((2, 5), "k") == (2, 5) and _pair(torch.Size([4, 1]), "k") == (4, 1)
    assert _pair(np.int64(2), "k") == (2, 2) and _pair(0, "padding", 0) == (0, 0)
    for bad in (True, 2.0, (1, 2, 3), (1,), "3", None):
        with pytest.raises(ValueError, match=r"^k must be an int or a \(height, width\) pair of ints"):
            _pair(bad, "k")
    with pytest.raises(ValueError, match="^stride must be >= 1, got 0$"):
        _pair(0, "stride")
    with pytest.raises(ValueError, match=r"^padding must be >= 0, got \(0, -1\)$"):
        _pair((0, -1), "padding", 0)


def test_bad_arguments_name_the_argument():
    x, w = torch.randn(1, 2, 3, 3), torch.randn(2, 1, 3, 3)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d_output_size(3, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="stride"):
        conv_transpose2d_naive(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose2d_naive(x, w, padding=-1)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose2d_output_size(1, 1, padding=1)  # empty output
    with pytest.raises(ValueError, match="weight"):
        conv_transpose2d_naive(x, torch.randn(2, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        conv_transpose2d_matmul(x, torch.randn(3, 1, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        conv_transpose2d_naive(x, w, groups=3)
    with pytest.raises(ValueError, match="input_size"):
        conv2d_matrix(torch.randn(1, 1, 3, 3), 2)
    with pytest.raises(ValueError, match="dilation"):
        conv2d_matrix(torch.randn(1, 1, 3, 3), 5, dilation=0)
    with pytest.raises(ValueError, match="K"):
        trans_conv_naive(torch.randn(2, 2), torch.randn(1, 2, 2))
    with pytest.raises(ValueError, match="kernel_size"):
        bilinear_kernel(1, 1, 0)
    with pytest.raises(ValueError, match="stride"):
        overlap_count(3, 3, 0)


def test_dtype_is_kept():
    for dtype in (torch.float32, torch.float64):
        x, w = torch.randn(1, 1, 2, 2, dtype=dtype), torch.randn(1, 1, 2, 2, dtype=dtype)
        assert conv_transpose2d_naive(x, w, stride=2).dtype == dtype
        assert conv_transpose2d_matmul(x, w, stride=2).dtype == dtype
        assert conv2d_matrix(w, 3).dtype == dtype
        assert trans_conv_naive(x[0, 0], w[0, 0]).dtype == dtype
    assert bilinear_kernel(2, 2, 4, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bilinear_kernel_equals_interpolate_in_the_interior(scale):
    x = torch.randn(2, 3, 6, 7, dtype=D64)
    k, p = 2 * scale - scale % 2, scale // 2
    up = F.conv_transpose2d(x, bilinear_kernel(3, 3, k, dtype=D64), stride=scale, padding=p)
    ref = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape
    torch.testing.assert_close(up[..., scale:-scale, scale:-scale], ref[..., scale:-scale, scale:-scale])
    assert not torch.allclose(up, ref)  # the border differs (zero padding vs edge clamping)
    layer = bilinear_upsampler(3, scale).double()
    torch.testing.assert_close(layer(x), up)


def test_bilinear_kernel_values():
    torch.testing.assert_close(bilinear_kernel(1, 1, 4)[0, 0, 0], torch.tensor([0.0625, 0.1875, 0.1875, 0.0625]))
    w = bilinear_kernel(2, 3, 3)
    assert w.shape == (2, 3, 3, 3) and w[0, 1].abs().sum() == 0 and w[1, 1, 1, 1] == 1


def test_overlap_count():
    counts = overlap_count(3, 3, 2)
    assert counts.shape == (7, 7) and counts.dtype == torch.int64
    assert counts[2, 2] == 4 and counts[0, 0] == 1 and counts[2, 1] == 2
    ones = F.conv_transpose2d(torch.ones(1, 1, 4, 5), torch.ones(1, 1, 3, 2), stride=(2, 3))[0, 0]
    assert torch.equal(overlap_count((4, 5), (3, 2), (2, 3)), ones.long())
    assert overlap_count(4, 4, 2).shape[0] == conv_transpose2d_output_size(4, 4, 2)
    # kernel divisible by the stride: every interior pixel is hit equally often (no checkerboard)
    inner = overlap_count(6, 4, 2)[4:-4, 4:-4]
    assert inner.min() == inner.max() == 4


@pytest.mark.gpu
def test_cuda(no_tf32):  # TF32 off (conftest.no_tf32): cuDNN's transposed conv in float32, default float32 tolerances
    x, weight, bias, kw = random_config(3)
    x, weight, bias = x.cuda(), weight.cuda(), bias.cuda()
    want = F.conv_transpose2d(x, weight, bias, **kw)
    got = conv_transpose2d_naive(x, weight, bias, **kw)
    assert got.is_cuda
    torch.testing.assert_close(got, want)
    groups = kw.pop("groups")
    out = conv_transpose2d_matmul(x, weight, **kw, groups=groups, sparse=True)
    assert out.is_cuda
    torch.testing.assert_close(out + bias.view(1, -1, 1, 1), want)
    assert conv2d_matrix(weight, 6).is_cuda and overlap_count(3, 3, 2, device="cuda").is_cuda


def test_self_checks_pass_the_reference_and_catch_a_bug():
    from seglab.check import check_conv_matrix_row, check_output_size, check_trans_conv

    assert check_trans_conv(trans_conv_naive, stride_and_padding=True)
    assert check_conv_matrix_row(lambda K, n, row: conv2d_matrix(K, n)[row])
    assert check_output_size(lambda n, k, s, p: conv_transpose2d_output_size(n, k, s, p))

    def overwrite(X, K):  # a classic bug: "=" instead of "+=" loses the overlaps
        Y = torch.zeros(X.shape[0] + K.shape[0] - 1, X.shape[1] + K.shape[1] - 1, dtype=X.dtype)
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                Y[i : i + K.shape[0], j : j + K.shape[1]] = X[i, j] * K
        return Y

    result = check_trans_conv(overwrite)
    assert not result and "expected" in result.message and result.counterexample["args"]
    assert not check_output_size(lambda n, k, s, p: (n - 1) * s + k - p)
