"""No calling the answer (issue 30): every implementation part's self-check and hidden test read the student's function
and fail, naming the forbidden call and the part's rule, when it calls what the part re-implements; the instructor's
solutions obey every rule; the rules are on in a Jupyter kernel and off in plain Python. Fast: the homework's cells are
written to a module and imported (no nbgrader, no kernel); tests/test_homework_grading.py grades a cheater's
submission with nbgrader."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap

import pytest
import torch
from nbtools import cells as read_cells
from nbtools import nbgrader_meta
from nbtools import source as cell_source

from seglab import homework
from seglab.check import rules
from seglab.check.transposed import TRANS_CONV_RULE, check_trans_conv

SOURCES = homework.assignments()

#: One way to call the answer for every implementation part: (grade_id, body, what the message must name).
CHEATS = [
    ("ch1_trans_conv", "return torch.nn.functional.conv_transpose2d(X[None], K, stride=stride, padding=padding)[0]",
     "torch.nn.functional.conv_transpose2d"),
    ("ch1_conv_matrix_column", "from seglab.ops import conv2d_matrix\nreturn conv2d_matrix(K, n)[:, col]",
     "conv2d_matrix"),
    ("ch1_bilinear_kernel", "from seglab.ops.transposed import bilinear_kernel as bk\n"
     "return bk(in_channels, out_channels, kernel_size, dtype=torch.float64)",
     "seglab.ops.transposed.bilinear_kernel"),
    ("ch1_output_size", "import seglab.ops as ops\nreturn ops.conv_transpose2d_output_size(n, k, s, p, output_padding, "
     "dilation)", "conv_transpose2d_output_size"),
    ("ch2_fc_to_conv", "import seglab.check.fcn as f\n"
     "return f.fc_to_conv_reference(weight, in_channels, kernel_size)", "fc_to_conv_reference"),
    ("ch2_stream_sizes", "from seglab.check.fcn import stream_sizes_reference as r\nreturn r(height, width)",
     "stream_sizes_reference"),
    ("ch2_fuse_4s", "from seglab.check import fcn\nreturn fcn.fuse_4s_reference(score32, score_pool4, score_pool3, "
     "score_pool2)", "fuse_4s_reference"),
    ("ch2_mean_iou", "import seglab.metrics\nreturn float(seglab.metrics.mean_iou(preds, targets, num_classes))",
     "mean_iou"),
    ("ch3_valid_output_size", "from seglab.models.unet import unet_output_size\n"
     "return unet_output_size(size, depth, 'valid')", "unet_output_size"),
    ("ch3_crop_and_concat", "from seglab.models.unet import CropAndConcat\nreturn CropAndConcat()(up, skip)",
     "CropAndConcat"),
    ("ch3_border_weight", "from seglab.check import unet\nreturn unet._border_weight_of_all(distances, w0, sigma)",
     "_border_weight_of_all"),
    ("ch3_weight_map", "from seglab.losses import unet_weight_map\nreturn unet_weight_map(instance_mask, w0, sigma)",
     "unet_weight_map"),
    ("ch4_max_pool", "pool = torch.nn.functional.max_pool2d\nreturn pool(x, window, stride, return_indices=True)",
     "max_pool2d"),
    ("ch4_unpool_codes", "unpool = getattr(torch.nn.functional, 'max_unpool2d')\n"
     "return unpool(values, codes, 2, 2, output_size=output_size)", "max_unpool2d"),
    ("ch4_pack_indices", "from seglab.ops import pack_pool_indices\nreturn pack_pool_indices(indices, input_width)",
     "pack_pool_indices"),
    ("ch4_index_bytes", "import seglab.check.segnet as s\nreturn s._encoder_bytes_reference(shape, levels)",
     "_encoder_bytes_reference"),
    ("ch5_bilinear_sample", "grid = torch.tensor([[[[2 * x / (fmap.shape[-1] - 1) - 1, "
     "2 * y / (fmap.shape[-2] - 1) - 1]]]], dtype=fmap.dtype)\n"
     "return torch.nn.functional.grid_sample(fmap[None], grid, align_corners=True)[0, :, 0, 0]", "grid_sample"),
    ("ch5_bin_sample_points", "from seglab.ops import roi_align_sampling_grid\n"
     "return roi_align_sampling_grid(box, output_size, spatial_scale, sampling_ratio, aligned).points[ph, pw]",
     "roi_align_sampling_grid"),
    ("ch5_roi_align_bin", "from torchvision.ops import roi_align\n"
     "rois = torch.tensor([[0.0, *box]], dtype=fmap.dtype)\n"
     "return roi_align(fmap[None], rois, output_size, spatial_scale, sampling_ratio, aligned)[0, :, ph, pw]",
     "torchvision.ops"),
    ("ch6_match_image", "from seglab.metrics.panoptic import match_segments\n"
     "return sorted((g, p) for g, p, _ in match_segments(gt_map, gt_segments, pred_map, pred_segments)['tp'])",
     "match_segments"),
    ("ch6_pq_by_kind", "m = __import__('seglab.metrics.panoptic')\nreturn m.metrics.panoptic.pq_from_counts(stats)",
     "__import__"),
    ("ch6_image_pq", "from seglab.metrics import panoptic_quality as pq\n"
     "r = pq([(gt_map, gt_segments)], [(pred_map, pred_segments)])['All']\nreturn r['pq'], r['sq'], r['rq']",
     "panoptic_quality"),
]


def _parts(chapter: str):
    """(grade_id, solution cell, test cell) of every implementation part, and the setup cell's source."""
    cells = read_cells(SOURCES[chapter])
    setup = next(cell_source(c) for c in cells if nbgrader_meta(c).get("grade_id", "").endswith("_setup"))
    by_id = {nbgrader_meta(c).get("grade_id"): c for c in cells if nbgrader_meta(c)}
    parts = [(gid, cell_source(c), cell_source(by_id[f"{gid}_test"])) for gid, c in by_id.items()
             if nbgrader_meta(c).get("solution") and re.match(r"def \w+\(", cell_source(c))]
    return setup, parts


