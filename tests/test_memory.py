"""seglab.models.memory and seglab.train.memory: decoder memory measured on real forward passes (SegNet vs U-Net vs
FCN-8s), training memory and the comparison table."""

import pytest
import torch

from seglab.models import create_model, decoder_memory
from seglab.models.base import DecoderKeeps
from seglab.models.memory import parameter_bytes
from seglab.train import memory_table, training_memory

SIZE = (64, 64)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {
        "segnet": create_model("segnet", num_classes=8, width=0.125),
        "unet": create_model("unet", num_classes=8, base_channels=8),  # equal width: 8 channels at full size
        "fcn8s": create_model("fcn8s", num_classes=8, width=0.125, fc6_kernel=3),
    }


def test_segnet_holds_int64_indices_of_each_pooling(models):
    mem = decoder_memory(models["segnet"], SIZE)
    shapes = [t[1] for t in mem.tensors]
    assert shapes == [(1, 8, 32, 32), (1, 16, 16, 16), (1, 32, 8, 8), (1, 64, 4, 4), (1, 64, 2, 2)]
    assert all(t[2] == torch.int64 for t in mem.tensors)
    # measured bytes equal 8 bytes per pooled position; the 2-bit encoding is a quarter byte per position
    positions = 8 * 32 * 32 + 16 * 16 * 16 + 32 * 8 * 8 + 64 * 4 * 4 + 64 * 2 * 2
    assert mem.bytes == 8 * positions
    assert mem.bytes_2bit == sum((8 * 32 * 32 // 4, 16 * 16 * 16 // 4, 32 * 8 * 8 // 4, 64 * 4 * 4 // 4, 64))


def test_segnet_below_unet_at_equal_width(models):
    seg, unet = decoder_memory(models["segnet"], SIZE), decoder_memory(models["unet"], SIZE)
    assert unet.bytes == 4 * (8 * 64 * 64 + 16 * 32 * 32 + 32 * 16 * 16 + 64 * 8 * 8)  # float32 skips
    assert seg.bytes < unet.bytes
    assert seg.bytes_2bit < unet.bytes / 30  # 2 bits per window vs 32 bits per pixel and channel
    # and at a non-square, odd size with a batch
    seg2, unet2 = decoder_memory(models["segnet"], (2, 3, 96, 80)), decoder_memory(models["unet"], (2, 3, 96, 80))
    assert seg2.bytes < unet2.bytes and seg2.bytes_2bit < unet2.bytes


def test_fcn8s_holds_pool3_pool4_scores(models):
    mem = decoder_memory(models["fcn8s"], SIZE)
    assert sorted(t[0] for t in mem.tensors) == ["score_pool3", "score_pool4"]
    assert mem.bytes == 4 * 8 * (8 * 8 + 4 * 4)
    assert mem.features_bytes == 4 * (32 * 8 * 8 + 64 * 4 * 4)  # the pool3/pool4 maps the score layers read


def test_training_memory_and_table(models):
    before = {k: v.clone() for k, v in models["segnet"].state_dict().items()}
    mem = training_memory(models["segnet"], SIZE)
    after = models["segnet"].state_dict()  # weights and batch-norm statistics untouched by the training-mode pass
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert mem["saved_bytes"] > 0 and (mem["cuda_peak_bytes"] is None) == (not torch.cuda.is_available())
    assert all(p.grad is None for p in models["segnet"].parameters())
    rows = memory_table(models, SIZE, training=False)
    assert [r["model"] for r in rows] == ["segnet", "unet", "fcn8s"]
    assert rows[0]["decoder_2bit_MiB"] is not None and rows[1]["decoder_2bit_MiB"] is None
    assert rows[0]["params_MiB"] == parameter_bytes(models["segnet"]) / 2**20


def test_memory_keeps_model_mode_and_rejects_bad_input(models):
    model = models["segnet"].train()
    decoder_memory(model, SIZE)
    assert model.training
    with pytest.raises(ValueError, match="input_size must be"):
        decoder_memory(model, (64,))
    with pytest.raises(TypeError, match=r"Conv2d .*implement decoder_keeps\(images\)"):
        decoder_memory(torch.nn.Conv2d(3, 3, 1), SIZE)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        decoder_memory("segnet", SIZE)


def test_saved_bytes_grow_with_input(models):
    small = training_memory(models["unet"], (32, 32))["saved_bytes"]
    large = training_memory(models["unet"], (64, 64))["saved_bytes"]
    assert 3.5 < large / small < 4.5  # activations scale with the number of pixels


def test_meta_device_gives_the_same_bytes(models):
    with torch.device("meta"):
        meta = create_model("segnet", num_classes=8, width=0.125)
        meta_unet = create_model("unet", num_classes=8, base_channels=8)
    real, fake = decoder_memory(models["segnet"], (2, 3, 67, 45)), decoder_memory(meta, (2, 3, 67, 45))
    assert (fake.bytes, fake.bytes_2bit) == (real.bytes, real.bytes_2bit)
    assert decoder_memory(meta_unet, SIZE).bytes == decoder_memory(models["unet"], SIZE).bytes


def test_decoder_memory_asks_the_model():
    class Keeper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1)

        def decoder_keeps(self, images):
            return DecoderKeeps("Keeper", [("map", self.conv(images))])

    mem = decoder_memory(Keeper(), (8, 4))
    assert (mem.architecture, mem.bytes, mem.bytes_2bit, mem.features_bytes) == ("Keeper", 2 * 8 * 4 * 4, None, None)
    assert mem.tensors == [("map", (1, 2, 8, 4), torch.float32, 2 * 8 * 4 * 4)]
    fcn = decoder_memory(create_model("fcn16s", num_classes=8, width=0.125, fc6_kernel=1), SIZE)
    assert fcn.architecture == "FCN-16s" and [t[0] for t in fcn.tensors] == ["score_pool4"]
