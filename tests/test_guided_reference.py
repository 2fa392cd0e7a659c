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
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as torch_module_globals
from torchvision import models

from solutions import GradCAM, GuidedBackprop, GuidedGradCAM

RTOL = 1e-6
# Guided Grad-CAM of one image computed in a batch vs alone: the convolutions round differently
# (~1e-7 relative in the layer gradients), and the Grad-CAM factor's per-image min-max amplifies
# that by max|map| / span, to ~1e-6 of the [0, 1] map (measured up to 2.3e-6 relative here; the
# Grad-CAM reference tests use 1e-5 absolute for the maps). Against captum, which computes on the
# same batch, it is exact and RTOL applies.
GGC_BATCH_RTOL = 1e-5

MEASURED: dict[tuple[str, str, str], float] = {}  # (net, layer or "-", against) -> relative diff


def relative_diff(ours, theirs):
    """max |ours - theirs| / max |theirs| (float64); absolute where theirs is all zero."""
    ours, theirs = (t if isinstance(t, torch.Tensor) else torch.from_numpy(np.asarray(t))
                    for t in (ours, theirs))
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = theirs.double().abs().max().item()
    diff = (ours.double() - theirs.double()).abs().max().item()
    return diff / scale if scale > 0 else diff


def record(net, layer, against, diff):
    MEASURED[(net, layer, against)] = diff
    print(f"\nrelative max |diff| {net:>9} {layer:<16} vs {against:<34} {diff:.3g}")
    return diff


# ---------------------------------------------------------------------------------------------
# Seeded models. Batches are non-square (H != W catches transposes) with one distinct target per
# image.

def seeded_resnet18(train=False):
    torch.manual_seed(0)
    model = models.resnet18(weights=None)
    return model.train() if train else model.eval()


def seeded_vgg():
    """VGG11-BN features (every ReLU in place) with a small head that has an in-place ReLU too.

    The 25088 -> 4096 classifier is replaced (it would dominate the run time); the features are
    torchvision's, initialised by the seed.
    """
    torch.manual_seed(0)
    model = models.vgg11_bn(weights=None)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Linear(512, 16), nn.ReLU(inplace=True), nn.Linear(16, 4))
    return model.eval()


NETS = {
    "resnet18": (seeded_resnet18, (3, 3, 64, 80), [7, 500, 999]),
    "vgg11_bn": (seeded_vgg, (3, 3, 64, 80), [3, 0, 2]),
}

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


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread while this module runs, restored afterwards (much faster on the
    shared 2-core machine when other jobs are busy)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def nets():
    return Nets()


# ---------------------------------------------------------------------------------------------
# The other implementations, called so that they are comparable (see the module docstring).

def captum_guided_backprop(model, x, targets):
    attr = pytest.importorskip("captum.attr")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require",
                                category=UserWarning)
        return attr.GuidedBackprop(model).attribute(x.clone(), target=list(targets))


