"""RoI pooling rows: seglab's pure-PyTorch roi_align / roi_pool (forward + backward) against torchvision's native
kernels, measured side by side at Mask R-CNN sizes, and the small Mask R-CNN's training speed.

Sizes: the box branch of torchvision's Mask R-CNN (512 sampled RoIs per image, 7x7, sampling_ratio=2) on a 256-channel
FPN level of an 800-px image pair (P3, 100x100, stride 8), and the mask branch (128 RoIs, 14x14) on the same map;
plus the small CPU model's box branch (8 images x 64 RoIs on a 64-channel 32x32 map). Target: roi_align within 3x
of torchvision on CPU. The rows alternate the two implementations so that machine load hits both alike.
"""

from __future__ import annotations

import statistics
import time

import torch
import torchvision.ops as tvo
from harness import Row, device_name, sync

from seglab.ops import roi_align, roi_pool


def _rois(k, n, image, lo, hi, gen, device):
    wh = torch.rand(k, 2, generator=gen) * (hi - lo) + lo
    xy = torch.rand(k, 2, generator=gen) * (image - wh)
    return torch.cat([torch.randint(0, n, (k, 1), generator=gen).float(), xy, xy + wh], 1).to(device)


def _side_by_side(ours, theirs, repeats, device):
    ours(), theirs()  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (theirs, t_theirs)):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(t_ours), statistics.median(t_theirs)


def op_rows(device, quick):
    configs = ([("tiny", 1, 8, 16, 0.25, 16, 7, 8, 40)] if quick else
               [("box branch P3", 2, 256, 100, 1 / 8, 1024, 7, 32, 256),
                ("mask branch P3", 2, 256, 100, 1 / 8, 256, 14, 32, 256),
                ("small model box", 8, 64, 32, 1 / 4, 512, 7, 8, 64)])
    repeats = 2 if quick else 5
    gen = torch.Generator().manual_seed(0)
    for name, n, c, side, scale, k, p, lo, hi in configs:
        x = torch.randn(n, c, side, side, device=device, requires_grad=True)
        rois = _rois(k, n, side / scale, lo, hi, gen, device)
        grad = torch.randn(k, c, p, p, device=device)
        size = f"{k} RoIs, {c}x{side}x{side} map, {p}x{p}"
        for op_name, ours_op, tv_op, args in (("roi_align", roi_align, tvo.roi_align, (p, scale, 2)),
                                              ("roi_pool", roi_pool, tvo.roi_pool, (p, scale))):
            def run(op, x=x, rois=rois, args=args, grad=grad):
                def step():
                    x.grad = None
                    op(x, rois, *args).backward(grad)
                return step
            t_ours, t_tv = _side_by_side(run(ours_op), run(tv_op), repeats, device)
            target = "; target <= 3x" if op_name == "roi_align" else ""
            yield Row(f"{op_name} fwd+bwd ({name})", t_ours * 1e3, "ms", device_name(device), t_ours / t_tv,
                      f"torchvision {t_tv * 1e3:.1f} ms; {size}{target}")


def training_row(device, quick):
    from seglab.models import create_model

    batch, steps = (2, 1) if quick else (8, 4)
    gen = torch.Generator().manual_seed(0)
    images, targets = [], []
    for _ in range(batch):
        masks = torch.zeros(2, 128, 128, dtype=torch.uint8)
        masks[0, 20:60, 30:70] = 1
        masks[1, 70:110, 60:90] = 1
        images.append((torch.rand(3, 128, 128, generator=gen) * 0.3 + masks.amax(0) * 0.6).to(device))
        targets.append({"boxes": torch.tensor([[30.0, 20.0, 70.0, 60.0], [60.0, 70.0, 90.0, 110.0]], device=device),
                        "labels": torch.tensor([1, 3], device=device), "masks": masks.to(device)})
    for impl in (("torchvision",) if quick else ("torchvision", "seglab")):
        torch.manual_seed(0)
        model = create_model("mask_rcnn", num_classes=5, roi_align_impl=impl).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3)

        def step(model=model, opt=opt):
            loss = sum(model(images, targets).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
        if not quick:
            step()  # warm-up
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        seconds = (time.perf_counter() - start) / steps
        yield Row(f"mask_rcnn small train ({impl} roi_align)", batch / seconds, "images/s", device_name(device),
                  None, f"batch {batch}, 128 px, {seconds:.2f} s/step")


def rows(device, quick=False):
    yield from op_rows(device, quick)
    yield from training_row(device, quick)
