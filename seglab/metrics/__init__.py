"""seglab.metrics: public names resolve lazily from the submodules semantic, boundary, coco, panoptic and instances
(see each module's ``__all__``)."""

from seglab._lazy import lazy_exports

_lazy_getattr, __dir__ = lazy_exports(__name__, ['semantic', 'boundary', 'coco', 'panoptic', 'instances'])


def __getattr__(name):
    if name == "pq_compute":  # deprecated here: seglab.train.evaluation.pq_compute (it reads files)
        from seglab.metrics import panoptic

        return panoptic.__getattr__(name)
    return _lazy_getattr(name)