def minmax(maps):
    """Per-image min-max of (N, H, W) maps to [0, 1]; a constant map becomes all zero."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1.0), 0.0)


def captum_guided_gradcam(model, layer, x, targets):
    attr = pytest.importorskip("captum.attr")
    lowres = attr.LayerGradCam(model, layer).attribute(x.clone(), target=list(targets),
                                                       relu_attributions=True)
    up = attr.LayerAttribution.interpolate(lowres, tuple(x.shape[-2:]),
                                           interpolate_mode="bilinear")
    return captum_guided_backprop(model, x, targets) * minmax(up[:, 0])[:, None]


def pgc_guided_backprop(model, x, targets):
    """pytorch-grad-cam, one image at a time, each on its own copy of the model and image."""
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam import GuidedBackpropReLUModel

    rows = []
    for n, target in enumerate(targets):
        own_model = copy.deepcopy(model)
        hwc = GuidedBackpropReLUModel(own_model, device="cpu")(x[n:n + 1].clone(), int(target))
        assert isinstance(hwc, np.ndarray) and hwc.shape == (*x.shape[-2:], x.shape[1])
        rows.append(torch.from_numpy(hwc.transpose(2, 0, 1).copy()))
    return torch.stack(rows)


# ---------------------------------------------------------------------------------------------
# Ground truths written here: the forward pass by hand, a guided ReLU wherever a ReLU runs.

class GuidedReLUByHand(torch.autograd.Function):
    """ReLU forward; backward passes the incoming gradient only where it is > 0 and x > 0."""

    @staticmethod
    def forward(ctx, x):
        positive = x > 0
        ctx.save_for_backward(positive)
        return torch.where(positive, x, torch.zeros_like(x))

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return torch.where(positive & (grad > 0), grad, torch.zeros_like(grad))


def plain_relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def resnet18_by_hand(model, x, relu=GuidedReLUByHand.apply):
    """ResNet18's forward written out; `relu` wherever torchvision calls a ReLU module (twice per
    BasicBlock, through the block's one `relu` module). No module ReLU runs, no hooks."""
    h = model.maxpool(relu(model.bn1(model.conv1(x))))
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            assert isinstance(block, models.resnet.BasicBlock)
            identity = h if block.downsample is None else block.downsample(h)
            out = relu(block.bn1(block.conv1(h)))
            h = relu(block.bn2(block.conv2(out)) + identity)
    return model.fc(torch.flatten(model.avgpool(h), 1))


def sequential_by_hand(seq, x, relu=GuidedReLUByHand.apply):
    for module in seq:
        x = relu(x) if isinstance(module, nn.ReLU) else module(x)
    return x


def vgg_by_hand(model, x, relu=GuidedReLUByHand.apply):
    h = model.avgpool(sequential_by_hand(model.features, x, relu))
    return sequential_by_hand(model.classifier, torch.flatten(h, 1), relu)


BY_HAND = {"resnet18": resnet18_by_hand, "vgg11_bn": vgg_by_hand}


def input_gradient_of(forward, x, targets):
    """d(sum_n logits[n, targets[n]]) / dx for any forward function, through autograd."""
    pixels = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = forward(pixels)
        score = logits[torch.arange(len(targets)), torch.as_tensor(list(targets))].sum()
        (grad,) = torch.autograd.grad(score, pixels)
    return grad


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
# Contract clauses, for both classes, on small inputs.

EXPLAINERS = {
    "GuidedBackprop": lambda model: GuidedBackprop(model),
    "GuidedGradCAM": lambda model: GuidedGradCAM(model, model.layer4[1].bn2),
}
both_classes = pytest.mark.parametrize("kind", list(EXPLAINERS))

HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
              "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks",
              "_backward_pre_hooks", "_state_dict_hooks", "_state_dict_pre_hooks",
              "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")
GLOBAL_HOOK_DICTS = ("_global_forward_hooks", "_global_forward_pre_hooks",
                     "_global_backward_hooks", "_global_backward_pre_hooks",
                     "_global_forward_hooks_always_called")


def all_hooks(model):
    """Every module hook, every global module hook, every tensor hook on a parameter."""
    modules = {(name, attr): list(getattr(m, attr, {}).items())
               for name, m in model.named_modules(remove_duplicate=False) for attr in HOOK_DICTS}
    params = {name: (p._backward_hooks, getattr(p, "_post_accumulate_grad_hooks", None))
              for name, p in model.named_parameters()}
    glob = {attr: list(getattr(torch_module_globals, attr, {}).items())
            for attr in GLOBAL_HOOK_DICTS}
    return modules, params, glob


def no_hooks_anywhere(model):
    modules, params, glob = all_hooks(model)
    return (not any(modules.values()) and not any(any(h) for h in params.values())
            and not any(glob.values()))


def snapshot(model):
    """Everything about `model` that the explainers must leave as they found it.

    The module and parameter objects themselves are kept (not their id(), which a new object
    could reuse once a replaced one is freed) and compared with `is`."""
    named = list(model.named_modules(remove_duplicate=False))
    return {
        "modules": [(name, m) for name, m in named],
        "inplace": {name: m.inplace for name, m in named if hasattr(m, "inplace")},
        "training": {name: m.training for name, m in named},
        "params": [(name, p, p.requires_grad) for name, p in model.named_parameters()],
        "grads": {name: None if p.grad is None else p.grad.clone()
                  for name, p in model.named_parameters()},
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "hooks": all_hooks(model),
    }


