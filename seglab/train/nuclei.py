"""Training on the real micrograph (:mod:`seglab.data.nuclei`): random crops with U-Net's weight map
(:class:`NucleiCrops`), and predicting and scoring a 2-class nuclei model on a region (:func:`predict_nuclei`,
:func:`score_nuclei`: connected components of the foreground matched to the true nuclei,
:mod:`seglab.metrics.instances`). The ``unet_nuclei`` recipe and ``benchmarks/unet_nuclei.py`` train with them; the
data module only reads the image, so that data knows no model and no loss."""

from __future__ import annotations

import functools

import torch
from torch.utils.data import Dataset

from seglab.data.nuclei import NUCLEI_REGIONS, nuclei_region, separate_touching

__all__ = ["NucleiCrops", "predict_nuclei", "score_nuclei", "nuclei_val_fn"]


@functools.lru_cache(maxsize=16)
def _window_weights(region, rows, cols, w0, sigma, folder):
    """U-Net's weight map of a region's top-left ``rows x cols`` window (cached: one distance transform per nucleus
    takes about a second on a 256 x 256 region)."""
    from seglab.losses import unet_weight_map

    return unet_weight_map(separate_touching(nuclei_region(region, folder)[1][:rows, :cols]), w0=w0, sigma=sigma)


