"""A tiny segmenter, so the engine, the CLI and the tests run without a chapter model.

``create_model("tiny_segmenter", num_classes=8)`` builds it.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from seglab.models.base import check_images, check_positive_int, legacy_positionals, load_weights

__all__ = ["TinySegmenter"]

#: Channels of both convolutions at ``width=1.0``.
BASE_CHANNELS = 16


class TinySegmenter(nn.Module):
    """Two 3x3 conv layers and a 1x1 classifier: ``images float[N,C,H,W] -> logits float[N,K,H,W]`` for any size.

    ``num_classes`` defaults to 8 (the scenes' classes) so that ``create_model("tiny_segmenter")`` needs no argument.
    ``width`` multiplies the 16 channels of the convolutions (a float, as every seglab model's ``width``). An int is
    read the old way, as the channel count itself, for this release (with a ``DeprecationWarning`` naming the
    multiplier to write): ``width=4`` is ``width=0.25``.
    """

    @legacy_positionals("width")
    def __init__(self, num_classes: int = 8, *, width: float = 1.0, in_channels: int = 3, weights=None):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("in_channels", in_channels)
        channels = _channels(width)
        self.num_classes, self.in_channels, self.width = num_classes, in_channels, channels / BASE_CHANNELS
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        if weights is not None:
            self.load_state_dict(load_weights(weights))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.in_channels, model="TinySegmenter")
        return self.classifier(self.body(images))


def _channels(width) -> int:
    """The convolutions' channel count for ``width``: a float multiplier of 16, or (deprecated) an int count."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width must be a positive number (a multiplier of {BASE_CHANNELS} channels), got {width!r}")
    if isinstance(width, int):
        warnings.warn(f"TinySegmenter(width={width}) as a channel count is deprecated: width is a multiplier of "
                      f"{BASE_CHANNELS} channels; write width={width / BASE_CHANNELS!r}", DeprecationWarning,
                      stacklevel=4)
        return width
    return max(1, round(BASE_CHANNELS * width))
