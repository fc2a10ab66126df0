"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015, arXiv 1505.04597), built from small named blocks.

``padding="valid"`` is the paper's network: 3x3 convolutions without padding, 2x2 max pooling, 2x2
up-convolutions that halve the channels, and *crop-and-concat*: the encoder's feature map is centre-cropped to the
(smaller) upsampled map and the two are concatenated. With ``depth=4, base_channels=64`` it has the paper's 23
convolution layers and maps a 572x572 tile to 388x388 logits. Only some input sizes work (every map that is pooled
must have an even size); :func:`unet_size_trace` does the arithmetic and names the nearest sizes that do.

``padding="same"`` (a departure from the paper) pads every 3x3 convolution by 1, so a level keeps its size. Any
input of at least ``2**depth`` pixels works, odd sizes included: pooling floors an odd size, and the up step then
brings the upsampled map back to the skip's exact size (``up_mode="transpose"``: zero-pads the missing row/column,
split between the two sides; ``up_mode="bilinear"``: interpolates straight to the skip's size), so the logits have
the input's height and width.

``up_mode="bilinear"`` replaces each 2x2 up-convolution with bilinear upsampling followed by a 1x1 convolution that
halves the channels (same layer count, fewer parameters, no checkerboard pattern).

Per-level shapes and the bytes of the copied skip tensors come from a real forward pass:
``logits, skips = model(x, return_skips=True)`` (``skips[i]`` is the whole encoder map of level ``i`` that the
decoder keeps until it is concatenated), or ``model.trace(x)`` for a list of :class:`LevelRecord` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seglab.models.base import (
    DecoderKeeps,
    check_choice,
    check_images,
    check_positive_int,
    legacy_positional,
    load_weights,
)
from seglab.models.unet_sizes import (
    PADDINGS,
    unet_output_size,
    unet_size_trace,
    unet_size_trace_partial,
    unet_valid_input_sizes,
)

__all__ = [
    "UNet", "DoubleConv", "Down", "Up", "CropAndConcat", "center_crop", "unet_size_trace", "unet_size_trace_partial",
    "unet_output_size", "unet_valid_input_sizes", "LevelRecord",
]

_UP_MODES = ("transpose", "bilinear")


# ------------------------------------------------------------------------------------------------------ blocks
def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Centre crop ``x (Tensor[N, C, H, W])`` to ``[N, C, height, width]`` (extra odd pixel taken from the end)."""
    h, w = x.shape[-2:]
    if height > h or width > w:
        raise ValueError(f"cannot crop a {h}x{w} map to a larger {height}x{width}")
    top, left = (h - height) // 2, (w - width) // 2
    return x[..., top:top + height, left:left + width]


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by (optional BatchNorm and) ReLU. Valid: the side shrinks by 4."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid", batch_norm: bool = False):
        pad = 0 if padding == "valid" else 1
        layers = []
        for cin in (in_channels, out_channels):
            layers.append(nn.Conv2d(cin, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Down(nn.Sequential):
    """2x2 max pooling (stride 2), then a :class:`DoubleConv` that doubles the channels."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid", batch_norm: bool = False):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, padding, batch_norm))


class CropAndConcat(nn.Module):
    """Centre-crop the skip ``[N, Cs, Hs, Ws]`` to the upsampled map's ``H, W`` and concatenate: ``[skip, up]``."""

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([center_crop(skip, *up.shape[-2:]), up], dim=1)


