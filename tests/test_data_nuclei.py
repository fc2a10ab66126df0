"""The real micrograph (seglab.data.nuclei): loader, regions, training crops, scoring, and bad input."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.data.nuclei import NUCLEI_REGIONS, load_nuclei, nuclei_folder, nuclei_region
from seglab.losses import unet_weight_map, weighted_cross_entropy
from seglab.metrics.instances import instance_scores, label_components
from seglab.train.nuclei import NucleiCrops, nuclei_val_fn, score_nuclei
from seglab.utils import REPO_ROOT

pytestmark = pytest.mark.skipif(importlib.util.find_spec("stardist") is None,
                                reason="the stardist wheel is not installed (make lab / make test install it)")


def test_load_nuclei_gives_the_micrograph_and_its_125_nuclei():
    image, instances = load_nuclei()
    assert image.dtype == torch.float32 and image.shape == (1, 512, 512)
    assert float(image.min()) == 0.0 and float(image.max()) == 1.0
    assert instances.dtype == torch.int64 and instances.shape == (512, 512)
    assert len(instances.unique()) - 1 == 125 and int(instances.min()) == 0
    # nuclei are bright: the labelled pixels are far brighter than the background
    assert image[0][instances > 0].mean() > 2 * image[0][instances == 0].mean()
    image[0, 0, 0] = 5.0  # a fresh tensor each call: the cache is not changed
    assert float(load_nuclei()[0].max()) == 1.0


def test_regions_are_disjoint_cover_the_image_and_train_is_a_quarter():
    cover = np.zeros((512, 512), dtype=int)
    for top, left, height, width in NUCLEI_REGIONS.values():
        cover[top:top + height, left:left + width] += 1
    assert (cover == 1).all()
    assert NUCLEI_REGIONS["train"][2] * NUCLEI_REGIONS["train"][3] == 512 * 512 // 4
    image, instances = load_nuclei()
    for name, (top, left, height, width) in NUCLEI_REGIONS.items():
        region_image, region_instances = nuclei_region(name)
        assert region_image.shape == (1, height, width) and height % 16 == 0 and width % 16 == 0
        assert torch.equal(region_instances, instances[top:top + height, left:left + width])
    with pytest.raises(ValueError, match=r"region must be one of \['test', 'train', 'val'\], got 'all'"):
        nuclei_region("all")


def test_a_missing_package_says_which_command_installs_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps stardist==0\.9\.2"):
        load_nuclei()


@pytest.fixture
def copy(tmp_path):
    for name in ("img2d.tif", "mask2d.tif"):
        shutil.copy(nuclei_folder() / name, tmp_path / name)
    return tmp_path


def test_a_copied_folder_reads_the_same(copy):
    for a, b in zip(load_nuclei(copy), load_nuclei()):
        assert torch.equal(a, b)


def test_a_truncated_tiff_names_the_file_and_what_was_expected(copy):
    path = copy / "mask2d.tif"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"mask2d\.tif is not a readable TIFF .*expected a 512 x 512 uint16 TIFF"):
        load_nuclei(copy)


def test_a_wrong_or_missing_tiff_names_the_file(copy):
    import tifffile

    tifffile.imwrite(copy / "img2d.tif", np.zeros((10, 12), dtype=np.uint16))
    with pytest.raises(ValueError, match=r"img2d\.tif holds uint16 \(10, 12\), expected a 512 x 512"):
        load_nuclei(copy)
    (copy / "img2d.tif").write_bytes(b"")
    with pytest.raises(ValueError, match=r"img2d\.tif is not a readable TIFF"):
        load_nuclei(copy)
    (copy / "img2d.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"img2d\.tif not found: expected a 512 x 512 uint16 TIFF"):
        load_nuclei(copy)


# ---------------------------------------------------------------- training crops


def _dihedral(x):
    return [x.rot90(k, (-2, -1)).flip(-1) if f else x.rot90(k, (-2, -1)) for k in range(4) for f in (0, 1)]


def test_crops_have_the_contract_and_repeat_for_a_seed():
    ds = NucleiCrops(crop=48, length=6, seed=3)
    image, target, weights = ds[2]
    assert image.dtype == torch.float32 and image.shape == (1, 48, 48)
    assert target.dtype == torch.int64 and target.shape == (48, 48) and set(target.unique().tolist()) <= {0, 1}
    assert weights.dtype == torch.float32 and weights.shape == (48, 48) and weights.min() > 0
    again = NucleiCrops(crop=48, length=6, seed=3)[2]
    assert all(torch.equal(a, b) for a, b in zip(again, (image, target, weights)))
    other = NucleiCrops(crop=48, length=6, seed=4)[2]
    assert not torch.equal(other[0], image)
    ds.set_epoch(1)
    assert not torch.equal(ds[2][0], image)
    with pytest.raises(IndexError, match="out of range for 6 crops"):
        ds[6]


def test_unturned_crops_are_pieces_of_the_training_region_with_the_weight_map_of_the_whole_region():
    from seglab.data.nuclei import separate_touching

    region_image, region_instances = nuclei_region("train")
    region_instances = separate_touching(region_instances)  # the targets: a background line between touching nuclei
    full_weights = unet_weight_map(region_instances)
    image, target, weights = NucleiCrops(crop=32, length=1, turns=False, seed=1)[0]
    rows = np.lib.stride_tricks.sliding_window_view(region_image[0].numpy(), 32, axis=1)  # [256, 225, 32]
    candidates = np.argwhere((rows == image[0, 0].numpy()).all(-1))  # where the crop's first row is
    top, left = next((y, x) for y, x in candidates if torch.equal(region_image[0, y:y + 32, x:x + 32], image[0]))
    assert torch.equal(target, (region_instances[top:top + 32, left:left + 32] > 0).long())
    torch.testing.assert_close(weights, full_weights[top:top + 32, left:left + 32])


def test_turns_move_image_labels_and_weights_together():
    plain = NucleiCrops(crop=48, length=8, turns=False, seed=5)
    turned = NucleiCrops(crop=48, length=8, turns=True, seed=5)
    moved = 0
    for index in range(8):
        a, b = plain[index], turned[index]
        k = [i for i, x in enumerate(_dihedral(a[0])) if torch.equal(x, b[0])]
        assert k, index
        assert torch.equal(_dihedral(a[1])[k[0]], b[1]) and torch.equal(_dihedral(a[2])[k[0]], b[2])
        moved += k[0] != 0
    assert moved >= 3


def test_elastic_warps_and_a_zero_warp_changes_nothing():
    plain = NucleiCrops(crop=48, length=2, turns=False, seed=2)[1]
    zero = NucleiCrops(crop=48, length=2, turns=False, seed=2, elastic=True, elastic_std=0.0)[1]
    torch.testing.assert_close(zero[0], plain[0])
    assert torch.equal(zero[1], plain[1])
    torch.testing.assert_close(zero[2], plain[2])
    warped = NucleiCrops(crop=48, length=2, turns=False, seed=2, elastic=True)[1]
    assert (warped[0] - plain[0]).abs().mean() > 0.01
    assert 0 <= warped[0].min() and warped[0].max() <= 1 and set(warped[1].unique().tolist()) <= {0, 1}
    assert warped[1].float().mean() > 0.02  # nuclei survive the warp


def test_num_crops_restricts_training_to_a_window():
    shapes = {n: tuple(NucleiCrops(crop=96, length=1, num_crops=n).instances.shape) for n in (1, 2, 4, None)}
    assert shapes == {1: (96, 96), 2: (96, 192), 4: (192, 192), None: (256, 256)}
    ones = NucleiCrops(crop=96, length=1, num_crops=1, turns=False, weight_map=False)
    image, _, weights = ones[0]
    assert torch.equal(image, nuclei_region("train")[0][:, :96, :96]) and torch.equal(weights, torch.ones(96, 96))
    with pytest.raises(ValueError, match=r"4 crop\(s\) of 160 px need a 320 x 320 window"):
        NucleiCrops(crop=160, num_crops=4)
    with pytest.raises(ValueError, match="num_crops must be 1, 2, 4 or None"):
        NucleiCrops(num_crops=3)
    with pytest.raises(ValueError, match="crop must be an int >= 16"):
        NucleiCrops(crop=8)


def test_the_weighted_loss_takes_a_batch_and_is_plain_cross_entropy_without_the_map():
    loader = torch.utils.data.DataLoader(NucleiCrops(crop=32, length=4, weight_map=False), batch_size=4)
    images, targets, weights = next(iter(loader))
    logits = torch.randn(4, 2, 32, 32)
    torch.testing.assert_close(weighted_cross_entropy(logits, targets, weights), F.cross_entropy(logits, targets))
    images, targets, weights = next(iter(torch.utils.data.DataLoader(NucleiCrops(crop=32, length=4), batch_size=4)))
    assert weights.max() > 2  # the border term between touching nuclei
    assert weighted_cross_entropy(logits, targets, weights) > 0


# ---------------------------------------------------------------- scoring a model


class _Oracle(torch.nn.Module):
    """Logits that say "nucleus" exactly on the test region's labelled pixels."""

    def __init__(self):
        super().__init__()
        self.fg = (nuclei_region("test")[1] > 0).float()

    def forward(self, x):
        assert x.shape == (1, 1, 256, 512)
        return torch.stack([1 - self.fg, self.fg])[None] * 4.0


