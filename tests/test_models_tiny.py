"""TinySegmenter (seglab/models/tiny.py): the contract, and ``width`` as a float multiplier (old int counts warn)."""

import pytest
import torch
from model_tester import NUM_CLASSES, SemanticModelTester

from seglab.models import TinySegmenter, create_model


class TestTinySegmenterContract(SemanticModelTester):
    bad_size = None  # any size works: two 3x3 convolutions with padding and a 1x1 classifier
    num_classes_required = False  # create_model("tiny_segmenter") builds the scenes' 8 classes (documented)

    def make_model(self, **kw):
        return TinySegmenter(NUM_CLASSES, width=0.25, **kw)

    def deprecated_calls(self):
        return [(lambda: TinySegmenter(NUM_CLASSES, 0.25), "TinySegmenter(3, width=0.25)"),
                (lambda: TinySegmenter(NUM_CLASSES, width=4), "write width=0.25")]


def test_width_multiplies_sixteen_channels_and_old_counts_build_the_same_network():
    assert create_model("tiny_segmenter").classifier.weight.shape == (8, 16, 1, 1)  # what the tests and CLI relied on
    torch.manual_seed(0)
    new = TinySegmenter(NUM_CLASSES, width=0.5).state_dict()
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="channel count"):
        old = TinySegmenter(NUM_CLASSES, width=8).state_dict()
    assert list(old) == list(new) and all(torch.equal(old[k], new[k]) for k in new)
    assert TinySegmenter(NUM_CLASSES, width=0.5).width == 0.5
    for bad in (0.0, -1.0, True, "16"):
        with pytest.raises(ValueError, match="width must be a positive number"):
            TinySegmenter(NUM_CLASSES, width=bad)
