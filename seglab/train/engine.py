"""The training loop every chapter uses: :func:`fit`, plus :func:`evaluate`, :func:`predict` and :func:`load_or_train`.

``fit`` is one loop you can read on a screen: for each epoch, for each batch, compute the loss, step the optimizer,
log; then validate, save a checkpoint and tell the monitor (a live plot in a notebook). The helpers below it do the
bookkeeping. Training is headless: it imports neither seglab.viz nor Matplotlib nor IPython; a notebook passes
``plot=seglab.widgets.live.LivePlot()``. Each epoch's time waiting for data and time in steps are printed and kept in
the History (``data_seconds``, ``step_seconds``).

Two model conventions are supported:

* semantic models: ``model(images float[N,3,H,W]) -> logits float[N,K,H,W]``; batches ``(images, masks int64[N,H,W],
  *extras)``; the loss is ``loss_fn(logits, masks, *extras)`` (default: cross-entropy ignoring ``IGNORE_INDEX`` pixels);
* torchvision detection models (Mask R-CNN): batches ``(list of images float[3,H,W], list of target dicts)``; in train
  mode ``model(images, targets)`` returns a dict of losses, which ``fit`` sums and logs term by term.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from seglab.train.batches import check_loader, compute_loss, to_device
from seglab.train.checkpoint import (
    CheckpointError,
    config_fingerprint,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from seglab.train.evaluation import evaluate
from seglab.train.history import History
from seglab.utils import get_device

__all__ = ["fit", "load_or_train"]

def fit(model, train_loader, val_loader=None, *, epochs: int, lr: float | None = None, optimizer=None, loss_fn=None,
        scheduler=None, device=None, amp: bool | None = None, checkpoint=None, resume: bool = True,
        config: dict | None = None, val_fn=None, grad_clip: float | None = None, progress: bool = True,
        plot=None, scheduler_every: str = "epoch") -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    ``optimizer``: an optimizer, a function ``params -> optimizer``, or None for ``AdamW(lr=lr)``.
    ``scheduler``: an LR scheduler or a function ``optimizer -> scheduler``, stepped once per epoch
    (``scheduler_every="step"``: after every optimizer step, e.g. for warm-up or OneCycleLR).
    ``loss_fn(outputs, targets, *extras)``: default :func:`segmentation_loss`; ignored for models returning loss dicts.
    ``amp``: mixed precision (float16 autocast + GradScaler); None = on when the device is CUDA. CUDA only.
    ``checkpoint``: a path; written atomically after every epoch, and a run resumes from it (unless
    ``resume=False``) when its fingerprint (model, optimizer, ``config``) matches. ``val_fn(model, loader, device)``
    returns a dict of metrics (default: :func:`evaluate` for semantic models; detection models need their own).
    ``progress``: tqdm bar and a summary line per epoch (loss, metrics, time waiting for data, time in steps).
    ``plot``: a monitor ``plot(history, force=False)``, called after every step and with ``force=True`` after every
    epoch, e.g. ``seglab.widgets.live.LivePlot()`` for a live loss plot in a notebook; None or False: headless.
    (``plot=True`` is deprecated: it warns and trains headless, for one release.) Under torchrun the
    model is wrapped in DistributedDataParallel and only rank 0 prints, plots and writes checkpoints.
    """
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    optimizer = _make_optimizer(model, optimizer, lr)
    scheduler = scheduler(optimizer) if callable(scheduler) and not hasattr(scheduler, "step") else scheduler
    use_amp = _use_amp(amp, device)
    if scheduler_every not in ("epoch", "step"):
        raise ValueError(f"scheduler_every must be 'epoch' or 'step', got {scheduler_every!r}")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    check_loader(train_loader, "train_loader")
    if val_loader is not None:
        check_loader(val_loader, "val_loader")
    fingerprint = config_fingerprint(model, config, optimizer)
    history, start_epoch = History(), 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        history, start_epoch = _resume(checkpoint, fingerprint, model, optimizer, scheduler, scaler, train_loader)
    net, main = _wrap_distributed(model, device), _is_main_process()
    live = _monitor(plot) if main else None
    bar = _progress_bar(train_loader, epochs, start_epoch, enabled=progress and main)

    for epoch in range(start_epoch, epochs):
        net.train()
        _set_sampler_epoch(train_loader, epoch)
        bar.set_description(f"epoch {epoch + 1}/{epochs}")
        start, epoch_losses, data_time, step_time = time.perf_counter(), [], 0.0, 0.0
        batches = iter(train_loader)
        ready = time.perf_counter()  # from here to the step's start: waiting for the batch and copying it
        for step, batch in enumerate(batches):
            images, targets, extras = to_device(batch, device)
            begin = time.perf_counter()
            data_time += begin - ready
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss, terms = compute_loss(net, images, targets, extras, loss_fn)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"the training loss became {value} at epoch {epoch + 1}, step {step + 1} "
                                         "(try a lower lr, grad_clip=1.0 or check the data)")
            _backward_and_step(loss, model, optimizer, scaler, grad_clip)
            if scheduler is not None and scheduler_every == "step":
                scheduler.step()
            history.log_step(value, terms)
            epoch_losses.append(value)
            step_time += time.perf_counter() - begin
            bar.update()
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if live is not None:
                live(history, force=False)
            ready = time.perf_counter()
        if not epoch_losses:
            raise ValueError(f"train_loader yielded no batches in epoch {epoch + 1}")
        if scheduler is not None and scheduler_every == "epoch":
            scheduler.step()
        metrics = _validate(model, val_loader, device, val_fn, use_amp, is_detection=terms is not None)
        history.log_epoch(sum(epoch_losses) / len(epoch_losses), time.perf_counter() - start,
                          optimizer.param_groups[0]["lr"], metrics, data_seconds=data_time, step_seconds=step_time)
        if checkpoint is not None and main:
            save_checkpoint(checkpoint, model=model, epoch=epoch + 1, fingerprint=fingerprint, config=config,
                            optimizer=optimizer, scheduler=scheduler, scaler=scaler, history=history.to_dict(),
                            rng=rng_state(train_loader))
        if live is not None:
            live(history, force=True)
        if main and progress:
            bar.write(_epoch_summary(epoch, epochs, history, len(epoch_losses)))
    bar.close()
    return history


