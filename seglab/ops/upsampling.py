"""Six ways to upsample a low-resolution image by an integer factor (chapter 1's comparison).

Fixed interpolation (nearest, bilinear), a transposed convolution with three kernels (bilinear, random, the
least-squares best one: a stand-in for a learned kernel) and max-unpooling (SegNet's way, which needs the pooling
indices of the full-resolution image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seglab.ops.transposed import bilinear_kernel

__all__ = ["UPSAMPLING_METHODS", "upsample"]

UPSAMPLING_METHODS = ("nearest", "bilinear", "transposed conv, bilinear init", "transposed conv, random init",
                      "transposed conv, least-squares fit", "max-unpooling (SegNet preview)")


def upsample(low: torch.Tensor, scale: int, method: str, target: torch.Tensor | None = None) -> torch.Tensor:
    """Upsample ``low (float[C,h,w])`` by the integer ``scale`` with one of :data:`UPSAMPLING_METHODS`.

    Transposed-conv methods use kernel ``2*scale - scale % 2``, padding ``ceil((scale-1)/2)``. The least-squares fit
    (a stand-in for a learned kernel) needs ``target (float[C,h*scale,w*scale])``; max-unpooling needs it too (it
    pools the target with indices, then puts each max back where it came from and zeros elsewhere).
    """
    c = low.shape[0]
    k, p = 2 * scale - scale % 2, scale // 2  # scale // 2 == ceil((scale - 1) / 2)
    x = low[None]
    if method == "nearest":
        return F.interpolate(x, scale_factor=scale, mode="nearest")[0]
    if method == "bilinear":
        return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)[0]
    if method == "transposed conv, bilinear init":
        w = bilinear_kernel(c, c, k, dtype=low.dtype)
        return F.conv_transpose2d(x, w, stride=scale, padding=p)[0]
    if method == "transposed conv, random init":
        gen = torch.Generator().manual_seed(scale)
        w = torch.rand(1, 1, k, k, generator=gen, dtype=low.dtype) * (2.0 / k)
        return F.conv_transpose2d(x.transpose(0, 1), w, stride=scale, padding=p).transpose(0, 1)[0]
    if target is None:
        raise ValueError(f"method {method!r} needs the full-resolution target")
    if method == "transposed conv, least-squares fit":
        # The output is linear in the k*k kernel entries: one basis image per entry, then least squares.
        eye = torch.eye(k * k, dtype=torch.float64).view(1, k * k, k, k)
        basis = torch.stack([F.conv_transpose2d(ch[None, None].double(), eye, stride=scale, padding=p)[0]
                             for ch in low])  # [C, k*k, H, W]
        A = basis.permute(0, 2, 3, 1).reshape(-1, k * k)
        w = torch.linalg.lstsq(A, target.double().reshape(-1, 1)).solution
        return (A @ w).view(c, *target.shape[1:]).to(low.dtype)
    if method == "max-unpooling (SegNet preview)":
        pooled, idx = F.max_pool2d(target[None], scale, return_indices=True)
        return F.max_unpool2d(pooled, idx, scale, output_size=target.shape[1:])[0]
    raise ValueError(f"method must be one of {UPSAMPLING_METHODS}, got {method!r}")