class Up(nn.Module):
    """Upsample 2x while halving channels, crop-and-concat the skip, then a :class:`DoubleConv`.

    ``forward(x [N, C, h, w], skip [N, C/2, Hs, Ws]) -> [N, C/2, H', W']``. In same mode the upsampled map is
    brought to the skip's exact size first (pad for "transpose", resize for "bilinear"), so the crop is a no-op.
    """

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid", up_mode: str = "transpose",
                 batch_norm: bool = False):
        super().__init__()
        self.padding, self.up_mode = padding, up_mode
        if up_mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            self.up = nn.Conv2d(in_channels, out_channels, 1)  # after bilinear upsampling
        self.concat = CropAndConcat()
        self.conv = DoubleConv(2 * out_channels, out_channels, padding, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        target = skip.shape[-2:] if self.padding == "same" else (2 * x.shape[-2], 2 * x.shape[-1])
        if self.up_mode == "transpose":
            x = self.up(x)
            dh, dw = target[0] - x.shape[-2], target[1] - x.shape[-1]
            if dh or dw:  # same mode, odd skip: one missing row/column, zero padding split between the sides
                x = F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
        else:
            x = self.up(F.interpolate(x, size=tuple(target), mode="bilinear", align_corners=False))
        return self.conv(self.concat(x, skip))


@dataclass
class LevelRecord:
    """One row of :meth:`UNet.trace`: a tensor the forward pass produced, with its shape and size in bytes."""

    name: str  # "enc0", "bottom", "up3", "dec3", "logits", ...
    stage: str  # "encoder", "bottom", "decoder", "head"
    level: int
    shape: tuple
    nbytes: int
    crop: int = 0  # valid mode: pixels cropped from each side of the skip before concatenation


# -------------------------------------------------------------------------------------------------------- model
class UNet(nn.Module):
    """U-Net: ``model(images [N, in_channels, H, W]) -> logits [N, num_classes, H', W']``.

    Args:
        num_classes: K, the number of output classes.
        in_channels: image channels (1 in the paper's microscopy, 3 for RGB).
        depth: number of poolings (4 in the paper); level ``i`` has ``base_channels * 2**i`` channels.
        base_channels: channels of the first level (64 in the paper).
        padding: ``"valid"`` (the paper: ``H' = UNet.output_size(H)``, 572 -> 388 at depth 4, and only some input
            sizes fit) or ``"same"`` (``H' = H`` for any input of at least ``2**depth`` pixels, as every other
            seglab model; ``create_model("unet")`` builds this one).
        up_mode: ``"transpose"`` (the paper's 2x2 up-convolutions) or ``"bilinear"``.
        batch_norm: BatchNorm after every 3x3 convolution (not in the paper).
        weights: a whole-model state dict (local path or mapping) to load.

    Weights follow the paper's initialisation (He normal, zero biases). The old order ``UNet(in_channels,
    num_classes)`` still works for one release, with a ``DeprecationWarning``.
    """

    def __init__(self, num_classes: int, *legacy, in_channels: int = 3, depth: int = 4, base_channels: int = 64,
                 padding: str = "valid", up_mode: str = "transpose", batch_norm: bool = False, weights=None):
        super().__init__()
        num_classes, in_channels = legacy_positional("UNet", num_classes, legacy, in_channels)
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        check_positive_int("depth", depth)
        check_positive_int("base_channels", base_channels)
        check_choice("padding", padding, PADDINGS)
        check_choice("up_mode", up_mode, _UP_MODES)
        self.in_channels, self.num_classes, self.depth = in_channels, num_classes, depth
        self.base_channels, self.padding, self.up_mode, self.batch_norm = base_channels, padding, up_mode, batch_norm
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, widths[0], padding, batch_norm)
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], padding, batch_norm) for i in range(depth))
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i], padding, up_mode, batch_norm) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if weights is not None:
            self.load_state_dict(load_weights(weights))

    def output_size(self, input_size):
        """Logit size for ``input_size`` (int or ``(H, W)``); ``ValueError`` naming the nearest valid sizes."""
        return unet_output_size(input_size, self.depth, self.padding)

    def valid_input_sizes(self, min_size: int = 1, max_size: int = 1024) -> list[int]:
        """Input side lengths in ``[min_size, max_size]`` this network accepts."""
        return unet_valid_input_sizes(min_size, max_size, self.depth, self.padding)

    def check_images(self, images: torch.Tensor) -> None:
        """``ValueError`` unless ``images`` is ``[N, in_channels, H, W]`` with sizes this network accepts."""
        check_images(images, self.in_channels, model=f"a depth-{self.depth} U-Net", sizes=self.output_size)

    def forward(self, x: torch.Tensor, return_skips: bool = False):
        """``x [N, C, H, W] -> logits``; with ``return_skips=True`` -> ``(logits, skips)``, ``skips[i]`` the
        whole level-``i`` encoder map ``[N, base*2**i, Hi, Wi]`` that is copied to the decoder."""
        return self._run(x, return_skips=return_skips)

    def trace(self, x: torch.Tensor) -> list[LevelRecord]:
        """Run a forward pass (no grad) and return one :class:`LevelRecord` per block output, in order."""
        records: list[LevelRecord] = []
        with torch.no_grad():
            self._run(x, records=records)
        return records

    @torch.no_grad()
    def decoder_keeps(self, images: torch.Tensor) -> DecoderKeeps:
        """The decoder keeps a copy of each encoder level's whole map (before cropping) until it concatenates it."""
        _, skips = self._run(images, return_skips=True)
        return DecoderKeeps("U-Net", [(f"skip{i}", skip) for i, skip in enumerate(skips)])

    def _run(self, x, return_skips=False, records=None):
        self.check_images(x)

        def note(name, stage, level, t, crop=0):
            if records is not None:
                records.append(LevelRecord(name, stage, level, tuple(t.shape), t.numel() * t.element_size(), crop))

        skips = [self.inc(x)]                                     # [N, base, H-4, W-4] (valid)
        note("enc0", "encoder", 0, skips[0])
        for i, down in enumerate(self.downs, start=1):
            skips.append(down(skips[-1]))                         # [N, base*2**i, ...]
            note("bottom" if i == self.depth else f"enc{i}", "bottom" if i == self.depth else "encoder", i, skips[-1])
        x = skips.pop()
        for up, level in zip(self.ups, reversed(range(self.depth))):
            skip, upsampled = skips[level], 2 * x.shape[-1]
            x = up(x, skip)                                       # [N, base*2**level, ...]
            crop = (skip.shape[-1] - upsampled) // 2 if self.padding == "valid" else 0
            note(f"dec{level}", "decoder", level, x, crop=crop)
        logits = self.head(x)
        note("logits", "head", 0, logits)
        return (logits, skips) if return_skips else logits

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, depth={self.depth}, "
                f"base_channels={self.base_channels}, padding={self.padding!r}, up_mode={self.up_mode!r}, "
                f"batch_norm={self.batch_norm}")