# --- helpers of fit -----------------------------------------------------------------------------------------------

def _monitor(plot):
    """The callable ``fit`` tells about progress, or None (headless)."""
    if plot is None or plot is False:
        return None
    if plot is True:  # the old form: it drew from inside training, which now imports no display code
        warnings.warn("fit(plot=True) no longer draws and is deprecated: pass plot=seglab.widgets.live.LivePlot() "
                      "for a live plot in a notebook, or plot=None (headless)", DeprecationWarning, stacklevel=3)
        return None
    if callable(plot):
        return plot
    if callable(getattr(plot, "update", None)):
        return plot.update
    raise TypeError(f"plot must be None or a monitor plot(history, force=...), e.g. LivePlot(); got {plot!r}")


def _backward_and_step(loss, model, optimizer, scaler, grad_clip):
    """Gradients and one optimizer step; with AMP the GradScaler scales the loss and skips steps with inf grads."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()


def _progress_bar(loader, epochs, start_epoch, enabled):
    steps = _safe_len(loader)
    return tqdm(total=None if steps is None else epochs * steps, initial=start_epoch * (steps or 0),
                disable=not enabled, mininterval=0.5)


def _make_optimizer(model, optimizer, lr):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if lr is None or not lr > 0:
        raise ValueError(f"lr must be a positive number (or pass an optimizer), got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return optimizer(params) if callable(optimizer) else torch.optim.AdamW(params, lr=lr)


def _use_amp(amp, device) -> bool:
    if amp is None:
        return device.type == "cuda"
    if amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got {device}; use amp=None or False")
    return bool(amp)


def _safe_len(loader):
    try:
        return len(loader)
    except TypeError:  # an IterableDataset without __len__
        return None


def _set_sampler_epoch(loader, epoch):
    for sampler in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # DistributedSampler reshuffles per epoch


def _validate(model, val_loader, device, val_fn, use_amp, is_detection):
    if val_loader is None:
        return {}
    if val_fn is not None:
        return val_fn(model, val_loader, device)
    if is_detection:
        return {}  # detection models return predictions in eval mode: pass val_fn (e.g. COCO mask AP)
    return evaluate(model, val_loader, device=device, amp=use_amp)


def _resume(path, fingerprint, model, optimizer, scheduler, scaler, train_loader):
    state = load_checkpoint(path)
    if state["fingerprint"] != fingerprint:
        raise CheckpointError(f"checkpoint {path} was written by a different run (model, optimizer or config "
                              "differ); delete it, pass another path, or use resume=False")
    load_model_state(model, state["model"], source=f"checkpoint {path}")
    if state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler.is_enabled() and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    if state.get("rng") is not None:
        set_rng_state(state["rng"], train_loader)
    return History.from_dict(state["history"]), int(state["epoch"])


def _is_main_process() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _wrap_distributed(model, device):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type != "cuda":
        return DistributedDataParallel(model)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return DistributedDataParallel(model, device_ids=[index])


def _epoch_summary(epoch, epochs, history, steps):
    """``epoch 2/8: train loss 0.4210  val mIoU 0.5123  (31.0 s; data 0.4 s, 250 steps 27.9 s = 9.0 steps/s)``"""
    val = "  ".join(f"val {k} {v[-1]:.4f}" for k, v in history.val.items() if v)
    step_seconds = history.step_seconds[-1]
    return f"epoch {epoch + 1}/{epochs}: train loss {history.epoch_loss[-1]:.4f}  {val}  " \
           f"({history.epoch_seconds[-1]:.1f} s; data {history.data_seconds[-1]:.1f} s, {steps} steps " \
           f"{step_seconds:.1f} s = {steps / max(step_seconds, 1e-9):.1f} steps/s)"


# --- load a finished run, else train ------------------------------------------------------------------------------

def load_or_train(model, path, train_loader=None, val_loader=None, *, train_fn=None, config: dict | None = None,
                  **fit_kwargs) -> History:
    """Load the checkpoint at ``path`` when it matches this run, else train and save it. Returns the History.

    With fit arguments (``epochs=``, ``lr=``, ...): runs :func:`fit` with ``checkpoint=path``. A matching checkpoint
    that has all the epochs is loaded without training; one with fewer epochs is resumed; one from a different run
    (other model, optimizer or ``config``), a damaged one or one with more epochs is replaced by a fresh run.
    With ``train_fn(model) -> History | None`` (your own loop): a checkpoint whose ``config`` and tensor shapes
    match is loaded, else ``train_fn`` runs and the weights are saved.
    """
    path = Path(path)
    if train_fn is not None:
        fingerprint = config_fingerprint(model, config)
        try:
            state = load_checkpoint(path) if path.exists() else None
        except CheckpointError as exc:
            warnings.warn(f"{exc}; training again", stacklevel=2)
            state = None
        if state is not None and state["fingerprint"] == fingerprint:
            load_model_state(model, state["model"], source=f"checkpoint {path}")
            return History.from_dict(state["history"])
        result = train_fn(model)
        history = result if isinstance(result, History) else History.from_dict(dict(result or {}))
        save_checkpoint(path, model=model, epoch=history.epochs, fingerprint=fingerprint, config=config,
                        history=history.to_dict())
        return history
    if train_loader is None or "epochs" not in fit_kwargs:
        raise ValueError("load_or_train needs train_fn=..., or train_loader and fit arguments (epochs=, lr=, ...)")
    resume = True
    if path.exists():
        resume = False
        with contextlib.suppress(CheckpointError):
            optimizer = _make_optimizer(model, fit_kwargs.get("optimizer"), fit_kwargs.get("lr"))
            state = load_checkpoint(path)
            resume = state["fingerprint"] == config_fingerprint(model, config, optimizer) \
                and state["epoch"] <= fit_kwargs["epochs"]
        if not resume:
            warnings.warn(f"checkpoint {path} is damaged or does not match this run; training from scratch",
                          stacklevel=2)
    return fit(model, train_loader, val_loader, checkpoint=path, resume=resume, config=config, **fit_kwargs)
