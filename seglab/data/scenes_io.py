"""Write rendered scenes in the three layouts (PASCAL VOC, COCO instances, COCO panoptic). Used by make_scenes.

Every file is written atomically (``seglab.utils.atomic_write_bytes``): a failed run leaves no half-written file.

Conventions (see data/README.md):

* file stem ``{split}_{index:05d}``; COCO ``image_id`` = index + 1 for train, ``num_train`` + index + 1 for val,
  ``num_train + num_val`` + index + 1 for test; COCO ``file_name`` of an image is the bare JPEG name, resolved
  against ``VOCdevkit/VOC2012/JPEGImages``.
* VOC masks have 255 on a 1-px void band outside each thing (on the occluded side); COCO instance masks are the
  full visible masks (no band); the panoptic PNG has VOID (id 0) exactly on the VOC band, so
  ``semantic == category_id - 1`` of each pixel's segment, and 255 where the id is 0.
* panoptic segment id = ``category_id * 256 + k`` (R = k, G = category_id): k = 0 for a stuff segment (one per stuff
  class present), k = 1..N for the N-th thing in paint order.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from seglab.data.classes import CATEGORIES, THING_CLASSES
from seglab.data.formats import dump_json, encode_palette_png, id_to_rgb, mask_to_coco_bbox, rle_encode
from seglab.utils import atomic_write_bytes

__all__ = ["VOC_SUBDIR", "scene_name", "image_id_of", "write_dataset"]

VOC_SUBDIR = Path("VOCdevkit") / "VOC2012"


def scene_name(split: str, index: int) -> str:
    """File stem of a scene, e.g. ``train_00012``."""
    return f"{split}_{index:05d}"


def image_id_of(split: str, index: int, num_train: int, num_val: int = 0) -> int:
    """COCO image id: unique across the splits (train, then val, then test)."""
    offset = {"train": 0, "val": num_train, "test": num_train + num_val}[split]
    return offset + index + 1


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _panoptic(scene: dict) -> tuple[np.ndarray, list[dict]]:
    """Panoptic id map int64[H, W] (0 = VOID on the band) and its segments_info."""
    ids = np.zeros(scene["stuff"].shape, dtype=np.int64)
    segments = []
    keep = ~scene["band"]
    for label in np.unique(scene["stuff"]):
        region = (scene["stuff"] == label) & (scene["objects"] == 0)
        ids[region] = (int(label) + 1) * 256
    for k, thing in enumerate(scene["things"], start=1):
        ids[thing["mask"] & keep] = (thing["label"] + 1) * 256 + k
    crowd = {(t["label"] + 1) * 256 + k: t["iscrowd"] for k, t in enumerate(scene["things"], start=1)}
    for segment_id in np.unique(ids):
        if segment_id == 0:
            continue
        region = ids == segment_id
        segments.append({"id": int(segment_id), "category_id": int(segment_id // 256), "area": int(region.sum()),
                         "iscrowd": crowd.get(int(segment_id), 0), "bbox": mask_to_coco_bbox(region)})
    return ids, segments


def write_dataset(root, scenes: dict, params: dict) -> None:
    """Write ``scenes`` (``{"train": [scene, ...], "val": [...]}`` from ``render_scene``) under ``root``."""
    root = Path(root)
    voc = root / VOC_SUBDIR
    for sub in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    (root / "coco" / "annotations").mkdir(parents=True, exist_ok=True)
    thing_categories = [dict(CATEGORIES[k], supercategory="thing") for k in THING_CLASSES]
    panoptic_categories = [dict(c, supercategory="thing" if c["isthing"] else "stuff") for c in CATEGORIES]
    for split, split_scenes in scenes.items():
        pan_dir = root / "coco" / f"panoptic_{split}"
        pan_dir.mkdir(parents=True, exist_ok=True)
        images, instances, panoptic, names = [], [], [], []
        for index, scene in enumerate(split_scenes):
            name = scene_name(split, index)
            image_id = image_id_of(split, index, params["num_train"], params["num_val"])
            names.append(name)
            height, width = scene["semantic"].shape
            atomic_write_bytes(voc / "JPEGImages" / f"{name}.jpg", _jpeg(scene["image"]))
            atomic_write_bytes(voc / "SegmentationClass" / f"{name}.png", encode_palette_png(scene["semantic"]))
            atomic_write_bytes(voc / "SegmentationObject" / f"{name}.png", encode_palette_png(scene["objects"]))
            images.append({"id": image_id, "file_name": f"{name}.jpg", "height": height, "width": width})
            for thing in scene["things"]:
                instances.append({"id": len(instances) + 1, "image_id": image_id,
                                  "category_id": thing["label"] + 1, "iscrowd": thing["iscrowd"],
                                  "segmentation": rle_encode(thing["mask"]), "area": float(thing["mask"].sum()),
                                  "bbox": [float(v) for v in mask_to_coco_bbox(thing["mask"])]})
            ids, segments = _panoptic(scene)
            atomic_write_bytes(pan_dir / f"{name}.png", _png(id_to_rgb(ids)))
            panoptic.append({"image_id": image_id, "file_name": f"{name}.png", "segments_info": segments})
        info = {"description": "seglab synthetic scenes", "version": "1.0", **{k: params[k] for k in ("size", "seed")}}
        split_list = "".join(n + "\n" for n in names).encode()
        atomic_write_bytes(voc / "ImageSets" / "Segmentation" / f"{split}.txt", split_list)
        atomic_write_bytes(root / "coco" / "annotations" / f"instances_{split}.json", dump_json(
            {"info": info, "images": images, "annotations": instances, "categories": thing_categories}))
        atomic_write_bytes(root / "coco" / "annotations" / f"panoptic_{split}.json", dump_json(
            {"info": info, "images": images, "annotations": panoptic, "categories": panoptic_categories}))
    atomic_write_bytes(root / "scenes.json", dump_json(params))
