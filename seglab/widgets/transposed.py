"""Chapter 1 explorers: a transposed convolution cell by cell, and upsampling methods on a real image."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F

from seglab.ops import UPSAMPLING_METHODS, conv2d_matrix, conv2d_output_size, conv_transpose2d_output_size, upsample
from seglab.viz.transposed import draw_transposed_conv, draw_upsampling
from seglab.widgets.base import Explorer, int_slider

__all__ = ["transposed_conv_explorer", "upsampling_explorer", "TransposedConvExplorer", "UpsamplingExplorer",
           "default_image"]


class TransposedConvExplorer(Explorer):
    """Sliders for a one-channel transposed convolution with small integer input and kernel (fixed seed)."""

    def __init__(self, input_size=3, kernel_size=3, stride=2, padding=0, output_padding=0, dilation=1, cell=0):
        self._quiet = False
        controls = {
            "input_size": int_slider("input", input_size, 1, 6),
            "kernel_size": int_slider("kernel", kernel_size, 1, 5),
            "stride": int_slider("stride", stride, 1, 3),
            "padding": int_slider("padding", padding, 0, 2),
            "output_padding": int_slider("output_padding", output_padding, 0, 2),
            "dilation": int_slider("dilation", dilation, 1, 2),
            "cell": int_slider("input cell", cell, 0, input_size * input_size - 1),
        }
        super().__init__(controls, title="Transposed convolution: scatter each input cell's kernel into the output",
                         layout_rows=[["input_size", "kernel_size", "stride", "padding"],
                                      ["output_padding", "dilation", "cell"]])

    def _on_change(self, change) -> None:
        if self._quiet:
            return
        if change["owner"] is self.controls["input_size"]:
            self._quiet = True  # moving the cell slider's range must not render a second time
            try:
                self.controls["cell"].max = change["new"] ** 2 - 1
            finally:
                self._quiet = False
        self.refresh()

    def render(self, values):
        n, k, s = values["input_size"], values["kernel_size"], values["stride"]
        p, op, d = values["padding"], values["output_padding"], values["dilation"]
        cell = min(values["cell"], n * n - 1)
        size = conv_transpose2d_output_size(n, k, s, p, op, d)  # ValueError -> message in the widget
        # fixed seeds, one per tensor: changing the input size keeps the kernel (and vice versa)
        X = torch.randint(1, 5, (n, n), generator=torch.Generator().manual_seed(0)).double()
        K = torch.randint(1, 4, (k, k), generator=torch.Generator().manual_seed(1)).double()
        args = dict(stride=s, padding=p, output_padding=op, dilation=d)
        Y = F.conv_transpose2d(X[None, None], K[None, None], **args)[0, 0]
        counts = F.conv_transpose2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), **args)[0, 0].round().long()
        one = torch.zeros(n * n, dtype=torch.float64)
        one[cell] = X.flatten()[cell]
        footprint = F.conv_transpose2d(one.view(1, 1, n, n), K[None, None], **args)[0, 0]
        M = conv2d_matrix(K, size, s, p, d)
        w_conv = conv2d_output_size(size, k, s, p, d)  # conv2d's output width for `size`
        cols = (torch.arange(n)[:, None] * w_conv + torch.arange(n)[None, :]).flatten()  # y's pixels in that grid
        MT = M.T[:, cols]
        state = {"X": X, "K": K, "Y": Y, "counts": counts, "footprint": footprint, "MT": MT, "cell": cell,
                 "output_size": (size, size), "message": f"output {size}x{size} = ({n}-1)*{s} - 2*{p} + "
                 f"{d}*({k}-1) + {op} + 1; counts range {int(counts.min())}..{int(counts.max())}"}
        return draw_transposed_conv(state), state


def transposed_conv_explorer(**initial) -> TransposedConvExplorer:
    """Sliders: input_size, kernel_size, stride, padding, output_padding, dilation and the selected input cell."""
    return TransposedConvExplorer(**initial)


# ---------------------------------------------------------------------------------------------------- upsampling
def default_image(size: int = 96) -> torch.Tensor:
    """A real photo: the astronaut's face from ``skimage.data.astronaut()``, ``float32[3, size, size]`` in [0, 1]."""
    from skimage.data import astronaut

    img = torch.from_numpy(astronaut()[20:212, 150:342].copy()).permute(2, 0, 1).float() / 255.0
    return F.interpolate(img[None], size=(size, size), mode="area")[0]


def _as_image(image) -> torch.Tensor:
    if image is None:
        return default_image()
    img = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float()
    if img.dim() == 2:
        img = img[None]
    elif img.dim() == 3 and img.shape[0] not in (1, 3):
        img = img.permute(2, 0, 1)
    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"image must be [H,W], [H,W,3] or [C,H,W] with C in (1, 3), got {tuple(img.shape)}")
    img = img / 255.0 if img.max() > 1.5 else img
    h, w = (img.shape[1] // 12) * 12, (img.shape[2] // 12) * 12  # divisible by every scale factor offered
    if h < 24 or w < 24:
        raise ValueError(f"image must be at least 24x24 pixels, got {tuple(img.shape[1:])}")
    return img[:, :h, :w].contiguous()


class UpsamplingExplorer(Explorer):
    """Scale factor and method controls over one real image: downsample by the factor, upsample back, compare."""

    def __init__(self, image=None, scale: int = 2, method: str = "bilinear"):
        self.original = _as_image(image)
        controls = {
            "scale": int_slider("scale factor", scale, 2, 4),
            "method": W.Dropdown(options=UPSAMPLING_METHODS, value=method, description="method",
                                 layout=W.Layout(width="380px")),
        }
        super().__init__(controls, title="Upsampling a low-resolution image back to full size")

    def render(self, values):
        scale, method = values["scale"], values["method"]
        target = self.original
        if method.startswith("max-unpooling"):
            low = F.max_pool2d(target[None], scale)[0]
        else:
            low = F.avg_pool2d(target[None], scale)[0]
        up = upsample(low, scale, method, target).clamp(0, 1)
        mse = float(((up - target) ** 2).mean())
        state = {"low": low, "output": up, "target": target, "mse": mse,
                 "message": f"{method}: {tuple(low.shape[1:])} -> {tuple(up.shape[1:])}, MSE {mse:.4f}"}
        return draw_upsampling(low, up, target, title=method), state


def upsampling_explorer(image=None, **initial) -> UpsamplingExplorer:
    """Scale (2-4) and method controls; ``image`` defaults to a crop of ``skimage.data.astronaut()``."""
    return UpsamplingExplorer(image, **initial)
