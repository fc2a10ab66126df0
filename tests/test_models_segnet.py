"""seglab.models.segnet: shapes, odd sizes, VGG16-BN compatibility, the sparse/dense decoder maps."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from model_tester import NUM_CLASSES, SemanticModelTester
from torch import nn

from seglab.models import SegNet, create_model


class TestSegNetContract(SemanticModelTester):
    def make_model(self, **kw):
        return SegNet(NUM_CLASSES, width=0.0625, **kw)

    def deprecated_calls(self):
        return [(lambda: SegNet(3, NUM_CLASSES, width=0.0625), "num_classes=")]


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return create_model("segnet", num_classes=5, width=0.125).eval()


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
    model = create_model("segnet", num_classes=3, backbone_weights=str(path)).eval()
    vgg.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        # the encoder's first stage computes what VGG's first 6 layers compute
        assert torch.allclose(model.encoder[0](x), vgg[:6](x), atol=1e-5)
    with pytest.raises(ValueError, match="width=1.0"):
        SegNet(num_classes=3, width=0.5).load_backbone(vgg)
    with pytest.warns(DeprecationWarning, match="load_backbone"), pytest.raises(ValueError, match="width=1.0"):
        SegNet(num_classes=3, width=0.5).load_vgg16_bn(vgg)
    with pytest.warns(DeprecationWarning, match="backbone_weights="):
        old = SegNet(3, vgg_weights={f"features.{k}": v for k, v in vgg.state_dict().items()})
    assert torch.equal(old.encoder[0][0].weight, model.encoder[0][0].weight)
    with pytest.raises(TypeError, match="only backbone_weights="):
        SegNet(3, vgg_weights=path, backbone_weights=path)


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


@pytest.mark.slow  # the contract tester checks that gradients reach every parameter
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
    with pytest.raises(ValueError, match="32x32 for SegNet .* got 31x64; the nearest size that works is 32x64"):
        model(torch.rand(1, 3, 31, 64))
    with pytest.raises(ValueError, match=r"images must have shape \[N, 3, H, W\]"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="num_classes"):
        SegNet(num_classes=0)
    with pytest.raises(ValueError, match="width"):
        SegNet(num_classes=2, width=-1)
