"""What an encoder-decoder keeps from its encoder for its decoder, measured on a real forward pass.

SegNet's argument (Badrinarayanan et al., TPAMI 2017, Sec. 3 and Table 6) is that the decoder needs only the
max-pooling indices, 2 bits per 2x2 window, while U-Net copies whole encoder feature maps and FCN keeps score maps
of its pool3/pool4 features. :func:`decoder_memory` measures this from the tensors the forward pass really holds:

* SegNet: forward hooks on every ``MaxPool2d(return_indices=True)`` collect the int64 index tensors; the 2-bit
  figure is the size of those indices actually packed with :func:`seglab.ops.pack_pool_indices`.
* U-Net: the skip tensors it returns with ``model(x, return_skips=True)`` (whole encoder maps, before cropping).
* FCN: forward hooks on ``score_pool3`` / ``score_pool4`` collect the score maps (``[N, K, H/8, W/8]``,
  ``[N, K, H/16, W/16]``); the pool3/pool4 feature maps those layers read are reported too, because this
  implementation (like the paper's) keeps them until fc7 has run.

:func:`training_memory` measures the activations one training step keeps for backward (saved-tensor hooks, on any
device) and, on CUDA, the peak allocated memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from seglab.ops.pooling import pack_pool_indices

__all__ = ["DecoderMemory", "decoder_memory", "training_memory", "parameter_bytes", "memory_table"]


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


def _probe(model: nn.Module, input_size) -> Tensor:
    param = next(model.parameters())
    return torch.rand(_input_shape(model, input_size), dtype=param.dtype, device=param.device)


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


def _kind(model: nn.Module) -> str:
    if any(isinstance(m, nn.MaxPool2d) and m.return_indices for m in model.modules()):
        return "segnet"
    if hasattr(model, "score_pool4") or hasattr(model, "score_pool3") or hasattr(model, "score_fr"):
        return "fcn"
    if hasattr(model, "ups") and hasattr(model, "downs"):
        return "unet"
    raise ValueError(
        f"decoder_memory knows SegNet (pooling with indices), U-Net (return_skips) and FCN (score_pool*); "
        f"got {type(model).__name__}"
    )


@torch.no_grad()
def decoder_memory(model: nn.Module, input_size) -> DecoderMemory:
    """Bytes ``model`` keeps from its encoder for its decoder on an input of ``input_size``.

    Args:
        model: a SegNet, U-Net or FCN (any width); its device and dtype are used. On the ``meta`` device
            (``with torch.device("meta"): model = ...``) nothing is computed and the sizes are still exact.
        input_size: ``(H, W)`` (batch 1) or ``(N, C, H, W)``.

    Returns:
        :class:`DecoderMemory` with the total bytes and the list of held tensors.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    kind = _kind(model)
    x = _probe(model, input_size)
    was_training = model.training
    model.eval()
    held: list[tuple[str, tuple, torch.dtype, int]] = []
    handles = []
    try:
        if kind == "segnet":
            packed_bytes = 0
            pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d) and m.return_indices]

            def keep_indices(module, inputs, output, i):
                nonlocal packed_bytes
                indices = output[1]
                held.append((f"indices{i}", tuple(indices.shape), indices.dtype, _nbytes(indices)))
                packed = pack_pool_indices(indices, int(inputs[0].shape[-1]))
                packed_bytes += _nbytes(packed)

            for i, pool in enumerate(pools):
                handles.append(pool.register_forward_hook(lambda m, a, o, i=i: keep_indices(m, a, o, i)))
            model(x)
            total = sum(h[3] for h in held)
            return DecoderMemory("SegNet", total, held, bytes_2bit=packed_bytes)
        if kind == "unet":
            _, skips = model(x, return_skips=True)
            # the deepest map is the bottleneck itself (not a copy); the list returned holds the copied ones
            for i, skip in enumerate(skips):
                held.append((f"skip{i}", tuple(skip.shape), skip.dtype, _nbytes(skip)))
            return DecoderMemory("U-Net", sum(h[3] for h in held), held)
        features = []
        for name in ("score_pool3", "score_pool4"):
            layer = getattr(model, name, None)
            if layer is None:
                continue

            def keep_scores(module, inputs, output, name=name):
                held.append((name, tuple(output.shape), output.dtype, _nbytes(output)))
                features.append(_nbytes(inputs[0]))

            handles.append(layer.register_forward_hook(keep_scores))
        model(x)
        variant = getattr(model, "variant", "")
        return DecoderMemory(f"FCN-{variant}" if variant else "FCN", sum(h[3] for h in held), held,
                             features_bytes=sum(features))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


def parameter_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters (what a checkpoint of the weights holds)."""
    return sum(_nbytes(p) for p in model.parameters())


def training_memory(model: nn.Module, input_size, num_classes: int | None = None) -> dict:
    """Activation memory of one training step (forward + cross-entropy + backward) on ``input_size``.

    Returns ``{"saved_bytes": ..., "cuda_peak_bytes": ... or None}``: ``saved_bytes`` sums the distinct storages
    that autograd saves for backward (parameters excluded), measured with
    ``torch.autograd.graph.saved_tensors_hooks`` on any device; ``cuda_peak_bytes`` is
    ``torch.cuda.max_memory_allocated`` during the step minus what was allocated before it (CUDA only).
    The model's gradients are zeroed afterwards; its weights are not changed (no optimiser step).
    """
    x = _probe(model, input_size)
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Tensor):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in params:
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    cuda = x.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        before = torch.cuda.memory_allocated(x.device)
    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            logits = model(x)
            k = logits.shape[1] if num_classes is None else num_classes
            target = torch.randint(0, k, (x.shape[0], *logits.shape[-2:]), device=x.device)
            loss = nn.functional.cross_entropy(logits, target)
        loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    peak = None
    if cuda:
        torch.cuda.synchronize(x.device)
        peak = torch.cuda.max_memory_allocated(x.device) - before
    return {"saved_bytes": sum(seen.values()), "cuda_peak_bytes": peak}


def memory_table(models: dict, input_size, *, training: bool = True) -> list[dict]:
    """One row per ``name -> model``: decoder memory (int64 and 2-bit for SegNet), parameters, training memory.

    Values are in MiB (2**20 bytes); ``input_size`` as in :func:`decoder_memory`.
    """
    rows = []
    for name, model in models.items():
        mem = decoder_memory(model, input_size)
        row = {
            "model": name,
            "decoder_MiB": mem.bytes / 2**20,
            "decoder_2bit_MiB": None if mem.bytes_2bit is None else mem.bytes_2bit / 2**20,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "params_MiB": parameter_bytes(model) / 2**20,
        }
        if training:
            train = training_memory(model, input_size)
            row["train_saved_MiB"] = train["saved_bytes"] / 2**20
            row["train_cuda_peak_MiB"] = None if train["cuda_peak_bytes"] is None else train["cuda_peak_bytes"] / 2**20
        rows.append(row)
    return rows
