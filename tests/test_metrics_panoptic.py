"""Panoptic quality: hand-computed cases, a loop oracle with void and crowd, torchmetrics, and COCO files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.data.coco_io import read_panoptic_pairs
from seglab.metrics.panoptic import match_segments, panoptic_quality, pq_from_counts
from seglab.train.evaluation import pq_compute

CATS = [
    {"id": 1, "name": "sky", "isthing": 0},
    {"id": 2, "name": "grass", "isthing": 0},
    {"id": 5, "name": "disk", "isthing": 1},
    {"id": 6, "name": "square", "isthing": 1},
]


def seg(sid, cid, crowd=0):
    return {"id": sid, "category_id": cid, "iscrowd": crowd}


# ---------------------------------------------------------------- a loop oracle, written from the panopticapi rules
def pq_reference(gt, pred, categories):
    stats = {c["id"]: [0, 0, 0, 0.0] for c in categories}  # tp, fp, fn, iou
    for (gmap, ginfo), (pmap, pinfo) in zip(gt, pred):
        gmap, pmap = np.asarray(gmap), np.asarray(pmap)
        gsegs = {s["id"]: dict(s, area=int((gmap == s["id"]).sum())) for s in ginfo}
        psegs = {s["id"]: dict(s, area=int((pmap == s["id"]).sum())) for s in pinfo}
        inter = {}
        for g, p in zip(gmap.ravel().tolist(), pmap.ravel().tolist()):
            inter[(g, p)] = inter.get((g, p), 0) + 1
        gm, pm = set(), set()
        for (g, p), n in inter.items():
            if g not in gsegs or p not in psegs or gsegs[g].get("iscrowd", 0) == 1:
                continue
            if gsegs[g]["category_id"] != psegs[p]["category_id"]:
                continue
            union = psegs[p]["area"] + gsegs[g]["area"] - n - inter.get((0, p), 0)
            if n / union > 0.5:
                stats[gsegs[g]["category_id"]][0] += 1
                stats[gsegs[g]["category_id"]][3] += n / union
                gm.add(g), pm.add(p)
        crowd = {}
        for g, s in gsegs.items():
            if g in gm:
                continue
            if s.get("iscrowd", 0) == 1:
                crowd.setdefault(s["category_id"], []).append(g)
                continue
            stats[s["category_id"]][2] += 1
        for p, s in psegs.items():
            if p in pm:
                continue
            out = inter.get((0, p), 0) + sum(inter.get((g, p), 0) for g in crowd.get(s["category_id"], []))
            if out / s["area"] > 0.5:
                continue
            stats[s["category_id"]][1] += 1
    return stats


def random_case(rng, size=24, void=True, crowd=True, single_stuff=False):
    """A gt id map from painted rectangles and a prediction that perturbs it (moves, relabels, splits, adds)."""
    def paint(allow_void, allow_crowd):  # stuff: two horizontal bands; things: rectangles
        id_map = np.zeros((size, size), dtype=np.int64)
        info = []
        cut = rng.integers(4, size - 4)
        for cid, rows in ((1, slice(0, cut)), (2, slice(cut, size))):
            sid = 1000 + cid if single_stuff else int(rng.integers(1000, 2000))
            id_map[rows] = sid
            info.append(seg(sid, cid))
        for k in range(int(rng.integers(0, 6))):
            y, x = rng.integers(0, size - 3, 2)
            h, w = rng.integers(3, 10, 2)
            sid = 2000 + k
            id_map[y:y + h, x:x + w] = sid
            info.append(seg(sid, int(rng.choice([5, 6])), int(allow_crowd and rng.random() < 0.2)))
        if allow_void:
            y, x = rng.integers(0, size - 4, 2)
            id_map[y:y + int(rng.integers(1, 8)), x:x + int(rng.integers(1, 8))] = 0
        present = set(np.unique(id_map).tolist())
        return id_map, [s for s in info if s["id"] in present]

    gmap, ginfo = paint(void, crowd)
    pmap = gmap.copy()
    for s in ginfo:  # jitter every segment a little
        dy, dx = rng.integers(-2, 3, 2)
        region = np.roll(np.roll(gmap == s["id"], dy, 0), dx, 1)
        pmap[region] = s["id"]
    if rng.random() < 0.5:  # a spurious box
        y, x = rng.integers(0, size - 3, 2)
        pmap[y:y + 5, x:x + 5] = 3000
    if void and rng.random() < 0.5:
        pmap[: int(rng.integers(1, 4))] = 0
    present = set(np.unique(pmap).tolist())
    cat_of = {s["id"]: s["category_id"] for s in ginfo}
    pinfo = []
    for sid in sorted(present - {0}):
        cid = cat_of.get(sid, int(rng.choice([5, 6])))
        if cid in (5, 6) and rng.random() < 0.15:
            cid = 11 - cid  # wrong class
        pinfo.append(seg(sid, cid))
    return (gmap, ginfo), (pmap, pinfo)


# ---------------------------------------------------------------- hand-computed cases
def strip(*ids):
    return np.array([ids], dtype=np.int64)


def test_perfect_prediction_scores_one():
    gt = (strip(1, 1, 2, 2, 3), [seg(1, 1), seg(2, 5), seg(3, 6)])
    result = panoptic_quality([gt], [gt], CATS)
    assert result["All"] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 3}
    assert result["Things"]["n"] == 2 and result["Stuff"]["n"] == 1


def test_empty_prediction_is_all_false_negatives():
    gt = (strip(1, 1, 2, 2), [seg(1, 1), seg(2, 5)])
    pred = (strip(0, 0, 0, 0), [])
    result = panoptic_quality([gt], [pred], CATS)
    assert result["All"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 2}
    assert result["per_class"][5] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 1}


def test_iou_exactly_half_is_not_a_match():
    gt = (strip(7, 7, 7, 7), [seg(7, 5)])
    half = (strip(3, 3, 0, 0), [seg(3, 5)])  # IoU = 2 / 4 = 0.5
    result = panoptic_quality([gt], [half], CATS)
    assert result["per_class"][5] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 1, "fn": 1}
    more = (strip(3, 3, 3, 0), [seg(3, 5)])  # IoU = 3 / 4
    result = panoptic_quality([gt], [more], CATS)
    assert result["per_class"][5]["tp"] == 1 and result["per_class"][5]["pq"] == pytest.approx(0.75)


def test_pq_is_sq_times_rq_worked_example():
    # things: gt A (4 px) matched by a (IoU 3/4); gt B (2 px) missed; pred c (2 px) on stuff -> 1 TP, 1 FP, 1 FN
    gt = (strip(1, 1, 1, 1, 2, 2, 9, 9, 9, 9), [seg(1, 5), seg(2, 5), seg(9, 1)])
    pred = (strip(4, 4, 4, 9, 9, 9, 9, 9, 5, 5), [seg(4, 5), seg(5, 5), seg(9, 1)])
    result = panoptic_quality([gt], [pred], CATS)
    disk = result["per_class"][5]
    assert (disk["tp"], disk["fp"], disk["fn"]) == (1, 1, 1)
    assert disk["sq"] == pytest.approx(0.75) and disk["rq"] == pytest.approx(0.5)
    assert disk["pq"] == pytest.approx(disk["sq"] * disk["rq"])
    sky = result["per_class"][1]  # gt sky: pixels 6-9, pred sky: pixels 3-7 -> IoU 2 / 7, no match
    assert sky["tp"] == 0 and sky["fp"] == 1 and sky["fn"] == 1


def test_void_pixels_leave_the_union():
    gt = (strip(1, 1, 0, 0), [seg(1, 5)])
    pred = (strip(2, 2, 2, 2), [seg(2, 5)])  # without the void rule IoU would be 2/4
    result = panoptic_quality([gt], [pred], CATS)
    assert result["per_class"][5] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "tp": 1, "fp": 0, "fn": 0}


def test_prediction_mostly_on_void_is_ignored_but_half_is_not():
    gt = (strip(1, 1, 1, 0, 0, 0, 0), [seg(1, 1)])
    pred = (strip(1, 1, 1, 0, 2, 2, 2), [seg(1, 1), seg(2, 5)])  # disk: 3 of 3 px on void -> ignored
    assert panoptic_quality([gt], [pred], CATS)["per_class"][5]["fp"] == 0
    gt = (strip(1, 1, 1, 1, 0, 0, 0), [seg(1, 1)])
    pred = (strip(1, 1, 1, 2, 2, 0, 0), [seg(1, 1), seg(2, 5)])  # disk: 1 of 2 px on void -> counted
    assert panoptic_quality([gt], [pred], CATS)["per_class"][5]["fp"] == 1


def test_crowd_is_neither_matched_nor_missed_and_absorbs_same_class_predictions():
    gt = (strip(1, 1, 1, 1, 8, 8, 8, 8), [seg(1, 1), seg(8, 5, crowd=1)])
    pred = (strip(1, 1, 1, 1, 2, 2, 2, 2), [seg(1, 1), seg(2, 5)])
    result = panoptic_quality([gt], [pred], CATS)
    assert result["per_class"][5] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0}
    assert result["All"]["n"] == 1 and result["Things"] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
    pred = (strip(1, 1, 1, 1, 2, 2, 2, 2), [seg(1, 1), seg(2, 6)])  # another class on the crowd: an FP
    assert panoptic_quality([gt], [pred], CATS)["per_class"][6]["fp"] == 1


def test_stuff_class_without_gt_counts_as_false_positive():
    gt = (strip(1, 1, 1, 1), [seg(1, 1)])
    pred = (strip(1, 1, 1, 2), [seg(1, 1), seg(2, 2)])
    result = panoptic_quality([gt], [pred], CATS)
    assert result["per_class"][2] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 1, "fn": 0}
    assert result["Stuff"]["n"] == 2 and result["Stuff"]["pq"] == pytest.approx(0.75 / 2)
    assert 6 in result["per_class"] and result["per_class"][6]["tp"] + result["per_class"][6]["fp"] == 0


def test_match_segments_lists_pairs():
    gt = (strip(1, 1, 1, 1, 2, 2), [seg(1, 5), seg(2, 5)])
    pred = (strip(3, 3, 3, 4, 4, 4), [seg(3, 5), seg(4, 5)])
    m = match_segments(*gt, *pred, CATS)
    assert m["tp"] == [(1, 3, 0.75), (2, 4, pytest.approx(2 / 3))]
    assert len(m["pairs"]) == 3 and m["fp"] == [] and m["fn"] == []


def test_numpy_torch_single_pair_and_dict_inputs_agree():
    rng = np.random.default_rng(3)
    gt, pred = random_case(rng)
    want = panoptic_quality([gt], [pred], CATS)
    as_torch = lambda p: (torch.from_numpy(p[0]), p[1])  # noqa: E731
    assert panoptic_quality([as_torch(gt)], [as_torch(pred)], CATS) == want
    assert panoptic_quality(gt, pred, CATS) == want
    as_dict = lambda p: {"id_map": p[0], "segments_info": p[1]}  # noqa: E731
    assert panoptic_quality([as_dict(gt)], [as_dict(pred)], CATS) == want


def test_pq_from_counts():
    assert pq_from_counts(2, 1, 1, 1.5) == {"pq": 0.5, "sq": 0.75, "rq": 2 / 3}
    assert pq_from_counts(0, 0, 0, 0.0) == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    with pytest.raises(ValueError, match="iou_sum"):
        pq_from_counts(1, 0, 0, 2.0)


# ---------------------------------------------------------------- errors
def test_bad_inputs_raise_clear_errors():
    gt = (strip(1, 1, 2), [seg(1, 1), seg(2, 5)])
    with pytest.raises(ValueError, match="shape"):
        panoptic_quality([gt], [(strip(1, 1), [seg(1, 1)])], CATS)
    with pytest.raises(ValueError, match="unknown category_id 99"):
        panoptic_quality([gt], [(strip(1, 1, 1), [seg(1, 99)])], CATS)
    with pytest.raises(ValueError, match="id 1 appears twice"):
        panoptic_quality([gt], [(strip(1, 1, 1), [seg(1, 1), seg(1, 2)])], CATS)
    with pytest.raises(ValueError, match=r"image 0: pred segment ids \[2\] are in the id map but not in segments_info"):
        panoptic_quality([gt], [(strip(1, 1, 2), [seg(1, 1)])], CATS)
    with pytest.raises(ValueError, match=r"gt segment ids \[3\] are in segments_info but have no pixel"):
        panoptic_quality([(strip(1, 1, 2), [seg(1, 1), seg(2, 5), seg(3, 5)])], [gt], CATS)
    with pytest.raises(ValueError, match="gt has 1 images but pred has 2"):
        panoptic_quality([gt], [gt, gt], CATS)
    with pytest.raises(ValueError, match="categories"):
        panoptic_quality([gt], [gt], [{"id": 1}])
    with pytest.raises(ValueError, match="integer id map"):
        panoptic_quality([(strip(1, 1, 2).astype(float), gt[1])], [gt], CATS)


# ---------------------------------------------------------------- randomized agreement
def test_agrees_with_loop_oracle_with_void_and_crowd():
    rng = np.random.default_rng(0)
    for _ in range(30):
        cases = [random_case(rng) for _ in range(3)]
        gt, pred = [c[0] for c in cases], [c[1] for c in cases]
        result = panoptic_quality(gt, pred, CATS)
        want = pq_reference(gt, pred, CATS)
        for cid, (tp, fp, fn, iou) in want.items():
            got = result["per_class"][cid]
            assert (got["tp"], got["fp"], got["fn"]) == (tp, fp, fn)
            assert got == pytest.approx({**pq_from_counts(tp, fp, fn, iou), "tp": tp, "fp": fp, "fn": fn})
        counted = [pq_from_counts(*want[c]) for c in want if sum(want[c][:3])]
        assert result["All"]["n"] == len(counted)
        assert result["All"]["pq"] == pytest.approx(np.mean([c["pq"] for c in counted]) if counted else 0.0)


def to_torchmetrics(id_map, info):
    """(H, W) ids -> (H, W, 2) of (category, instance); stuff instance 0."""
    out = np.zeros(id_map.shape + (2,), dtype=np.int64)
    for s in info:
        thing = s["category_id"] in (5, 6)
        out[id_map == s["id"]] = (s["category_id"], s["id"] if thing else 0)
    return torch.from_numpy(out)


@pytest.mark.slow  # importing torchmetrics alone takes 10-30 s on a loaded 2-core machine
def test_agrees_with_torchmetrics_without_void_and_crowd():
    from torchmetrics.detection import PanopticQuality

    rng = np.random.default_rng(1)
    for _ in range(15):
        cases = [random_case(rng, void=False, crowd=False, single_stuff=True) for _ in range(2)]
        gt, pred = [c[0] for c in cases], [c[1] for c in cases]
        ours = panoptic_quality(gt, pred, CATS)
        metric = PanopticQuality(things={5, 6}, stuffs={1, 2}, return_per_class=True, return_sq_and_rq=True)
        metric.update(torch.stack([to_torchmetrics(*p) for p in pred]), torch.stack([to_torchmetrics(*g) for g in gt]))
        per_class = metric.compute()  # rows in order things sorted, then stuffs sorted: 5, 6, 1, 2
        for row, cid in enumerate((5, 6, 1, 2)):
            want = per_class[row].tolist()
            got = ours["per_class"][cid]
            assert [got["pq"], got["sq"], got["rq"]] == pytest.approx(want, abs=1e-6)
        overall = PanopticQuality(things={5, 6}, stuffs={1, 2})
        overall.update(torch.stack([to_torchmetrics(*p) for p in pred]), torch.stack([to_torchmetrics(*g) for g in gt]))
        assert ours["All"]["pq"] == pytest.approx(float(overall.compute()), abs=1e-6)


# ---------------------------------------------------------------- files
def test_pq_compute_on_files_equals_arrays(tmp_path):
    from seglab.data import save_coco_panoptic

    rng = np.random.default_rng(2)
    cases = [random_case(rng) for _ in range(4)]
    gt_items = [{"image_id": i + 10, "id_map": g[0], "segments_info": g[1]} for i, (g, _) in enumerate(cases)]
    pred_items = [{"image_id": i + 10, "id_map": p[0], "segments_info": p[1]} for i, (_, p) in enumerate(cases)]
    gt_json = save_coco_panoptic(gt_items, tmp_path / "gt.json", tmp_path / "gt", CATS)
    pred_json = save_coco_panoptic(pred_items[::-1], tmp_path / "pred.json", tmp_path / "pred", CATS)
    got = pq_compute(gt_json, tmp_path / "gt", pred_json, tmp_path / "pred")
    assert got == panoptic_quality([c[0] for c in cases], [c[1] for c in cases], CATS)


def test_pq_compute_errors_name_image_and_segment(tmp_path):
    import json

    from seglab.data import save_coco_panoptic

    gt = [{"image_id": 7, "id_map": strip(1, 1, 2), "segments_info": [seg(1, 1), seg(2, 5)]}]
    save_coco_panoptic(gt, tmp_path / "gt.json", tmp_path / "gt", CATS)
    bad = [{"image_id": 7, "id_map": strip(1, 1, 2), "segments_info": [seg(1, 1)]}]
    save_coco_panoptic(bad, tmp_path / "pred.json", tmp_path / "pred", CATS)
    with pytest.raises(ValueError, match=r"image_id 7 .*pred segment ids \[2\]"):
        pq_compute(tmp_path / "gt.json", tmp_path / "gt", tmp_path / "pred.json", tmp_path / "pred")
    (tmp_path / "none.json").write_text(json.dumps({"annotations": [], "categories": CATS}))
    with pytest.raises(ValueError, match="image_id 7 .*no prediction"):
        pq_compute(tmp_path / "gt.json", tmp_path / "gt", tmp_path / "none.json", tmp_path / "pred")


def test_pq_compute_reads_make_scenes_output(scenes):
    ann, folder = scenes / "coco" / "annotations" / "panoptic_val.json", scenes / "coco" / "panoptic_val"
    result = pq_compute(ann, folder, ann, folder)  # the gt scored against itself
    assert result["All"]["pq"] == 1.0 and result["All"]["n"] >= 2
    categories, pairs = read_panoptic_pairs(ann, folder, ann, folder)  # the reader alone: arrays for the metrics
    pairs = list(pairs)
    assert [image for image, _, _ in pairs] == ["image_id 7 (val_00000.png)", "image_id 8 (val_00001.png)"]
    gt = [g for _, g, _ in pairs]
    assert all(g[0].dtype == np.int64 and g[0].shape == (128, 128) for g in gt)
    assert panoptic_quality(gt, [p for _, _, p in pairs], categories) == result


def test_the_old_pq_compute_name_still_works_and_warns(tmp_path):
    import seglab.metrics

    with pytest.warns(DeprecationWarning, match="seglab.train.evaluation.pq_compute"):
        assert seglab.metrics.pq_compute is pq_compute


def test_panoptic_metrics_import_no_file_reader():
    """Metrics take arrays: the panoptic metrics import only seglab.data's class table (pq_compute, which reads
    files, is the evaluator's: seglab.train.evaluation)."""
    import seglab.metrics.panoptic as module

    lines = Path(module.__file__).read_text().splitlines()
    assert [line for line in lines if line.startswith(("import ", "from ")) and "seglab.data" in line] == [
        "from seglab.data.classes import check_categories"]
