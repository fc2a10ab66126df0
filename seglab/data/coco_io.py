"""COCO-side helpers that datasets and chapters share: a training transform that drops crowd regions, the writer of
predictions as COCO panoptic files, and the reader that pairs them with the ground truth for scoring
(:func:`read_panoptic_pairs`, which :func:`seglab.train.evaluation.pq_compute` scores)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from seglab.data.classes import check_categories
from seglab.data.formats import dump_json, id_to_rgb, load_json, read_rgb_image, rgb_to_id
from seglab.utils import atomic_write_bytes, to_numpy

__all__ = ["drop_crowd", "save_coco_panoptic", "read_panoptic_pairs"]

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


def read_panoptic_pairs(gt_json, gt_folder, pred_json, pred_folder) -> tuple[list[dict], Iterator]:
    """Ground truth and predictions in COCO panoptic format, paired by ``image_id``: ``(categories, pairs)``.

    gt_json / pred_json: paths to (or loaded dicts of) ``{"annotations": [{"image_id", "file_name",
    "segments_info"}], "categories": [...]}`` (categories come from the gt file); gt_folder / pred_folder: the folders
    with the RGB PNGs (``id = R + 256*G + 256**2*B``). ``pairs`` yields, in the gt file's order and one image at a
    time (a COCO split does not fit in memory as id maps), ``(image, (gt_id_map int64[H, W], gt_segments_info),
    (pred_id_map, pred_segments_info))``, where ``image`` names the image for error messages (``"image_id 7
    (000007.png)"``). Every gt image needs a prediction; extra predictions are ignored and their PNGs never read
    (as in panopticapi). The JSON files are checked at once, the PNGs as they are read.
    """
    gt_data, pred_data = (value if isinstance(value, dict) else load_json(value, name)
                          for value, name in ((gt_json, "gt_json"), (pred_json, "pred_json")))
    for name, data in (("gt_json", gt_data), ("pred_json", pred_data)):
        if not isinstance(data.get("annotations"), list):
            raise ValueError(f"{name} has no 'annotations' list")
    if "categories" not in gt_data:
        raise ValueError("gt_json has no 'categories' list")
    preds = {}
    for ann in pred_data["annotations"]:
        if ann.get("image_id") in preds:
            raise ValueError(f"pred_json has two annotations for image_id {ann.get('image_id')}")
        preds[ann.get("image_id")] = ann
    for ann in gt_data["annotations"]:
        if ann.get("image_id") not in preds:
            raise ValueError(f"image_id {ann.get('image_id')} ({ann.get('file_name')}): pred_json has no prediction "
                             "for this image")

    def pairs():
        for ann in gt_data["annotations"]:
            image, pann = f"image_id {ann['image_id']} ({ann.get('file_name')})", preds[ann["image_id"]]
            yield (image, (_read_id_png(gt_folder, ann["file_name"], f"gt {image}"), ann["segments_info"]),
                   (_read_id_png(pred_folder, pann["file_name"], f"pred {image}"), pann["segments_info"]))

    return gt_data["categories"], pairs()


def _read_id_png(folder, file_name: str, image: str):
    path = Path(folder) / file_name
    if not path.is_file():
        raise FileNotFoundError(f"{image}: panoptic PNG not found: {path}")
    return rgb_to_id(read_rgb_image(path))
