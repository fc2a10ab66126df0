"""FCN-32s, FCN-16s and FCN-8s on a VGG16 backbone, and the classifier-to-FCN conversion.

Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015
(arXiv 1411.4038). The recipe: CNN features, a 1x1 convolution to class scores, transposed convolutions back to
the input size; FCN-16s and FCN-8s add zero-initialised score layers on pool4 and pool3 ("skip" streams) and fuse
them by summation after a learned 2x upsampling.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from seglab.data.classes import IMAGENET_MEAN, IMAGENET_STD
from seglab.models.base import DecoderKeeps, check_images, check_positive_int, legacy_positionals, load_weights
from seglab.ops import bilinear_upsampler

__all__ = ["FCN", "fcn_from_classifier", "fcn_stream_scores", "decode_streams", "STREAMS", "VGG16_CONFIG"]

#: VGG16's convolution layers ("configuration D"): channels, "M" = 2x2 max-pooling.
VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
#: Score streams in fusion order: stride 32 (after fc7), pool4 (stride 16), pool3 (stride 8).
STREAMS = ("32s", "pool4", "pool3")
_VARIANT_STREAMS = {"32s": 1, "16s": 2, "8s": 3}


class FCN(nn.Module):
    """FCN-32s / 16s / 8s: ``model(images float[N,C,H,W] in [0,1]) -> logits float[N,num_classes,H,W]``.

    ``FCN(num_classes, *, variant="8s", ...)``: everything after ``num_classes`` is a keyword (the old positional
    ``FCN(8, "32s")`` still works for this release, with a ``DeprecationWarning``).

    Args:
        num_classes: number of classes K.
        variant: ``"32s"``, ``"16s"`` or ``"8s"`` (the stride of the finest fused stream).
        backbone: only ``"vgg16"``.
        width: channel multiplier for the convolutions and fc6/fc7 (``0.25`` trains in a lecture on a CPU).
            At ``width=1.0`` ``model.features`` has exactly the parameter names and shapes of
            ``torchvision.models.vgg16().features``.
        backbone_weights: path to a VGG16 state dict on disk (torchvision's full ``vgg16`` state dict or just its
            ``features``); loaded with ``torch.load(weights_only=True)``, never downloaded. A full state dict also
            fills fc6/fc7 from VGG's first two Linear layers (reshaped, as in the paper) when ``fc6_kernel=7``.
        in_channels: image channels C (3). The ImageNet normalisation applies to 3-channel images only; other
            channel counts go in unnormalised and cannot take ``backbone_weights``.
        weights: a whole-model state dict (local path or mapping) to load.
        fc6_kernel: kernel size of fc6 as a convolution. 7 is the paper's (VGG's 7x7x512 input to its first Linear
            layer). On 128x128 inputs pool5 is only 4x4, so a 7x7 kernel sees mostly zero padding and costs
            5.4x the parameters of a 3x3 one; the lecture notebook uses 3.
        dropout: dropout after fc6 and fc7 (0.5 in the paper).
        batch_norm: BatchNorm after every backbone convolution, as torchvision's ``vgg16_bn`` (whose ``features``
            it then matches at ``width=1.0``). Not in the paper, which fine-tunes an ImageNet VGG16; trained from
            scratch, plain VGG16 barely moves in a few CPU minutes (3 epochs on the scenes: pixel accuracy 0.48),
            so the lecture notebook turns it on.

    Alignment and cropping: the input is zero-padded at the bottom and right to a multiple of 32 (after ImageNet
    normalisation, so padding is the mean colour), every convolution uses "same" padding (fc6 too), so the stride-s
    map is exactly (H+pad)/s; each transposed convolution has kernel 2f, stride f and padding f/2, which puts
    output pixel centres where bilinear interpolation with half-pixel centres puts them, so streams add without
    offsets; the logits are finally cropped to the top-left H x W. The paper instead pads conv1 by 100 pixels,
    uses a "valid" 7x7 fc6 and crops each upsampled map at offsets derived from the receptive fields (5 pixels for
    the pool4 sum, 9 for pool3, 19/27/31 for the outputs). Ours needs no offsets and wastes no computation on the
    100-pixel margin, but border features see zero padding instead of a margin. Inputs must be at least 32x32.

    The paper's final upsampling is fixed bilinear interpolation and the 2x ones in between are learned; the same
    here (``learn_final_upsampling=True`` makes the last one learnable too). Skip score layers start at zero, so a
    new FCN-16s made with :meth:`from_coarser` predicts what its FCN-32s did (up to two chained bilinear
    upsamplings differing from one 32x upsampling at the borders).
    """

    @legacy_positionals("variant", "backbone", "width", "backbone_weights")
    def __init__(self, num_classes: int, *, variant: str = "8s", backbone: str = "vgg16", width: float = 1.0,
                 backbone_weights: str | os.PathLike | Mapping | None = None, in_channels: int = 3,
                 weights: str | os.PathLike | Mapping | None = None, fc6_kernel: int = 7,
                 dropout: float = 0.5, batch_norm: bool = False, learn_final_upsampling: bool = False):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        if variant not in _VARIANT_STREAMS:
            raise ValueError(f"variant must be one of '32s', '16s', '8s', got {variant!r}")
        if backbone != "vgg16":
            raise ValueError(f"backbone must be 'vgg16' (the paper's best), got {backbone!r}")
        if not isinstance(width, (int, float)) or not 0 < width <= 4:
            raise ValueError(f"width must be a number in (0, 4], got {width!r}")
        if not isinstance(fc6_kernel, int) or fc6_kernel < 1 or fc6_kernel % 2 == 0:
            raise ValueError(f"fc6_kernel must be an odd positive int, got {fc6_kernel!r}")
        if backbone_weights is not None:
            _check_backbone_fits(width, in_channels)  # before building a large network for nothing
        self.num_classes, self.variant, self.width, self.fc6_kernel = num_classes, variant, float(width), fc6_kernel
        self.learn_final_upsampling, self.batch_norm, self.in_channels = learn_final_upsampling, batch_norm, in_channels
        ch = lambda c: max(1, int(round(c * width)))  # noqa: E731
        layers, in_ch, self._pool_ends = [], in_channels, []
        for item in VGG16_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                self._pool_ends.append(len(layers))
            else:
                layers += [nn.Conv2d(in_ch, ch(item), kernel_size=3, padding=1),
                           *([nn.BatchNorm2d(ch(item))] if batch_norm else []), nn.ReLU(inplace=True)]
                in_ch = ch(item)
        self.features = nn.Sequential(*layers)  # same indices as torchvision's vgg16().features (vgg16_bn with BN)
        fc = ch(4096)
        self.fc6 = nn.Conv2d(in_ch, fc, fc6_kernel, padding=fc6_kernel // 2)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.score_fr = nn.Conv2d(fc, num_classes, 1)
        self._init_backbone()
        n = _VARIANT_STREAMS[variant]
        if n >= 2:
            self.score_pool4 = nn.Conv2d(ch(512), num_classes, 1)
            self.up32to16 = bilinear_upsampler(num_classes, 2, trainable=True)
        if n >= 3:
            self.score_pool3 = nn.Conv2d(ch(256), num_classes, 1)
            self.up16to8 = bilinear_upsampler(num_classes, 2, trainable=True)
        self.upsample = bilinear_upsampler(num_classes, self.stride, trainable=learn_final_upsampling)
        for score in (self.score_fr, getattr(self, "score_pool4", None), getattr(self, "score_pool3", None)):
            if score is not None:  # the paper zero-initialises every class-scoring layer
                nn.init.zeros_(score.weight), nn.init.zeros_(score.bias)
        rgb = in_channels == 3  # ImageNet statistics exist for RGB only; other inputs pass unnormalised
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if rgb else ((0.0,) * in_channels, (1.0,) * in_channels)
        self.register_buffer("mean", torch.tensor(mean).view(1, in_channels, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, in_channels, 1, 1), persistent=False)
        if backbone_weights is not None:
            self.load_backbone(backbone_weights)
        if weights is not None:
            self.load_state_dict(load_weights(weights))

    @property
    def stride(self) -> int:
        """Output stride of the finest fused stream: 32, 16 or 8."""
        return int(self.variant[:-1])

    @property
    def streams(self) -> tuple[str, ...]:
        """The score streams this variant fuses, e.g. ``("32s", "pool4")`` for FCN-16s."""
        return STREAMS[: _VARIANT_STREAMS[self.variant]]

    def _init_backbone(self) -> None:
        for m in [*self.features, self.fc6, self.fc7]:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def load_backbone(self, weights: str | os.PathLike | Mapping) -> None:
        """Load VGG16 weights (a path or a state dict): ``features.*`` and, when shapes allow, fc6/fc7."""
        _check_backbone_fits(self.width, self.in_channels)
        state = load_weights(weights, what="backbone_weights")
        feats = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
        self.features.load_state_dict(feats, strict=True)
        w6, w7 = state.get("classifier.0.weight"), state.get("classifier.3.weight")
        if w6 is not None and w7 is not None and w6.numel() == self.fc6.weight.numel():
            with torch.no_grad():  # "convolutionalization": a Linear over 512x7x7 is a 7x7 convolution
                self.fc6.weight.copy_(w6.view_as(self.fc6.weight)), self.fc6.bias.copy_(state["classifier.0.bias"])
                self.fc7.weight.copy_(w7.view_as(self.fc7.weight)), self.fc7.bias.copy_(state["classifier.3.bias"])

    def check_images(self, images: torch.Tensor) -> None:
        """``ValueError`` unless ``images`` is ``[N, in_channels, H, W]`` with ``H, W >= 32``."""
        check_images(images, self.in_channels, model="FCN", min_size=32,
                     reason="total stride 32: pool5 needs one whole cell")

    def stream_scores(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Class scores of each stream at its own stride, ``{"32s": [N,K,H'/32,W'/32], "pool4": ..., "pool3": ...}``
        where ``H'`` is ``H`` padded up to a multiple of 32."""
        return self._streams(images)[0]

    def _streams(self, images: torch.Tensor):
        """``(stream scores, {"pool4": features, "pool3": features})``, the features each skip score layer read."""
        self.check_images(images)
        h, w = images.shape[-2:]
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        x = F.pad(x, (0, -w % 32, 0, -h % 32))
        p3, p4, p5 = self._pool_ends[2], self._pool_ends[3], self._pool_ends[4]
        pool3 = self.features[:p3](x)
        pool4 = self.features[p3:p4](pool3)
        fc = self.drop(F.relu(self.fc6(self.features[p4:p5](pool4))))
        fc = self.drop(F.relu(self.fc7(fc)))
        scores, read = {"32s": self.score_fr(fc)}, {}
        if "pool4" in self.streams:
            scores["pool4"], read["pool4"] = self.score_pool4(pool4), pool4
        if "pool3" in self.streams:
            scores["pool3"], read["pool3"] = self.score_pool3(pool3), pool3
        return scores, read

    @torch.no_grad()
    def decoder_keeps(self, images: torch.Tensor) -> DecoderKeeps:
        """The decoder keeps the skip score maps (``score_pool4`` ``[N, K, H/16, W/16]``, ``score_pool3`` ``[N, K,
        H/8, W/8]``); ``features``: the pool4/pool3 maps they read, which this implementation (like the paper's)
        keeps until fc7 has run."""
        scores, read = self._streams(images)
        names = [name for name in ("pool4", "pool3") if name in scores]
        return DecoderKeeps(f"FCN-{self.variant}", [(f"score_{name}", scores[name]) for name in names],
                            features=[read[name] for name in names])

    def decode(self, scores: Mapping[str, torch.Tensor | None], size: tuple[int, int]) -> torch.Tensor:
        """Fuse stream scores (a missing or ``None`` stream counts as zero) and upsample to ``size = (H, W)``.

        Upsampling has no bias and fusion is a sum, so the decoder is linear: the logits are the sum of
        each stream decoded alone (:func:`fcn_stream_scores`)."""
        x = None
        for name, up in zip(self.streams, (getattr(self, "up32to16", None), getattr(self, "up16to8", None), None)):
            s = scores.get(name)
            x = s if x is None else (x if s is None else x + s)
            if up is not None and x is not None:
                x = up(x)  # stride 32 -> 16 or 16 -> 8, learned (bilinear at start)
        if x is None:
            raise ValueError(f"decode needs at least one of the streams {self.streams}")
        return self.upsample(x)[..., : size[0], : size[1]]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.stream_scores(images), images.shape[-2:])

    @classmethod
    def from_coarser(cls, coarser: FCN, variant: str) -> FCN:
        """A finer FCN initialised from a trained coarser one (the paper's staged training: 32s -> 16s -> 8s).

        Every shared layer is copied; the new skip score layer is zero and the new 2x upsampling bilinear."""
        if not isinstance(coarser, FCN):
            raise TypeError(f"coarser must be an FCN, got {type(coarser).__name__}")
        if variant not in _VARIANT_STREAMS or int(variant[:-1]) > coarser.stride:
            raise ValueError(f"variant must be finer than or equal to the coarser model's {coarser.variant!r}, "
                             f"got {variant!r}")
        drop = coarser.drop.p if isinstance(coarser.drop, nn.Dropout) else 0.0
        model = cls(coarser.num_classes, variant=variant, width=coarser.width, in_channels=coarser.in_channels,
                    fc6_kernel=coarser.fc6_kernel, dropout=drop, batch_norm=coarser.batch_norm,
                    learn_final_upsampling=coarser.learn_final_upsampling)
        own = {k: v for k, v in coarser.state_dict().items() if not k.startswith("upsample.")}
        model.load_state_dict(own, strict=False)
        return model.to(next(coarser.parameters()).device)

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, num_classes={self.num_classes}, width={self.width}, "
                f"fc6_kernel={self.fc6_kernel}, batch_norm={self.batch_norm}")


