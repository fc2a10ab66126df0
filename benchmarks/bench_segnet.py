"""SegNet training throughput (images/s) and the chapter's memory table (SegNet vs U-Net vs FCN-8s).

Training rows: one step = forward, cross-entropy, backward, AdamW step at 128x128, batch 8, 8 classes; SegNet at
width 0.25 (16..128 channels) with the ratio to a U-Net of equal width (base 16, depth 4, batch norm) measured side
by side. On CUDA also width 1.0 (VGG16 channels). Memory rows (width 1.0, 360x480 like the paper's CamVid input,
batch 1): decoder memory (int64 indices, 2-bit indices, U-Net skips, FCN-8s score maps) and parameters; the
activations saved for one training step (and on CUDA the peak allocated memory) at that size on CUDA, at 128x128
and width 0.25 on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from harness import Row, device_name, median_seconds

from seglab.models import create_model
from seglab.models.memory import decoder_memory, parameter_bytes
from seglab.train.memory import training_memory


def _images_per_second(model, device, size, batch, repeats, warmup):
    images = torch.rand(batch, 3, size, size, device=device)
    masks = torch.randint(0, 8, (batch, size, size), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step():
        loss = F.cross_entropy(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch / median_seconds(step, repeats=repeats, warmup=warmup, device=device)


def _models(width: float, device):
    torch.manual_seed(0)
    return {
        "SegNet": create_model("segnet", num_classes=8, width=width).to(device),
        "U-Net": create_model("unet", num_classes=8, base_channels=max(1, round(64 * width)),
                              batch_norm=True).to(device),
        "FCN-8s": create_model("fcn8s", num_classes=8, width=width, fc6_kernel=7 if width == 1.0 else 3).to(device),
    }


def rows(device, quick: bool = False):
    device = torch.device(device)
    name = device_name(device)
    size, batch, repeats, warmup = (32, 2, 1, 0) if quick else (128, 8, 5, 1)
    widths = [0.0625] if quick else ([0.25, 1.0] if device.type == "cuda" else [0.25])
    for width in widths:
        models = _models(width, device)
        seg = _images_per_second(models["SegNet"], device, size, batch, repeats, warmup)
        unet = _images_per_second(models["U-Net"], device, size, batch, repeats, warmup)
        tag = f"{size}x{size} batch {batch}, width {width}"
        yield Row(f"SegNet train step ({tag})", seg, "images/s", name, seg / unet, "ratio to U-Net of equal width")
        yield Row(f"U-Net train step ({tag})", unet, "images/s", name, None, "base 64*width, depth 4, batch norm")
    width, mem_size = (0.0625, (1, 3, 32, 32)) if quick else (1.0, (1, 3, 360, 480))
    models = _models(width, device)
    tag = f"{mem_size[-2]}x{mem_size[-1]}, width {width}"
    unet_bytes = decoder_memory(models["U-Net"], mem_size).bytes
    for label, model in models.items():
        mem = decoder_memory(model, mem_size)
        what = {"SegNet": "int64 pooling indices", "U-Net": "copied skip maps", "FCN-8s": "pool3/pool4 scores"}[label]
        yield Row(f"{label} decoder memory ({tag})", mem.bytes / 2**20, "MiB", name, mem.bytes / unet_bytes,
                  f"{what}; ratio to U-Net")
        if mem.bytes_2bit is not None:
            yield Row(f"SegNet decoder memory, 2-bit ({tag})", mem.bytes_2bit / 2**20, "MiB", name,
                      mem.bytes_2bit / unet_bytes, "paper's encoding; ratio to U-Net")
        yield Row(f"{label} parameters (width {width})", parameter_bytes(model) / 2**20, "MiB", name, None,
                  "paper: SegNet 117 MB, FCN 539 MB (VOC classes)")
    # one training step's activations: full size on CUDA; on a CPU a width-0.25 model at 128x128 keeps it short
    if device.type != "cuda" and not quick:
        width, mem_size = 0.25, (1, 3, 128, 128)
        models = _models(width, device)
    tag = f"{mem_size[-2]}x{mem_size[-1]}, width {width}"
    for label, model in models.items():
        if quick and label != "SegNet":
            continue
        train = training_memory(model, mem_size)
        yield Row(f"{label} saved activations, 1 train step ({tag})", train["saved_bytes"] / 2**20, "MiB", name,
                  None, "saved-tensor hooks")
        if train["cuda_peak_bytes"] is not None:
            yield Row(f"{label} CUDA peak, 1 train step ({tag})", train["cuda_peak_bytes"] / 2**20, "MiB", name,
                      None, "max_memory_allocated minus before")
