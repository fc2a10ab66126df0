"""Memory of one training step, and a table comparing models on it (decoder memory, parameters, activations).

:func:`training_memory` measures the activations one training step keeps for backward (saved-tensor hooks, on any
device) and, on CUDA, the peak allocated memory. What a decoder keeps from its encoder is a property of the
architecture: :func:`seglab.models.decoder_memory`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seglab.models.memory import decoder_memory, parameter_bytes, probe_images

__all__ = ["training_memory", "memory_table"]


def training_memory(model: nn.Module, input_size, num_classes: int | None = None) -> dict:
    """Activation memory of one training step (forward + cross-entropy + backward) on ``input_size``.

    Returns ``{"saved_bytes": ..., "cuda_peak_bytes": ... or None}``: ``saved_bytes`` sums the distinct storages
    that autograd saves for backward (parameters excluded), measured with
    ``torch.autograd.graph.saved_tensors_hooks`` on any device; ``cuda_peak_bytes`` is
    ``torch.cuda.max_memory_allocated`` during the step minus what was allocated before it (CUDA only).
    The model's gradients are zeroed afterwards; its weights and buffers are not changed (no optimiser step, and the
    batch-norm running statistics that the training-mode forward pass updates are restored).
    """
    x = probe_images(model, input_size)
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
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
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
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    peak = None
    if cuda:
        torch.cuda.synchronize(x.device)
        peak = torch.cuda.max_memory_allocated(x.device) - before
    return {"saved_bytes": sum(seen.values()), "cuda_peak_bytes": peak}


def memory_table(models: dict, input_size, *, training: bool = True) -> list[dict]:
    """One row per ``name -> model``: decoder memory (int64 and 2-bit for SegNet), parameters, training memory.

    Values are in MiB (2**20 bytes); ``input_size`` as in :func:`seglab.models.decoder_memory`.
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
