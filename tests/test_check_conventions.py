"""seglab.check's conventions (issue 26): every chapter check takes the student's function as ``student`` (or a
practice question's value as ``answer``), draws its cases from a keyword-only ``seed`` (0: the cases shown), compares
with the one tolerance of ``seglab.check.core`` and applies its part's rule first."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from seglab.check import core

CHAPTER_MODULES = ["scenes", "transposed", "fcn", "unet", "segnet", "roi", "panoptic"]
CHECKS = [(name, getattr(importlib.import_module(f"seglab.check.{name}"), fn)) for name in CHAPTER_MODULES
          for fn in importlib.import_module(f"seglab.check.{name}").__all__ if fn.startswith("check_")]


@pytest.mark.parametrize("module, check", CHECKS, ids=[f"{m}.{c.__name__}" for m, c in CHECKS])
def test_every_check_names_its_arguments_and_seeds_alike(module, check):
    params = list(inspect.signature(check).parameters.values())
    assert params[0].name in ("student", "answer"), params[0]
    if params[0].name == "student":
        seed = inspect.signature(check).parameters.get("seed")
        assert seed is not None and seed.kind is inspect.Parameter.KEYWORD_ONLY and seed.default == 0
        for p in params[1:]:  # the variant switches and the seed are keywords; only a dataset may come before them
            assert p.kind is inspect.Parameter.KEYWORD_ONLY or p.name == "dataset", p
        source = inspect.getsource(check)
        assert "obey(student, " in source, f"{check.__name__} does not apply its part's rule"


def test_function_checks_use_the_one_tolerance_of_core():
    assert (core.ATOL, core.RTOL) == (1e-6, 1e-5)
    assert inspect.signature(core.check_function).parameters["atol"].default == core.ATOL
    for name in CHAPTER_MODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(f"seglab.check.{name}")))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check_function":
                assert not {k.arg for k in node.keywords} & {"atol", "rtol"}, f"{name}: its own tolerance"


def test_the_seed_changes_the_cases_and_seed_zero_is_what_the_lecture_shows():
    from seglab.check.transposed import check_output_size
    from seglab.ops.transposed import conv_transpose2d_output_size

    counts = {seed: int(check_output_size(conv_transpose2d_output_size, general=True, seed=seed).message.split()[-2])
              for seed in (0, 1)}
    assert counts[1] > counts[0]
