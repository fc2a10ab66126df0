"""FCN-32s/16s/8s and the classifier-to-FCN conversion (seglab/models/fcn.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from model_tester import NUM_CLASSES, SemanticModelTester, random_fcn
from torch import nn

from seglab.models import FCN, create_model, fcn_from_classifier
from seglab.models.fcn import fcn_stream_scores

K = 5


class TestFCN8sContract(SemanticModelTester):
    def make_model(self, **kw):
        return FCN(NUM_CLASSES, variant="8s", width=0.0625, fc6_kernel=1, **kw)

    def deprecated_calls(self):
        return [(lambda: FCN(NUM_CLASSES, "16s", width=0.0625, fc6_kernel=1), "FCN(3, variant='16s')"),
                (lambda: FCN(NUM_CLASSES, "8s", "vgg16", 0.0625, fc6_kernel=1),
                 "FCN(3, variant='8s', backbone='vgg16', width=0.0625)")]


class TestFCN32sGreyContract(SemanticModelTester):
    def make_model(self, **kw):
        return FCN(NUM_CLASSES, variant="32s", in_channels=1, width=0.0625, fc6_kernel=1, batch_norm=True, **kw)

    def deprecated_calls(self):
        return [(lambda: FCN(NUM_CLASSES, "32s", in_channels=1, width=0.0625, fc6_kernel=1), "variant='32s'")]


def test_old_positional_form_builds_the_same_model_and_refuses_clashes():
    torch.manual_seed(0)
    new = FCN(K, variant="16s", width=0.0625, fc6_kernel=1).state_dict()
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        old = FCN(K, "16s", width=0.0625, fc6_kernel=1).state_dict()
    assert list(old) == list(new) and all(torch.equal(old[k], new[k]) for k in new)
    with pytest.raises(TypeError, match="variant both by position and by keyword"):
        FCN(K, "16s", variant="8s")
    with pytest.raises(TypeError, match="only positional argument"):
        FCN(K, "16s", "vgg16", 0.5, None, 7)


def test_other_channel_counts_are_not_normalised_and_take_no_imagenet_weights():
    model = FCN(2, variant="32s", in_channels=4, width=0.0625, fc6_kernel=1)
    assert model.features[0].in_channels == 4 and model.mean.shape == (1, 4, 1, 1)
    assert torch.equal(model.mean, torch.zeros(1, 4, 1, 1)) and torch.equal(model.std, torch.ones(1, 4, 1, 1))
    with pytest.raises(ValueError, match="RGB"):
        FCN(2, variant="32s", in_channels=1, backbone_weights={})


def _tiny(variant: str, randomise: bool = False, **kw) -> FCN:
    """The shared small FCN (tests/model_tester.py) with a 3x3 fc6; ``randomise``: as after some training."""
    return random_fcn(K, variant, fc6_kernel=3, randomise=randomise, **kw).train()


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("size", [(97, 131), (32, 32), (64, 45)])
def test_output_has_input_size(variant, size):
    model = _tiny(variant, randomise=True).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        assert model(x).shape == (2, K, *size)


def test_registry_builds_each_variant():
    for variant in ["32s", "16s", "8s"]:
        model = create_model(f"fcn{variant}", num_classes=3, width=0.125, fc6_kernel=1)
        assert isinstance(model, FCN) and model.variant == variant and model.stride == int(variant[:-1])


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
def test_bilinear_upsampling_equals_interpolate_in_interior(factor):
    variant = {2: "8s", 8: "8s", 16: "16s", 32: "32s"}[factor]
    model = _tiny(variant).double()
    layer = model.up32to16 if factor == 2 else model.upsample
    x = torch.randn(2, K, 6, 7, dtype=torch.float64)
    with torch.no_grad():
        ours = layer(x)
    want = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == want.shape
    inner = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
    torch.testing.assert_close(ours[inner], want[inner], atol=1e-12, rtol=0)
    assert not torch.allclose(ours, want)  # the border differs (zero padding vs clamping): the test can see a change


def test_skip_score_layers_start_at_zero():
    model = _tiny("8s")
    for layer in (model.score_pool4, model.score_pool3, model.score_fr):
        assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0


def test_fresh_16s_predicts_what_its_32s_did():
    fcn32 = random_fcn(K, "32s", seed=1, fc6_kernel=3)
    fcn16 = FCN.from_coarser(fcn32, "16s").eval()
    fcn8 = FCN.from_coarser(fcn16, "8s").eval()
    x = torch.rand(1, 3, 160, 192)
    with torch.no_grad():
        coarse = fcn32.stream_scores(x)["32s"].double()
        out32, out16, out8 = fcn32(x).double(), fcn16(x).double(), fcn8(x).double()
    # exactly two chained bilinear upsamplings of the same coarse scores (pool4 adds zero) ...
    chained = F.interpolate(F.interpolate(coarse, scale_factor=2, mode="bilinear"), scale_factor=16, mode="bilinear")
    one = F.interpolate(coarse, scale_factor=32, mode="bilinear")
    inner = (slice(None), slice(None), slice(48, -48), slice(48, -48))
    torch.testing.assert_close(out16[inner], chained[inner], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out32[inner], one[inner], atol=1e-4, rtol=1e-4)
    # ... which is close to the single 32x upsampling: nearly all pixels keep their class
    assert (out16.argmax(1) == out32.argmax(1)).float().mean() > 0.9
    assert (out8.argmax(1) == out16.argmax(1)).float().mean() > 0.9
    assert (out16 - out32)[inner].abs().max() < 0.25 * out32[inner].abs().max()


def test_streams_sum_to_logits():
    model = _tiny("8s", randomise=True).eval()
    x = torch.rand(1, 3, 97, 131)
    with torch.no_grad():
        streams = fcn_stream_scores(model, x)
        logits = model(x)
    assert list(streams) == ["32s", "pool4", "pool3"]
    torch.testing.assert_close(sum(streams.values()), logits, atol=1e-5, rtol=1e-4)
    assert all(s.abs().max() > 0 for s in streams.values())


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_gradients_reach_every_layer(variant):
    model = _tiny(variant, dropout=0.0)
    x, t = torch.rand(2, 3, 64, 64), torch.randint(0, K, (2, 64, 64))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):  # score layers start at zero: after one step they pass gradient back to the backbone
        opt.zero_grad()
        F.cross_entropy(model(x), t).backward()
        opt.step()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert not model.upsample.weight.requires_grad  # the final upsampling is fixed bilinear, as in the paper


def test_small_input_raises_clear_error():
    model = _tiny("8s")
    with pytest.raises(ValueError, match=r"at least 32x32.*got 31x64; the nearest size that works is 32x64"):
        model(torch.rand(1, 3, 31, 64))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        model(torch.rand(1, 1, 64, 64))


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        FCN(3, variant="4s")
    with pytest.raises(ValueError, match="backbone"):
        FCN(3, backbone="resnet50")
    with pytest.raises(ValueError, match="fc6_kernel"):
        FCN(3, width=0.125, fc6_kernel=4)
    with pytest.raises(ValueError, match="width=1.0"):
        FCN(3, width=0.125, backbone_weights={})
    with pytest.raises(ValueError, match="finer"):
        FCN.from_coarser(_tiny("8s"), "32s")


def test_keeps_float64():
    model = _tiny("16s", randomise=True).eval().double()
    assert model(torch.rand(1, 3, 40, 40, dtype=torch.float64)).dtype == torch.float64


def test_width_one_matches_torchvision_vgg16_shapes():
    with torch.device("meta"):
        ours = FCN(21, variant="8s", width=1.0)
        theirs = torchvision.models.vgg16(weights=None)
    want = {k: tuple(v.shape) for k, v in theirs.features.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in ours.features.state_dict().items()}
    assert got == want and len(got) == 26
    assert ours.fc6.weight.numel() == theirs.classifier[0].weight.numel()


def test_batch_norm_variant_matches_vgg16_bn_and_survives_staging():
    with torch.device("meta"):
        ours = FCN(21, variant="8s", width=1.0, batch_norm=True)
        theirs = torchvision.models.vgg16_bn(weights=None)
    want = {k: tuple(v.shape) for k, v in theirs.features.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.features.state_dict().items()} == want
    fcn32 = _tiny("32s", randomise=True, batch_norm=True).eval()
    fcn16 = FCN.from_coarser(fcn32, "16s")
    assert fcn16.batch_norm and torch.equal(fcn16.features[1].weight, fcn32.features[1].weight)
    model = _tiny("8s", batch_norm=True).train()
    with torch.no_grad():
        model.score_fr.weight.normal_(0, 0.1)
    F.cross_entropy(model(torch.rand(2, 3, 64, 64)), torch.randint(0, K, (2, 64, 64))).backward()
    assert model.features[0].weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_loads_torchvision_vgg16_state_dict_from_disk(tmp_path):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    path = tmp_path / "vgg16.pth"
    torch.save(vgg.state_dict(), path)
    model = FCN(4, variant="8s", backbone_weights=path)
    for (k, a), b in zip(model.features.state_dict().items(), vgg.features.state_dict().values()):
        assert torch.equal(a, b), k
    assert torch.equal(model.fc6.weight.flatten(1), vgg.classifier[0].weight)
    assert torch.equal(model.fc7.weight.flatten(1), vgg.classifier[3].weight)


def _classifier() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2),  # "valid" convolutions: see fcn_from_classifier's docstring
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 3 * 3, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 5),
    ).double().eval()


def test_fcn_from_classifier_heatmap_matches_classifier_on_crops():
    clf = _classifier()
    net = fcn_from_classifier(clf, (18, 18)).eval()
    assert net.stride == (4, 4)
    x = torch.rand(2, 3, 42, 54, dtype=torch.float64)
    with torch.no_grad():
        heat = net(x)
        assert heat.shape == (2, 5, (42 - 18) // 4 + 1, (54 - 18) // 4 + 1)
        for i in range(heat.shape[2]):
            for j in range(heat.shape[3]):
                crop = x[:, :, 4 * i: 4 * i + 18, 4 * j: 4 * j + 18]
                torch.testing.assert_close(heat[:, :, i, j], clf(crop), atol=1e-10, rtol=0)
        # the paper's Figure 2: on an input the classifier's own size, the heatmap is one pixel = its output
        torch.testing.assert_close(net(x[:, :, :18, :18])[:, :, 0, 0], clf(x[:, :, :18, :18]))


def test_fcn_from_classifier_rejects_what_it_cannot_convert():
    with pytest.raises(ValueError, match="Flatten"):
        fcn_from_classifier(nn.Sequential(nn.Conv2d(3, 4, 3)), (8, 8))
    with pytest.raises(TypeError, match="nn.Sequential"):
        fcn_from_classifier(nn.Conv2d(3, 4, 3), (8, 8))
    bad = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 3), nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="BatchNorm1d"):
        fcn_from_classifier(bad, (8, 8))
