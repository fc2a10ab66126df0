"""U-Net training throughput (images/s) at 128x128, batch 8, depth 4, same padding.

Rows: the 2x2 up-convolution network (base 16 and 64 channels), the bilinear-upsampling variant (ratio to the
up-convolution network of the same width, measured side by side), and on CUDA mixed precision + channels_last
(ratio to float32). One training step = forward, cross-entropy, backward, AdamW step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from harness import Row, device_name, median_seconds

from seglab.models.unet import UNet


def _step_fn(model, images, masks, amp: bool):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    device_type = images.device.type

    def step():
        with torch.autocast(device_type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def _images_per_second(device, base, size, batch, up_mode="transpose", amp=False, channels_last=False,
                       repeats=5, warmup=1):
    torch.manual_seed(0)
    model = UNet(8, depth=4, base_channels=base, padding="same", up_mode=up_mode).to(device)
    images = torch.rand(batch, 3, size, size, device=device)
    masks = torch.randint(0, 8, (batch, size, size), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    seconds = median_seconds(_step_fn(model, images, masks, amp), repeats=repeats, warmup=warmup, device=device)
    return batch / seconds


def rows(device, quick: bool = False):
    device = torch.device(device)
    name = device_name(device)
    size, batch, repeats = (32, 2, 1) if quick else (128, 8, 5)
    widths = [4] if quick else ([16, 64] if device.type == "cuda" else [16])
    if device.type == "cuda" and not quick:
        batch = 32
    for base in widths:
        ref = _images_per_second(device, base, size, batch, repeats=repeats)
        tag = f"{size}x{size} batch {batch}, base {base}"
        yield Row(f"U-Net train step, up-conv ({tag})", ref, "images/s", name, None, "depth 4, same padding, fp32")
        bil = _images_per_second(device, base, size, batch, up_mode="bilinear", repeats=repeats)
        yield Row(f"U-Net train step, bilinear ({tag})", bil, "images/s", name, bil / ref, "ratio to up-conv")
        if device.type == "cuda":
            fast = _images_per_second(device, base, size, batch, amp=True, channels_last=True, repeats=repeats)
            yield Row(f"U-Net train step, AMP + channels_last ({tag})", fast, "images/s", name, fast / ref,
                      "ratio to fp32")
