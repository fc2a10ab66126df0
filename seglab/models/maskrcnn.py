"""Mask R-CNN (He et al. 2017, arXiv 1703.06870) on torchvision's ``MaskRCNN``, with seglab's RoI poolers.

``mask_rcnn(num_classes, backbone="small")`` is a small FPN Mask R-CNN that trains in a lecture on a CPU at 128 px;
``backbone="resnet50_fpn"`` is the paper-scale model (ResNet-50-FPN) for GPUs, with weights only from a local file.
``pooler="roi_pool"`` swaps both poolers for RoIPool (the paper's ablation, Table 2c);
``roi_align_impl`` picks the RoIAlign op (the same outputs either way): ``"auto"`` (the default) runs torchvision's
kernel when the features are on CUDA and :func:`seglab.ops.roi_align` on a CPU (the faster of the two on each,
decided at every call, so a model moved with ``.to()`` follows); ``"seglab"`` or ``"torchvision"`` force one.
:func:`roi_align_impl_in_use` says which one the model runs on its current device.

Departures from the paper: the small backbone is a plain 4-stage CNN with BatchNorm (not a ResNet), the FPN has 3
levels (strides 4/8/16) with one anchor size each, and torchvision's Mask R-CNN uses RoIAlign with
``aligned=False`` (Detectron's first version), as the paper did.

The small model is sized to its data (1-6 things of 15-60 px on 128 px images): its RPN keeps 600 boxes per level
before NMS and 300 after it in training (150 at test time) instead of 2000 / 1000, plenty for a handful of objects
(NMS was a quarter of a CPU step).

FPN level rule: an RoI of side ``s = sqrt(w h)`` pools from level ``floor(4 + log2(s / canonical_scale))`` (FPN paper,
Eq. 1), clamped to the levels the model has. With torchvision's ``canonical_scale=224`` every thing in our scenes
(side < 112 px) pools from the finest map, stride 4, where RoIPool's rounding moves an edge by at most 2 px.
``canonical_scale=36`` (224 scaled from ~800 px COCO images to our 128 px) sends things of 18-36 px to stride 8 and
larger ones to stride 16, closer to the paper's single stride-16 (C4) map of its Table 2c.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seglab.models.base import legacy_positionals, load_weights, renamed_keyword

__all__ = ["mask_rcnn", "SmallBackbone", "mask_loss_reference", "capture_mask_loss_inputs", "swap_poolers", "detect",
           "roi_align_impl_in_use"]

FEATMAPS = ["0", "1", "2"]


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallBackbone(nn.Module):
    """4 stages (16/32/64/128 channels, strides 2/4/8/16) and an FPN with ``out_channels`` on strides 4/8/16.

    ``forward(images float[N, 3, H, W])`` -> ``OrderedDict`` with ``"0"`` ``[N, C, H/4, W/4]``, ``"1"`` (H/8)
    and ``"2"`` (H/16).
    """

    def __init__(self, widths=(16, 32, 64, 128), out_channels: int = 64):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        chans = [3, *widths]
        self.stages = nn.ModuleList(
            nn.Sequential(_conv_bn(chans[i], chans[i + 1], 2), _conv_bn(chans[i + 1], chans[i + 1], 1))
            for i in range(len(widths))
        )
        self.fpn = FeaturePyramidNetwork(list(widths[1:]), out_channels)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.fpn(OrderedDict((name, f) for name, f in zip(FEATMAPS, feats[1:])))


_POOL_IMPLS = ("torchvision", "seglab")


def _pooler(kind: str, impl: str, old, canonical_scale=None):
    """A pooler of ``kind`` with the size, sampling ratio, feature maps and FPN level rule of ``old`` (its
    ``canonical_scale`` replaced when one is given)."""
    from torchvision.ops import MultiScaleRoIAlign as TVMultiScaleRoIAlign

    from seglab.ops import MultiScaleRoIAlign, MultiScaleRoIPool

    args = (old.featmap_names, old.output_size, old.sampling_ratio)
    levels = {"canonical_scale": canonical_scale or old.canonical_scale, "canonical_level": old.canonical_level}
    if kind == "roi_pool":
        return MultiScaleRoIPool(*args, **levels, impl=impl)
    if impl == "torchvision":
        return TVMultiScaleRoIAlign(*args, **levels)
    return MultiScaleRoIAlign(*args, **levels, impl=impl)


def swap_poolers(model, pooler: str = "roi_align", roi_align_impl: str = "auto",
                 roi_pool_impl: str = "torchvision", canonical_scale: int | None = None):
    """Replace the box (7x7) and mask (14x14) poolers of a torchvision Mask R-CNN in place; returns the model.

    The new poolers keep the old ones' output sizes, sampling ratios, feature maps and FPN level rule, except that
    ``canonical_scale`` (when given) sets the RoI side that pools from level 4 (see the module docstring).
    ``roi_align_impl`` picks the RoIAlign op and ``roi_pool_impl`` the RoIPool op: ``"torchvision"`` (native kernel)
    or ``"seglab"`` (:func:`seglab.ops.roi_align` / :func:`seglab.ops.roi_pool`, same values); ``roi_align_impl="auto"``
    picks torchvision's kernel on CUDA and seglab's op elsewhere at every call (:func:`seglab.ops.roi_align_impl_for`).
    """
    from seglab.ops import ROI_ALIGN_IMPLS

    if pooler not in ("roi_align", "roi_pool"):
        raise ValueError(f"pooler must be 'roi_align' or 'roi_pool', got {pooler!r}")
    if roi_align_impl not in ROI_ALIGN_IMPLS:
        raise ValueError(f"roi_align_impl must be one of {', '.join(map(repr, ROI_ALIGN_IMPLS))}, "
                         f"got {roi_align_impl!r}")
    if roi_pool_impl not in _POOL_IMPLS:
        raise ValueError(f"roi_pool_impl must be 'torchvision' or 'seglab', got {roi_pool_impl!r}")
    number = isinstance(canonical_scale, (int, float)) and not isinstance(canonical_scale, bool)
    if canonical_scale is not None and not (number and canonical_scale > 0):
        raise ValueError(f"canonical_scale must be a positive number of pixels, got {canonical_scale!r}")
    heads = model.roi_heads
    for attr in ("box_roi_pool", "mask_roi_pool"):
        old = getattr(heads, attr)
        impl = roi_align_impl if pooler == "roi_align" else roi_pool_impl
        setattr(heads, attr, _pooler(pooler, impl, old, canonical_scale))
    return model


def _small_maskrcnn(num_classes: int, **kwargs):
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign as TVMultiScaleRoIAlign

    backbone = SmallBackbone()
    c = backbone.out_channels
    options = dict(
        min_size=128, max_size=128, box_batch_size_per_image=64,
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=150,
        rpn_anchor_generator=AnchorGenerator(((12,), (24,), (48,)), ((0.5, 1.0, 2.0),) * 3),
        box_roi_pool=TVMultiScaleRoIAlign(FEATMAPS, 7, 2),
        mask_roi_pool=TVMultiScaleRoIAlign(FEATMAPS, 14, 2),
        box_head=TwoMLPHead(c * 7 * 7, 256), box_predictor=FastRCNNPredictor(256, num_classes),
        mask_head=MaskRCNNHeads(c, (64, 64), 1), mask_predictor=MaskRCNNPredictor(64, 64, num_classes),
    )
    options.update(kwargs)
    return MaskRCNN(backbone, num_classes=None, **options)


@legacy_positionals("backbone", "pooler", "roi_align_impl")
def mask_rcnn(num_classes: int, *, backbone: str = "small", pooler: str = "roi_align", roi_align_impl: str = "auto",
              weights=None, roi_pool_impl: str = "torchvision", canonical_scale: int | None = None, weights_path=None,
              **kwargs):
    """A torchvision ``MaskRCNN``: ``mask_rcnn(num_classes, *, backbone="small", ...)``, everything after
    ``num_classes`` a keyword (the old positional ``mask_rcnn(5, "small", "roi_pool")`` works for this release, with
    a ``DeprecationWarning``).

    Args:
        num_classes: classes including the background (5 for the scenes: background + 4 thing classes).
        backbone: ``"small"`` (CPU-sized, ``min_size = max_size = 128``) or ``"resnet50_fpn"`` (paper scale;
            random init unless ``weights`` is a local state dict of ``maskrcnn_resnet50_fpn``).
        pooler: ``"roi_align"`` (Mask R-CNN) or ``"roi_pool"`` (Fast R-CNN's quantized pooling: the ablation).
        roi_align_impl: ``"auto"`` (torchvision's kernel when the features are on CUDA, where seglab's op is 3-4x
            slower; :func:`seglab.ops.roi_align` elsewhere, where it is the faster one: a CPU training step takes
            about half the time), or force ``"torchvision"`` or ``"seglab"``: the same values either way.
            :func:`roi_align_impl_in_use` says which op runs.
        weights: a whole-model state dict to load: a local path (a state dict or a seglab checkpoint holding
            ``"model"``) or a mapping. ``weights_path`` is its deprecated name.
        roi_pool_impl: the RoIPool op when ``pooler="roi_pool"``: ``"torchvision"`` (native kernel, the default:
            seglab's gather-based :func:`seglab.ops.roi_pool` gives the same values but is several times slower).
        canonical_scale: the FPN level rule's RoI side for level 4 (None: torchvision's 224; 36 sends our things to
            strides 8 and 16, see the module docstring).
        **kwargs: passed to ``MaskRCNN`` (e.g. ``min_size``, ``box_detections_per_img``, ``rpn_post_nms_top_n_train``).

    In train mode ``model(images, targets)`` returns the loss dict (``loss_classifier``, ``loss_box_reg``,
    ``loss_mask``, ``loss_objectness``, ``loss_rpn_box_reg``); in eval mode a list of
    ``{"boxes" [D, 4], "labels" [D], "scores" [D], "masks" float[D, 1, H, W]}``.
    """
    weights = renamed_keyword("weights_path", "weights", weights_path, weights, "mask_rcnn")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (it counts the background), got {num_classes!r}")
    if backbone == "small":
        model = _small_maskrcnn(num_classes, **kwargs)
    elif backbone == "resnet50_fpn":
        from torchvision.models.detection import maskrcnn_resnet50_fpn

        model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)
    else:
        raise ValueError(f"backbone must be 'small' or 'resnet50_fpn', got {backbone!r}")
    if weights is not None:
        model.load_state_dict(load_weights(weights))
    return swap_poolers(model, pooler, roi_align_impl, roi_pool_impl, canonical_scale)


def roi_align_impl_in_use(model, device=None) -> str | None:
    """The RoIAlign op that ``model``'s poolers run on ``device`` (default: where its parameters are):
    ``"seglab"`` or ``"torchvision"``; None when it pools with RoIPool. What a run records next to its metrics."""
    from torchvision.ops import MultiScaleRoIAlign as TVMultiScaleRoIAlign

    from seglab.ops import MultiScaleRoIAlign, roi_align_impl_for

    pooler = model.roi_heads.box_roi_pool
    if device is None:
        device = next(model.parameters()).device
    if isinstance(pooler, MultiScaleRoIAlign):
        return roi_align_impl_for(pooler.impl, device)
    if isinstance(pooler, TVMultiScaleRoIAlign) and type(pooler).__module__.startswith("torchvision"):
        return "torchvision"
    return None


def mask_loss_reference(mask_logits: Tensor, proposals: list, gt_masks: list, gt_labels: list,
                        matched_idxs: list) -> Tensor:
    """Lmask by hand (paper Sec. 3): per-pixel sigmoid cross-entropy on the ground-truth class's mask only.

    ``mask_logits`` (Tensor[P, K, M, M]) for the P positive RoIs; ``proposals`` (List[Tensor[P_i, 4]]);
    ``gt_masks`` (List[Tensor[G_i, H, W]]); ``gt_labels`` / ``matched_idxs`` (List[Tensor[P_i]]): the class of each
    RoI and the gt instance it matched. The target is the gt mask cropped to the RoI and resampled to M x M with
    RoIAlign (torchvision's rule: ``aligned=False``, adaptive sampling).
    """
    from seglab.ops import roi_align

    m = mask_logits.shape[-1]
    targets, labels = [], []
    for boxes, masks, lab, idx in zip(proposals, gt_masks, gt_labels, matched_idxs):  # one step per image
        rois = torch.cat([idx[:, None].to(boxes), boxes], dim=1)
        targets.append(roi_align(masks[:, None].to(boxes), rois, (m, m), 1.0)[:, 0])
        labels.append(lab[idx])
    if not targets or sum(len(t) for t in targets) == 0:
        return mask_logits.sum() * 0
    targets, labels = torch.cat(targets), torch.cat(labels)
    logits = mask_logits[torch.arange(labels.shape[0], device=labels.device), labels]  # only the gt class
    return F.binary_cross_entropy_with_logits(logits, targets)


@contextlib.contextmanager
def capture_mask_loss_inputs():
    """Record the arguments of torchvision's ``maskrcnn_loss`` during a forward pass (for checking Lmask by hand).

    ``with capture_mask_loss_inputs() as calls: losses = model(images, targets)``; then ``calls[0]`` holds
    ``mask_logits, proposals, gt_masks, gt_labels, mask_matched_idxs`` and the loss value it returned.
    """
    from torchvision.models.detection import roi_heads

    original, calls = roi_heads.maskrcnn_loss, []

    def spy(*args):
        loss = original(*args)
        names = ("mask_logits", "proposals", "gt_masks", "gt_labels", "mask_matched_idxs")
        calls.append({**dict(zip(names, args)), "loss": loss})
        return loss

    roi_heads.maskrcnn_loss = spy
    try:
        yield calls
    finally:
        roi_heads.maskrcnn_loss = original


@torch.no_grad()
def detect(model, images, batch_size: int = 8) -> list:
    """Eval-mode outputs for a list of ``float[3, H, W]`` images, in batches, moved to the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    for s in range(0, len(images), batch_size):
        batch = [im.to(device) for im in images[s:s + batch_size]]
        outputs += [{k: v.cpu() for k, v in out.items()} for out in model(batch)]
    model.train(was_training)
    return outputs
