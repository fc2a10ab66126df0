"""panoptic_merge: things by score without double assignment, thresholds, stuff fill, COCO files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.data import save_coco_panoptic
from seglab.data.classes import CATEGORIES, IGNORE_INDEX, NUM_CLASSES
from seglab.metrics.panoptic import panoptic_quality
from seglab.models.panoptic import panoptic_merge, semantic_to_panoptic
from seglab.train.evaluation import pq_compute


def box_mask(size, y0, x0, y1, x1):
    m = np.zeros((size, size), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def stuff_probs(size, label=0):
    probs = np.full((NUM_CLASSES, size, size), 0.01, dtype=np.float32)
    probs[label] = 0.9
    return probs


def test_things_by_descending_score_and_no_pixel_twice():
    size = 16
    masks = np.stack([box_mask(size, 0, 0, 8, 8), box_mask(size, 4, 4, 12, 12), box_mask(size, 2, 2, 6, 6)])
    inst = {"masks": masks, "scores": np.array([0.6, 0.9, 0.7]), "labels": np.array([1, 2, 3])}
    id_map, info = panoptic_merge(stuff_probs(size), inst, overlap_threshold=0.5, stuff_area_min=1)
    assert [s["score"] for s in info if s["isthing"]] == pytest.approx([0.9, 0.7, 0.6])
    first = info[0]
    assert first["category_id"] == 6 and (id_map == first["id"]).sum() == 64  # highest score keeps all its mask
    seen = np.zeros((size, size), dtype=int)
    for s in info:
        seen += id_map == s["id"]
        assert (id_map == s["id"]).sum() == s["area"]
    assert seen.max() == 1 and (seen == 1).sum() + (id_map == 0).sum() == size * size
    for s in info:  # every kept thing pixel was in that instance's own mask
        if s["isthing"]:
            k = [0.6, 0.9, 0.7].index(pytest.approx(s["score"]))
            assert masks[k][id_map == s["id"]].all()


def test_overlap_and_score_thresholds_drop_instances():
    size = 16
    masks = np.stack([box_mask(size, 0, 0, 8, 8), box_mask(size, 0, 2, 8, 10)])  # second: 48 of 64 px taken
    inst = {"masks": masks, "scores": np.array([0.9, 0.8]), "labels": np.array([1, 1])}
    _, info = panoptic_merge(stuff_probs(size), inst, overlap_threshold=0.2, stuff_area_min=1)
    assert sum(s["isthing"] for s in info) == 2  # 16/64 = 0.25 kept >= 0.2
    _, info = panoptic_merge(stuff_probs(size), inst, overlap_threshold=0.5, stuff_area_min=1)
    assert sum(s["isthing"] for s in info) == 1
    _, info = panoptic_merge(stuff_probs(size), inst, score_threshold=0.85, stuff_area_min=1)
    assert [s["score"] for s in info if s["isthing"]] == pytest.approx([0.9])


def test_stuff_fill_uses_only_stuff_channels_and_small_regions_become_void():
    size = 16
    probs = stuff_probs(size, label=0)
    probs[4] = 5.0  # a thing class wins the argmax everywhere; the merge must still pick stuff
    probs[1, :, :3] = 2.0  # grass on 48 px
    id_map, info = panoptic_merge(probs, None, stuff_area_min=50)
    cats = {s["category_id"] for s in info}
    assert cats == {1} and (id_map == 0).sum() == 48  # the grass strip is too small -> VOID
    id_map, info = panoptic_merge(probs, None, stuff_area_min=10)
    assert {s["category_id"] for s in info} == {1, 2} and (id_map == 0).sum() == 0


def test_labels_as_category_ids_and_torch_probabilistic_masks_keep_device():
    size = 8
    soft = torch.zeros(1, 1, size, size)
    soft[0, 0, :4, :4] = 0.8
    inst = {"masks": soft, "scores": torch.tensor([0.9]), "labels": torch.tensor([7])}
    id_map, info = panoptic_merge(torch.from_numpy(stuff_probs(size)), inst, labels="category", stuff_area_min=1)
    assert isinstance(id_map, torch.Tensor) and id_map.dtype == torch.int64
    assert info[0]["category_id"] == 7 and info[0]["area"] == 16 and info[0]["bbox"] == [0, 0, 4, 4]


def test_bad_inputs():
    size = 8
    with pytest.raises(ValueError, match="semantic_probs"):
        panoptic_merge(np.zeros((3, size, size), dtype=np.float32))
    inst = {"masks": np.ones((1, size, size), bool), "scores": np.array([0.9]), "labels": np.array([9])}
    with pytest.raises(ValueError, match="detection labels must be in 1..4"):
        panoptic_merge(stuff_probs(size), inst)
    inst["masks"] = np.ones((1, size, size + 1), bool)
    with pytest.raises(ValueError, match=r"instances\['masks'\]"):
        panoptic_merge(stuff_probs(size), dict(inst, labels=np.array([1])))


def test_merge_of_ground_truth_scores_one_and_files_round_trip(tmp_path):
    """Instances and semantics taken from a gt panoptic map merge back into it (PQ = 1), also through files."""
    size = 12
    gt_map = np.full((size, size), 256, dtype=np.int64)
    gt_map[6:] = 2 * 256
    gt_map[1:5, 1:5] = 5 * 256 + 1
    gt_map[7:11, 6:11] = 8 * 256 + 2
    gt_info = [{"id": int(i), "category_id": int(i) // 256, "iscrowd": 0} for i in np.unique(gt_map)]
    things = [s for s in gt_info if s["category_id"] >= 5]
    inst = {"masks": np.stack([gt_map == s["id"] for s in things]), "scores": np.array([0.9, 0.8]),
            "labels": np.array([s["category_id"] for s in things])}
    semantic = (gt_map // 256 - 1)
    id_map, info = panoptic_merge(semantic, inst, labels="category", stuff_area_min=1)
    result = panoptic_quality([(gt_map, gt_info)], [(id_map, info)], CATEGORIES)
    assert result["All"] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 4}
    save_coco_panoptic([{"image_id": 1, "id_map": gt_map, "segments_info": gt_info}], tmp_path / "gt.json",
                       tmp_path / "gt")
    save_coco_panoptic([{"image_id": 1, "id_map": id_map, "segments_info": info}], tmp_path / "pred.json",
                       tmp_path / "pred")
    assert pq_compute(tmp_path / "gt.json", tmp_path / "gt", tmp_path / "pred.json", tmp_path / "pred") == result


def test_semantic_to_panoptic_has_one_segment_per_class():
    sem = np.array([[0, 0, 4, 4, IGNORE_INDEX, 4]])
    id_map, info = semantic_to_panoptic(sem)
    assert [s["category_id"] for s in info] == [1, 5] and id_map[0, 4] == 0 and info[1]["area"] == 3


@pytest.mark.gpu
def test_merge_on_cuda_matches_cpu(no_tf32):  # TF32 off (conftest.no_tf32); the merge compares and counts: exact
    size = 16
    masks = torch.from_numpy(np.stack([box_mask(size, 0, 0, 8, 8), box_mask(size, 4, 4, 12, 12)]))
    inst = {"masks": masks.float(), "scores": torch.tensor([0.6, 0.9]), "labels": torch.tensor([1, 2])}
    probs = torch.from_numpy(stuff_probs(size))
    cpu_map, cpu_info = panoptic_merge(probs, inst, stuff_area_min=1)
    gpu_inst = {k: v.cuda() for k, v in inst.items()}
    gpu_map, gpu_info = panoptic_merge(probs.cuda(), gpu_inst, stuff_area_min=1)
    assert gpu_map.device.type == "cuda" and torch.equal(gpu_map.cpu(), cpu_map) and gpu_info == cpu_info
    result = panoptic_quality([(gpu_map, gpu_info)], [(cpu_map, cpu_info)], CATEGORIES)
    assert result["All"]["pq"] == 1.0
