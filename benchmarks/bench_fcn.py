"""FCN rows: training images/s and inference ms/image for FCN-32s, FCN-16s and FCN-8s.

Full settings are the lecture's: width 0.25, fc6 kernel 3, BatchNorm, 128x128 images, batch 16 (AdamW); on CUDA
width 1.0 (VGG16's own channels). Each variant's ratio
is against FCN-32s measured in the same process: the skip streams cost little next to the VGG16 backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from harness import Row, device_name, median_seconds

from seglab.models import FCN


def rows(device, quick: bool = False):
    device = torch.device(device)
    width, size, batch, repeats = (0.0625, 32, 1, 1) if quick else (0.25, 128, 16, 5)
    if device.type == "cuda" and not quick:
        width, batch = 1.0, 16  # the paper's width on a GPU
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=g).to(device)
    masks = torch.randint(0, 8, (batch, size, size), generator=g).to(device)
    name = device_name(device)
    reference = {}
    for variant in ("32s", "16s", "8s"):
        torch.manual_seed(0)
        model = FCN(8, variant, width=width, fc6_kernel=3, batch_norm=True).to(device)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def step(model=model, opt=opt):
            loss = F.cross_entropy(model(images), masks)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        model.train()
        train_s = median_seconds(step, repeats=repeats, warmup=1, device=device)
        model.eval()
        with torch.no_grad():
            infer_s = median_seconds(lambda m=model: m(images), repeats=repeats, warmup=1, device=device)
        reference.setdefault("train", train_s)
        reference.setdefault("infer", infer_s)
        note = f"width {width}, {size}x{size}, batch {batch}"
        yield Row(f"fcn: FCN-{variant} training", batch / train_s, "images/s", name,
                  ratio=reference["train"] / train_s, note=note + "; ratio = speed vs FCN-32s")
        yield Row(f"fcn: FCN-{variant} inference", 1000 * infer_s / batch, "ms/image", name,
                  ratio=infer_s / reference["infer"], note=note + "; ratio = time vs FCN-32s")
