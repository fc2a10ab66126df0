"""PyTorch datasets over the on-disk formats, in torchvision's tensor conventions.

* :class:`VOCSegmentation`: a PASCAL VOC 2012 layout -> ``(image float32[3, H, W] in [0, 1], mask int64[H, W])``,
  mask values are the palette PNG indices, ``IGNORE_INDEX`` = ignore.
* :class:`COCOInstances`: COCO instances JSON -> ``(image, {"boxes": float32[N, 4] xyxy, "labels": int64[N],
  "masks": uint8[N, H, W], "image_id": int, "area": float32[N], "iscrowd": int64[N]})``; labels are 1..K in the
  order of the JSON's categories (0 = background, the Mask R-CNN convention).
* :class:`COCOPanoptic`: COCO panoptic JSON + PNGs -> ``(image, {"id_map": int64[H, W], "segments_info": [...],
  "image_id": int})``; id 0 is VOID.
* :class:`SceneDataset`: the generated scenes (``make_scenes``) through the three, chosen by ``task``.

Every reader names the file when it is missing or corrupt, and a mask label outside the classes is reported with
the label and the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seglab.data.classes import CATEGORIES, IGNORE_INDEX, NUM_CLASSES
from seglab.data.formats import check_labels, decode_segmentation, load_json, read_label_png, read_rgb_image, rgb_to_id

__all__ = ["SceneDataset", "VOCSegmentation", "COCOInstances", "COCOPanoptic", "detection_collate",
           "find_voc_root", "image_to_tensor", "load_image", "TASKS", "VOC_NUM_CLASSES", "VOC_LAYOUT", "COCO_LAYOUT"]

TASKS = ("semantic", "instance", "panoptic")
VOC_NUM_CLASSES = 21  # PASCAL VOC: background + 20 object classes


def image_to_tensor(array: np.ndarray) -> torch.Tensor:
    """A ``uint8[H, W, 3]`` RGB picture (as files and the scene generator give it) -> ``float32[3, H, W]`` in [0, 1]."""
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"array must be a uint8 picture of shape [H, W, 3], got {array.dtype} {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float().div_(255.0)


def load_image(path) -> torch.Tensor:
    """Read an image file as ``float32[3, H, W]`` in [0, 1] (RGB)."""
    return image_to_tensor(read_rgb_image(path))


#: What :class:`VOCSegmentation` reads (the PASCAL VOC 2012 release, and what ``make_scenes`` writes).
VOC_LAYOUT = ("VOC2012/JPEGImages/NAME.jpg, VOC2012/SegmentationClass/NAME.png (palette indices, 255 = void) and "
              "VOC2012/ImageSets/Segmentation/SPLIT.txt (one NAME a line), the VOC2012 folder given directly or as "
              "VOCdevkit/VOC2012")
#: What :class:`COCOInstances` / :class:`COCOPanoptic` read.
COCO_LAYOUT = ("an annotation JSON (instances_*.json or panoptic_*.json) with 'images' (id, file_name), 'annotations' "
               "and 'categories' lists, an image folder holding every image's file_name, and for panoptic a folder of "
               "id PNGs (the annotations' file_name)")
_VOC_PARTS = ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")


def find_voc_root(root) -> Path:
    """``root`` may be the ``VOC2012`` folder itself or a folder holding ``VOCdevkit/VOC2012`` (or ``VOC2012``).
    A folder that is not one names the parts it lacks and the expected layout."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"VOC root {root} not found: expected a folder with {VOC_LAYOUT}")
    candidates = (root, root / "VOCdevkit" / "VOC2012", root / "VOC2012")
    for candidate in candidates:
        if all((candidate / part).is_dir() for part in _VOC_PARTS):
            return candidate
    # the candidate that has most of the layout is the one the user meant: say what it lacks
    best = max(candidates, key=lambda c: sum((c / part).is_dir() for part in _VOC_PARTS))
    missing = [part + "/" for part in _VOC_PARTS if not (best / part).is_dir()]
    raise FileNotFoundError(f"root {root} is not a VOC 2012 folder: {best} has no {', '.join(missing)}; "
                            f"expected {VOC_LAYOUT}")


