"""seglab.ops: public names resolve lazily from the submodules transposed, pooling and roi (see each module's
``__all__``)."""

from seglab._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ['transposed', 'pooling', 'roi'])
