"""A real annotated micrograph: fluorescent nuclei from the 2018 Data Science Bowl, read from an installed wheel.

The ``stardist`` wheel (0.9.2, BSD-3-Clause) ships one image of its training data, ``stardist/data/images/img2d.tif``
(512 x 512, uint16: stained nuclei in fluorescence) and its instance labels, ``mask2d.tif`` (uint16, 0 = background,
one id per nucleus, 125 nuclei, many of them touching). Both come from the 2018 Data Science Bowl, published by the
Broad Bioimage Benchmark Collection as image set BBBC038v1 under the CC0 1.0 Universal public-domain dedication (as
the whole Data Science Bowl 2018 data set was released). Cite it as: "We used image set BBBC038v1, available from the
Broad Bioimage Benchmark Collection [Caicedo et al., Nature Methods, 2019]": J. C. Caicedo et al., *Nucleus
segmentation across imaging experiments: the 2018 Data Science Bowl*, Nature Methods 16, 1247-1253 (2019).

We read the two files with ``tifffile`` from the package's folder (``importlib.util.find_spec``) and never import
``stardist`` (which needs TensorFlow); install it with ``pip install --no-deps stardist==0.9.2``.

Fixed regions (:data:`NUCLEI_REGIONS`, ``(top, left, height, width)`` in pixels): **train** = the top-left 256 x 256
quadrant (a quarter of the image), **val** = the top-right 256 x 256 quadrant (settings are chosen here), **test** =
the bottom half, 256 x 512 (held out: results are reported here). Training crops come from the training region only.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

__all__ = ["NUCLEI_REGIONS", "NUCLEI_INSTALL", "nuclei_folder", "load_nuclei", "nuclei_region", "separate_touching"]

#: ``name -> (top, left, height, width)``: the fixed regions of the 512 x 512 micrograph.
NUCLEI_REGIONS = {"train": (0, 0, 256, 256), "val": (0, 256, 256, 256), "test": (256, 0, 256, 512)}
#: The command that installs the micrograph (the project's Makefile runs it too).
NUCLEI_INSTALL = "python -m pip install tifffile && python -m pip install --no-deps stardist==0.9.2"
_FILES = {"image": "img2d.tif", "mask": "mask2d.tif"}
_SIZE = (512, 512)


def nuclei_folder() -> Path:
    """The folder of the installed ``stardist`` wheel that holds ``img2d.tif`` and ``mask2d.tif``."""
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the nuclei micrograph comes from the 'stardist' wheel, which is not installed: "
                                  f"run `{NUCLEI_INSTALL}` (with this environment's python; `make lab` does it)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images"


def _read_tiff(path: Path, what: str) -> np.ndarray:
    try:
        import tifffile
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"reading {path} needs 'tifffile': run `python -m pip install tifffile`") from exc
    expected = f"a {_SIZE[0]} x {_SIZE[1]} uint16 TIFF ({what})"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected {expected}; reinstall with "
                                f"`python -m pip install --force-reinstall --no-deps stardist==0.9.2`")
    try:
        array = tifffile.imread(path)
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error, ... on damaged files
        raise ValueError(f"{path} is not a readable TIFF ({type(exc).__name__}: {exc}); expected {expected}") from exc
    if array.shape != _SIZE or array.dtype.kind not in "ui":
        raise ValueError(f"{path} holds {array.dtype} {array.shape}, expected {expected}")
    return array


@functools.lru_cache(maxsize=4)
def _load(folder: str):
    folder = Path(folder)
    raw = _read_tiff(folder / _FILES["image"], "fluorescence intensities").astype(np.float64)
    mask = _read_tiff(folder / _FILES["mask"], "instance labels, 0 = background").astype(np.int64)
    low, high = raw.min(), raw.max()
    if not high > low:
        raise ValueError(f"{folder / _FILES['image']} is constant ({low}): expected a fluorescence image")
    image = ((raw - low) / (high - low)).astype(np.float32)
    return image, mask


def load_nuclei(folder=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The micrograph: ``(image float32[1, 512, 512] in [0, 1], instances int64[512, 512])``.

    The intensities are scaled by the image's own minimum and maximum; instance ids are those of ``mask2d.tif``
    (0 = background, not consecutive). ``folder``: another folder holding ``img2d.tif`` and ``mask2d.tif``
    (default: the installed ``stardist`` wheel's). Fresh tensors on every call.
    """
    image, mask = _load(str(Path(folder) if folder is not None else nuclei_folder()))
    return torch.from_numpy(image.copy())[None], torch.from_numpy(mask.copy())


def nuclei_region(region: str = "train", folder=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image float32[1, h, w], instances int64[h, w])`` of one region of :data:`NUCLEI_REGIONS`."""
    if region not in NUCLEI_REGIONS:
        raise ValueError(f"region must be one of {sorted(NUCLEI_REGIONS)}, got {region!r}")
    top, left, height, width = NUCLEI_REGIONS[region]
    image, mask = load_nuclei(folder)
    return (image[:, top:top + height, left:left + width].clone(),
            mask[top:top + height, left:left + width].clone())


def separate_touching(instances) -> torch.Tensor:
    """The instance map with a line of background between touching objects: every pixel of an object that has a
    pixel of another object among its 8 neighbours becomes background (0). The U-Net paper's training labels have
    such separating background between touching cells; without it a 2-class (background / nucleus) target joins
    touching nuclei, and no network can split them into connected components. ``int[H, W]`` in, ``int64[H, W]``
    out (a tensor)."""
    inst = torch.as_tensor(instances).long()
    padded = torch.nn.functional.pad(inst[None, None].float(), (1, 1, 1, 1), value=0.0)[0, 0].long()
    height, width = inst.shape
    other = torch.zeros_like(inst, dtype=torch.bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                near = padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
                other |= (near > 0) & (near != inst)
    return torch.where((inst > 0) & other, torch.zeros_like(inst), inst)