def _first_missing(paths, what: str, source, layout: str) -> None:
    """FileNotFoundError naming up to 3 of ``paths`` that do not exist, how many, and the expected layout."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise FileNotFoundError(f"{len(missing)} {what} listed in {source} not found (e.g. {shown}); "
                                f"expected {layout}")


class VOCSegmentation(Dataset):
    """PASCAL VOC segmentation: ``(image float32[3, H, W], mask int64[H, W])``, ``IGNORE_INDEX`` = ignore.

    ``root``: the ``VOC2012`` folder or a folder with ``VOCdevkit/VOC2012`` (the real 2012 release or the scenes).
    ``split``: any list in ``ImageSets/Segmentation`` (VOC ships train, val, trainval).
    ``num_classes``: labels must be in ``0..num_classes-1`` or ``IGNORE_INDEX`` (21 for real VOC; 8 =
    ``NUM_CLASSES`` for scenes).
    ``transforms``: a joint transform ``(image, target) -> (image, target)``; here the target is the mask.
    """

    def __init__(self, root, split: str = "train", transforms=None, num_classes: int = VOC_NUM_CLASSES):
        self.root = find_voc_root(root)
        split_dir = self.root / "ImageSets" / "Segmentation"
        if not isinstance(split, str) or not (split_dir / f"{split}.txt").is_file():
            allowed = sorted(p.stem for p in split_dir.glob("*.txt"))
            raise ValueError(f"split must be one of {allowed} (lists in {split_dir}), got {split!r}")
        if not isinstance(num_classes, int) or not 1 <= num_classes <= IGNORE_INDEX:
            raise ValueError(f"num_classes must be an int in 1..{IGNORE_INDEX}, got {num_classes!r}")
        self.split, self.transforms, self.num_classes = split, transforms, num_classes
        split_file = split_dir / f"{split}.txt"
        self.names = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        if not self.names:
            raise ValueError(f"split file {split_file} lists no image; expected one NAME a line ({VOC_LAYOUT})")
        _first_missing([self.image_path(i) for i in range(len(self.names))], "image file(s)", split_file, VOC_LAYOUT)
        _first_missing([self.mask_path(i) for i in range(len(self.names))], "mask file(s)", split_file, VOC_LAYOUT)

    def __len__(self) -> int:
        return len(self.names)

    def image_path(self, index: int) -> Path:
        return self.root / "JPEGImages" / f"{self.names[index]}.jpg"

    def mask_path(self, index: int) -> Path:
        return self.root / "SegmentationClass" / f"{self.names[index]}.png"

    def __getitem__(self, index: int):
        image = load_image(self.image_path(index))
        path = self.mask_path(index)
        labels = check_labels(read_label_png(path), self.num_classes, path, IGNORE_INDEX)
        if labels.shape != tuple(image.shape[1:]):
            raise ValueError(f"mask {path} has size {labels.shape}, expected the image size {tuple(image.shape[1:])}")
        mask = torch.from_numpy(labels.astype(np.int64))
        return self.transforms(image, mask) if self.transforms is not None else (image, mask)


class _COCOBase(Dataset):
    def __init__(self, annotation_file, image_dir, transforms=None):
        self.annotation_file, self.image_dir = Path(annotation_file), Path(image_dir)
        if not self.annotation_file.is_file():
            raise FileNotFoundError(f"annotation file {self.annotation_file} not found: expected {COCO_LAYOUT}")
        self.data = load_json(self.annotation_file)
        for key in ("images", "annotations", "categories"):
            if not isinstance(self.data, dict) or not isinstance(self.data.get(key), list):
                raise ValueError(f"annotation file {self.annotation_file} has no {key!r} list; expected {COCO_LAYOUT}")
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"image_dir {self.image_dir} not found: expected the folder that holds the images "
                                    f"named in {self.annotation_file} ({COCO_LAYOUT})")
        for index, entry in enumerate(self.data["images"]):
            if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
                raise ValueError(f"{self.annotation_file}: images[{index}] lacks 'id' or 'file_name'; "
                                 f"expected {COCO_LAYOUT}")
        self.transforms = transforms
        self.images = sorted(self.data["images"], key=lambda im: im["id"])
        self.image_ids = [int(im["id"]) for im in self.images]
        self.categories = self.data["categories"]
        _first_missing([self.image_dir / im["file_name"] for im in self.images], "image file(s)",
                       self.annotation_file, COCO_LAYOUT)
        known = set(self.image_ids)
        for ann in self.data["annotations"]:
            if int(ann.get("image_id", -1)) not in known:
                raise ValueError(f"annotation {ann.get('id')} in {self.annotation_file} refers to image_id "
                                 f"{ann.get('image_id')!r}, which is not in its 'images' list")

    def __len__(self) -> int:
        return len(self.images)

    def _image(self, index: int) -> torch.Tensor:
        return load_image(self.image_dir / self.images[index]["file_name"])


def _check_category(category_id, known, what: str, path) -> None:
    if not isinstance(category_id, int) or category_id not in known:
        raise ValueError(f"{what} in {path} has category_id {category_id!r}, not one of the file's categories "
                         f"{sorted(known)}")


class COCOInstances(_COCOBase):
    """COCO instance segmentation in torchvision's detection convention (see the module docstring).

    ``annotation_file``: ``instances_*.json``; ``image_dir``: the folder the images' ``file_name`` is relative to.
    Masks may be RLE (compressed or not) or polygons (real COCO). ``label_of[category_id]`` gives the label.
    """

    def __init__(self, annotation_file, image_dir, transforms=None):
        super().__init__(annotation_file, image_dir, transforms)
        self.label_of = {int(c["id"]): k + 1 for k, c in enumerate(self.categories)}
        self.by_image: dict[int, list] = {i: [] for i in self.image_ids}
        for ann in self.data["annotations"]:
            _check_category(ann.get("category_id"), self.label_of, f"annotation {ann.get('id')}",
                            self.annotation_file)
            self.by_image.setdefault(int(ann["image_id"]), []).append(ann)

    def __getitem__(self, index: int):
        image = self._image(index)
        height, width = image.shape[1:]
        anns, masks = self.by_image[self.image_ids[index]], []
        for ann in anns:
            try:
                masks.append(decode_segmentation(ann["segmentation"], height, width))
            except ValueError as exc:
                raise ValueError(f"annotation {ann.get('id')} in {self.annotation_file}: {exc}") from exc
        masks = np.stack(masks) if anns else np.zeros((0, height, width), np.uint8)
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                             dtype=torch.float32).reshape(-1, 4)
        target = {
            "boxes": boxes,
            "labels": torch.tensor([self.label_of[a["category_id"]] for a in anns], dtype=torch.int64),
            "masks": torch.from_numpy(masks),
            "image_id": self.image_ids[index],
            "area": torch.tensor([a["area"] for a in anns], dtype=torch.float32),
            "iscrowd": torch.tensor([a.get("iscrowd", 0) for a in anns], dtype=torch.int64),
        }
        return self.transforms(image, target) if self.transforms is not None else (image, target)


class COCOPanoptic(_COCOBase):
    """COCO panoptic segmentation: ``(image, {"id_map": int64[H, W], "segments_info": list, "image_id": int})``.

    ``annotation_file``: ``panoptic_*.json``; ``image_dir``: the images (e.g. ``val2017/``); ``panoptic_dir``: the
    id PNGs (e.g. ``panoptic_val2017/``), ``id = R + 256*G + 256**2*B``, 0 = VOID. Every non-zero id in a PNG must
    appear in its ``segments_info``.
    """

    def __init__(self, annotation_file, image_dir, panoptic_dir, transforms=None):
        super().__init__(annotation_file, image_dir, transforms)
        self.panoptic_dir = Path(panoptic_dir)
        if not self.panoptic_dir.is_dir():
            raise FileNotFoundError(f"panoptic_dir {self.panoptic_dir} not found: expected the folder of id PNGs "
                                    f"named in {self.annotation_file} ({COCO_LAYOUT})")
        self.by_image = {int(a["image_id"]): a for a in self.data["annotations"]}
        missing = [i for i in self.image_ids if i not in self.by_image]
        if missing:
            raise ValueError(f"{self.annotation_file}: images {missing[:5]} have no panoptic annotation")
        self.isthing = {int(c["id"]): int(c.get("isthing", 1)) for c in self.categories}
        for ann in self.data["annotations"]:
            for segment in ann.get("segments_info", []):
                _check_category(segment.get("category_id"), self.isthing,
                                f"segment {segment.get('id')} of image {ann['image_id']}", self.annotation_file)
        _first_missing([self.panoptic_dir / self.by_image[i]["file_name"] for i in self.image_ids],
                       "panoptic PNG(s)", self.annotation_file, COCO_LAYOUT)

    def __getitem__(self, index: int):
        image = self._image(index)
        ann = self.by_image[self.image_ids[index]]
        path = self.panoptic_dir / ann["file_name"]
        id_map = rgb_to_id(read_rgb_image(path))
        if id_map.shape != tuple(image.shape[1:]):
            raise ValueError(f"panoptic PNG {path} has size {id_map.shape}, "
                             f"expected the image size {tuple(image.shape[1:])}")
        known = {int(s["id"]) for s in ann["segments_info"]}
        unknown = sorted(set(np.unique(id_map).tolist()) - known - {0})
        if unknown:
            raise ValueError(f"panoptic PNG {path} has segment id(s) {unknown[:5]} missing from its segments_info")
        target = {"id_map": torch.from_numpy(id_map), "segments_info": [dict(s) for s in ann["segments_info"]],
                  "image_id": self.image_ids[index]}
        return self.transforms(image, target) if self.transforms is not None else (image, target)


class SceneDataset(Dataset):
    """The generated scenes (``make_scenes``) for one task.

    ``task="semantic"``: ``(image float32[3, H, W] in [0, 1], mask int64[H, W])``, ``IGNORE_INDEX`` = ignore
    (VOC files);
    ``"instance"``: ``(image, {"boxes", "labels" (1..4), "masks", "image_id", "area", "iscrowd"})`` (COCO
    instances; crowd regions are included with ``iscrowd = 1``: drop them for training with
    ``keep = target["iscrowd"] == 0``); ``"panoptic"``: ``(image, {"id_map", "segments_info", "image_id"})``.
    Attributes: ``image_ids`` (COCO ids, in item order), ``names`` (file stems), ``categories``
    (:data:`seglab.data.classes.CATEGORIES`), ``num_classes`` (8).
    """

    def __init__(self, root=None, split: str = "train", task: str = "semantic", transforms=None):
        from seglab.utils import DATA_DIR

        self.root = Path(DATA_DIR / "scenes" if root is None else root)
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if not self.root.is_dir():
            raise FileNotFoundError(f"scenes root {self.root} not found; generate it with "
                                    f"`python -m seglab.data.scenes {self.root}` (or `make data`)")
        self.split, self.task, self.transforms = split, task, transforms
        self.categories, self.num_classes = CATEGORIES, NUM_CLASSES
        self.voc = VOCSegmentation(self.root, split, num_classes=NUM_CLASSES)
        self.names = self.voc.names
        annotations = self.root / "coco" / "annotations"
        image_dir = self.voc.root / "JPEGImages"
        if task == "panoptic":
            self.coco = COCOPanoptic(annotations / f"panoptic_{split}.json", image_dir,
                                     self.root / "coco" / f"panoptic_{split}")
        else:  # the instance JSON also gives the semantic task its image ids
            self.coco = COCOInstances(annotations / f"instances_{split}.json", image_dir)
        stems = [Path(im["file_name"]).stem for im in self.coco.images]
        if stems != self.names:
            raise ValueError(f"{self.root}: ImageSets/Segmentation/{split}.txt and the COCO JSON list different images")
        self.image_ids = self.coco.image_ids

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} scenes")
        image, target = (self.voc if self.task == "semantic" else self.coco)[index % len(self)]
        return self.transforms(image, target) if self.transforms is not None else (image, target)

    def __repr__(self) -> str:
        return f"SceneDataset(root={str(self.root)!r}, split={self.split!r}, task={self.task!r}, n={len(self)})"


def detection_collate(batch):
    """Collate ``[(image, target), ...]`` into ``(list of images, list of targets)`` (images may differ in size),
    the input format of torchvision's detection models."""
    if not isinstance(batch, (list, tuple)) or not all(isinstance(b, (list, tuple)) and len(b) == 2 for b in batch):
        raise ValueError("batch must be a list of (image, target) pairs")
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)
