"""The reference `solutions.GuidedBackprop` and `solutions.GuidedGradCAM`, checked against captum,
pytorch-grad-cam and ground truths written here.

The contract under test (the course's reference API, lessons 04 and 05):

- ``GuidedBackprop(model)``; ``gb(x, targets=None)`` returns (N, C, H, W): the gradient of the
  target class's pre-softmax logit w.r.t. the input, with the guided rule at every ``nn.ReLU``
  module (pass back ``max(grad, 0)`` where the ReLU's input was positive, 0 elsewhere).
- ``GuidedGradCAM(model, target_layer)``; ``ggc(x, targets=None)`` returns (N, C, H, W) =
  ``GuidedBackprop(x) * GradCAM(x)[:, None]``, Grad-CAM being ReLU(sum_k w_k A_k) with w = spatial
  mean of d(score)/dA, bilinear (align_corners=False) upsampling and per-image min-max to [0, 1].
- targets: None (each image's predicted class), an int (that class for all), a sequence or 1-D
  tensor of N classes; anything else, or a wrong length, raises ValueError saying what is expected.
- batch == per image; the model comes back as it went in (module objects, ``inplace`` flags,
  every module's train/eval mode, requires_grad, no hooks of any kind, no parameter .grad); the
  caller's input is not modified and keeps its requires_grad; calls are deterministic; works
  inside torch.no_grad().
- documented limit: a ReLU applied functionally (``F.relu``) is not an ``nn.ReLU`` module, so it
  gets the plain gradient rule.

How the libraries are made comparable (details in each test's docstring):

- captum 0.9 ``GuidedBackprop(model).attribute(x, target=[...])``: a backward hook on every
  ``nn.ReLU`` replaces the gradient at the ReLU's input by ``relu(grad_input)`` = ``relu(g) *
  (input > 0)``, i.e. the guided rule; the score is the sum over the batch of each image's target
  logit. It warns "Setting backward hooks on ReLU activations" on every call: silenced here.
- captum Guided Grad-CAM: captum's own ``GuidedGradCam`` has no min-max and upsamples nearest by
  default, so we compose it from its parts: ``GuidedBackprop`` * per-image min-max of
  ``LayerAttribution.interpolate(LayerGradCam(...).attribute(..., relu_attributions=True),
  (H, W), interpolate_mode="bilinear")`` (F.interpolate, default align_corners=False).
- pytorch-grad-cam 1.5.7 ``GuidedBackpropReLUModel(model, device)``, called as ``(input_img,
  target_category)``: it swaps every ``nn.ReLU`` for a guided-ReLU module, runs ``model(input)``,
  backpropagates ``output[0, target_category]`` and returns the input's ``.grad`` of image 0 as a
  numpy (H, W, C) array. So it handles one image at a time; we compare per image, transposed.
  It has habits that make it unsafe on a shared model and input (see
  test_pytorch_grad_cam_mutates_what_the_reference_leaves_alone): it calls ``model.eval()``, puts
  back a *new, shared, non-in-place* ``nn.ReLU()`` in place of every ReLU, calls
  ``requires_grad_(True)`` on the caller's tensor and accumulates into its ``.grad`` (a second
  call on the same tensor returns twice the gradient). Each comparison therefore gives it a deep
  copy of the model and a fresh clone of the image.
- ground truth written here: the network's forward pass re-written by hand (no hooks, no ReLU
  module called) with a guided-ReLU autograd function at every place a ReLU module runs; for
  ResNet18 that covers the BasicBlock's one ReLU module used twice.

Tolerance: 1e-6 *relative to the largest |value| of the other side*. Guided gradients of random
networks are small (ResNet18's ~4e-2, VGG's ~1e-3 at most), so an absolute 1e-6 would be lax for
one and strict for the other; the relative one is float32 rounding with room to spare (measured
differences: 0 against captum, ~2e-7 relative against pytorch-grad-cam, whose batch of 1 makes
the convolutions sum in another order).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from explainer_contract import (assert_same, no_hooks_anywhere, relative_diff, seeded_resnet18,
                                snapshot)
from guided_ground_truths import (BY_HAND, NETS, RTOL, captum_guided_backprop,
                                  captum_guided_gradcam, input_gradient_of, pgc_guided_backprop,
                                  plain_relu, record, resnet18_by_hand)
from solutions import GradCAM, GuidedBackprop, GuidedGradCAM

# ---------------------------------------------------------------------------------------------
# Seeded models. Batches are non-square (H != W catches transposes) with one distinct target per
# image.

# Guided Grad-CAM target layers: (net, layer); comments say what is special about each.
GGC_CASES = [
    ("resnet18", "layer3"),
    ("resnet18", "layer4"),
    ("resnet18", "layer4.1.bn2"),  # overwritten later by `out += identity; relu(inplace)`
    ("vgg11_bn", "features.18"),   # a conv, 8x10 at this input size
    ("vgg11_bn", "features.26"),   # bn -> ReLU(inplace=True): overwritten later
    ("vgg11_bn", "features.27"),   # the target layer is itself an in-place nn.ReLU
]


class Nets:
    """Each seeded model and input is built once; the reference's results are cached."""

    def __init__(self):
        self._nets, self._gb, self._ggc = {}, {}, {}

    def get(self, name):
        if name not in self._nets:
            builder, shape, targets = NETS[name]
            x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
            self._nets[name] = (builder(), x, targets)
        return self._nets[name]

    def gb(self, name):
        if name not in self._gb:
            model, x, targets = self.get(name)
            self._gb[name] = GuidedBackprop(model)(x, targets)
        return self._gb[name]

    def ggc(self, name, layer):
        if (name, layer) not in self._ggc:
            model, x, targets = self.get(name)
            self._ggc[(name, layer)] = GuidedGradCAM(model, model.get_submodule(layer))(x, targets)
        return self._ggc[(name, layer)]


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def nets():
    return Nets()


