"""Questions answered with a number (issue 30): the self-check a student sees says only whether the answer has the
expected form, identically for every integer (no oracle to search), and the hidden test compares with a digest that
equals the answer computed here from the question's settings. Chapter 4's part 6 is a question where overlapping
windows change the answer."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
import torch
from nbtools import cells as read_cells
from nbtools import nbgrader_meta
from nbtools import source as cell_source

from seglab import homework
from seglab.check import Form, answer_digest, check_digest, check_form
from seglab.check import __main__ as check_cli

SOURCES = homework.assignments()


def _heatmap_cells(height, width):
    from torch import nn

    from seglab.models.fcn import fcn_from_classifier

    clf = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 3 * 3, 32), nn.ReLU(), nn.Linear(32, 5))
    with torch.no_grad():
        return fcn_from_classifier(clf, input_size=(18, 18))(torch.zeros(1, 3, height, width)).shape[-2:].numel()


def _extra_trainable(**arch):
    from seglab.models import create_model

    def count(name):
        return sum(p.numel() for p in create_model(name, **arch).parameters() if p.requires_grad)

    return count("fcn8s") - count("fcn32s")


def _never_pooled(size, window, stride):
    from seglab.ops import overlap_count

    pooled = (size - window) // stride + 1
    return size * size - int((overlap_count(pooled, window, stride) > 0).sum())


def _positions_kept(pattern, seed, size, window, stride):
    from seglab.ops import max_pool2d_with_indices_naive
    from seglab.widgets.segnet import make_pattern

    _, indices = max_pool2d_with_indices_naive(make_pattern(pattern, size, seed)[None], window, stride)
    return int(torch.unique(indices).numel()), indices.numel()


def _fpn_level(width, height, canonical_scale):
    from seglab.ops import fpn_levels

    box = torch.tensor([[0.0, 0.0, float(width), float(height)]], dtype=torch.float64)
    return int(fpn_levels([box], 0, 99, canonical_scale, 4)[0])


def _crowds(split):
    from seglab.data import SceneDataset

    dataset = SceneDataset(split=split, task="panoptic")
    return sum(int(s.get("iscrowd", 0)) for i in range(len(dataset)) for s in dataset[i][1]["segments_info"])


def _double_matches(threshold, trials=400, seed=0):
    from seglab.metrics.panoptic import match_segments, matches_at_threshold

    rng = np.random.default_rng(seed)
    cats = [{"id": 1, "name": "a", "isthing": 1}]
    count = 0
    for _ in range(trials):
        gmap, pmap = rng.integers(0, 4, (2, 6, 6))
        info = lambda m: [{"id": int(i), "category_id": 1, "iscrowd": 0} for i in np.unique(m) if i]  # noqa: E731
        several = matches_at_threshold(match_segments(gmap, info(gmap), pmap, info(pmap), cats)["pairs"], threshold)
        count += bool(several["gt_with_several"] or several["pred_with_several"])
    return count


def _heavy_pixels(w0, sigma, above):
    from seglab.data.nuclei import nuclei_region, separate_touching
    from seglab.losses import unet_weight_map

    window = separate_touching(nuclei_region("train")[1][:128, :128])
    return int((unet_weight_map(window, w0=w0, sigma=sigma) > above).sum())


@functools.lru_cache(maxsize=1)
def _answers():
    """grade_id -> the answer computed from the settings the question states (update with the question)."""
    from seglab.models.unet import unet_valid_input_sizes
    from seglab.ops import overlap_count, roi_align_sampling_grid
    from seglab.ops.transposed import conv_transpose2d_output_size

    return {
        "ch1_explorer_size": conv_transpose2d_output_size(5, 4, 3, 2, 1, 2),
        "ch1_largest_overlap": int(overlap_count(6, 5, 3).max()),
        "ch2_heatmap_size": _heatmap_cells(90, 74),
        "ch2_extra_parameters": _extra_trainable(num_classes=8, width=0.25, fc6_kernel=3, batch_norm=True),
        "ch3_smallest_valid_input": unet_valid_input_sizes(305, 700, depth=3)[0],
        "ch3_valid_input_count": len(unet_valid_input_sizes(16, 700, depth=3)),
        "ch3_real_heavy_pixels": _heavy_pixels(w0=8.0, sigma=3.0, above=5.0),
        "ch4_never_pooled": _never_pooled(11, 2, 4),
        "ch4_positions_kept": _positions_kept("random", 7, 9, 3, 2)[0],
        "ch5_samples_per_bin": roi_align_sampling_grid((6.5, 14.2, 52.3, 31.7), 3, 0.5, -1, True).count,
        "ch5_fpn_level": _fpn_level(9, 16, 36),
        "ch6_crowd_count": _crowds("train"),
        "ch6_double_matches": _double_matches(0.3),
    }


def _questions():
    """(chapter, grade_id, variable, solution value, form expression, digest) of every numeric part."""
    found = []
    for chapter, path in SOURCES.items():
        cells = {nbgrader_meta(c).get("grade_id"): cell_source(c) for c in read_cells(path) if nbgrader_meta(c)}
        for grade_id, text in cells.items():
            match = re.fullmatch(r"### BEGIN SOLUTION\n(\w+) = (.+)\n### END SOLUTION", text or "")
            if match:
                test = cells[f"{grade_id}_test"]
                form = re.search(rf"result = check_form\({match.group(1)}, (Form\([^)]*\)), name=", test).group(1)
                digest = re.search(rf"check_digest\({match.group(1)}, '{grade_id}', '(sha256:\w+)'", test).group(1)
                found.append((chapter, grade_id, match.group(1), eval(match.group(2)), form, digest))  # noqa: S307
    return found


QUESTIONS = _questions()


def test_every_chapter_has_two_numeric_questions_and_each_is_in_the_answer_table():
    per_chapter = {chapter: sum(q[0] == chapter for q in QUESTIONS) for chapter in SOURCES}
    assert all(n >= 2 for n in per_chapter.values()), per_chapter  # chapter 3 has a third, on the real nuclei
    assert {q[1] for q in QUESTIONS} == set(_answers())


@pytest.mark.parametrize("question", QUESTIONS, ids=[q[1] for q in QUESTIONS])
def test_visible_check_says_the_same_for_every_integer_so_search_reveals_nothing(question):
    _, grade_id, variable, answer, form_text, _ = question
    form = eval(form_text, {"Form": Form})  # noqa: S307 - the notebook's own form
    said = {}
    for value in range(-50, max(1001, answer + 100)):
        result = check_form(value, form, name=variable)
        said.setdefault((bool(result), repr(result), result._repr_html_()), []).append(value)
    accepted = [k for k in said if k[0]]
    assert len(accepted) == 1 and len(said) <= 2, f"{grade_id}: the self-check says {len(said)} different things"
    assert answer in said[accepted[0]]  # the answer gets the same "right form" as every other accepted integer
    assert "right form" in accepted[0][1] and "graded" in accepted[0][1]
    for wrong_type in (None, "12", [answer], 2.5):
        assert not check_form(wrong_type, form, name=variable)


@pytest.mark.parametrize("question", QUESTIONS, ids=[q[1] for q in QUESTIONS])
def test_hidden_digest_matches_the_answer_computed_from_the_question(question):
    _, grade_id, _, answer, _, digest = question
    expected = _answers()[grade_id]
    assert answer == expected, f"{grade_id}: the solution says {answer}, the settings give {expected}"
    assert answer_digest(expected, grade_id) == digest
    assert check_digest(expected, grade_id, digest) and check_digest(torch.tensor(expected), grade_id, digest)
    assert check_digest(float(expected), grade_id, digest)
    for wrong in (expected + 1, expected - 1, None, "x"):
        result = check_digest(wrong, grade_id, digest)
        assert not result and str(expected) not in result.message


def test_digest_cli_prints_what_a_hidden_test_compares_with(capsys):
    assert check_cli.main(["digest", "ch1_explorer_size", "16"]) == 0
    assert capsys.readouterr().out.strip() == answer_digest(16, "ch1_explorer_size")
    assert check_cli.main(["digest", "k", "0.12345", "--decimals", "3"]) == 0
    assert capsys.readouterr().out.strip() == answer_digest(0.123, "k", 3) != answer_digest(0.124, "k", 3)
    assert check_cli.main(["digest", "k", "2.5"]) == 2 and "not an integer" in capsys.readouterr().err


def test_chapter_4_part_6_is_a_question_where_overlapping_windows_change_the_answer():
    kept, windows = _positions_kept("random", 7, 9, 3, 2)
    assert kept < windows  # "one position per window" is wrong here
    assert _answers()["ch4_positions_kept"] == kept
    # the old question (constant pattern) could not tell: every window kept its own first pixel
    assert _positions_kept("constant (all ties)", 0, 7, 3, 2) == (9, 9)


def test_graded_numbers_are_in_no_visible_cell_nor_in_a_check_function():
    import seglab.check.fcn
    import seglab.check.panoptic
    import seglab.check.roi
    import seglab.check.segnet
    import seglab.check.transposed
    import seglab.check.unet

    for module in (seglab.check.transposed, seglab.check.fcn, seglab.check.unet, seglab.check.segnet,
                   seglab.check.roi, seglab.check.panoptic):  # no function left that grades these questions
        assert not {"check_explorer_output_size", "check_largest_overlap", "check_heatmap_size",
                    "check_fcn8s_extra_parameters", "check_smallest_valid_input", "check_valid_input_count",
                    "check_pixels_never_pooled", "check_positions_kept", "check_samples_per_bin", "check_fpn_level",
                    "check_crowd_count", "check_double_matches"} & set(dir(module))
    for chapter, grade_id, _, answer, _, _ in QUESTIONS:
        test = next(cell_source(c) for c in read_cells(SOURCES[chapter])
                    if nbgrader_meta(c).get("grade_id") == f"{grade_id}_test")
        visible = test.split("### BEGIN HIDDEN TESTS")[0]
        hidden = test.split("### BEGIN HIDDEN TESTS")[1]
        assert not re.search(rf"(?<![\w.]){answer}(?![\w.])", hidden), (grade_id, hidden)  # a digest, not the number
        assert "check_digest" not in visible and "check_form" in visible
