"""Segmentation models (FCN, U-Net, SegNet, Mask R-CNN, a tiny test model), the panoptic merge and decoder memory.

``create_model(name, ...)`` builds a model by name from the table in :mod:`seglab.models.registry`; the classes and
functions resolve lazily from the submodules (each module's ``__all__``): ``seglab.models.UNet`` imports
``seglab.models.unet`` on first use.
"""

from seglab._lazy import lazy_exports
from seglab.models.registry import available_models, create_model, model_modules, register_model, unregister_model

__all__ = ["available_models", "create_model", "register_model", "unregister_model"]

#: Modules of this package that are not models (the merge, decoder memory, the shared contract, shipped weights);
#: the model modules come from the registry's table, so adding a model is one entry there.
_PARTS = ["panoptic", "memory", "base", "pretrained"]

__getattr__, _dir = lazy_exports(__name__, [*model_modules(__name__), *_PARTS])


def __dir__():
    return sorted(set(__all__) | set(_dir()))
