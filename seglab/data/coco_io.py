"""COCO-side helpers that datasets and chapters share: a training transform that drops crowd regions, and the
writer of predictions as COCO panoptic files (read back by :func:`seglab.metrics.pq_compute`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from seglab.data.classes import check_categories
from seglab.data.formats import dump_json, id_to_rgb
from seglab.utils import atomic_write_bytes, to_numpy

__all__ = ["drop_crowd", "save_coco_panoptic"]

_PER_INSTANCE = ("boxes", "labels", "masks", "area", "iscrowd")


def drop_crowd(image, target: dict):
    """A dataset transform for training: keep the non-crowd instances (boxes, labels, masks) of a target."""
    import torch

    keep = target["iscrowd"] == 0 if "iscrowd" in target else torch.ones(len(target["labels"]), dtype=torch.bool)
    out = dict(target)
    for key in _PER_INSTANCE:
        if key in out:
            out[key] = out[key][keep]
    return image, out


def save_coco_panoptic(items, json_path, png_folder, categories=None) -> Path:
    """Write predictions as COCO panoptic files: one RGB PNG per image and one JSON (each written atomically).

    items: iterable of ``{"image_id", "id_map" int[H, W], "segments_info", "file_name" (optional, default
    ``"{image_id:06d}.png"``)}``. Returns the JSON path.
    """
    categories = check_categories(categories)
    png_folder = Path(png_folder)
    annotations = []
    for item in items:
        if not isinstance(item, dict) or not {"image_id", "id_map", "segments_info"} <= set(item):
            raise ValueError("each item must be a dict with 'image_id', 'id_map' and 'segments_info'")
        id_map = to_numpy(item["id_map"])
        file_name = item.get("file_name") or f"{int(item['image_id']):06d}.png"
        buffer = io.BytesIO()
        Image.fromarray(id_to_rgb(id_map)).save(buffer, format="PNG")
        atomic_write_bytes(png_folder / file_name, buffer.getvalue())
        segments = [{k: (float(v) if k == "score" else v) for k, v in s.items()} for s in item["segments_info"]]
        annotations.append({"image_id": item["image_id"], "file_name": file_name, "segments_info": segments})
    data = {"annotations": annotations, "categories": [dict(c) for c in categories]}
    json.dumps(data)  # fail here, not half-way through a file, on a value JSON cannot hold
    atomic_write_bytes(json_path, dump_json(data))
    return Path(json_path)
