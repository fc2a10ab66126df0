"""The classes of the generated scenes, and the one table that maps between their numberings.

Every pixel of a scene is *stuff* (amorphous texture regions) or a *thing* (countable shapes).
Three numberings appear in the chapters, all derived from :data:`CATEGORIES`:

* semantic label ``k`` in ``0..NUM_CLASSES-1`` (VOC-style masks; 255 = void/ignore),
* COCO ``category_id = k + 1`` (COCO never uses 0 for a category),
* detection label for Mask R-CNN: ``0`` is background, things are ``1..NUM_THINGS``.
"""

from __future__ import annotations

__all__ = [
    "IGNORE_INDEX", "IMAGENET_MEAN", "IMAGENET_STD", "CATEGORIES", "CLASS_NAMES", "NUM_CLASSES", "STUFF_CLASSES",
    "THING_CLASSES", "NUM_THINGS", "check_categories", "semantic_to_category", "category_to_semantic",
    "semantic_to_detection", "detection_to_semantic",
]

#: Label of void/ignored pixels in semantic masks (VOC's border value); losses and metrics skip it.
IGNORE_INDEX = 255

#: Per-channel mean and standard deviation of ImageNet (RGB, images scaled to [0, 1]) used by pretrained backbones.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: COCO-style category table; the list index is the semantic label.
CATEGORIES: list[dict] = [
    {"id": 1, "name": "sky", "isthing": 0},
    {"id": 2, "name": "grass", "isthing": 0},
    {"id": 3, "name": "gravel", "isthing": 0},
    {"id": 4, "name": "brick", "isthing": 0},
    {"id": 5, "name": "disk", "isthing": 1},
    {"id": 6, "name": "square", "isthing": 1},
    {"id": 7, "name": "triangle", "isthing": 1},
    {"id": 8, "name": "star", "isthing": 1},
]

CLASS_NAMES: list[str] = [c["name"] for c in CATEGORIES]
NUM_CLASSES: int = len(CATEGORIES)
STUFF_CLASSES: list[int] = [k for k, c in enumerate(CATEGORIES) if not c["isthing"]]
THING_CLASSES: list[int] = [k for k, c in enumerate(CATEGORIES) if c["isthing"]]
NUM_THINGS: int = len(THING_CLASSES)


def check_categories(categories=None) -> list[dict]:
    """A COCO category list (``None`` -> :data:`CATEGORIES`), checked: a non-empty list of dicts with ``id`` and
    ``isthing``."""
    categories = list(CATEGORIES if categories is None else categories)
    if not categories or not all(isinstance(c, dict) and "id" in c and "isthing" in c for c in categories):
        raise ValueError("categories must be a non-empty list of dicts with 'id' and 'isthing'")
    return categories


def semantic_to_category(label: int) -> int:
    """Semantic label (0-based) -> COCO category id."""
    if not 0 <= int(label) < NUM_CLASSES:
        raise ValueError(f"semantic label must be in 0..{NUM_CLASSES - 1}, got {label}")
    return int(label) + 1


def category_to_semantic(category_id: int) -> int:
    """COCO category id -> semantic label (0-based)."""
    if not 1 <= int(category_id) <= NUM_CLASSES:
        raise ValueError(f"category_id must be in 1..{NUM_CLASSES}, got {category_id}")
    return int(category_id) - 1


def semantic_to_detection(label: int) -> int:
    """Semantic label of a thing -> Mask R-CNN label (1..NUM_THINGS; 0 is background)."""
    if int(label) not in THING_CLASSES:
        raise ValueError(f"label {label} is not a thing class; things are {THING_CLASSES}")
    return THING_CLASSES.index(int(label)) + 1


def detection_to_semantic(label: int) -> int:
    """Mask R-CNN label (1..NUM_THINGS) -> semantic label."""
    if not 1 <= int(label) <= NUM_THINGS:
        raise ValueError(f"detection label must be in 1..{NUM_THINGS}, got {label}")
    return THING_CLASSES[int(label) - 1]