def assert_same(before, after):
    for key in ("modules", "params"):
        assert len(before[key]) == len(after[key]), f"number of {key} changed"
        for (name, obj, *flags), (name_now, obj_now, *flags_now) in zip(before[key], after[key]):
            assert name == name_now and obj is obj_now, f"{key}: {name} replaced"
            assert flags == flags_now, f"{name}.requires_grad changed"
    for key in ("inplace", "training", "hooks"):
        assert before[key] == after[key], f"{key} changed"
    for name, grad in before["grads"].items():
        now = after["grads"][name]
        assert (grad is None and now is None) or (
            grad is not None and now is not None and torch.equal(grad, now)), f"{name}.grad"
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), f"state_dict[{key!r}] changed"


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


def per_image_targets(form, classes):
    if form == "tensor":
        return [torch.tensor([c]) for c in classes]
    return [[c] if form == "list" else (c,) for c in classes]


@both_classes
@pytest.mark.parametrize("form", ["None", "int", "list", "tuple", "tensor"])
def test_batch_equals_per_image(small_x, kind, form):
    """On a model in train mode (batch norm would couple the images if it were left so)."""
    model = seeded_resnet18(train=True)
    explain = EXPLAINERS[kind](model)
    classes = [11, 22, 33]
    batch_targets = {"None": None, "int": 42, "list": classes, "tuple": tuple(classes),
                     "tensor": torch.tensor(classes)}[form]
    batch = explain(small_x, batch_targets)
    for n in range(len(small_x)):
        single_targets = (batch_targets if form in ("None", "int")
                          else per_image_targets(form, classes)[n])
        single = explain(small_x[n:n + 1], single_targets)
        tolerance = RTOL if kind == "GuidedBackprop" else GGC_BATCH_RTOL
        assert relative_diff(batch[n:n + 1], single) <= tolerance, f"image {n}"
    # ... and what each form means (the hand-written pass needs eval-mode batch norm)
    model.eval()
    with torch.no_grad():
        predicted = model(small_x).argmax(dim=1).tolist()
    meaning = {"None": predicted, "int": [42] * 3}.get(form, classes)
    expected = input_gradient_of(lambda p: resnet18_by_hand(model, p), small_x, meaning)
    if kind == "GuidedGradCAM":
        expected = expected * GradCAM(model, model.layer4[1].bn2)(small_x, meaning)[:, None]
    assert relative_diff(batch, expected) <= RTOL


def messy_resnet():
    """ResNet18 in train mode with some modules in eval, frozen parameters, a .grad and a user
    forward hook; VGG-style in-place ReLUs are checked by test_inplace_flags_and_vgg_untouched."""
    model = seeded_resnet18(train=True)
    model.layer2.eval()
    model.layer3[0].bn1.eval()
    for module in (model.conv1, model.bn1, model.layer1):
        module.requires_grad_(False)
    model.fc.weight.grad = torch.ones_like(model.fc.weight)
    calls = []
    model.layer3.register_forward_hook(lambda module, inputs, output: calls.append(1))
    return model, calls


@both_classes
def test_model_comes_back_as_it_went_in(small_x, kind):
    """Same modules, modes, requires_grad, grads, BN statistics, hooks (the user's stays)."""
    model, calls = messy_resnet()
    before = snapshot(model)
    out = EXPLAINERS[kind](model)(small_x, [1, 2, 3])
    assert_same(before, snapshot(model))
    assert calls == [1], "the user's own hook stays and runs once per forward pass"
    assert all(p.grad is None for name, p in model.named_parameters() if name != "fc.weight")
    # the result is that of the same weights in eval mode with every parameter trainable
    clean = seeded_resnet18()
    assert relative_diff(out, EXPLAINERS[kind](clean)(small_x, [1, 2, 3])) <= RTOL


