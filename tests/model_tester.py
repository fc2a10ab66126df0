"""The contract every semantic model keeps, as one base class that each model's test file subclasses in a few lines:

    class TestUNetContract(SemanticModelTester):
        def make_model(self, **kw):
            return UNet(NUM_CLASSES, base_channels=4, depth=3, padding="same", **kw)

Hooks: ``make_model(**kw)`` (a small model with ``NUM_CLASSES`` classes; ``kw`` passes ``weights=``),
``sizes`` (input sizes whose logits must have the input size; odd ones included), ``bad_size`` and ``bad_size_hint``
(an input the model rejects and a size the error must name), ``deprecated_calls()`` (``(build, new keyword)`` pairs
that must warn naming the new keyword).
"""

from __future__ import annotations

import re

import pytest
import torch

NUM_CLASSES = 3


class SemanticModelTester:
    sizes: tuple[tuple[int, int], ...] = ((45, 67), (32, 32))
    bad_size: tuple[int, int] = (31, 64)
    bad_size_hint: str = "32x64"
    batch_size: int = 2

    def make_model(self, **kw) -> torch.nn.Module:
        raise NotImplementedError

    def deprecated_calls(self) -> list:
        return []

    def _model(self, **kw):
        torch.manual_seed(0)
        return self.make_model(**kw)

    def test_logits_have_the_input_size(self):
        model = self._model().eval()
        with torch.no_grad():
            for size in self.sizes:
                logits = model(torch.rand(self.batch_size, model.in_channels, *size))
                assert logits.shape == (self.batch_size, NUM_CLASSES, *size), size
                assert logits.dtype == torch.float32

    def test_gradients_reach_every_parameter(self):
        model = self._model().train()
        with torch.no_grad():  # layers that start at zero (FCN's score layers) would block the gradient behind them
            for p in model.parameters():
                if p.requires_grad and p.dim() > 1 and not p.any():
                    p.normal_(0, 0.1)
        size = self.sizes[0]
        images = torch.rand(self.batch_size, model.in_channels, *size)
        targets = torch.randint(0, NUM_CLASSES, (self.batch_size, *size))
        torch.nn.functional.cross_entropy(model(images), targets).backward()
        for name, p in model.named_parameters():
            if p.requires_grad:
                assert p.grad is not None and p.grad.abs().sum() > 0, name

    def test_weights_round_trip_from_a_path_and_a_mapping(self, tmp_path):
        model = self._model()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        state = model.state_dict()
        path = tmp_path / "weights.pt"
        torch.save(state, path)
        for source in (path, str(path), state):
            again = self.make_model(weights=source)
            got = again.state_dict()
            assert list(got) == list(state)
            assert all(torch.equal(got[k], state[k]) for k in state)
        with pytest.raises(FileNotFoundError, match="missing.pt"):
            self.make_model(weights=tmp_path / "missing.pt")

    def test_size_error_names_a_size_that_works(self):
        model = self._model().eval()
        with pytest.raises(ValueError, match=re.escape(self.bad_size_hint)):
            model(torch.rand(1, model.in_channels, *self.bad_size))
        with pytest.raises(ValueError, match=rf"\[N, {model.in_channels}, H, W\]"):
            model(torch.rand(1, model.in_channels + 1, *self.sizes[0]))

    def test_num_classes_is_required(self):
        cls = type(self._model())
        with pytest.raises(TypeError, match="num_classes"):
            cls()

    def test_old_keywords_warn_naming_the_new_one(self):
        for build, new in self.deprecated_calls():
            with pytest.warns(DeprecationWarning, match=new):
                build()

    @pytest.mark.gpu
    def test_cuda_matches_cpu(self):
        model = self._model().eval()
        images = torch.rand(self.batch_size, model.in_channels, *self.sizes[0])
        with torch.no_grad():
            want = model(images)
            got = model.cuda()(images.cuda())
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), want, atol=1e-4, rtol=1e-4)
