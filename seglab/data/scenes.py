"""A deterministic generator of small scenes with stuff and things, written as VOC, COCO instances and COCO panoptic.

A scene is stuff regions that cover the canvas (a smooth sky gradient on top, or textured grass, gravel and brick
made from the real photographs that scikit-image ships) with 1-5 things painted on top (disk, square, triangle,
star) at varied scale, rotation and colour; later things may partly occlude earlier ones. About one image in
twelve also holds a *crowd*: a tight group of tiny shapes of one class annotated as a single ``iscrowd=1`` region.

``python -m seglab.data.scenes data/scenes`` writes the shipped copy (400 train, 100 val, 128 px, seed 0).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from seglab.data.classes import CATEGORIES, CLASS_NAMES, IGNORE_INDEX, THING_CLASSES
from seglab.data.formats import mask_to_coco_bbox
from seglab.data.scenes_io import write_dataset

__all__ = ["make_scenes", "render_scene", "scene_rng", "SPLITS"]

SPLITS = ("train", "val", "test")  # test: held out; settings are chosen on val, results reported on test
_SKY, _GRASS, _GRAVEL, _BRICK = (CLASS_NAMES.index(n) for n in ("sky", "grass", "gravel", "brick"))
_DISK, _SQUARE, _TRIANGLE, _STAR = (CLASS_NAMES.index(n) for n in ("disk", "square", "triangle", "star"))
#: Base RGB colour of each textured stuff class (jittered per scene).
_TINTS = {_GRASS: (0.30, 0.55, 0.18), _GRAVEL: (0.56, 0.53, 0.48), _BRICK: (0.68, 0.30, 0.20)}
_MIN_THING_AREA = 36  # pixels of visible mask (about a 6x6 patch)
_MIN_THING_SIDE = 6  # the visible part of a thing spans at least 6 px each way
#: circumradius / disk radius that gives a shape the area of the disk (so no class is much smaller than another)
_AREA_MATCH = {_SQUARE: 1.25, _TRIANGLE: 1.55, _STAR: 1.55}


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one scene: depends only on (seed, split, index), so a scene does not change
    when the number of scenes does."""
    return np.random.default_rng([int(seed), SPLITS.index(split), int(index)])


@functools.cache
def _texture(label: int) -> np.ndarray:
    """Grey texture float32[512, 512] normalised to mean 0, std 1 (scikit-image's grass/gravel/brick photos)."""
    import skimage.data

    grey = getattr(skimage.data, CLASS_NAMES[label])().astype(np.float32)
    return (grey - grey.mean()) / grey.std()


def _wavy_split(rng, size: int, horizontal: bool = False) -> np.ndarray:
    """bool[size, size]: one side of a random line bent by two sinusoids (an irregular region boundary)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(-0.25, 0.25) + np.pi / 2 if horizontal else rng.uniform(0, np.pi)
    nx, ny = np.cos(angle), np.sin(angle)  # normal of the line
    px, py = rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.55) if horizontal else rng.uniform(0.3, 0.7)
    along = -ny * xx + nx * yy
    bend = sum(rng.uniform(0.01, 0.07) * np.sin(2 * np.pi * rng.uniform(0.5, 2.5) * along + rng.uniform(0, 2 * np.pi))
               for _ in range(2))
    return nx * (xx - px) + ny * (yy - py) + bend < 0


def _stuff_layout(rng, size: int) -> np.ndarray:
    """int64[size, size] stuff labels: sky above a wavy horizon (55%) or 2-3 textured regions."""
    textures = [int(t) for t in rng.permutation([_GRASS, _GRAVEL, _BRICK])]
    labels = np.full((size, size), textures[0], dtype=np.int64)
    if rng.random() < 0.55:
        upper = _wavy_split(rng, size, horizontal=True)
        if rng.random() < 0.5:
            labels[_wavy_split(rng, size) & ~upper] = textures[1]
        labels[upper] = _SKY
    else:
        labels[_wavy_split(rng, size)] = textures[1]
        if rng.random() < 0.5:
            labels[_wavy_split(rng, size)] = textures[2]
    return labels


def _sky(rng, size: int) -> np.ndarray:
    """float32[size, size, 3]: a smooth vertical gradient from deep blue to a pale horizon, slightly tilted."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = np.clip(yy * rng.uniform(1.2, 2.0) + (xx - 0.5) * rng.uniform(-0.3, 0.3), 0, 1)[..., None]
    top = np.array([0.15, 0.35, 0.80]) + rng.uniform(-0.08, 0.08, 3)
    horizon = np.array([0.75, 0.85, 0.95]) + rng.uniform(-0.08, 0.05, 3)
    return ((1 - t) * top + t * horizon).astype(np.float32)


