"""Elastic deformation as in U-Net (Ronneberger et al. 2015, section 3.1): smooth random warps from few images.

Random displacement vectors are drawn on a coarse ``grid x grid`` lattice (the paper: 3x3) from a Gaussian with
``std`` pixels (the paper: 10), interpolated bicubically to a displacement for every pixel, and the image and its
mask are resampled along that field: the image bilinearly, the mask with nearest-neighbour so that every output label
is one of the input labels. The lattice spans the whole image (its outer points sit on the image corners).

Pixels whose source lies outside the image: ``border="reflect"`` (default) mirrors the image and mask at the border,
so no unlabelled area appears; ``border="ignore"`` fills the image with 0 and the mask with ``IGNORE_INDEX``
(ignored by the loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seglab.data.classes import IGNORE_INDEX

__all__ = ["elastic_deform", "elastic_displacement", "warp", "ElasticDeform"]

_BORDERS = ("reflect", "ignore")


def _generator(seed) -> torch.Generator | None:
    if seed is None:
        return None
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be None, a non-negative int or a torch.Generator, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def _check_std_grid(std, grid) -> None:
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an int >= 2 (points per side of the coarse lattice), got {grid!r}")
    if not float(std) >= 0:
        raise ValueError(f"std must be a non-negative number of pixels, got {std!r}")


def elastic_displacement(height: int, width: int, std: float = 10.0, grid: int = 3, seed=None,
                         device=None, dtype=torch.float32) -> torch.Tensor:
    """A smooth random displacement field ``Tensor[2, height, width]`` in pixels: ``(dy, dx)`` per pixel.

    ``grid x grid`` Gaussian vectors (``std`` px) on a lattice whose corners are the image corners, interpolated
    bicubically (``align_corners=True``) to every pixel. Deterministic for an int ``seed``.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    _check_std_grid(std, grid)
    coarse = torch.randn(1, 2, grid, grid, generator=_generator(seed), dtype=torch.float64) * float(std)
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)[0]
    return field.to(device=device, dtype=dtype)


def _sample(x: torch.Tensor, displacement: torch.Tensor, mode: str, padding_mode: str) -> torch.Tensor:
    """``x [N, C, H, W]`` sampled at ``(y + dy, x + dx)``; ``displacement [2, H, W]``."""
    h, w = x.shape[-2:]
    ys = torch.arange(h, device=x.device, dtype=x.dtype)
    xs = torch.arange(w, device=x.device, dtype=x.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    d = displacement.to(device=x.device, dtype=x.dtype)
    # grid_sample's normalised coordinates with align_corners=True: -1 is pixel 0, +1 is pixel size-1
    gx = 2 * (xx + d[1]) / max(w - 1, 1) - 1
    gy = 2 * (yy + d[0]) / max(h - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=-1)[None].expand(x.shape[0], h, w, 2)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=True)


def warp(image: torch.Tensor | None, mask: torch.Tensor | None, displacement: torch.Tensor,
         border: str = "reflect", image_mode: str = "bilinear"):
    """Resample ``image (Tensor[C, H, W] or [H, W])`` and ``mask (Tensor[H, W])`` along ``displacement [2, H, W]``.

    The output pixel ``(y, x)`` takes the input at ``(y + dy, x + dx)``; the image is interpolated with
    ``image_mode`` ("bilinear" or "bicubic"), the mask with nearest-neighbour. Returns ``(image, mask)`` with the
    inputs' shapes and dtypes (``None`` stays ``None``).
    """
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    if image_mode not in ("bilinear", "bicubic"):
        raise ValueError(f"image_mode must be 'bilinear' or 'bicubic', got {image_mode!r}")
    pad = "reflection" if border == "reflect" else "zeros"
    out_image = out_mask = None
    if image is not None:
        if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3):
            raise ValueError(f"image must be a Tensor[C, H, W] or [H, W], got {getattr(image, 'shape', image)!r}")
        if tuple(image.shape[-2:]) != tuple(displacement.shape[-2:]):
            raise ValueError(f"image size {tuple(image.shape[-2:])} does not match the displacement field "
                             f"{tuple(displacement.shape[-2:])}")
        work = image.double() if not image.is_floating_point() else image
        x = work.reshape(1, -1, *image.shape[-2:])
        out = _sample(x, displacement, image_mode, pad).reshape(image.shape)
        if not image.is_floating_point():
            info = torch.iinfo(image.dtype)
            out = out.round().clamp(info.min, info.max)
        out_image = out.to(image.dtype)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
            raise ValueError(f"mask must be a Tensor[H, W], got {getattr(mask, 'shape', mask)!r}")
        if tuple(mask.shape) != tuple(displacement.shape[-2:]):
            raise ValueError(f"mask size {tuple(mask.shape)} does not match the displacement field "
                             f"{tuple(displacement.shape[-2:])}")
        # shift by one so that 0 marks "outside the image" under zero padding; float64 keeps every label exact
        labels = (mask.double() + 1)[None, None]
        sampled = _sample(labels, displacement, "nearest", pad)[0, 0].round()
        sampled = torch.where(sampled == 0, torch.full_like(sampled, IGNORE_INDEX + 1), sampled) - 1
        out_mask = sampled.to(mask.dtype)
    return out_image, out_mask


def elastic_deform(image: torch.Tensor, mask: torch.Tensor | None = None, std: float = 10.0, grid: int = 3,
                   seed=None, border: str = "reflect", image_mode: str = "bilinear"):
    """Warp ``image (Tensor[C, H, W] or [H, W])`` and ``mask (Tensor[H, W])`` with one random elastic field.

    Returns ``(image, mask)`` (``mask`` is ``None`` if none was given). ``seed`` (int or ``torch.Generator``) makes
    the field repeat; ``None`` uses PyTorch's global generator. See :func:`elastic_displacement` and :func:`warp`.
    """
    if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3):
        raise ValueError(f"image must be a Tensor[C, H, W] or [H, W], got {getattr(image, 'shape', image)!r}")
    h, w = image.shape[-2:]
    field = elastic_displacement(int(h), int(w), std, grid, seed, device=image.device, dtype=torch.float64)
    return warp(image, mask, field, border=border, image_mode=image_mode)


class ElasticDeform:
    """Joint transform ``ElasticDeform(std, grid, p)(image, target) -> (image, target)``, like those of
    :mod:`seglab.data.transforms`; ``target`` is a semantic mask ``Tensor[H, W]`` (or ``None``).

    Applies :func:`elastic_deform` with probability ``p``. With an int ``seed`` it owns a generator, so a fresh
    transform replays the same sequence of warps.
    """

    def __init__(self, std: float = 10.0, grid: int = 3, p: float = 1.0, border: str = "reflect", seed=None):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        if border not in _BORDERS:
            raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
        _check_std_grid(std, grid)
        self.std, self.grid, self.p, self.border = float(std), grid, float(p), border
        self.generator = _generator(seed)

    def __call__(self, image, target=None):
        if target is not None and not isinstance(target, torch.Tensor):
            raise TypeError("ElasticDeform warps a semantic mask Tensor[H, W]; instance and panoptic targets "
                            f"are not supported, got {type(target).__name__}")
        if self.p < 1.0 and torch.rand((), generator=self.generator).item() >= self.p:
            return image, target
        return elastic_deform(image, target, self.std, self.grid, seed=self.generator, border=self.border)

    def __repr__(self) -> str:
        return f"ElasticDeform(std={self.std}, grid={self.grid}, p={self.p}, border={self.border!r})"
