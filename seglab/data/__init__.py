"""seglab.data: public names resolve lazily from the submodules classes, formats, coco_io, scenes, datasets,
transforms, elastic, synthetic, perturb and nuclei (see each module's ``__all__``)."""

from seglab._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ['classes', 'formats', 'coco_io', 'scenes', 'datasets', 'transforms',
                                                'elastic', 'synthetic', 'perturb', 'nuclei'])
