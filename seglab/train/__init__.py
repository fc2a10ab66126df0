"""seglab.train: the training engine (fit, evaluate, predict, load_or_train), checkpoints and the training history.

    from seglab.train import fit, evaluate, load_or_train
    history = fit(model, train_loader, val_loader, epochs=10, lr=1e-3, checkpoint="checkpoints/unet.pt")
    history.val["mIoU"][-1], history.data_seconds[-1], history.step_seconds[-1]
    evaluate(model, val_loader)["mIoU"]

Training is headless (no seglab.viz, Matplotlib or IPython here): a notebook passes ``plot=LivePlot()``
(``seglab.widgets.live``) for a live loss plot and draws a finished run with ``seglab.viz.history.plot_history``.

``python -m seglab.train --help`` trains a registered model from the command line, also under ``torchrun``.
"""

from seglab.train.batches import segmentation_loss, to_device
from seglab.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from seglab.train.engine import fit, load_or_train
from seglab.train.evaluation import evaluate, predict, semantic_scores
from seglab.train.history import History
from seglab.train.memory import memory_table, training_memory

__all__ = [
    "fit",
    "evaluate",
    "predict",
    "semantic_scores",
    "load_or_train",
    "segmentation_loss",
    "to_device",
    "History",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "training_memory",
    "memory_table",
]
