"""What an encoder-decoder keeps from its encoder for its decoder, measured on a real forward pass.

SegNet's argument (Badrinarayanan et al., TPAMI 2017, Sec. 3 and Table 6) is that the decoder needs only the
max-pooling indices, 2 bits per 2x2 window, while U-Net copies whole encoder feature maps and FCN keeps score maps
of its pool3/pool4 features. :func:`decoder_memory` asks the model (its ``decoder_keeps(images)`` method, see
:class:`seglab.models.base.DecoderKeeps`) which tensors its forward pass really holds, and adds up their bytes:

* SegNet: the int64 index tensor of every pooling; the 2-bit figure is the size of those indices actually packed
  with :func:`seglab.ops.pack_pool_indices`.
* U-Net: the skip tensors (whole encoder maps, before cropping).
* FCN: the score maps of ``score_pool4`` / ``score_pool3`` (``[N, K, H/16, W/16]``, ``[N, K, H/8, W/8]``); the
  pool4/pool3 feature maps those layers read are reported too, because this implementation (like the paper's)
  keeps them until fc7 has run.

Training memory (activations saved for backward) is measured in :mod:`seglab.train.memory`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from seglab.models.base import decoder_keeps_method

__all__ = ["DecoderMemory", "decoder_memory", "parameter_bytes", "probe_images"]


@dataclass
class DecoderMemory:
    """Bytes kept from encoder to decoder. ``tensors``: ``[(name, shape, dtype, nbytes)]`` actually held."""

    architecture: str
    bytes: int
    tensors: list = field(default_factory=list)
    bytes_2bit: int | None = None  # SegNet only: the indices packed 2 bits a window
    features_bytes: int | None = None  # FCN only: the pool3/pool4 feature maps read by the score layers

    @property
    def megabytes(self) -> float:
        return self.bytes / 2**20


def _input_shape(model: nn.Module, input_size) -> tuple[int, int, int, int]:
    if not isinstance(input_size, (tuple, list, torch.Size)) or len(input_size) not in (2, 4):
        raise ValueError(f"input_size must be (H, W) or (N, C, H, W), got {input_size!r}")
    if not all(isinstance(s, int) and s > 0 for s in input_size):
        raise ValueError(f"input_size must hold positive ints, got {input_size!r}")
    if len(input_size) == 4:
        return tuple(input_size)
    channels = getattr(model, "in_channels", 3)
    return (1, channels, *input_size)


def probe_images(model: nn.Module, input_size) -> Tensor:
    """Random images of ``input_size`` (``(H, W)``: batch 1 with the model's ``in_channels``, or ``(N, C, H, W)``)
    on the model's device and in its dtype."""
    param = next(model.parameters())
    return torch.rand(_input_shape(model, input_size), dtype=param.dtype, device=param.device)


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


@torch.no_grad()
def decoder_memory(model: nn.Module, input_size) -> DecoderMemory:
    """Bytes ``model`` keeps from its encoder for its decoder on an input of ``input_size``.

    Args:
        model: a SegNet, U-Net or FCN (any width), or any model with a ``decoder_keeps(images)`` method; its device
            and dtype are used. On the ``meta`` device (``with torch.device("meta"): model = ...``) nothing is
            computed and the sizes are still exact.
        input_size: ``(H, W)`` (batch 1) or ``(N, C, H, W)``.

    Returns:
        :class:`DecoderMemory` with the total bytes and the list of held tensors.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    keeps = decoder_keeps_method(model)
    x = probe_images(model, input_size)
    was_training = model.training
    model.eval()
    try:
        kept = keeps(x)
    finally:
        model.train(was_training)
    held = [(name, tuple(t.shape), t.dtype, _nbytes(t)) for name, t in kept.tensors]
    return DecoderMemory(
        kept.architecture, sum(h[3] for h in held), held,
        bytes_2bit=None if kept.packed is None else sum(_nbytes(t) for t in kept.packed),
        features_bytes=None if kept.features is None else sum(_nbytes(t) for t in kept.features),
    )


def parameter_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters (what a checkpoint of the weights holds)."""
    return sum(_nbytes(p) for p in model.parameters())
