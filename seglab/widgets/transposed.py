"""Chapter 1 explorers: a transposed convolution cell by cell, and upsampling methods on a real image."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F

from seglab.ops import UPSAMPLING_METHODS, conv2d_matrix, conv2d_output_size, conv_transpose2d_output_size, upsample
from seglab.viz.transposed import transposed_conv_picture, upsampling_picture
from seglab.widgets.base import Explorer, int_slider

__all__ = ["transposed_conv_explorer", "upsampling_explorer", "TransposedConvExplorer", "UpsamplingExplorer",
           "default_image"]


def _literal(t: torch.Tensor) -> str:
    """A small integer-valued tensor as a ``torch.tensor`` literal in float64."""
    rows = ", ".join("[" + ", ".join(f"{v:g}." for v in row) + "]" for row in t.tolist())
    return f"torch.tensor([{rows}], dtype=torch.float64)"


class TransposedConvExplorer(Explorer):
    """Sliders for a one-channel transposed convolution with small integer input and kernel (fixed seed).

    ``output_padding`` can only reach ``max(stride, dilation) - 1`` (PyTorch's rule; its slider's bound follows
    stride and dilation). ``state``: ``X``, ``K``, ``Y`` (the result), ``counts``, ``footprint``, ``MT``,
    ``cell``, ``output_size`` and ``pytorch`` (the ``nn.ConvTranspose2d`` call that gives ``Y``).
    """

    def __init__(self, input_size=3, kernel_size=3, stride=2, padding=0, output_padding=0, dilation=1, cell=0):
        op_max = max(stride, dilation) - 1
        controls = {
            "input_size": int_slider("input", input_size, 1, 6),
            "kernel_size": int_slider("kernel", kernel_size, 1, 5),
            "stride": int_slider("stride", stride, 1, 3),
            "padding": int_slider("padding", padding, 0, 2),
            "output_padding": int_slider("output_padding", min(output_padding, op_max), 0, op_max),
            "dilation": int_slider("dilation", dilation, 1, 2),
            "cell": int_slider("input cell", cell, 0, input_size * input_size - 1),
        }
        super().__init__(controls, title="Transposed convolution: scatter each input cell's kernel into the output",
                         layout_rows=[["input_size", "kernel_size", "stride", "padding"],
                                      ["output_padding", "dilation", "cell"]])

    def on_control(self, change) -> None:
        c = self.controls
        if change.owner is c["input_size"]:
            c["cell"].max = change.new ** 2 - 1
        if change.owner in (c["stride"], c["dilation"]):  # PyTorch: output_padding < max(stride, dilation)
            c["output_padding"].max = max(c["stride"].value, c["dilation"].value) - 1

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
        code = (f"import torch\nfrom torch import nn\n"
                f"x = {_literal(X)}[None, None]  # input X\n"
                f"conv = nn.ConvTranspose2d(1, 1, kernel_size={k}, stride={s}, padding={p}, output_padding={op}, "
                f"dilation={d}, bias=False).double()\n"
                f"with torch.no_grad():\n    conv.weight.copy_({_literal(K)}[None, None])  # kernel K\n"
                f"y = conv(x)  # shape (1, 1, {size}, {size}): the result drawn")
        op_rule = (f"output_padding goes up to max(stride, dilation) - 1 = {max(s, d) - 1}: PyTorch requires "
                   "output_padding &lt; max(stride, dilation)")
        state = {"X": X, "K": K, "Y": Y, "counts": counts, "footprint": footprint, "MT": MT, "cell": cell,
                 "output_size": (size, size), "pytorch": code,
                 "message": f"output {size}x{size} = ({n}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1; counts range "
                            f"{int(counts.min())}..{int(counts.max())}<br>{op_rule}"}
        return transposed_conv_picture(state), state


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
        self.default = image is None
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
                 "pytorch": self._pytorch(scale, method, tuple(up.shape)),
                 "message": f"{method}: {tuple(low.shape[1:])} -> {tuple(up.shape[1:])}, MSE {mse:.4f}"}
        return upsampling_picture(low, up, target, title=method), state

    def _pytorch(self, s: int, method: str, shape) -> str:
        k, p = 2 * s - s % 2, s // 2
        head = ("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
                + ("from seglab.widgets.transposed import default_image\ntarget = default_image()  # float32[3, 96, 96]"
                   if self.default else "target = image  # float32[C, H, W] in [0, 1]: the image you passed, cropped")
                + "\n")
        pool = (f"low = F.max_pool2d(target[None], {s})[0]" if method.startswith("max-unpooling")
                else f"low = F.avg_pool2d(target[None], {s})[0]") + f"  # shape {tuple(self._low_shape(s))}\n"
        tail = f"  # shape {shape}, clamped to [0, 1] as drawn"
        if method in ("nearest", "bilinear"):
            extra = ", align_corners=False" if method == "bilinear" else ""
            body = f"up = F.interpolate(low[None], scale_factor={s}, mode={method!r}{extra})[0].clamp(0, 1)" + tail
        elif method == "transposed conv, bilinear init":
            c = self.original.shape[0]
            body = (f"from seglab.ops import bilinear_kernel\n"
                    f"up_conv = nn.ConvTranspose2d({c}, {c}, kernel_size={k}, stride={s}, padding={p}, bias=False)\n"
                    f"with torch.no_grad():\n    up_conv.weight.copy_(bilinear_kernel({c}, {c}, {k}))\n"
                    f"up = up_conv(low[None])[0].detach().clamp(0, 1)" + tail)
        elif method == "transposed conv, random init":
            body = (f"w = torch.rand(1, 1, {k}, {k}, generator=torch.Generator().manual_seed({s})) * (2.0 / {k})"
                    "  # one random kernel, every channel\n"
                    f"up = F.conv_transpose2d(low[:, None], w, stride={s}, padding={p})[:, 0].clamp(0, 1)" + tail)
        elif method == "transposed conv, least-squares fit":
            body = (f"eye = torch.eye({k * k}, dtype=torch.float64).view(1, {k * k}, {k}, {k})\n"
                    f"basis = F.conv_transpose2d(low[:, None].double(), eye, stride={s}, padding={p})"
                    "  # one output per kernel entry\n"
                    f"w = torch.linalg.lstsq(basis.permute(0, 2, 3, 1).reshape(-1, {k * k}), "
                    "target.double().reshape(-1, 1)).solution  # the kernel closest to the target\n"
                    f"up = F.conv_transpose2d(low[:, None].double(), w.view(1, 1, {k}, {k}), stride={s}, padding={p})"
                    "[:, 0].float().clamp(0, 1)" + tail)
        else:
            body = (f"pooled, indices = F.max_pool2d(target[None], {s}, return_indices=True)\n"
                    f"up = F.max_unpool2d(pooled, indices, {s}, output_size=target.shape[1:])[0].clamp(0, 1)" + tail)
        return head + pool + body

    def _low_shape(self, s: int):
        c, h, w = self.original.shape
        return (c, h // s, w // s)


def upsampling_explorer(image=None, **initial) -> UpsamplingExplorer:
    """Scale (2-4) and method controls; ``image`` defaults to a crop of ``skimage.data.astronaut()``."""
    return UpsamplingExplorer(image, **initial)