def _check_backbone_fits(width: float, in_channels: int) -> None:
    if width != 1.0:
        raise ValueError(f"backbone_weights needs width=1.0 (VGG16's own channel counts), got width={width}")
    if in_channels != 3:
        raise ValueError(f"backbone_weights are ImageNet VGG16 weights for RGB images; in_channels is {in_channels}")


def fcn_stream_scores(model: FCN, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each stream's contribution to the logits, upsampled to the input size: ``{name: float[N,K,H,W]}``.

    Because the decoder is linear, ``sum(fcn_stream_scores(model, x).values())`` equals ``model(x)``."""
    return decode_streams(model, model.stream_scores(images), images.shape[-2:])


def decode_streams(model: FCN, scores: dict[str, torch.Tensor], size) -> dict[str, torch.Tensor]:
    """Each stream's coarse scores (``model.stream_scores``) decoded alone to ``size``: ``{name: float[N,K,H,W]}``."""
    return {name: model.decode({name: s}, size) for name, s in scores.items()}


def fcn_from_classifier(classifier: nn.Sequential, input_size: tuple[int, int]) -> nn.Sequential:
    """Turn a classifier ``conv... -> Flatten -> Linear -> ... -> Linear`` into a fully convolutional network.

    ``input_size = (h, w)`` is the size the classifier was built for. The first Linear layer becomes a convolution
    whose kernel covers the whole final feature map (C x h' x w'), later Linear layers become 1x1 convolutions
    (the paper's Figure 2). On a larger input the result is a heatmap ``[N, K, H', W']`` whose value at (i, j) is the
    classifier's output on the crop starting at ``(i * net.stride[0], j * net.stride[1])``; the weights are
    copied. ``net.stride`` is the product of the feature layers' strides. The equality is exact when the
    convolutional part uses no padding; with padding, a crop's border sees zeros where the large input has
    neighbouring pixels, so windows agree only approximately (their interiors still match).
    """
    if not isinstance(classifier, nn.Sequential):
        raise TypeError(f"classifier must be an nn.Sequential, got {type(classifier).__name__}")
    cut = next((i for i, m in enumerate(classifier) if isinstance(m, nn.Flatten)), None)
    if cut is None:
        raise ValueError("classifier must contain an nn.Flatten between its convolutional part and its Linear layers")
    features, head = classifier[:cut], classifier[cut + 1:]
    param = next(classifier.parameters())
    with torch.no_grad():
        c, h, w = features(torch.zeros(1, 3, *input_size, dtype=param.dtype, device=param.device)).shape[1:]
    layers, first = list(features), True
    for m in head:
        if isinstance(m, nn.Linear):
            k = (h, w) if first else (1, 1)
            in_ch = c if first else m.in_features
            if m.in_features != in_ch * k[0] * k[1]:
                raise ValueError(f"Linear layer expects {m.in_features} inputs but the features give "
                                 f"{in_ch}x{k[0]}x{k[1]}")
            conv = nn.Conv2d(in_ch, m.out_features, k, bias=m.bias is not None).to(param.device, param.dtype)
            with torch.no_grad():
                conv.weight.copy_(m.weight.view(m.out_features, in_ch, *k))
                if m.bias is not None:
                    conv.bias.copy_(m.bias)
            layers.append(conv)
            first = False
        elif isinstance(m, (nn.ReLU, nn.Dropout, nn.Identity, nn.Sigmoid, nn.Tanh, nn.LeakyReLU)):
            layers.append(m)
        else:
            raise ValueError(f"cannot convert {type(m).__name__} after Flatten; "
                             "expected Linear or an elementwise layer")
    net = nn.Sequential(*layers)
    sy = sx = 1
    for m in features.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            s = m.stride if isinstance(m.stride, tuple) else (m.stride, m.stride)
            sy, sx = sy * s[0], sx * s[1]
    net.stride = (sy, sx)
    return net
