"""seglab: an interactive teaching suite on image segmentation.

Subpackages (dependencies point down)::

    widgets -> viz            check (homework self-checks)
    train -> models (+ losses) -> ops (plain tensor math)
    metrics      data (generator, VOC/COCO I/O, transforms)      utils
"""

__version__ = "0.1.0"
