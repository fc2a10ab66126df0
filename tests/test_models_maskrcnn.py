"""The small Mask R-CNN: the contract, trains a step, seglab's RoIAlign gives torchvision's detections (and "auto"
picks one by device), Lmask by hand."""

import pytest
import torch
import torchvision
from model_tester import DetectionModelTester

from seglab.data import drop_crowd
from seglab.models import create_model, mask_rcnn
from seglab.models.maskrcnn import capture_mask_loss_inputs, mask_loss_reference, roi_align_impl_in_use
from seglab.ops import MultiScaleRoIAlign, MultiScaleRoIPool, fpn_levels


def toy_batch(n=2, size=128, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for _ in range(n):
        image = torch.rand(3, size, size, generator=gen) * 0.2
        masks = torch.zeros(2, size, size, dtype=torch.uint8)
        masks[0, 20:60, 30:70] = 1
        masks[1, 70:110, 60:90] = 1
        for m in masks:
            image[:, m.bool()] += 0.7
        boxes = torch.tensor([[30.0, 20.0, 70.0, 60.0], [60.0, 70.0, 90.0, 110.0]])
        images.append(image)
        targets.append({"boxes": boxes, "labels": torch.tensor([1, 3]), "masks": masks,
                        "iscrowd": torch.tensor([0, 1])})
    return images, targets


class TestMaskRCNNContract(DetectionModelTester):
    num_classes = 5  # the background counts: 2 is the least
    builder = staticmethod(mask_rcnn)  # a function, not the class of what it builds

    def make_model(self, **kw):
        return mask_rcnn(self.num_classes, **kw)

    def make_batch(self, size):
        images, targets = toy_batch(self.batch_size, max(size))
        return [im[:, : size[0], : size[1]] for im in images], targets

    def deprecated_calls(self):
        return [(lambda: mask_rcnn(5, "small", "roi_pool"), "mask_rcnn(5, backbone='small', pooler='roi_pool')"),
                (lambda: mask_rcnn(5, weights_path={**mask_rcnn(5).state_dict()}), "use weights=")]


def test_registered_and_poolers_swapped():
    model = create_model("mask_rcnn", num_classes=5)
    assert isinstance(model, torchvision.models.detection.MaskRCNN)
    assert model.transform.min_size == (128,) and model.transform.max_size == 128
    assert model.roi_heads.box_roi_pool.output_size == (7, 7)
    assert model.roi_heads.mask_roi_pool.output_size == (14, 14)
    m2 = mask_rcnn(5, pooler="roi_pool")
    assert isinstance(m2.roi_heads.box_roi_pool, MultiScaleRoIPool)
    assert m2.roi_heads.box_roi_pool.impl == "torchvision"  # the native RoIPool unless asked otherwise
    m3 = mask_rcnn(5, roi_align_impl="seglab")
    assert isinstance(m3.roi_heads.mask_roi_pool, MultiScaleRoIAlign)
    m4 = mask_rcnn(5, pooler="roi_pool", roi_pool_impl="seglab")
    assert m4.roi_heads.box_roi_pool.impl == m4.roi_heads.mask_roi_pool.impl == "seglab"


SIDES = torch.tensor([10.0, 17.9, 18.1, 30.0, 35.9, 36.1, 60.0, 111.0, 113.0])


@pytest.mark.parametrize("options", [{}, {"pooler": "roi_pool"}, {"roi_align_impl": "torchvision"},
                                     {"pooler": "roi_pool", "roi_pool_impl": "seglab"}])
@pytest.mark.parametrize("scale, levels", [(None, [0, 0, 0, 0, 0, 0, 0, 0, 1]),  # torchvision's 224
                                           (36, [0, 0, 1, 1, 1, 2, 2, 2, 2])])
def test_fpn_level_rule_is_kept_by_every_pooler(options, scale, levels):
    heads = mask_rcnn(5, canonical_scale=scale, **options).roi_heads
    for pooler in (heads.box_roi_pool, heads.mask_roi_pool):
        assert (pooler.canonical_scale, pooler.canonical_level) == (scale or 224, 4)
        features = {name: torch.zeros(1, 1, 128 // s, 128 // s) for name, s in zip(["0", "1", "2"], (4, 8, 16))}
        pooler(features, [torch.tensor([[0.0, 0.0, 8.0, 8.0]])], [(128, 128)])  # sets up the level mapper
        boxes = torch.stack([torch.zeros_like(SIDES), torch.zeros_like(SIDES), SIDES, SIDES], 1)
        # floor(4 + log2(side / scale)) clamped to levels 2-4 (strides 4, 8, 16), as indices 0-2
        if isinstance(pooler, (MultiScaleRoIAlign, MultiScaleRoIPool)):  # seglab's: the plain level rule
            got = fpn_levels([boxes], *pooler.levels, pooler.canonical_scale, pooler.canonical_level)
        else:  # torchvision's own pooler
            got = pooler.map_levels([boxes])
        assert got.tolist() == levels


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes must be"):
        mask_rcnn(1)
    with pytest.raises(ValueError, match="backbone must be"):
        mask_rcnn(5, backbone="vgg")
    with pytest.raises(ValueError, match="pooler must be"):
        mask_rcnn(5, pooler="max")
    with pytest.raises(ValueError, match="roi_align_impl must be"):
        mask_rcnn(5, roi_align_impl="cuda")
    with pytest.raises(ValueError, match="roi_pool_impl must be"):
        mask_rcnn(5, pooler="roi_pool", roi_pool_impl="native")
    with pytest.raises(ValueError, match="canonical_scale must be"):
        mask_rcnn(5, canonical_scale=0)
    with pytest.raises(FileNotFoundError, match="/nonexistent/weights.pt"):
        mask_rcnn(5, weights="/nonexistent/weights.pt")
    with pytest.raises(TypeError, match="num_classes"):
        mask_rcnn()


@pytest.mark.slow
def test_train_step_gives_loss_dict_and_mask_loss_by_hand():
    torch.manual_seed(0)
    model = mask_rcnn(5)
    images, targets = toy_batch()
    targets = [drop_crowd(i, t)[1] for i, t in zip(images, targets)]
    assert all(len(t["labels"]) == 1 for t in targets)
    model.train()
    with capture_mask_loss_inputs() as calls:
        losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    c = calls[0]
    by_hand = mask_loss_reference(c["mask_logits"], c["proposals"], c["gt_masks"], c["gt_labels"],
                                  c["mask_matched_idxs"])
    torch.testing.assert_close(by_hand, losses["loss_mask"], atol=1e-6, rtol=1e-6)
    sum(losses.values()).backward()
    assert model.backbone.stages[0][0][0].weight.grad is not None


def test_seglab_roi_align_gives_identical_detections():
    torch.manual_seed(1)
    ours = mask_rcnn(5, roi_align_impl="seglab").eval()
    theirs = mask_rcnn(5, roi_align_impl="torchvision").eval()
    theirs.load_state_dict(ours.state_dict())
    images, _ = toy_batch(1)
    with torch.no_grad():
        a, b = ours(images)[0], theirs(images)[0]
    assert (roi_align_impl_in_use(ours), roi_align_impl_in_use(theirs)) == ("seglab", "torchvision")
    assert len(b["boxes"]) > 0
    assert torch.equal(a["labels"], b["labels"])
    for key in ("boxes", "scores", "masks"):
        torch.testing.assert_close(a[key], b[key], atol=1e-4, rtol=1e-4)


def test_auto_roi_align_is_seglab_on_the_cpu_and_torchvision_on_cuda():
    model = mask_rcnn(5).eval()  # roi_align_impl="auto" is the default
    heads = model.roi_heads
    assert heads.box_roi_pool.impl == heads.mask_roi_pool.impl == "auto" and heads.box_roi_pool.last_impl is None
    assert roi_align_impl_in_use(model) == "seglab"
    assert roi_align_impl_in_use(model, device="cuda") == "torchvision"
    assert roi_align_impl_in_use(mask_rcnn(5, pooler="roi_pool")) is None
    with torch.no_grad():
        model(toy_batch(1)[0])
    assert heads.box_roi_pool.last_impl == heads.mask_roi_pool.last_impl == "seglab"  # what ran
    assert "impl='auto'" in repr(heads.box_roi_pool)


@pytest.mark.gpu
def test_auto_roi_align_follows_the_model_to_cuda_and_back(no_tf32):
    torch.manual_seed(1)
    model = mask_rcnn(5).eval()
    images, _ = toy_batch(1)
    with torch.no_grad():
        want = model(images)[0]
        got = model.cuda()([im.cuda() for im in images])[0]
        assert model.roi_heads.box_roi_pool.last_impl == "torchvision" == roi_align_impl_in_use(model)
        model.cpu()(images)
    assert model.roi_heads.box_roi_pool.last_impl == "seglab" == roi_align_impl_in_use(model)
    assert torch.equal(got["labels"].cpu(), want["labels"])
    for key in ("boxes", "scores", "masks"):
        torch.testing.assert_close(got[key].cpu(), want[key], atol=1e-4, rtol=1e-4)


def test_weights_roundtrip_and_old_keyword_warns(tmp_path):
    torch.manual_seed(2)
    model = mask_rcnn(5)
    path = tmp_path / "w.pt"
    torch.save({"model": model.state_dict()}, path)  # a seglab checkpoint holds the state dict under "model"
    state = model.state_dict()
    with pytest.warns(DeprecationWarning, match="use weights="):
        old = mask_rcnn(5, weights_path=path)
    for again in (mask_rcnn(5, weights=path), create_model("mask_rcnn", num_classes=5, weights=state), old):
        for (k, v), w in zip(state.items(), again.state_dict().values()):
            assert torch.equal(v, w), k