# ---------------------------------------------------------------------------------------------
# GuidedBackprop against the libraries and the hand-written ground truth.

@pytest.mark.parametrize("name", list(NETS))
def test_guided_backprop_matches_captum(nets, name):
    model, x, targets = nets.get(name)
    ours = nets.gb(name)
    assert ours.shape == x.shape and ours.dtype == x.dtype
    theirs = captum_guided_backprop(model, x, targets)
    assert record(name, "-", "captum GuidedBackprop", relative_diff(ours, theirs)) <= RTOL


@pytest.mark.parametrize("name", list(NETS))
def test_guided_backprop_matches_pytorch_grad_cam_per_image(nets, name):
    """pytorch-grad-cam explains image 0 of its input only: one call per image (see docstring)."""
    model, x, targets = nets.get(name)
    theirs = pgc_guided_backprop(model, x, targets)
    diff = relative_diff(nets.gb(name), theirs)
    assert record(name, "-", "pytorch-grad-cam (per image)", diff) <= RTOL


@pytest.mark.parametrize("name", list(NETS))
def test_guided_backprop_matches_hand_written_pass(nets, name):
    """Ground truth: the forward pass by hand with a guided-ReLU function at each ReLU call.

    Also shows that the guided rule matters here: the plain gradient is far from it."""
    model, x, targets = nets.get(name)
    truth = input_gradient_of(lambda p: BY_HAND[name](model, p), x, targets)
    ours = nets.gb(name)
    assert record(name, "-", "hand-written guided pass", relative_diff(ours, truth)) <= RTOL
    plain = input_gradient_of(lambda p: BY_HAND[name](model, p, plain_relu), x, targets)
    assert relative_diff(plain, truth) > 0.1


def test_pytorch_grad_cam_mutates_what_the_reference_leaves_alone(nets):
    """pytorch-grad-cam's habits (why it only ever gets copies above), next to the reference.

    On a VGG in train mode, with a caller's tensor that does not require grad:
    - it replaces every nn.ReLU module by one new, shared, non-in-place nn.ReLU (in train mode, as
      new modules are) and puts every other module in eval mode; it fills in parameter .grad;
    - it turns on requires_grad of the caller's tensor and accumulates into its .grad, so a second
      call on the same tensor returns twice the first answer.
    The reference, on an identical model and tensor, changes none of these and repeats itself.
    """
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam import GuidedBackpropReLUModel

    theirs_model, ours_model = (copy.deepcopy(nets.get("vgg11_bn")[0]).train() for _ in "ab")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    theirs_x, ours_x = x.clone(), x.clone()
    relus_before = {name: m for name, m in theirs_model.named_modules()
                    if isinstance(m, nn.ReLU)}  # kept alive, so compared by identity
    assert len(relus_before) == 9 and all(m.inplace for m in relus_before.values())

    pgc = GuidedBackpropReLUModel(theirs_model, device="cpu")
    first = pgc(theirs_x, 2).copy()
    second = pgc(theirs_x, 2)
    relus_after = {name: m for name, m in theirs_model.named_modules(remove_duplicate=False)
                   if isinstance(m, nn.ReLU)}
    assert set(relus_after) == set(relus_before)
    assert len({id(m) for m in relus_after.values()}) == 1, "one shared ReLU everywhere"
    assert all(m is not relus_before[name] and not m.inplace
               for name, m in relus_after.items()), "ReLU modules replaced, no longer in place"
    assert not any(m.training for m in theirs_model.modules() if not isinstance(m, nn.ReLU))
    assert all(m.training for m in relus_after.values()), "the new ReLU is born in train mode"
    assert any(p.grad is not None for p in theirs_model.parameters())
    assert theirs_x.requires_grad and theirs_x.grad is not None
    assert np.abs(first).max() > 0
    np.testing.assert_allclose(second, 2 * first, rtol=1e-5, atol=0)

    before = snapshot(ours_model)
    gb = GuidedBackprop(ours_model)
    ours_first, ours_second = gb(ours_x, 2), gb(ours_x, 2)
    assert_same(before, snapshot(ours_model))
    assert not ours_x.requires_grad and ours_x.grad is None and torch.equal(ours_x, x)
    assert torch.equal(ours_first, ours_second)
    assert relative_diff(ours_first[0].permute(1, 2, 0), torch.from_numpy(first)) <= RTOL


