"""seglab.ops: public names resolve lazily from the submodules transposed, upsampling, pooling, roi and poolers (see
each module's ``__all__``)."""

from seglab._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ['transposed', 'upsampling', 'pooling', 'roi', 'poolers'])
