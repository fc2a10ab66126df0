"""The README's "Extending" example: a new model in about 20 lines, registered, trained from a recipe in quick mode,
loaded back by name, and held to the models' contract by the shared tester."""

import dataclasses

import pytest
from model_tester import NUM_CLASSES, SemanticModelTester
from torch import nn

from seglab.models import create_model, load_pretrained, register_model, unregister_model
from seglab.models.base import check_images, load_weights


class MyNet(nn.Module):
    """A 3x3 convolution, a ReLU and a 1x1 classifier: ``float[N, 3, H, W] -> logits float[N, K, H, W]``."""

    def __init__(self, num_classes: int, *, in_channels: int = 3, width: float = 1.0, weights=None):
        super().__init__()
        self.num_classes, self.in_channels = num_classes, in_channels
        channels = max(1, round(8 * width))
        self.body = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        if weights is not None:
            self.load_state_dict(load_weights(weights))

    def forward(self, images):
        check_images(images, self.in_channels, model="MyNet")
        return self.classifier(self.body(images))


@pytest.fixture
def my_net():
    register_model("my_net")(MyNet)  # or @register_model("my_net") above the class
    yield "my_net"
    unregister_model("my_net")


def test_a_registered_model_trains_from_a_recipe_and_loads_back(my_net, tmp_path):
    from seglab.train.recipes import RECIPES, run_recipe

    recipe = dataclasses.replace(RECIPES["unet"], name="my_net", model="my_net",
                                 model_args={"num_classes": 8, "width": 0.5}, quick_model_args={})
    entry = run_recipe(recipe, quick=True, out_dir=tmp_path, device="cpu", progress=False)
    assert entry["model"] == "my_net" and 0.0 <= entry["metrics"]["mIoU"] <= 1.0
    model = load_pretrained("my_net", weights_dir=tmp_path)  # sha256 checked, built with create_model("my_net")
    assert isinstance(model, MyNet) and model.classifier.in_channels == 4
    assert isinstance(create_model(my_net, num_classes=2), MyNet)


class TestMyNetContract(SemanticModelTester):
    bad_size = None  # any size works

    def make_model(self, **kw):
        return MyNet(NUM_CLASSES, **kw)

    def deprecated_calls(self):
        return []  # a new model has no old spelling
