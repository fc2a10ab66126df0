"""seglab.models.segnet: shapes, odd sizes, VGG16-BN compatibility, the sparse/dense decoder maps."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from seglab.models import SegNet, create_model


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return create_model("segnet", num_classes=5, width=0.125).eval()


@pytest.mark.parametrize("size", [(32, 32), (37, 45), (64, 33), (97, 101)])
def test_logits_have_input_size_for_odd_sizes(small, size):
    with torch.no_grad():
        logits = small(torch.rand(2, 3, *size))
    assert logits.shape == (2, 5, *size) and logits.dtype == torch.float32


def test_encoder_shapes_equal_torchvision_vgg16_bn():
    model = SegNet(num_classes=21)
    with torch.device("meta"):
        features = torchvision.models.vgg16_bn(weights=None).features
    want = [tuple(p.shape) for p in features.state_dict().values()]
    got = [tuple(t.shape) for m in model.vgg_layers() for t in m.state_dict().values()]
    assert got == want and len(want) == 13 * 7  # 13 convs (weight, bias) + 13 BNs (5 tensors each)
    assert sum(isinstance(m, nn.Conv2d) for m in features) == 13


def test_vgg16_bn_weights_load_from_disk(tmp_path):
    torch.manual_seed(1)
    vgg = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=True)
    path = tmp_path / "vgg16_bn_features.pt"
    torch.save({f"features.{k}": v for k, v in vgg.state_dict().items()}, path)
    model = create_model("segnet", num_classes=3, vgg_weights=str(path)).eval()
    vgg.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        # the encoder's first stage computes what VGG's first 6 layers compute
        assert torch.allclose(model.encoder[0](x), vgg[:6](x), atol=1e-5)
    with pytest.raises(ValueError, match="width=1.0"):
        SegNet(num_classes=3, width=0.5).load_vgg16_bn(vgg)


def test_decoder_maps_sparse_then_dense(small):
    x = torch.rand(1, 3, 45, 37)
    maps = small.decoder_maps(x)
    assert [m["stage"] for m in maps] == [4, 3, 2, 1, 0]
    first = maps[-1]
    assert first["sparse"].shape[-2:] == (45, 37)
    # unpooling leaves at most one non-zero per 2x2 window: at most a quarter of the pixels
    nonzero = (first["sparse"] != 0).float().mean().item()
    assert nonzero <= 0.25 + 1e-6
    assert (first["dense"] != 0).float().mean().item() > nonzero  # the convolutions fill the gaps
    with torch.no_grad():
        assert torch.allclose(small.classifier(first["dense"]), small(x), atol=1e-6)


def test_decoder_uses_pooling_indices(small):
    x = torch.rand(1, 3, 64, 64)
    _, indices, sizes = small.encode(x)
    assert [i.dtype for i in indices] == [torch.int64] * 5
    assert [tuple(s[-2:]) for s in sizes] == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    feats = small.encoder[0](x)
    assert torch.equal(indices[0], F.max_pool2d(feats, 2, 2, return_indices=True)[1])


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    model = SegNet(num_classes=2, width=0.0625)
    x = torch.rand(4, 3, 32, 32)
    y = (x[:, 0] > 0.5).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_bad_inputs():
    model = SegNet(num_classes=2, width=0.0625)
    with pytest.raises(ValueError, match="at least 32x32"):
        model(torch.rand(1, 3, 31, 64))
    with pytest.raises(ValueError, match=r"images must have shape \[N, 3, H, W\]"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="num_classes"):
        SegNet(num_classes=0)
    with pytest.raises(ValueError, match="width"):
        SegNet(num_classes=2, width=-1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_odd():
    model = SegNet(num_classes=3, width=0.125).cuda()
    assert model(torch.rand(2, 3, 37, 41, device="cuda")).shape == (2, 3, 37, 41)
