"""Reading and writing the three on-disk formats: VOC palette PNGs, COCO RLE masks, COCO panoptic id PNGs.

Pure NumPy + Pillow (+ pycocotools for RLE); no torch at import, so the generator and the loaders share one set of
file helpers. Every reader names the file in its error message.

* PASCAL VOC: ``SegmentationClass/*.png`` and ``SegmentationObject/*.png`` are palette ("P" mode) PNGs whose
  pixel values are label indices; the palette is only for display (:func:`voc_palette`).
* COCO instances: masks as compressed RLE (``{"size": [H, W], "counts": str}``), see :func:`rle_encode`.
* COCO panoptic: an RGB PNG per image, segment ``id = R + 256*G + 256**2*B`` (:func:`rgb_to_id`, :func:`id_to_rgb`).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from seglab.data.classes import IGNORE_INDEX
from seglab.utils import to_numpy

__all__ = [
    "voc_palette_array",
    "encode_palette_png",
    "read_label_png",
    "check_labels",
    "read_rgb_image",
    "rgb_to_id",
    "id_to_rgb",
    "rle_encode",
    "rle_decode",
    "mask_to_box",
    "mask_to_coco_bbox",
    "masks_to_boxes_xyxy",
    "decode_segmentation",
    "dump_json",
    "load_json",
]


def voc_palette_array(num_colors: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map as ``uint8[num_colors, 3]`` (bit-interleaved colours; 255 -> (224, 224, 192)).

    The one palette of seglab: :func:`seglab.viz.voc_palette` is this function (kept here so that writing data
    does not import torch/matplotlib).
    """
    index = np.arange(num_colors)
    palette = np.zeros((num_colors, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


_PALETTE_BYTES = voc_palette_array().tobytes()


def encode_palette_png(labels: np.ndarray) -> bytes:
    """``uint8[H, W]`` label indices -> bytes of a palette PNG with the VOC colour map (deterministic)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a uint8 array of shape [H, W], got {labels.dtype} {labels.shape}")
    image = Image.fromarray(labels)  # mode "L"; putpalette turns it into "P"
    image.putpalette(_PALETTE_BYTES)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _existing_file(path, what: str) -> Path:
    """``path`` as a Path; FileNotFoundError naming ``what`` and the path when no such file exists."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _open(path: Path) -> Image.Image:
    path = _existing_file(path, "image file")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read image file {path}: corrupt or not an image ({exc})") from exc
    return image


def read_rgb_image(path) -> np.ndarray:
    """Read a JPEG/PNG as ``uint8[H, W, 3]`` (RGB). Missing -> FileNotFoundError, corrupt -> ValueError (naming it)."""
    return np.asarray(_open(path).convert("RGB"))


def read_label_png(path) -> np.ndarray:
    """Read a label PNG (palette "P" or greyscale "L") as its raw indices, ``uint8[H, W]``.

    The indices are NOT mapped through the palette (VOC convention: the pixel value is the label).
    """
    image = _open(path)
    if image.mode not in ("P", "L"):
        raise ValueError(
            f"label PNG {path} has mode {image.mode!r}; expected a palette ('P') or greyscale ('L') PNG of labels"
        )
    return np.asarray(image)


def check_labels(labels: np.ndarray, num_classes: int, path, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Raise ValueError naming the label and the file if ``labels`` holds a value outside ``0..num_classes-1``
    and ``ignore_index``. Returns ``labels`` unchanged."""
    values = np.unique(labels)
    bad = [int(v) for v in values if not (0 <= v < num_classes or v == ignore_index)]
    if bad:
        raise ValueError(
            f"mask {path} has label(s) {bad} outside the classes 0..{num_classes - 1} (and {ignore_index} = ignore)"
        )
    return labels


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """COCO panoptic colour -> segment id: ``uint8[H, W, 3]`` -> ``int64[H, W]``, ``id = R + 256*G + 256**2*B``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape [H, W, 3], got {rgb.shape}")
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """Segment id map ``int[H, W]`` (ids in 0..256**3-1) -> ``uint8[H, W, 3]`` panoptic colours."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be an integer array of shape [H, W], got {ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= 256**3):
        raise ValueError(f"ids must be in 0..{256**3 - 1}, got range {ids.min()}..{ids.max()}")
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def rle_encode(mask: np.ndarray) -> dict:
    """Binary ``[H, W]`` mask -> COCO compressed RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    from pycocotools import mask as mask_util

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape [H, W], got {mask.shape}")
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def mask_to_box(mask) -> list[int]:
    """Box ``[x1, y1, x2, y2]`` (ints, pixel edges: x2 = last column + 1, COCO's ``x + w``) of a non-empty
    ``[H, W]`` mask (NumPy array or tensor). ``torchvision.ops.masks_to_boxes`` gives ``x2 - 1, y2 - 1``."""
    mask = to_numpy(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape [H, W], got {mask.shape}")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not cols.size:
        raise ValueError("mask is empty: it has no box")
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def mask_to_coco_bbox(mask) -> list[int]:
    """COCO ``bbox`` ``[x, y, w, h]`` (ints, pixel edges: w = columns covered) of a non-empty ``[H, W]`` mask."""
    x1, y1, x2, y2 = mask_to_box(mask)
    return [x1, y1, x2 - x1, y2 - y1]


def masks_to_boxes_xyxy(masks):
    """Batched :func:`mask_to_box` on tensors: ``masks`` [N, H, W] (each non-empty) -> ``float32[N, 4]``
    ``(x1, y1, x2, y2)`` at pixel edges (x2 = last column + 1), on the masks' device."""
    import torch

    n, height, width = masks.shape
    cols, rows = masks.bool().any(1), masks.bool().any(2)  # [N, W], [N, H]
    x1 = cols.float().argmax(1)
    x2 = width - cols.flip(1).float().argmax(1)
    y1 = rows.float().argmax(1)
    y2 = height - rows.flip(1).float().argmax(1)
    return torch.stack([x1, y1, x2, y2], 1).float()


def rle_decode(rle: dict) -> np.ndarray:
    """COCO RLE (compressed with str/bytes counts, or uncompressed with a list) -> ``uint8[H, W]`` mask of 0/1."""
    from pycocotools import mask as mask_util

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"rle must be a dict with 'size' and 'counts', got {type(rle).__name__}")
    height, width = rle["size"]
    if isinstance(rle["counts"], list):
        rle = mask_util.frPyObjects(rle, height, width)
    elif isinstance(rle["counts"], str):
        rle = {"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")}
    with warnings.catch_warnings():  # pycocotools under NumPy 2 warns about np.array(copy=False)
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.ascontiguousarray(mask_util.decode(rle))


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` (RLE dict, or a list of polygons ``[[x1, y1, x2, y2, ...], ...]`` as in real COCO
    instances) -> ``uint8[height, width]`` mask."""
    from pycocotools import mask as mask_util

    if isinstance(segmentation, dict):
        mask = rle_decode(segmentation)
    elif isinstance(segmentation, list) and all(isinstance(p, list) for p in segmentation):
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
        mask = rle_decode(rle)
    else:
        raise ValueError(f"segmentation must be an RLE dict or a list of polygons, got {type(segmentation).__name__}")
    if mask.shape != (height, width):
        raise ValueError(f"segmentation has size {mask.shape}, expected {(height, width)}")
    return mask


def dump_json(obj) -> bytes:
    """JSON bytes with sorted keys and fixed separators, so the same data always gives the same bytes."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def load_json(path, what: str = "annotation file") -> dict:
    """Read a JSON file; a missing or malformed file raises an error naming ``what`` and the path."""
    path = _existing_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"cannot parse {what} {path} as JSON: {exc}") from exc