@both_classes
def test_no_hooks_and_no_grads_left(resnet, small_x, kind):
    assert no_hooks_anywhere(resnet)
    before = snapshot(resnet)
    EXPLAINERS[kind](resnet)(small_x)
    assert no_hooks_anywhere(resnet)
    assert all(p.grad is None for p in resnet.parameters())
    assert_same(before, snapshot(resnet))


@both_classes
def test_fully_frozen_model(small_x, kind):
    model = seeded_resnet18()
    expected = EXPLAINERS[kind](model)(small_x, [1, 2, 3])
    model.requires_grad_(False)
    assert torch.equal(EXPLAINERS[kind](model)(small_x, [1, 2, 3]), expected)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


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


@both_classes
@pytest.mark.parametrize("requires_grad", [False, True])
def test_input_untouched(resnet, small_x, kind, requires_grad):
    x = small_x.clone().requires_grad_(requires_grad)
    copy_, version = x.detach().clone(), x._version
    out = EXPLAINERS[kind](resnet)(x, [1, 2, 3])
    assert torch.equal(x.detach(), copy_) and x._version == version
    assert x.requires_grad is requires_grad and x.is_leaf and x.grad is None
    assert not out.requires_grad
    assert torch.equal(out, EXPLAINERS[kind](resnet)(copy_, [1, 2, 3]))


@both_classes
def test_two_calls_identical(resnet, small_x, kind):
    explain = EXPLAINERS[kind](resnet)
    assert torch.equal(explain(small_x), explain(small_x))
    assert torch.equal(explain(small_x, [3, 1, 4]), explain(small_x, [3, 1, 4]))


@both_classes
def test_inside_no_grad(resnet, small_x, kind):
    outside = EXPLAINERS[kind](resnet)(small_x, [1, 2, 3])
    with torch.no_grad():
        inside = EXPLAINERS[kind](resnet)(small_x, [1, 2, 3])
        assert not torch.is_grad_enabled()
    assert torch.equal(inside, outside)


N_IMAGES, N_CLASSES = 3, 1000
BAD_TARGETS = [
    pytest.param([1, 2], "length", id="short-list"),
    pytest.param((1, 2, 3, 4), "length", id="long-tuple"),
    pytest.param(torch.tensor([1, 2]), "length", id="short-tensor"),
    pytest.param(1.5, "type", id="float"),
    pytest.param(2.0, "type", id="integral-float"),
    pytest.param(True, "type", id="bool"),
    pytest.param([1, True, 2], "type", id="list-with-bool"),
    pytest.param([1, 2.0, 3], "type", id="list-with-float"),
    pytest.param(torch.tensor([[1, 2, 3]]), "type", id="2d-tensor"),
    pytest.param(torch.tensor([1.0, 2.0, 3.0]), "type", id="float-tensor"),
    pytest.param("abc", "type", id="string"),
    pytest.param(-1, "range", id="negative"),
    pytest.param(N_CLASSES, "range", id="int-too-large"),
    pytest.param([0, 1, N_CLASSES], "range", id="list-out-of-range"),
    pytest.param(torch.tensor([0, -1, 2]), "range", id="tensor-out-of-range"),
]


@pytest.fixture(scope="module")
def train_resnet():
    return seeded_resnet18(train=True)


@both_classes
@pytest.mark.parametrize("targets,problem", BAD_TARGETS)
def test_bad_targets_raise_value_error(train_resnet, small_x, kind, targets, problem):
    model = train_resnet
    before = snapshot(model)
    with pytest.raises(ValueError) as info:
        EXPLAINERS[kind](model)(small_x, targets)
    message = str(info.value)
    assert re.search(r"\bint", message, re.IGNORECASE), f"say that ints are expected: {message}"
    assert re.search(rf"\b{N_IMAGES}\b", message), f"say how many targets: {message}"
    if problem == "range":
        assert re.search(rf"\b({N_CLASSES - 1}|{N_CLASSES})\b", message), \
            f"say the valid range: {message}"
    assert_same(before, snapshot(model))  # hooks removed and modes restored on the error path


# ---------------------------------------------------------------------------------------------
# A ReLU module used twice, and the documented limit (functional ReLU).