def test_score_nuclei_on_the_labels_themselves():
    scores = score_nuclei(_Oracle(), "test", device="cpu")
    gt = nuclei_region("test")[1].numpy()
    assert scores["foreground_iou"] == 1.0
    expected = instance_scores(gt, label_components(gt > 0))
    assert {k: v for k, v in scores.items() if k != "foreground_iou"} == expected
    # plain connected components of a perfect foreground still merge touching nuclei
    assert scores["touching_pairs"] == 16 and 0 < scores["merged_pairs"] <= 16 and scores["dsb_score"] < 1.0


def test_fit_trains_on_crops_with_the_weighted_loss_and_validates_on_the_region():
    from seglab.models import create_model
    from seglab.train import fit

    model = create_model("unet", num_classes=2, in_channels=1, base_channels=4, batch_norm=True, padding="same")
    loader = torch.utils.data.DataLoader(NucleiCrops(crop=32, length=4, elastic=True), batch_size=2)
    history = fit(model, loader, [None], epochs=1, lr=1e-3, loss_fn=weighted_cross_entropy,
                  val_fn=nuclei_val_fn("val"), device="cpu", progress=False, plot=False)
    assert len(history.epoch_loss) == 1 and history.epoch_loss[0] > 0
    assert {"dsb_score", "pq", "f1", "merged_pairs", "foreground_iou"} <= set(history.val)
    with pytest.raises(ValueError, match="region must be one of"):
        nuclei_val_fn("holdout")