# ---------------------------------------------------------------------------------------------
# GuidedGradCAM against captum's parts, and against the reference's own two-pass composition.

@pytest.mark.parametrize("name,layer", GGC_CASES)
def test_guided_gradcam_matches_captum(nets, name, layer):
    model, x, targets = nets.get(name)
    ours = nets.ggc(name, layer)
    assert ours.shape == x.shape and ours.dtype == x.dtype
    theirs = captum_guided_gradcam(model, model.get_submodule(layer), x, targets)
    assert (theirs != 0).any(), "a degenerate comparison would prove nothing"
    assert record(name, layer, "captum GB x LayerGradCam", relative_diff(ours, theirs)) <= RTOL


@pytest.mark.parametrize("name,layer", GGC_CASES)
def test_guided_gradcam_is_guided_backprop_times_gradcam(nets, name, layer):
    """The one-pass GuidedGradCAM == the two separate reference classes, multiplied."""
    model, x, targets = nets.get(name)
    two_pass = nets.gb(name) * GradCAM(model, model.get_submodule(layer))(x, targets)[:, None]
    diff = relative_diff(nets.ggc(name, layer), two_pass)
    assert record(name, layer, "reference GB x GradCAM", diff) <= RTOL


# ---------------------------------------------------------------------------------------------
# What is theirs alone (the clauses every explainer keeps: tests/test_explainer_contract.py).

EXPLAINERS = {
    "GuidedBackprop": lambda model: GuidedBackprop(model),
    "GuidedGradCAM": lambda model: GuidedGradCAM(model, model.layer4[1].bn2),
}
both_classes = pytest.mark.parametrize("kind", list(EXPLAINERS))


@pytest.fixture(scope="module")
def resnet():
    """Shared by the read-only contract tests (each asserts it is left unchanged)."""
    return seeded_resnet18()


@pytest.fixture
def small_x():
    return torch.randn(3, 3, 40, 56, generator=torch.Generator().manual_seed(2))


@both_classes
def test_shape_and_dtype(resnet, small_x, kind):
    out = EXPLAINERS[kind](resnet)(small_x, [4, 5, 6])
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.shape == small_x.shape
    assert torch.isfinite(out).all()
    if kind == "GuidedBackprop":
        assert (out.abs().amax(dim=(1, 2, 3)) > 0).all()
    else:  # zero exactly where the Grad-CAM map is (with this seed, image 2's for class 6 is)
        cam = GradCAM(resnet, resnet.layer4[1].bn2)(small_x, [4, 5, 6])
        assert torch.equal(out.flatten(1).any(dim=1), cam.flatten(1).any(dim=1))
        assert out[0].any()


@both_classes
@pytest.mark.parametrize("form", ["None", "int", "list"])
def test_targets_give_the_hand_written_pass(small_x, kind, form):
    """Each form of `targets` explains the classes it names, checked against the hook-free pass
    written by hand (batch = per image is a clause of tests/test_explainer_contract.py)."""
    model = seeded_resnet18(train=True)
    classes = [11, 22, 33]
    batch = EXPLAINERS[kind](model)(small_x, {"None": None, "int": 42, "list": classes}[form])
    model.eval()  # the hand-written pass needs eval-mode batch norm
    with torch.no_grad():
        predicted = model(small_x).argmax(dim=1).tolist()
    meaning = {"None": predicted, "int": [42] * 3}.get(form, classes)
    expected = input_gradient_of(lambda p: resnet18_by_hand(model, p), small_x, meaning)
    if kind == "GuidedGradCAM":
        expected = expected * GradCAM(model, model.layer4[1].bn2)(small_x, meaning)[:, None]
    assert relative_diff(batch, expected) <= RTOL


@pytest.mark.parametrize("kind", ["GuidedBackprop", "GuidedGradCAM"])
def test_inplace_flags_and_vgg_untouched(nets, kind):
    """VGG's ReLUs are in place (a hook-based method must not flip or replace them)."""
    model = copy.deepcopy(nets.get("vgg11_bn")[0]).train()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    before = snapshot(model)
    assert sum(before["inplace"].values()) == 9
    explain = (GuidedBackprop(model) if kind == "GuidedBackprop"
               else GuidedGradCAM(model, model.features[26]))
    out = explain(x, [1, 3])
    assert_same(before, snapshot(model))
    assert no_hooks_anywhere(model) and all(p.grad is None for p in model.parameters())
    assert out.shape == x.shape and torch.isfinite(out).all()
