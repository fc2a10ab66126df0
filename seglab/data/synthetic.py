"""A synthetic segmentation data set that needs no files: coloured rectangles on a background.

Used by the training CLI (``python -m seglab.train --data synthetic``), the engine's tests and benchmarks.
"""

from __future__ import annotations

import torch

from seglab.data.classes import IGNORE_INDEX

__all__ = ["SyntheticSegmentation"]


class SyntheticSegmentation(torch.utils.data.Dataset):
    """``length`` images of random coloured rectangles on a background, with their masks; the same for a given
    ``seed`` in every process. Items: ``(image float32[3,size,size] in [0,1], mask int64[size,size])``; a one-pixel
    void (``IGNORE_INDEX``) border around each rectangle, like VOC."""

    def __init__(self, length: int = 16, size: int = 32, num_classes: int = 8, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        colors = torch.rand(num_classes, 3, generator=g)
        self.images, self.masks = [], []
        for _ in range(length):
            mask = torch.zeros(size, size, dtype=torch.int64)
            for _ in range(3):
                c = int(torch.randint(1, num_classes, (), generator=g))
                y0, x0 = torch.randint(0, size - 8, (2,), generator=g).tolist()
                h, w = torch.randint(4, 9, (2,), generator=g).tolist()
                mask[max(y0 - 1, 0):y0 + h + 1, max(x0 - 1, 0):x0 + w + 1] = IGNORE_INDEX
                mask[y0:y0 + h, x0:x0 + w] = c
            image = colors[mask.clamp(max=num_classes - 1)].permute(2, 0, 1)
            image = (image + 0.05 * torch.randn(image.shape, generator=g)).clamp(0, 1)
            self.images.append(image)
            self.masks.append(mask)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.masks[index]
