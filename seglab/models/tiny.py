"""A tiny segmenter, so the engine, the CLI and the tests run without a chapter model.

``create_model("tiny_segmenter", num_classes=8)`` builds it.
"""

from __future__ import annotations

import torch
from torch import nn

from seglab.models.base import check_images, check_positive_int, load_weights

__all__ = ["TinySegmenter"]


class TinySegmenter(nn.Module):
    """Two 3x3 conv layers and a 1x1 classifier: ``images float[N,C,H,W] -> logits float[N,K,H,W]`` for any size.

    ``num_classes`` defaults to 8 (the scenes' classes) so that ``create_model("tiny_segmenter")`` needs no argument.
    """

    def __init__(self, num_classes: int = 8, width: int = 16, *, in_channels: int = 3, weights=None):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("in_channels", in_channels)
        self.num_classes, self.in_channels = num_classes, in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(width, num_classes, 1)
        if weights is not None:
            self.load_state_dict(load_weights(weights))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.in_channels, model="TinySegmenter")
        return self.classifier(self.body(images))
