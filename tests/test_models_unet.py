"""U-Net: the paper's configuration (23 conv layers, parameter count, 572 -> 388), size arithmetic, same mode."""

import pytest
import torch
from model_tester import NUM_CLASSES, SemanticModelTester
from torch import nn

from seglab.models import UNet, create_model
from seglab.models.unet import CropAndConcat, center_crop, unet_output_size, unet_size_trace, unet_valid_input_sizes


class TestUNetContract(SemanticModelTester):
    sizes = ((45, 67), (8, 8))
    bad_size, bad_size_hint = (7, 20), "8 (-> 8)"

    def make_model(self, **kw):
        return UNet(NUM_CLASSES, depth=3, base_channels=4, padding="same", batch_norm=True, **kw)

    def deprecated_calls(self):
        return [(lambda: UNet(3, NUM_CLASSES, depth=1, base_channels=2), "num_classes=")]


class TestUNetBilinearContract(TestUNetContract):
    def make_model(self, **kw):
        return UNet(NUM_CLASSES, depth=3, base_channels=4, padding="same", up_mode="bilinear", **kw)


def test_old_positional_order_warns_and_builds_the_same_network():
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match=r"UNet\(num_classes=8, in_channels=3\)"):
        old = UNet(3, 8, depth=2, base_channels=2, padding="same")
    torch.manual_seed(0)
    new = UNet(8, depth=2, base_channels=2, padding="same")
    assert (old.in_channels, old.num_classes) == (3, 8)
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    with pytest.raises(TypeError, match="by keyword"):
        UNet(3, 8, 2)
    with pytest.raises(TypeError, match="by keyword"):
        UNet(1, 2, in_channels=1)  # ambiguous: never reinterpreted


def conv_params(cin, cout, k):
    return cin * cout * k * k + cout


def paper_param_count(in_channels=1, num_classes=2):
    """Count the paper's layers by hand: 9 double convolutions, 4 up-convolutions, one 1x1 output layer."""
    w = [64, 128, 256, 512, 1024]
    total = conv_params(in_channels, 64, 3) + conv_params(64, 64, 3)
    for a, b in zip(w[:-1], w[1:]):  # contracting path
        total += conv_params(a, b, 3) + conv_params(b, b, 3)
    for a, b in zip(w[::-1][:-1], w[::-1][1:]):  # expanding path: 2x2 up-conv halves, concat doubles
        total += conv_params(a, b, 2) + conv_params(2 * b, b, 3) + conv_params(b, b, 3)
    return total + conv_params(64, num_classes, 1)


def test_paper_configuration_layers_and_parameters():
    model = UNet(in_channels=1, num_classes=2)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 23
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in convs) == 4
    assert sum(p.numel() for p in model.parameters()) == paper_param_count() == 31_030_658


def test_paper_output_size_572_to_388_arithmetic():
    assert unet_output_size(572) == 388
    assert UNet(2, in_channels=1).output_size((572, 572)) == (388, 388)
    trace = unet_size_trace(572)
    # the sizes printed in the paper's figure 1
    assert [r["out"] for r in trace if r["stage"] == "encoder"] == [568, 280, 136, 64]
    assert [r["out"] for r in trace if r["stage"] == "bottom"] == [28]
    assert [(r["up"], r["skip"], r["out"]) for r in trace if r["stage"] == "decoder"] == [
        (56, 64, 52), (104, 136, 100), (200, 280, 196), (392, 568, 388)]


def test_paper_forward_572_gives_388_thin():
    # the paper's sizes with thin layers (the 64-channel net takes seconds on 2 cores)
    model = UNet(2, in_channels=1, base_channels=2)
    out = model(torch.randn(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    records = model.trace(torch.randn(1, 1, 572, 572))
    assert [r.crop for r in records if r.stage == "decoder"] == [4, 16, 40, 88]


@pytest.mark.slow
def test_paper_forward_full_width():
    with torch.no_grad():
        assert UNet(2, in_channels=1)(torch.zeros(1, 1, 572, 572)).shape == (1, 2, 388, 388)


def test_valid_sizes_are_one_every_16_and_all_work():
    sizes = unet_valid_input_sizes(300, 700)
    assert 572 in sizes and all(b - a == 16 for a, b in zip(sizes, sizes[1:]))
    model = UNet(2, depth=2, base_channels=2)
    for s in unet_valid_input_sizes(1, 60, depth=2):
        assert model(torch.zeros(1, 3, s, s)).shape[-1] == model.output_size(s)


def test_invalid_size_error_names_nearest_valid_sizes():
    with pytest.raises(ValueError, match=r"556 \(-> 372\), 572 \(-> 388\)"):
        unet_output_size(570)
    model = UNet(2, base_channels=2)
    with pytest.raises(ValueError, match="nearest valid input sizes: .*188"):
        model(torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        model(torch.zeros(1, 1, 188, 188))
    with pytest.raises(ValueError, match="padding"):
        UNet(2, padding="reflect")
    with pytest.raises(ValueError, match="up_mode"):
        UNet(2, up_mode="nearest")


@pytest.mark.parametrize("up_mode", ["transpose", "bilinear"])
@pytest.mark.parametrize("size", [(97, 131), (16, 16), (17, 33), (128, 128)])
def test_same_mode_keeps_any_input_size(size, up_mode):
    torch.manual_seed(0)
    model = UNet(5, depth=4, base_channels=4, padding="same", up_mode=up_mode, batch_norm=True)
    out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 5, *size)
    assert model.output_size(size) == size


def test_same_mode_too_small_input_is_rejected():
    with pytest.raises(ValueError, match="too small"):
        UNet(2, depth=4, base_channels=2, padding="same")(torch.zeros(1, 3, 15, 15))


def test_crop_and_concat_takes_the_centre():
    skip = torch.arange(36.0).reshape(1, 1, 6, 6)
    up = torch.zeros(1, 2, 2, 2)
    out = CropAndConcat()(up, skip)
    assert out.shape == (1, 3, 2, 2)
    assert torch.equal(out[0, 0], torch.tensor([[14.0, 15.0], [20.0, 21.0]]))
    assert torch.equal(center_crop(skip, 6, 6), skip)
    with pytest.raises(ValueError, match="larger"):
        center_crop(skip, 7, 6)


def test_return_skips_shapes_and_bytes():
    model = UNet(2, depth=3, base_channels=4, padding="same")
    logits, skips = model(torch.zeros(2, 3, 32, 40), return_skips=True)
    assert logits.shape == (2, 2, 32, 40)
    assert [tuple(s.shape) for s in skips] == [(2, 4, 32, 40), (2, 8, 16, 20), (2, 16, 8, 10)]
    records = model.trace(torch.zeros(2, 3, 32, 40))
    enc = [r for r in records if r.stage == "encoder"]
    assert [r.nbytes for r in enc] == [s.numel() * 4 for s in skips]


def test_registry_and_gradients_and_dtype():
    model = create_model("unet", num_classes=8, base_channels=4, depth=3)
    assert model.padding == "same"
    x = torch.randn(2, 3, 24, 24, dtype=torch.float64, requires_grad=True)
    out = model.double()(x)
    assert out.dtype == torch.float64 and out.shape == (2, 8, 24, 24)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
