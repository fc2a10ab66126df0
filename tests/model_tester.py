"""The contract every model keeps (README, "Models: one contract"), as base classes that each model's test file
subclasses in a few lines:

    class TestUNetContract(SemanticModelTester):
        def make_model(self, **kw):
            return UNet(NUM_CLASSES, base_channels=4, depth=3, padding="same", **kw)

        def deprecated_calls(self):
            return [(lambda: UNet(3, NUM_CLASSES), "num_classes=")]

:class:`ModelTester` holds what every builder shares (``num_classes`` first and required, everything after it a
keyword, ``weights=`` from a path or a mapping, old spellings warn naming the new one);
:class:`SemanticModelTester` adds the logits contract (``float[N, K, H, W]`` at the input size, a clear size error),
:class:`DetectionModelTester` Mask R-CNN's (losses in train mode, detections at the input size in eval mode).

Hooks: ``make_model(**kw)`` (a small model with ``NUM_CLASSES`` classes; ``kw`` passes ``weights=``),
``builder`` (the class or function; default: the model's class), ``sizes`` (input sizes whose outputs must have the
input size; odd ones included), ``bad_size`` and ``bad_size_hint`` (an input the model rejects and a size the error
must name; ``bad_size = None`` for a model that takes every size), ``num_classes_required`` (False for a model whose
``num_classes`` has a documented default), ``deprecated_calls()`` (``(build, new spelling)`` pairs that must warn
naming the new spelling; every tester must say, an empty list when the model has no old spelling).
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch

NUM_CLASSES = 3


def random_fcn(num_classes: int, variant: str, seed: int = 0, *, std: float = 0.1, width: float = 0.125,
               fc6_kernel: int = 1, randomise: bool = True, **kw):
    """A small FCN (seeded with ``seed``) in eval mode; with ``randomise``, every layer except the bilinear
    upsamplings drawn from ``N(0, std)`` (the score layers start at zero), as after some training. The one FCN
    set-up of the model, widget and explorer tests."""
    from seglab.models import FCN

    torch.manual_seed(seed)
    model = FCN(num_classes, variant=variant, width=width, fc6_kernel=fc6_kernel, **kw)
    if randomise:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.requires_grad and not name.startswith("up"):
                    p.normal_(0, std)
    return model.eval()


class ModelTester:
    """What every builder shares: ``builder(num_classes, *, ..., weights=None)``."""

    sizes: tuple[tuple[int, int], ...] = ((45, 67), (32, 32))
    num_classes_required: bool = True

    def make_model(self, **kw) -> torch.nn.Module:
        raise NotImplementedError

    def deprecated_calls(self) -> list | None:
        return None  # not declared: test_old_spellings_warn_naming_the_new_one fails until the subclass says

    @property
    def builder(self):
        return type(self._model())

    def _model(self, **kw):
        torch.manual_seed(0)
        return self.make_model(**kw)

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

    def test_num_classes_comes_first_and_the_rest_are_keywords(self):
        params = list(inspect.signature(self.builder).parameters.values())
        assert params[0].name == "num_classes"
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params[1:]), params
        if self.num_classes_required:
            assert params[0].default is inspect.Parameter.empty
            with pytest.raises(TypeError, match="num_classes"):
                self.builder()

    def test_old_spellings_warn_naming_the_new_one(self):
        calls = self.deprecated_calls()
        assert calls is not None, f"{type(self).__name__}: declare deprecated_calls() (a list, empty if none)"
        if not calls:
            pytest.skip("this model has no old spelling")
        for build, new in calls:
            with pytest.warns(DeprecationWarning, match=re.escape(new)):
                build()


class SemanticModelTester(ModelTester):
    bad_size: tuple[int, int] | None = (31, 64)
    bad_size_hint: str = "32x64"
    batch_size: int = 2

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

    def test_size_error_names_a_size_that_works(self):
        model = self._model().eval()
        if self.bad_size is not None:
            with pytest.raises(ValueError, match=re.escape(self.bad_size_hint)):
                model(torch.rand(1, model.in_channels, *self.bad_size))
        with pytest.raises(ValueError, match=rf"\[N, {model.in_channels}, H, W\]"):
            model(torch.rand(1, model.in_channels + 1, *self.sizes[0]))

    @pytest.mark.gpu
    def test_cuda_matches_cpu(self, no_tf32):  # TF32 off (conftest.no_tf32): float32 on both, so 1e-4 holds
        model = self._model().eval()
        images = torch.rand(self.batch_size, model.in_channels, *self.sizes[0])
        with torch.no_grad():
            want = model(images)
            got = model.cuda()(images.cuda())
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), want, atol=1e-4, rtol=1e-4)


class DetectionModelTester(ModelTester):
    """Mask R-CNN's part of the contract: ``model(images, targets)`` -> a dict of finite losses whose sum reaches
    every trainable parameter (train mode); ``model(images)`` -> per image ``boxes [D, 4]``, ``labels [D]``,
    ``scores [D]``, ``masks float[D, 1, H, W]`` at the input size (eval mode). ``make_batch(size)`` gives
    ``(images, targets)``."""

    sizes: tuple[tuple[int, int], ...] = ((96, 128), (128, 128))
    batch_size: int = 2

    def make_batch(self, size) -> tuple[list, list]:
        raise NotImplementedError

    def test_train_mode_gives_finite_losses_that_reach_the_parameters(self):
        model = self._model().train()
        images, targets = self.make_batch(self.sizes[-1])
        losses = model(images, targets)
        assert isinstance(losses, dict) and all(k.startswith("loss_") for k in losses)
        assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values()), losses
        sum(losses.values()).backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

    def test_detections_have_the_input_size(self):
        model = self._model().eval()
        for size in self.sizes:
            images, _ = self.make_batch(size)
            with torch.no_grad():
                outputs = model(images)
            assert len(outputs) == len(images)
            for out in outputs:
                d = out["boxes"].shape[0]
                assert out["boxes"].shape == (d, 4) and out["labels"].shape == out["scores"].shape == (d,)
                assert out["masks"].shape == (d, 1, *size) and out["masks"].dtype == torch.float32

    @pytest.mark.gpu
    def test_cuda_matches_cpu(self, no_tf32):  # TF32 off (conftest.no_tf32): float32 on both
        model = self._model().eval()
        images, _ = self.make_batch(self.sizes[-1])
        with torch.no_grad():
            want = model(images)
            got = model.cuda()([x.cuda() for x in images])
        for g, w in zip(got, want):
            assert all(v.device.type == "cuda" for v in g.values())
            assert torch.equal(g["labels"].cpu(), w["labels"])
            for key in ("boxes", "scores", "masks"):
                torch.testing.assert_close(g[key].cpu(), w[key], atol=1e-4, rtol=1e-4)
