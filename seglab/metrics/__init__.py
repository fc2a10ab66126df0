"""seglab.metrics: public names resolve lazily from the submodules semantic, boundary, coco and panoptic (see each
module's ``__all__``)."""

from seglab._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ['semantic', 'boundary', 'coco', 'panoptic'])
