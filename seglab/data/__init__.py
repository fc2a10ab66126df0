"""seglab.data: public names resolve lazily from the submodules classes, formats, scenes, datasets, transforms and
elastic (see each module's ``__all__``)."""

from seglab._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ['classes', 'formats', 'scenes', 'datasets', 'transforms', 'elastic'])