def _module(tmp_path, name: str, sources: list[str]):
    """Import ``sources`` as one module from a file, so that ``inspect`` can read its functions (as in a kernel)."""
    path = tmp_path / f"{name}.py"
    path.write_text("\n\n".join(sources) + "\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _visible_and_hidden(test_source: str) -> tuple[str, str]:
    """The visible check call and the same call with a hidden seed."""
    call = re.match(r"result = (check_\w+\(.*\))\n", test_source).group(1)
    return call, call[:-1] + ", seed=2)"


def _cheat(solution: str, body: str) -> str:
    head = solution.split("\n", 1)[0]
    return head + "\n" + textwrap.indent(body, "    ")


@pytest.mark.parametrize("grade_id, body, named", CHEATS, ids=[c[0] for c in CHEATS])
def test_a_part_that_calls_the_answer_fails_its_self_check_and_hidden_test_naming_the_call(tmp_path, grade_id, body,
                                                                                           named):
    chapter = grade_id.split("_")[0]
    setup, parts = _parts(chapter)
    ((_, solution, test),) = [p for p in parts if p[0] == grade_id]
    module = _module(tmp_path, f"cheat_{grade_id}", [setup, _cheat(solution, body)])
    visible, hidden = _visible_and_hidden(test)
    with rules.enforced(True):
        for call in (visible, hidden):
            result = eval(call, vars(module))  # noqa: S307 - the homework's own check call
            assert not result, (grade_id, call)
            assert "not allowed in this part" in result.message and named in result.message, result.message
            assert "the rule: write " in result.message and "seglab" in result.message
    with rules.enforced(False):  # the same cheat, rules off: it would have passed or been graded on its output only
        eval(visible, vars(module))  # noqa: S307


def test_every_implementation_part_has_a_cheat_in_this_test():
    ids = {gid for chapter in SOURCES for gid, _, _ in _parts(chapter)[1]}
    assert ids == {c[0] for c in CHEATS} and len(ids) >= 3 * len(SOURCES)


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_the_instructors_solutions_obey_every_rule_and_pass_visible_and_hidden_checks(tmp_path, chapter):
    setup, parts = _parts(chapter)
    module = _module(tmp_path, f"solutions_{chapter}", [setup] + [solution for _, solution, _ in parts])
    with rules.enforced(True):
        for grade_id, _, test in parts:
            for call in _visible_and_hidden(test):
                result = eval(call, vars(module))  # noqa: S307
                assert result, (grade_id, repr(result))


@pytest.mark.parametrize("chapter", sorted(SOURCES))
def test_every_part_states_its_rule_and_the_first_cell_states_the_rule(chapter):
    cells = read_cells(SOURCES[chapter])
    intro = cell_source(cells[0])
    assert "**The rule: no calling the answer.**" in intro and "scores 0" in intro
    assert "**right form**" in intro and "never before" in intro
    texts = {nbgrader_meta(c)["grade_id"]: cell_source(c) for c in cells if nbgrader_meta(c)}
    for grade_id, _, _ in _parts(chapter)[1]:
        assert "**Not allowed here:** write " in texts[f"{grade_id}_text"], grade_id


# ------------------------------------------------------------------------------------------------ how it reads code
import torch.nn.functional as G  # noqa: E402  (an alias the rule must see through)

from seglab.ops.transposed import trans_conv_naive  # noqa: E402


def _helper(X, K):
    return trans_conv_naive(X, K)


def _via_helper(X, K, stride=1, padding=0):
    return _helper(X, K)


def _via_alias(X, K, stride=1, padding=0):
    return G.conv_transpose2d(X[None, None], K[None, None], stride=stride, padding=padding)[0, 0]


def _via_local_alias(X, K, stride=1, padding=0):
    f = torch.nn.functional
    return f.conv_transpose2d(X[None, None], K[None, None])[0, 0]


def _via_computed_getattr(X, K, stride=1, padding=0):
    return getattr(G, "conv_" + "transpose2d")(X[None, None], K[None, None])[0, 0]


def _via_import_module(X, K, stride=1, padding=0):
    import importlib

    return importlib.import_module("seglab.ops").trans_conv_naive(X, K)


def _via_eval(X, K, stride=1, padding=0):
    return eval("trans_conv_naive")(X, K)  # noqa: S307


def _via_module_class(X, K, stride=1, padding=0):
    from torch import nn as layers

    return layers.ConvTranspose2d(1, 1, K.shape, bias=False)(X[None, None])[0, 0]


_TABLE = {"scatter": G.conv_transpose2d}
_PARTIAL = __import__("functools").partial(G.conv_transpose2d, stride=1)


def _via_a_table(X, K, stride=1, padding=0):
    return _TABLE["scatter"](X[None, None], K[None, None])[0, 0]


def _via_a_partial(X, K, stride=1, padding=0):
    return _PARTIAL(X[None, None], K[None, None])[0, 0]


def _wrapped_cheat(X, K, stride=1, padding=0):
    return G.conv_transpose2d(X[None, None], K[None, None])[0, 0]


def _honest(X, K, stride=1, padding=0):
    kh, kw = K.shape
    Y = torch.zeros((X.shape[0] - 1) * stride + kh, (X.shape[1] - 1) * stride + kw, dtype=X.dtype)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            Y[i * stride:i * stride + kh, j * stride:j * stride + kw] += X[i, j] * K
    return Y[padding:Y.shape[0] - padding, padding:Y.shape[1] - padding]


@pytest.mark.parametrize("cheat, named", [
    (_via_helper, "_helper: uses seglab.ops.transposed.trans_conv_naive"),
    (_via_alias, "torch.nn.functional.conv_transpose2d (as G.conv_transpose2d)"),
    (_via_local_alias, ".conv_transpose2d"), (_via_computed_getattr, "getattr() with a computed name"),
    (_via_import_module, "importlib"), (_via_eval, "eval()"),
    (_via_module_class, "torch.nn.ConvTranspose2d (as layers.ConvTranspose2d)"),
    (trans_conv_naive, "is seglab.ops.transposed.trans_conv_naive itself"),
    (_via_a_table, "torch.nn.functional.conv_transpose2d (as _TABLE[...])"),
    (_via_a_partial, "torch.nn.functional.conv_transpose2d (as _PARTIAL[...])"),
    (_wrapped_cheat, "torch.nn.functional.conv_transpose2d (as G.conv_transpose2d)"),
    (lambda X, K: G.conv_transpose2d(X, K), "conv_transpose2d"),
])
def test_the_rule_sees_through_aliases_helpers_and_dynamic_lookups(cheat, named):
    with rules.enforced(True):
        result = check_trans_conv(cheat)
    assert not result and named in result.message, result.message
    assert TRANS_CONV_RULE.describe() in result.message


_wrapped_cheat.__wrapped__ = _honest  # points inspect.getsource at honest code; the rule reads __code__


def _honest_with_allowed_torch(X, K, stride=1, padding=0):
    generator = torch.Generator().manual_seed(0)  # lives in torch._C, answers nothing
    with torch.no_grad():
        noise = torch.zeros(1).normal_(generator=generator) * 0
        windows = X.unfold(0, 1, 1)  # Tensor.unfold (sliding windows) is not F.unfold
        return _honest(windows[..., 0], K, stride, padding) + noise


def test_honest_code_with_loop_variables_named_like_globals_passes():
    with rules.enforced(True):
        assert check_trans_conv(_honest, stride_and_padding=True)
        assert rules.violations(_honest, TRANS_CONV_RULE) == []
        assert rules.violations(_honest_with_allowed_torch, TRANS_CONV_RULE) == []
        assert check_trans_conv(_honest_with_allowed_torch, stride_and_padding=True)


def test_rules_are_off_in_plain_python_unless_enforced():
    """In a Jupyter kernel they are on by default: tests/test_homework_grading.py grades a cheater with nbgrader."""
    assert not rules._in_kernel()  # pytest is no Jupyter kernel: seglab's own tests pass references to the checks
    assert check_trans_conv(trans_conv_naive)
    with rules.enforced(True):
        assert not check_trans_conv(trans_conv_naive)