def _textured(rng, label: int, size: int) -> np.ndarray:
    """float32[size, size, 3]: a random crop (zoom 0.5-1x, rot90, flip) of the class texture, tinted."""
    tex = _texture(label)
    crop = int(size / rng.uniform(0.5, 1.0))
    y0, x0 = rng.integers(0, tex.shape[0] - crop + 1), rng.integers(0, tex.shape[1] - crop + 1)
    patch = np.rot90(tex[y0:y0 + crop, x0:x0 + crop], int(rng.integers(4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    patch = np.asarray(Image.fromarray(np.ascontiguousarray(patch)).resize((size, size), Image.BILINEAR))
    tint = np.clip(np.array(_TINTS[label]) * rng.uniform(0.8, 1.2) + rng.uniform(-0.05, 0.05, 3), 0.05, 0.95)
    return (tint * (1.0 + 0.35 * patch[..., None])).astype(np.float32)


def _shape_polygon(label: int, cx: float, cy: float, radius: float, angle: float):
    """Vertices of a thing whose area is about that of a disk of ``radius`` (None for a disk)."""
    if label == _DISK:
        return None
    radius = radius * _AREA_MATCH[label]
    if label == _STAR:
        radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
        angles = angle + np.arange(10) * np.pi / 5
    else:
        corners = 4 if label == _SQUARE else 3
        radii = np.full(corners, radius)
        angles = angle + np.arange(corners) * 2 * np.pi / corners
    return [(float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for r, a in zip(radii, angles)]


def _draw_shape(size: int, label: int, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """bool[size, size] mask of one shape, rasterised by Pillow."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    polygon = _shape_polygon(label, cx, cy, radius, angle)
    if polygon is None:
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=1)
    else:
        draw.polygon(polygon, fill=1)
    return np.asarray(canvas).astype(bool)


def _thing_colour(rng, background: np.ndarray) -> np.ndarray:
    """A saturated random colour that stands out from ``background`` (mean RGB under the shape)."""
    import colorsys

    colour = None
    for _ in range(12):
        colour = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.45, 1.0)))
        if np.linalg.norm(colour - background) > 0.35:
            break
    return colour.astype(np.float32)


def _big_enough(mask: np.ndarray, min_area: float = 0) -> bool:
    """At least ``_MIN_THING_AREA`` (and ``min_area``) pixels, and at least ``_MIN_THING_SIDE`` px wide and tall."""
    if mask.sum() < max(_MIN_THING_AREA, min_area):
        return False
    _, _, width, height = mask_to_coco_bbox(mask)
    return height >= _MIN_THING_SIDE and width >= _MIN_THING_SIDE


def _place(rng, size, occupancy, full_areas, label, radius, near=None, tries=20):
    """Find a position for a new shape that leaves every earlier thing at least half visible (or None)."""
    for _ in range(tries):
        if near is not None:
            cx, cy = near + rng.normal(0, 1.2 * radius, 2)
        else:
            cx, cy = rng.uniform(0.3 * radius, size - 0.3 * radius, 2)
        mask = _draw_shape(size, label, cx, cy, radius, rng.uniform(0, 2 * np.pi))
        if not _big_enough(mask):
            continue
        ok = all(_big_enough((occupancy == k + 1) & ~mask, 0.5 * full) for k, full in enumerate(full_areas))
        if ok:
            return mask
    return None


def _boundary_band(segments: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """bool[H, W]: pixels with a 4-neighbour in a different segment painted ABOVE them (level = paint order;
    stuff is level 0). The band is 1 px wide and lies outside each thing, on the occluded side."""
    band = np.zeros(segments.shape, dtype=bool)
    for axis in (0, 1):
        for shift in (1, -1):
            seg_n = np.roll(segments, shift, axis)
            lvl_n = np.roll(levels, shift, axis)
            edge = [slice(None)] * 2
            edge[axis] = 0 if shift == 1 else -1  # np.roll wraps around: the wrapped row/column has no neighbour
            seg_n[tuple(edge)] = segments[tuple(edge)]
            band |= (seg_n != segments) & (lvl_n > levels)
    return band


def render_scene(rng: np.random.Generator, size: int = 128) -> dict:
    """Render one scene.

    Returns a dict: ``image`` uint8[H, W, 3]; ``stuff`` int64[H, W] (stuff label of every pixel under the things);
    ``things``: list in paint order of ``{"label": semantic thing label, "mask": bool[H, W] visible mask,
    "iscrowd": 0 | 1}``; ``band`` bool[H, W] (void boundary band); ``semantic`` uint8[H, W] (``IGNORE_INDEX`` on
    the band); ``objects`` uint8[H, W] (0 stuff, 1..N thing index in paint order, ``IGNORE_INDEX`` on the band).
    """
    if not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be an int >= 32, got {size!r}")
    stuff = _stuff_layout(rng, size)
    image = np.zeros((size, size, 3), dtype=np.float32)
    for label in np.unique(stuff):
        layer = _sky(rng, size) if label == _SKY else _textured(rng, int(label), size)
        image[stuff == label] = layer[stuff == label]

    occupancy = np.zeros((size, size), dtype=np.int64)  # 0 = stuff, k = k-th thing (paint order)
    things, full_areas = [], []
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    min_radius, max_radius = max(4.0, 0.045 * size), 0.22 * size
    crowd = rng.random() < 1 / 12
    plan = [("crowd", int(rng.choice(THING_CLASSES)))] if crowd else []
    plan += [("thing", int(rng.choice(THING_CLASSES))) for _ in range(int(rng.integers(1, 6)))]
    for kind, label in plan:
        if kind == "crowd":  # 4-6 tiny shapes in a tight cluster, annotated as one region
            centre = rng.uniform(0.2 * size, 0.8 * size, 2)
            mask = np.zeros((size, size), dtype=bool)
            for _ in range(int(rng.integers(4, 7))):
                cx, cy = centre + rng.normal(0, 0.05 * size, 2)
                mask |= _draw_shape(size, label, cx, cy, rng.uniform(3.0, 4.0), rng.uniform(0, 2 * np.pi))
        else:
            radius = float(np.exp(rng.uniform(np.log(min_radius), np.log(max_radius))))
            near = None
            if things and rng.random() < 0.35:  # deliberately overlap an earlier thing
                ys, xs = np.nonzero(things[int(rng.integers(len(things)))]["mask"])
                near = np.array([xs.mean(), ys.mean()])
            mask = _place(rng, size, occupancy, full_areas, label, radius, near)
        if mask is None or mask.sum() < _MIN_THING_AREA:
            continue
        colour = _thing_colour(rng, image[mask].mean(axis=0))
        direction = rng.normal(size=2)
        shade = ((xx * direction[0] + yy * direction[1]) / (np.linalg.norm(direction) * size))[..., None]
        image[mask] = (colour * (0.85 + 0.5 * shade))[mask]
        for thing in things:
            thing["mask"] &= ~mask
        occupancy[mask] = len(things) + 1
        things.append({"label": label, "mask": mask.copy(), "iscrowd": int(kind == "crowd")})
        full_areas.append(int(mask.sum()))

    image += rng.normal(0, 0.015, image.shape).astype(np.float32)
    image_u8 = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    semantic = stuff.copy()
    for k, thing in enumerate(things):
        semantic[occupancy == k + 1] = thing["label"]
    segments = np.where(occupancy > 0, 100 + occupancy, stuff)  # distinct id per stuff class and per thing
    band = _boundary_band(segments, occupancy)
    semantic = np.where(band, IGNORE_INDEX, semantic).astype(np.uint8)
    objects = np.where(band, IGNORE_INDEX, occupancy).astype(np.uint8)
    return {"image": image_u8, "stuff": stuff, "things": things, "band": band, "semantic": semantic,
            "objects": objects}


def make_scenes(root, num_train: int, num_val: int, size: int = 128, seed: int = 0, num_test: int = 0) -> Path:
    """Generate ``num_train`` + ``num_val`` (+ ``num_test``) scenes and write them under ``root`` in all three formats.

    Writes ``root/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationObject,ImageSets/Segmentation}``,
    ``root/coco/annotations/{instances,panoptic}_{SPLIT}.json``, ``root/coco/panoptic_{SPLIT}/*.png`` and
    ``root/scenes.json`` (the parameters). Each split draws from its own random streams (:func:`scene_rng`), so the
    test split is new scenes and adding it changes no train or val file. Same arguments -> identical bytes. A folder
    that already holds a generated dataset (it has ``scenes.json``) is replaced; a folder with other VOC/COCO data is
    refused. Returns ``Path(root)``.
    """
    checks = (("num_train", num_train, 0), ("num_val", num_val, 0), ("size", size, 32), ("seed", seed, 0),
              ("num_test", num_test, 0))
    for name, value, low in checks:
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    root = Path(root)
    existing = [root / "VOCdevkit", root / "coco"]
    if any(p.exists() for p in existing):
        if not (root / "scenes.json").is_file():
            raise ValueError(f"root {root} already holds VOCdevkit/ or coco/ that make_scenes did not write; "
                             "pick an empty folder")
        for p in existing:
            shutil.rmtree(p, ignore_errors=True)
    counts = (int(num_train), int(num_val), int(num_test))
    scenes = {split: [render_scene(scene_rng(seed, split, i), int(size)) for i in range(count)]
              for split, count in zip(SPLITS, counts) if split != "test" or count}
    params = {"num_train": int(num_train), "num_val": int(num_val), "size": int(size), "seed": int(seed),
              "categories": CATEGORIES}
    if num_test:
        params["num_test"] = int(num_test)
    write_dataset(root, scenes, params)
    return root


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Generate the seglab scenes dataset (VOC + COCO formats).")
    parser.add_argument("root", nargs="?", default="data/scenes")
    parser.add_argument("--num-train", type=int, default=400)
    parser.add_argument("--num-val", type=int, default=100)
    parser.add_argument("--num-test", type=int, default=100, help="held-out test scenes (reported, never chosen on)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    make_scenes(args.root, args.num_train, args.num_val, args.size, args.seed, num_test=args.num_test)
    seconds = time.perf_counter() - start
    print(f"wrote {args.num_train} train + {args.num_val} val + {args.num_test} test scenes to {args.root} in "
          f"{seconds:.1f} s")


if __name__ == "__main__":
    main()