class NucleiCrops(Dataset):
    """Random training crops of one region: item ``i`` is ``(image float32[1, c, c], target int64[c, c] (0
    background, 1 nucleus), weights float32[c, c])``, the same for the same ``seed``, ``epoch`` and ``i``. The
    labels are :func:`separate_touching` of the region's instances (a line of background between touching nuclei).

    ``crop``: side ``c`` in pixels. ``length``: items per epoch. ``num_crops``: train from ``1``, ``2`` or ``4``
    crops' worth of the region only (a fixed window of ``c x c``, ``c x 2c`` or ``2c x 2c`` pixels at its top-left
    corner, every crop drawn inside it), or ``None``: the whole region. Each crop is turned by a random multiple of
    90 degrees and flipped with probability 1/2 (``turns``); ``elastic`` warps image, labels and weights with one
    field of :func:`seglab.data.elastic.elastic_displacement` (``elastic_std`` px on an ``elastic_grid`` lattice,
    the paper's 10 and 3; mirrored at the border). ``weight_map``: U-Net's weight map
    (:func:`seglab.losses.unet_weight_map` with ``w0``, ``sigma``, class balance), computed once on the whole
    window's instance labels, so the gaps between touching nuclei are right, and cropped and warped with the image;
    ``False``: all ones. Use with ``loss_fn=seglab.losses.weighted_cross_entropy``. ``set_epoch(e)`` draws new crops.
    """

    def __init__(self, region: str = "train", crop: int = 96, length: int = 800, *, elastic: bool = False,
                 weight_map: bool = True, w0: float = 10.0, sigma: float = 5.0, num_crops: int | None = None,
                 turns: bool = True, elastic_std: float = 10.0, elastic_grid: int = 3, seed: int = 0, folder=None):
        for name, value, low in (("crop", crop, 16), ("length", length, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if num_crops not in (None, 1, 2, 4):
            raise ValueError(f"num_crops must be 1, 2, 4 or None (the whole region), got {num_crops!r}")
        image, instances = nuclei_region(region, folder)
        rows, cols = {None: instances.shape, 1: (crop, crop), 2: (crop, 2 * crop), 4: (2 * crop, 2 * crop)}[num_crops]
        if rows > instances.shape[0] or cols > instances.shape[1]:
            raise ValueError(f"{num_crops or 'all'} crop(s) of {crop} px need a {rows} x {cols} window; region "
                             f"{region!r} is {tuple(instances.shape)}")
        self.region, self.crop, self.length, self.num_crops, self.seed = region, crop, length, num_crops, seed
        self.elastic, self.turns, self.elastic_std, self.elastic_grid = bool(elastic), bool(turns), elastic_std, \
            elastic_grid
        # touching nuclei get a line of background between them, as in the U-Net paper's data: the line is what a
        # 2-class network must learn to draw, and what the weight map weighs most
        self.image, self.instances = image[:, :rows, :cols], separate_touching(instances[:rows, :cols])
        self.weight_map = bool(weight_map)
        self.weights = _window_weights(region, rows, cols, float(w0), float(sigma), folder).clone() if weight_map \
            else torch.ones(self.instances.shape)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw another set of ``length`` crops (epoch ``epoch``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        from seglab.data.elastic import elastic_displacement, warp

        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} crops")
        generator = torch.Generator().manual_seed(((self.seed * 1_000_003 + self.epoch) * 1_000_003 + index)
                                                  % 2**63)
        c = self.crop
        top = int(torch.randint(0, self.image.shape[1] - c + 1, (), generator=generator))
        left = int(torch.randint(0, self.image.shape[2] - c + 1, (), generator=generator))
        image = self.image[:, top:top + c, left:left + c]
        planes = torch.cat([image, self.weights[None, top:top + c, left:left + c]])  # [2, c, c]
        instances = self.instances[top:top + c, left:left + c]
        if self.turns:
            k = int(torch.randint(0, 4, (), generator=generator))
            flip = bool(torch.randint(0, 2, (), generator=generator))
            planes, instances = planes.rot90(k, (-2, -1)), instances.rot90(k, (-2, -1))
            if flip:
                planes, instances = planes.flip(-1), instances.flip(-1)
        if self.elastic:
            field = elastic_displacement(c, c, self.elastic_std, self.elastic_grid, seed=generator,
                                         dtype=torch.float64)
            planes, instances = warp(planes.contiguous(), instances.contiguous(), field, border="reflect")
        planes = planes.contiguous()
        return planes[:1].clone(), (instances > 0).long(), planes[1].clone()

    def __repr__(self) -> str:
        return (f"NucleiCrops(region={self.region!r}, crop={self.crop}, length={self.length}, "
                f"num_crops={self.num_crops}, elastic={self.elastic}, weight_map={self.weight_map}, "
                f"seed={self.seed})")


@torch.no_grad()
def predict_nuclei(model, region: str = "test", device=None, folder=None) -> torch.Tensor:
    """The model's foreground ``bool[h, w]`` (CPU; argmax of 2-class logits) on a whole region, in one pass (a U-Net
    with ``same`` padding takes any size divisible by 16). ``device``: where to run (the model is moved there);
    default: where the model's parameters are."""
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = torch.device(device)
    image, _ = nuclei_region(region, folder)
    was_training = model.training
    model.eval().to(device)
    try:
        logits = model(image[None].to(device))
    finally:
        model.train(was_training)
    logits = logits["out"] if isinstance(logits, dict) else logits
    if logits.dim() != 4 or logits.shape[1] != 2 or tuple(logits.shape[2:]) != tuple(image.shape[1:]):
        raise ValueError(f"the model returned {tuple(logits.shape)}; expected 2-class logits [1, 2, "
                         f"{image.shape[1]}, {image.shape[2]}] for region {region!r}")
    return (logits[0].argmax(0) == 1).cpu()


def score_nuclei(model, region: str = "test", device=None, connectivity: int = 4, folder=None) -> dict:
    """Score a 2-class model on a region: the predicted instances are the connected components of its foreground.

    ``device``: as for :func:`predict_nuclei`. Returns :func:`seglab.metrics.instances.instance_scores` (DSB score,
    PQ/SQ/RQ, F1 at IoU 0.5, touching and merged pairs, ...) plus ``"foreground_iou"`` (IoU of the nucleus class).
    """
    from seglab.metrics.instances import instance_scores, label_components

    foreground = predict_nuclei(model, region, device, folder).numpy()
    _, instances = nuclei_region(region, folder)
    gt = instances.numpy()
    scores = instance_scores(gt, label_components(foreground, connectivity))
    truth = gt > 0
    union = (truth | foreground).sum()
    scores["foreground_iou"] = float((truth & foreground).sum() / union) if union else float("nan")
    return scores


def nuclei_val_fn(region: str = "val", connectivity: int = 4, folder=None):
    """A ``val_fn(model, loader, device) -> dict`` for :func:`seglab.train.fit` that scores the whole ``region`` with
    :func:`score_nuclei` (the loader is not read: pass any one-item list, e.g. ``val_loader=[None]``)."""
    if region not in NUCLEI_REGIONS:
        raise ValueError(f"region must be one of {sorted(NUCLEI_REGIONS)}, got {region!r}")

    def val_fn(model, loader=None, device=None) -> dict:
        return score_nuclei(model, region, device=device, connectivity=connectivity, folder=folder)

    return val_fn
