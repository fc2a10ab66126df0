"""Class balancing for semantic recipes: SegNet's median-frequency weights, the loss that uses them, and the
prior correction that takes their bias out of a trained classifier afterwards."""

from __future__ import annotations

import torch

__all__ = ["median_frequency_weights", "class_weights_of", "fold_prior_correction", "check_balancing",
           "balanced_loss"]


def median_frequency_weights(dataset, num_classes: int) -> torch.Tensor:
    """float[K]: ``median(freq) / freq(c)``, where ``freq(c)`` is class c's pixel count over the pixel count of the
    masks that contain c (Eigen and Fergus's median frequency balancing, which SegNet trains with). Ignored pixels
    (``IGNORE_INDEX``) count nowhere; a class absent from every mask gets weight 0. ``dataset``: a VOC-style
    semantic dataset (``mask_path``, ``__len__``); its masks are read without its transforms."""
    from seglab.data.classes import IGNORE_INDEX
    from seglab.data.formats import read_label_png

    pixels, present_in = torch.zeros(num_classes, dtype=torch.float64), torch.zeros(num_classes, dtype=torch.float64)
    for index in range(len(dataset)):
        labels = torch.from_numpy(read_label_png(dataset.mask_path(index)).astype("int64"))
        labels = labels[labels != IGNORE_INDEX]
        counts = torch.bincount(labels, minlength=num_classes)[:num_classes].double()
        pixels += counts
        present_in += (counts > 0).double() * labels.numel()
    seen = present_in > 0
    if not seen.any():
        raise ValueError("no labelled pixel in the dataset: cannot balance the classes")
    freq = torch.where(seen, pixels / present_in.clamp(min=1), torch.zeros_like(pixels))
    weights = torch.where(seen, freq[seen].median() / freq.clamp(min=1e-12), torch.zeros_like(freq))
    return weights.float()


def check_balancing(recipe) -> None:
    """A clear error for class-balancing fields that do not fit together."""
    if recipe.class_weights not in (None, "median_frequency") or (recipe.class_weights and recipe.task != "semantic"):
        raise ValueError(f"recipe {recipe.name!r}: class_weights must be None or 'median_frequency' (semantic), "
                         f"got {recipe.class_weights!r}")
    if recipe.prior_correction and recipe.class_weights is None:
        raise ValueError(f"recipe {recipe.name!r}: prior_correction takes out the bias that class weights train in; "
                         "it needs class_weights='median_frequency'")


def _scene_masks(train):
    """The VOC-style dataset under a recipe's training set (a ``SceneDataset``, or a ``Subset`` of one), and its
    number of classes; the weights count the masks the run trains on."""
    from torch.utils.data import Subset

    indices = None
    while isinstance(train, Subset):
        indices = [train.indices[i] for i in indices] if indices is not None else list(train.indices)
        train = train.dataset
    voc = getattr(train, "voc", train)  # a SceneDataset reads its masks through a VOCSegmentation
    if not hasattr(voc, "mask_path"):
        raise ValueError(f"class weights are counted on VOC-style masks (a dataset with mask_path), not on a "
                         f"{type(train).__name__}")

    class _Masks:
        def __len__(self):
            return len(indices) if indices is not None else len(voc)

        def mask_path(self, i):
            return voc.mask_path(indices[i] if indices is not None else i)

    return _Masks(), train.num_classes


def class_weights_of(recipe, quick: bool = False, train=None) -> torch.Tensor:
    """float[K]: the median-frequency weights of the recipe's training scenes (``quick``: of its quick scenes;
    ``train``: of this training dataset), whether or not the recipe trains with them."""
    if train is None:
        from seglab.train.recipe_data import recipe_datasets

        train, _ = recipe_datasets(recipe, quick)
    masks, num_classes = _scene_masks(train)
    return median_frequency_weights(masks, num_classes)


def fold_prior_correction(model, weights: torch.Tensor) -> torch.Tensor:
    """Take the bias of a class-weighted loss out of a trained model: subtract ``log(weights[c])`` from the bias of
    class c in ``model.classifier`` (in place). Returns the amounts subtracted.

    A cross-entropy whose class c weighs ``w_c`` is smallest when the predicted probabilities are proportional to
    ``w_c p(c | x)``, not ``p(c | x)``: the model learns to call the rare, heavily weighted classes more often than
    they occur. Dividing by ``w_c`` again, which on the logits is subtracting ``log w_c``, gives back the unweighted
    posterior (the logit adjustment of Menon et al., "Long-tail learning via logit adjustment", ICLR 2021). The
    weights must be positive; ``model.classifier`` must be a convolution or linear layer with a bias, one output
    per class."""
    weights = torch.as_tensor(weights, dtype=torch.float32)
    layer = getattr(model, "classifier", None)
    if not isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)) or layer.bias is None:
        raise ValueError(f"prior correction needs a model whose .classifier is a Conv2d or Linear with a bias; "
                         f"{type(model).__name__} has {type(layer).__name__}")
    if weights.shape != layer.bias.shape:
        raise ValueError(f"expected one weight per class, shape {tuple(layer.bias.shape)}, got {tuple(weights.shape)}")
    if not bool((weights > 0).all()) or not bool(weights.isfinite().all()):
        raise ValueError(f"class weights must be positive and finite to be taken out, got {weights.tolist()}")
    shift = weights.log()
    with torch.no_grad():
        layer.bias -= shift.to(layer.bias)
    return shift


def balanced_loss(recipe, train, weights=None):
    """The training loss of a recipe: ``None`` (the engine's default cross-entropy) unless it balances the classes,
    then a cross-entropy weighted by the median-frequency weights of ``train``'s masks (read without augmentation;
    ``weights``: those weights, when the caller has them already)."""
    check_balancing(recipe)
    if recipe.class_weights is None:
        return None
    from seglab.train.batches import segmentation_loss

    weights = class_weights_of(recipe, train=train) if weights is None else weights
    return lambda logits, targets: segmentation_loss(logits, targets, weight=weights)