class TwoReLUNet(nn.Module):
    """conv -> ReLU -> conv -> ReLU -> GAP -> linear, the two ReLUs one module or two, or F.relu.

    The same seed gives the same weights in every variant (ReLU has no parameters)."""

    def __init__(self, relus="two modules"):
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.head = nn.Linear(6, 5)
        self.mode = relus
        if relus != "functional":
            self.relu1 = nn.ReLU()
            self.relu2 = self.relu1 if relus == "one module" else nn.ReLU(inplace=True)

    def forward(self, x, relu1=None, relu2=None):
        if relu1 is None:
            relu1, relu2 = ((F.relu, F.relu) if self.mode == "functional"
                            else (self.relu1, self.relu2))
        h = relu2(self.conv2(relu1(self.conv1(x))))
        return self.head(h.mean(dim=(2, 3)))


@pytest.fixture
def tiny_x():
    return torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(4))


def test_reused_relu_module_is_guided_at_every_use(tiny_x):
    """One nn.ReLU module called twice == two modules == the hand-written guided pass == captum;
    and it is not the pass with the guided rule at only one of the two uses."""
    shared, separate = TwoReLUNet("one module").eval(), TwoReLUNet("two modules").eval()
    assert shared.relu1 is shared.relu2
    targets = [1, 4]
    guided, plain = GuidedReLUByHand.apply, plain_relu
    truth = input_gradient_of(lambda p: shared(p, guided, guided), tiny_x, targets)
    ours = GuidedBackprop(shared)(tiny_x, targets)
    record("tiny", "-", "hand-written guided pass (reuse)", relative_diff(ours, truth))
    assert relative_diff(ours, truth) <= RTOL
    assert relative_diff(ours, GuidedBackprop(separate)(tiny_x, targets)) <= RTOL
    assert relative_diff(ours, captum_guided_backprop(shared, tiny_x, targets)) <= RTOL
    for half in ((guided, plain), (plain, guided), (plain, plain)):
        other = input_gradient_of(lambda p: shared(p, *half), tiny_x, targets)
        assert relative_diff(other, truth) > 0.01, "the test must tell the variants apart"
    assert no_hooks_anywhere(shared)


def test_resnet18_reuses_its_relu_modules():
    """What the hand-written ResNet18 pass above assumes: each BasicBlock's ReLU runs twice."""
    model = seeded_resnet18()
    counts = {}
    handles = [m.register_forward_hook(lambda m, i, o: counts.__setitem__(m, counts.get(m, 0) + 1))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32))
    finally:
        for handle in handles:
            handle.remove()
    assert sorted(counts.values()) == [1] + [2] * 8


def test_functional_relu_gets_the_plain_gradient(tiny_x):
    """The documented limit: F.relu is not an nn.ReLU module, so no guided rule is applied.

    GuidedBackprop then returns the plain input gradient, which here differs from the guided
    one; GuidedGradCAM is that plain gradient times the Grad-CAM map."""
    net = TwoReLUNet("functional").eval()
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    targets = [0, 3]
    plain = input_gradient_of(net, tiny_x, targets)
    guided = input_gradient_of(
        lambda p: net(p, GuidedReLUByHand.apply, GuidedReLUByHand.apply), tiny_x, targets)
    ours = GuidedBackprop(net)(tiny_x, targets)
    assert relative_diff(ours, plain) <= RTOL
    assert relative_diff(ours, guided) > 0.01, "the limit is real: not the guided gradient"
    cam = GradCAM(net, net.conv2)(tiny_x, targets)
    assert relative_diff(GuidedGradCAM(net, net.conv2)(tiny_x, targets),
                         plain * cam[:, None]) <= RTOL


def test_guided_gradcam_layer_that_runs_twice_is_refused(resnet):
    """From the reference's docstring: the target layer must run exactly once (a BasicBlock's
    ReLU module runs twice); RuntimeError, and every hook is removed on that path too."""
    before = snapshot(resnet)
    with pytest.raises(RuntimeError, match="exactly once"):
        GuidedGradCAM(resnet, resnet.layer4[1].relu)(torch.randn(1, 3, 32, 32), 0)
    assert_same(before, snapshot(resnet))
    assert no_hooks_anywhere(resnet)
