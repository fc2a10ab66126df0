"""SegNet: a VGG16 encoder whose max-pooling indices drive the decoder's upsampling.

Badrinarayanan, Kendall and Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
Segmentation", TPAMI 2017 (arXiv 1511.00561).

* Encoder: VGG16's 13 3x3 convolutions (64,64 | 128,128 | 256x3 | 512x3 | 512x3), each followed by batch norm and
  ReLU, and a 2x2/stride-2 max pooling after each of the 5 stages that returns the argmax indices. At
  ``width=1.0`` the parameters have the shapes of ``torchvision.models.vgg16_bn().features``, so VGG weights on
  disk load with ``SegNet(..., backbone_weights=path)`` or :meth:`SegNet.load_backbone` (nothing is downloaded).
* Decoder: the mirror image. Each stage unpools with the indices of its encoder stage (``nn.MaxUnpool2d`` with the
  encoder stage's input size passed explicitly, so odd sizes come back exactly), which gives a sparse map, then
  trainable 3x3 convolutions densify it. The last convolution is the classifier to ``num_classes``.
* Only the indices cross from encoder to decoder; no feature map is copied (compare U-Net, FCN).

Departures from the paper: the classifier is a plain 3x3 convolution producing logits (the softmax lives in the
loss); ``width`` scales every channel count so the model trains on a laptop CPU.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from seglab.models.base import (
    DecoderKeeps,
    check_images,
    check_positive_int,
    legacy_positional,
    load_weights,
    renamed_keyword,
)
from seglab.ops import pack_pool_indices

__all__ = ["SegNet", "VGG16_STAGES"]

#: VGG16's convolution widths, one list per encoder stage (a pooling follows each stage).
VGG16_STAGES: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _conv_block(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class SegNet(nn.Module):
    """SegNet with a VGG16 encoder.

    Args:
        num_classes (int): K, the number of output classes.
        in_channels (int): image channels (3).
        width (float): multiplies every channel count (1.0 = VGG16; 0.125 gives 8..64 channels).
        batch_norm (bool): batch norm after each convolution except the classifier.
        weights: a whole-model state dict (local path or mapping) to load.
        backbone_weights: VGG16-BN feature weights for the encoder (local path, state dict or module; see
            :meth:`load_backbone`). ``vgg_weights`` is its deprecated name.

    Shapes: ``images float[N, in_channels, H, W] -> logits float[N, K, H, W]`` for any ``H, W >= 32``
    (odd sizes included: five 2x2 poolings leave at least one pixel). The old order ``SegNet(in_channels,
    num_classes)`` still works for one release, with a ``DeprecationWarning``.
    """

    def __init__(self, num_classes: int, *legacy, in_channels: int = 3, width: float = 1.0, batch_norm: bool = True,
                 weights=None, backbone_weights=None, vgg_weights=None):
        super().__init__()
        num_classes, in_channels = legacy_positional("SegNet", num_classes, legacy, in_channels)
        backbone_weights = renamed_keyword("vgg_weights", "backbone_weights", vgg_weights, backbone_weights, "SegNet")
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        if not isinstance(width, (int, float)) or width <= 0:
            raise ValueError(f"width must be a positive number, got {width!r}")
        self.in_channels, self.num_classes, self.width, self.batch_norm = in_channels, num_classes, width, batch_norm
        stages = [[max(1, round(c * width)) for c in stage] for stage in VGG16_STAGES]
        self.channels = stages

        encoder, cin = [], in_channels
        for stage in stages:
            layers = []
            for cout in stage:
                layers += _conv_block(cin, cout, batch_norm)
                cin = cout
            encoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)
        self.pools = nn.ModuleList(nn.MaxPool2d(2, 2, return_indices=True) for _ in stages)
        self.unpools = nn.ModuleList(nn.MaxUnpool2d(2, 2) for _ in stages)

        # Decoder stage s mirrors encoder stage s: its convolutions run the encoder's (cin -> cout) backwards.
        decoder = []
        for s, stage in enumerate(stages):
            ins = [in_channels if s == 0 else stages[s - 1][-1], *stage[:-1]]  # encoder conv inputs
            pairs = list(zip(stage, ins))[::-1]  # decoder convs: cout -> cin, last conv first
            layers = []
            for k, (c_from, c_to) in enumerate(pairs):
                if s == 0 and k == len(pairs) - 1:
                    break  # the classifier replaces the conv back to the image channels
                layers += _conv_block(c_from, c_to, batch_norm)
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(stages[0][0], num_classes, 3, padding=1)
        if backbone_weights is not None:
            self.load_backbone(backbone_weights)
        if weights is not None:
            self.load_state_dict(load_weights(weights))

    def check_images(self, images: Tensor) -> None:
        """``ValueError`` unless ``images`` is ``[N, in_channels, H, W]`` with ``H, W >= 32``."""
        check_images(images, self.in_channels, model="SegNet", min_size=32, reason="five 2x2 poolings")

    def encode(self, images: Tensor):
        """``images float[N, C, H, W]`` -> (deepest pooled map, [indices per stage], [input size per stage])."""
        self.check_images(images)
        x, indices, sizes = images, [], []
        for block, pool in zip(self.encoder, self.pools):
            x = block(x)
            sizes.append(x.shape)  # the size unpooling must restore (odd sizes included)
            x, idx = pool(x)
            indices.append(idx)
        return x, indices, sizes

    def forward(self, images: Tensor) -> Tensor:
        """``images float[N, C, H, W] -> logits float[N, K, H, W]``."""
        x, indices, sizes = self.encode(images)
        for s in reversed(range(len(self.decoder))):
            x = self.unpools[s](x, indices[s], output_size=sizes[s])  # sparse: one non-zero per 2x2 window
            x = self.decoder[s](x)  # trainable filters densify it
        return self.classifier(x)

    @torch.no_grad()
    def decoder_maps(self, images: Tensor) -> list[dict]:
        """For each decoder stage, deepest first: ``{"stage", "sparse", "dense"}`` feature maps.

        ``sparse`` is the unpooled map (float[N, C, h, w], mostly zeros), ``dense`` the same stage after its
        convolutions (before the classifier for stage 0).
        """
        x, indices, sizes = self.encode(images)
        maps = []
        for s in reversed(range(len(self.decoder))):
            sparse = self.unpools[s](x, indices[s], output_size=sizes[s])
            x = self.decoder[s](sparse)
            maps.append({"stage": s, "sparse": sparse, "dense": x})
        return maps

    @torch.no_grad()
    def decoder_keeps(self, images: Tensor) -> DecoderKeeps:
        """The decoder keeps only the int64 pooling indices of each stage (``packed``: the same at 2 bits a window,
        :func:`seglab.ops.pack_pool_indices`)."""
        _, indices, sizes = self.encode(images)
        return DecoderKeeps("SegNet", [(f"indices{i}", idx) for i, idx in enumerate(indices)],
                            packed=[pack_pool_indices(idx, int(size[-1])) for idx, size in zip(indices, sizes)])

    def vgg_layers(self) -> list[nn.Module]:
        """The encoder's Conv2d and BatchNorm2d modules in VGG order (what ``vgg16_bn().features`` holds)."""
        return [m for block in self.encoder for m in block if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]

    def load_backbone(self, source) -> None:
        """Copy VGG16(-BN) feature weights into the encoder.

        ``source``: a path to a ``torch.save``d state dict, a state dict, or an ``nn.Module`` (such as
        ``torchvision.models.vgg16_bn(weights=None)`` or its ``.features``). Keys ``features.N.*`` or ``N.*``
        are matched in order to the encoder's convolutions and batch norms; shapes must agree (``width=1.0``).
        """
        if isinstance(source, nn.Module):
            source = source.state_dict()
        source = load_weights(source, what="backbone_weights")
        groups: dict[int, dict[str, Tensor]] = {}
        for key, value in source.items():
            parts = key.split(".")
            if parts[0] == "features":
                parts = parts[1:]
            if len(parts) == 2 and parts[0].isdigit():
                groups.setdefault(int(parts[0]), {})[parts[1]] = value
        ordered = [groups[i] for i in sorted(groups)]
        targets = self.vgg_layers()
        if len(ordered) != len(targets):
            raise ValueError(f"source has {len(ordered)} conv/bn layers, the encoder has {len(targets)}")
        for module, params in zip(targets, ordered):
            own = module.state_dict()
            for name, value in params.items():
                if name not in own or own[name].shape != value.shape:
                    raise ValueError(
                        f"cannot load {name} of shape {tuple(value.shape)} into {module}: "
                        "the shapes match VGG16 only at width=1.0 with batch_norm=True"
                    )
            module.load_state_dict(params, strict=True)

    def load_vgg16_bn(self, source) -> None:
        """Deprecated name of :meth:`load_backbone`."""
        warnings.warn("SegNet.load_vgg16_bn is deprecated, use SegNet.load_backbone", DeprecationWarning, stacklevel=2)
        self.load_backbone(source)
