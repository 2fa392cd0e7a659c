"""The reference `solutions.GradCAM`, checked against captum, pytorch-grad-cam and ground truths.

The contract under test (the course's reference API, lesson 02):

- ``GradCAM(model, target_layer)``; ``cam(x, targets=None)`` returns a float tensor (N, H, W) in
  [0, 1]. Channel weights: spatial mean of d(score)/dA, score = the pre-softmax logit of the
  target class. Map: ReLU(sum_k w_k A_k) at the layer's resolution, bilinear upsampling
  (align_corners=False) to the input's H, W, then per-image min-max; an all-zero map stays zero.
- targets: None (each image's predicted class), an int (that class for all), a sequence or 1-D
  tensor of N classes; anything else, or a wrong length, raises ValueError saying what is expected.
- batch == per image; the model comes back as it went in (modules, modes, requires_grad, hooks,
  grads, buffers); the input is not modified; calls are deterministic; works under no_grad.
- correct when the target layer's output is modified in place later in the forward pass.

How the libraries are made comparable (details in each test's docstring):

- captum: ``LayerGradCam(...).attribute(..., relu_attributions=True)`` is ReLU(sum_k w_k A_k) at
  the layer's resolution (without the flag it is signed); ``LayerAttribution.interpolate`` is
  nearest-neighbour unless ``interpolate_mode="bilinear"`` (it calls F.interpolate with the
  default align_corners=False). We add the per-image min-max. Exactly the contract's pipeline.
- pytorch-grad-cam 1.5: ``GradCAM`` returns numpy float32 computed as
  ``s(resize(s(relu(cam))))`` where ``s(c) = (c - min c) / (1e-7 + max(c - min c))`` per image
  (``scale_cam_image``, applied in ``compute_cam_per_layer`` and again in
  ``aggregate_multi_layers``) and ``resize`` is ``cv2.resize(..., (W, H))`` with the default
  INTER_LINEAR, i.e. bilinear with half-pixel centres = ``align_corners=False``. Bilinear
  resizing is affine-equivariant (its weights are >= 0 and sum to 1), so
  ``minmax(resize(a * c + b)) == minmax(resize(c))`` for a > 0: the inner ``s`` cancels and the
  result equals the contract's ``minmax(bilinear(relu(cam)))`` up to float32 rounding and the
  absolute 1e-7 guards, which cost about 1e-14 / S (S = the raw map's span): negligible unless S
  is tiny, as it is for the seeded random MobileNetV3, whose logits are ~1e-9. Its default output
  is compared directly, except that for such tiny maps the logits are first multiplied by an
  exact power of two (which leaves Grad-CAM's normalised map unchanged); see
  test_matches_pytorch_grad_cam.
- ground truths written here: Grad-CAM through an additive zero offset at the layer (every
  case), a hook-free hand-split ResNet18 for layer4.1.bn2, and CAM from the fc weights at layer4.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import models

from explainer_contract import no_hooks_anywhere
from gradcam_ground_truths import (LogitScale, captum_gradcam, ground_truth_zero_offset, max_diff,
                                   minmax_upsample, pgc_gradcam, pgc_postprocess,
                                   resnet18_bn2_ground_truth, seeded_net)
from solutions import GradCAM

TOL = 1e-5


# (net, layer, output modified in place later in the forward pass?)
CASES = [
    ("resnet18", "layer1", False),
    ("resnet18", "layer2", False),
    ("resnet18", "layer3", False),
    ("resnet18", "layer4", False),
    ("resnet18", "layer4.1.conv2", False),
    ("resnet18", "layer4.1.bn2", True),              # `out += identity`, then ReLU(inplace)
    ("vgg11_bn", "features.25", False),              # conv -> bn (not in place)
    ("vgg11_bn", "features.27", False),              # the last ReLU(inplace) -> max pool
    ("vgg11_bn", "features.26", True),               # bn -> ReLU(inplace=True)
    ("mobilenet_v3_small", "features.8", False),     # an InvertedResidual block
    ("mobilenet_v3_small", "features.12", False),    # last conv-bn-Hardswish -> avg pool
    ("mobilenet_v3_small", "features.3.block.2", True),  # `result += input` in InvertedResidual
]
NOT_IN_PLACE = [case[:2] for case in CASES if not case[2]]
IN_PLACE = [case[:2] for case in CASES if case[2]]

MEASURED: dict[tuple[str, str, str], float] = {}  # (net, layer, against) -> max |diff|


def _record(net, layer, against, diff):
    MEASURED[(net, layer, against)] = diff
    print(f"\nmax |diff| {net:>18} {layer:<20} vs {against:<28} {diff:.3g}")
    return diff


# ---------------------------------------------------------------------------------------------
# Shared seeded models; the reference's maps are computed once per (net, layer).

class Nets:
    def __init__(self):
        self._nets, self._maps = {}, {}

    def get(self, name):
        if name not in self._nets:
            self._nets[name] = seeded_net(name)
        return self._nets[name]

    def layer(self, name, layer):
        return self.get(name)[0].get_submodule(layer)

    def reference(self, name, layer):
        if (name, layer) not in self._maps:
            model, x, targets = self.get(name)
            self._maps[(name, layer)] = GradCAM(model, model.get_submodule(layer))(x, targets)
        return self._maps[(name, layer)]


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def nets():
    return Nets()


# ---------------------------------------------------------------------------------------------
# Agreement with other implementations and with ground truths.

@pytest.mark.parametrize("name,layer", [case[:2] for case in CASES])
def test_matches_captum(nets, name, layer):
    """reference == captum LayerGradCam(relu_attributions=True) + bilinear + per-image min-max."""
    model, x, targets = nets.get(name)
    ours = nets.reference(name, layer)
    theirs = captum_gradcam(model, nets.layer(name, layer), x, targets)
    assert ours.shape == (x.shape[0], *x.shape[-2:])
    assert _record(name, layer, "captum", max_diff(ours, theirs)) <= TOL


@pytest.mark.parametrize("name,layer", [case[:2] for case in CASES])
def test_matches_zero_offset_ground_truth(nets, name, layer):
    """reference == Grad-CAM computed through an additive zero offset (see the helper)."""
    model, x, targets = nets.get(name)
    truth = ground_truth_zero_offset(model, nets.layer(name, layer), x, targets)
    diff = max_diff(nets.reference(name, layer), truth)
    assert _record(name, layer, "ground truth (zero offset)", diff) <= TOL


@pytest.mark.parametrize("name,layer", NOT_IN_PLACE)
def test_matches_pytorch_grad_cam(nets, name, layer):
    """reference == pytorch-grad-cam GradCAM's output, for layers not modified in place.

    pytorch-grad-cam post-processes as s(cv2_bilinear(s(relu(cam)))) with the per-image min-max
    s(c) = (c - min c) / (1e-7 + max(c - min c)); the inner s cancels (bilinear resizing is
    affine-equivariant), so this is the contract's min-max(bilinear(relu(cam))) *except* for the
    absolute 1e-7 guards: writing S for the raw map's span, the result is the contract's map
    times 1 / (1 + 1e-7 * (1e-7 + S) / S_up) with S_up ~ S the upsampled span, i.e. off by about
    1e-14 / S. Negligible for ResNet18 / VGG11 (S ~ 1e-2 .. 1), but the seeded random
    MobileNetV3 has logits ~1e-9 and raw maps with S ~ 1e-11, where it is ~1e-3.

    So, three checks:
    1. pytorch-grad-cam, as is, == its post-processing reproduced here in float64 (torch
       bilinear in place of cv2) on the raw map of the zero-offset ground truth: its whole
       difference from the reference is the post-processing described above (recorded as
       "pytorch-grad-cam (raw)").
    2. The normalised Grad-CAM map does not change when the logits are multiplied by c > 0, and
       for c = 2**k the scaling is exact in floating point (every gradient is scaled by 2**k).
       Where S < 1e-4 we run pytorch-grad-cam on `LogitScale(model, 2**k)`, which brings S to
       about 1, and the reference on the same wrapper equals the reference on the bare model.
    3. reference == pytorch-grad-cam (on the wrapper where used) to 1e-5.
    """
    model, x, targets = nets.get(name)
    layer_module = nets.layer(name, layer)
    ours = nets.reference(name, layer)
    raw_map, _ = ground_truth_zero_offset(model, layer_module, x, targets, raw=True)
    as_is = pgc_gradcam(model, layer_module, x, targets)
    assert max_diff(as_is, pgc_postprocess(raw_map, x.shape[-2:])) <= TOL
    _record(name, layer, "pytorch-grad-cam (raw)", max_diff(ours, as_is))

    span = (raw_map.amax(dim=(1, 2)) - raw_map.amin(dim=(1, 2))).min().item()
    theirs = as_is
    if span < 1e-4:
        scaled = LogitScale(model, 2.0 ** math.ceil(math.log2(1.0 / span)))
        theirs = pgc_gradcam(scaled, layer_module, x, targets)
        assert max_diff(GradCAM(scaled, layer_module)(x, targets), ours) <= TOL
    assert _record(name, layer, "pytorch-grad-cam", max_diff(ours, theirs)) <= TOL


def test_pytorch_grad_cam_is_wrong_where_reference_is_right(nets):
    """layer4.1.bn2: its output is overwritten by `out += identity; relu_` later in the block.

    pytorch-grad-cam keeps `output.cpu().detach()` (on CPU the same storage), so it weighs the
    overwritten ReLU(bn2 + identity) instead of bn2's output, with the right gradients (a tensor
    hook sees the gradient of the value before the in-place update). The reference instead equals
    captum and a hook-free ground truth that runs the block's tail by hand, out of place.
    """
    name, layer = "resnet18", "layer4.1.bn2"
    model, x, targets = nets.get(name)
    ours = nets.reference(name, layer)
    truth, grad, h, a = resnet18_bn2_ground_truth(model, x, targets)
    assert _record(name, layer, "ground truth (manual split)", max_diff(ours, truth)) <= TOL
    assert max_diff(ours, captum_gradcam(model, nets.layer(name, layer), x, targets)) <= TOL

    theirs = pgc_gradcam(model, nets.layer(name, layer), x, targets)
    wrong = _record(name, layer, "pytorch-grad-cam", max_diff(ours, theirs))
    assert wrong > 0.05, "pytorch-grad-cam was expected to be fooled by the in-place update"
    # ... and its error is exactly the one explained above:
    overwritten = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * F.relu(a + h)).sum(dim=1))
    assert max_diff(theirs, minmax_upsample(overwritten, x.shape[-2:])) <= TOL


def test_last_layer_is_cam(nets):
    """At layer4 (GAP + linear head) the weights are fc.weight[c] / (h*w): Grad-CAM is CAM.

    An analytic ground truth that needs no autograd; the 1/(h*w) factor vanishes in the min-max.
    """
    model, x, targets = nets.get("resnet18")
    with torch.no_grad():
        a = model.layer4[1](model.layer4[0](model.layer3(model.layer2(model.layer1(
            model.maxpool(F.relu(model.bn1(model.conv1(x)))))))))
        cam = torch.relu(torch.einsum("nk,nkhw->nhw", model.fc.weight[targets], a))
    diff = max_diff(nets.reference("resnet18", "layer4"), minmax_upsample(cam, x.shape[-2:]))
    assert _record("resnet18", "layer4", "CAM (fc weights)", diff) <= TOL


# ---------------------------------------------------------------------------------------------
# What is Grad-CAM's own (the clauses every explainer keeps: tests/test_explainer_contract.py).

@pytest.fixture
def resnet():
    torch.manual_seed(0)
    return models.resnet18(weights=None).eval()


@pytest.fixture
def small_x():
    return torch.randn(3, 3, 48, 64, generator=torch.Generator().manual_seed(2))


def test_shape_dtype_range(resnet, small_x):
    maps = GradCAM(resnet, resnet.layer3)(small_x, [4, 5, 6])
    assert isinstance(maps, torch.Tensor) and maps.dtype == torch.float32
    assert maps.shape == (3, 48, 64)
    assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    # per-image min-max: each map spans exactly [0, 1], or is all zero (no positive evidence;
    # with this seed, image 2's map for class 6 is)
    for single in maps:
        if single.any():
            assert single.min().item() == 0 and single.max().item() == pytest.approx(1, abs=1e-6)
    assert maps[0].any(), "at least one map is not degenerate"


def tiny_net():
    """conv -> ReLU -> GAP -> linear; class 0 has all-negative head weights, class 1 positive.

    At the ReLU (A >= 0), class 0's weights w_k = -1/(h*w) < 0, so sum_k w_k A_k <= 0 everywhere
    and the ReLU'd map is exactly zero.
    """
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        net[4].weight[0] = -1.0
        net[4].weight[1] = 1.0
        net[4].bias.zero_()
    return net.eval()


def test_all_zero_map_stays_zero():
    net = tiny_net()
    x = torch.randn(2, 3, 8, 10, generator=torch.Generator().manual_seed(3))
    maps = GradCAM(net, net[1])(x, targets=[0, 1])
    assert not torch.isnan(maps).any()
    assert torch.equal(maps[0], torch.zeros(8, 10)), "an all-zero map must stay zero"
    assert maps[1].max().item() == pytest.approx(1.0) and maps[1].min().item() == 0.0
    both = GradCAM(net, net[1])(x, targets=0)
    assert torch.equal(both, torch.zeros(2, 8, 10))


def test_constant_map_has_no_nan(resnet):
    """At 32x32 ResNet18's layer4 is 1x1: a constant map; still finite and in [0, 1]."""
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    maps = GradCAM(resnet, resnet.layer4)(x, [1, 2])
    assert maps.shape == (2, 32, 32)
    assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1


def test_context_manager(resnet, small_x):
    plain = GradCAM(resnet, resnet.layer3)(small_x, 5)
    with GradCAM(resnet, resnet.layer3) as cam:
        assert isinstance(cam, GradCAM)
        first = cam(small_x, 5)
        second = cam(small_x, [5, 5, 5])
    assert torch.equal(first, plain) and torch.equal(second, plain)
    assert no_hooks_anywhere(resnet)
    with pytest.raises(ValueError):  # exceptions inside the block are not swallowed
        with GradCAM(resnet, resnet.layer3) as cam:
            cam(small_x, 1.5)
    assert no_hooks_anywhere(resnet)