def test_the_install_recipe_brings_the_micrograph():
    assert "--no-deps stardist==0.9.2" in (REPO_ROOT / "Makefile").read_text()
    assert '"tifffile"' in (REPO_ROOT / "pyproject.toml").read_text()


def test_score_nuclei_refuses_a_wrong_output():
    with pytest.raises(ValueError, match=r"expected 2-class logits \[1, 2, 256, 256\] for region 'val'"):
        score_nuclei(torch.nn.Conv2d(1, 3, 1), "val", device="cpu")


@pytest.mark.gpu
def test_crops_train_and_score_on_cuda():
    from seglab.models import create_model

    model = create_model("unet", num_classes=2, in_channels=1, base_channels=4, padding="same").cuda()
    images, targets, weights = next(iter(torch.utils.data.DataLoader(NucleiCrops(crop=32, length=2), batch_size=2)))
    loss = weighted_cross_entropy(model(images.cuda()), targets.cuda(), weights.cuda())
    loss.backward()
    scores = score_nuclei(model, "val")  # runs where the model is
    assert next(model.parameters()).is_cuda and 0.0 <= scores["foreground_iou"] <= 1.0


def test_touching_nuclei_are_separated_by_a_background_line():
    from seglab.data.nuclei import separate_touching
    from seglab.metrics.instances import touching_pairs

    _, instances = nuclei_region("train")
    separated = separate_touching(instances)
    assert touching_pairs(instances.numpy()) and not touching_pairs(separated.numpy())  # no two nuclei touch now
    removed = (instances > 0) & (separated == 0)
    assert 0 < int(removed.sum()) < 0.02 * int((instances > 0).sum())  # a thin line: under 2% of the nuclei
    assert torch.equal(separated[~removed], instances[~removed])  # nothing else changes
    toy = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 0, 3]])
    assert separate_touching(toy).tolist() == [[1, 0, 0, 2], [1, 0, 0, 0], [0, 0, 0, 0]]
