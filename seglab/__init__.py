"""seglab: an interactive teaching suite on image segmentation.

Subpackages and modules; dependencies point down (``tests/test_layers.py`` checks every import against this
drawing)::

    site -> guide -> lecture, offline, results  homework (nbgrader release and grading)
    widgets -> viz                              check (homework self-checks) -> ops, metrics, models
       |  (models + losses, data, metrics, ops)
    train -> models (+ losses) -> ops (plain tensor math: what the chapters teach)
       |  (metrics, data, results)
    metrics      data (generator, VOC/COCO I/O, transforms)      results      utils

``train`` runs headless (no plots, no widgets: it must work under torchrun); ``widgets`` get trained models from
the one loader, :func:`seglab.models.load_pretrained`, and numbers from their callers; ``metrics`` score arrays
(reading files is ``data``'s); ``data`` knows no model. ``utils`` is the one place that reads seglab's environment
variables; ``results`` writes and reads the experiment scripts' results files.
"""

__version__ = "0.1.0"
