# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,deletable,editable,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 05 — Guided Grad-CAM: where *and* what
#
# Grad-CAM (lesson 02) knows the class but sees through a coarse $7 \times 7$ grid. Guided
# Backpropagation (lesson 04) is sharp but, as we will measure, nearly blind to the class.
# Selvaraju et al. (2017) multiply the two:
#
# $$\text{Guided Grad-CAM}^c = \text{GuidedBackprop}^c(x) \odot \operatorname{Upsample}\big(L^c_{\text{Grad-CAM}}\big),$$
#
# pixel by pixel, every colour channel scaled by the heatmap. The result is sharp *and* about the
# class: the fine structure of the plant, only where the evidence for the class is.
#
# **By the end you can**
# - combine the two maps, and compute both from **one forward pass** with a backward rule that can
#   be switched between the two gradients;
# - measure class discrimination: how much a map changes when you ask about another class.
#
# **Exercises** (9 points)
#
# | # | you write | points |
# | --- | --- | --- |
# | 1 | `guided_gradcam` | 1 |
# | 2 | `SwitchableReLU` | 2 |
# | 3 | `one_pass_guided_gradcam` | 4 |
# | 4 | `map_correlation` | 2 |

# %%
# Setup, part 1: let this notebook find the course's helpers (utils/ at the top of the course
# folder). The nearest one above this notebook wins, so a student bundle uses its own copy.
import os
import sys
from pathlib import Path

for folder in [Path.cwd(), *Path.cwd().parents]:
    if (folder / "utils" / "datasets.py").exists():
        sys.path.insert(0, str(folder))
        break

# %%
# Setup, part 2: the imports that the functions you write use.
from collections.abc import Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

# %%
# Setup, part 3: tools for this notebook and the classifier to explain.
import time

from torchvision.models import resnet18

from utils.datasets import (CLASS_NAMES, ImageDataset, balanced_subset, eval_transform, scene_facts,
                            scene_masks, split_dir)
from utils.models import SHIPPED_CHECKPOINT, load_checkpoint
from utils.visualise import compare_grid, overlay_heatmap, process_attributions, to_display_image

FAST = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("COURSE_FAST"))
model, info = load_checkpoint(SHIPPED_CHECKPOINT)
test_set = ImageDataset(split_dir("test"), transform=eval_transform(info["image_size"]))
examples = balanced_subset(test_set, 4 if FAST else 8)
images = torch.stack([image for image, _ in examples])
labels = torch.tensor([label for _, label in examples])

# %%
# Given: from earlier lessons (their reference solutions), so this lesson runs on its own.


def capture_activations(model, layer, x):
    """Run `model(x)` and return (logits, activations) of `layer`, ready for autograd.grad.

    model: the classifier; layer: one of its modules (e.g. model.layer4), which must run exactly
    once per forward pass; x: input batch (N, 3, H, W).
    Returns logits (N, num_classes) and activations (N, K, h, w): the layer's output as a leaf
    tensor with requires_grad=True from which the logits were computed, so that
    torch.autograd.grad(logits[:, c].sum(), activations) works.
    Rules: register a forward hook that detaches the output, makes it require grad, keeps it, and
    returns a *clone* of it to the rest of the network (later layers may modify their input in
    place); compute with gradients enabled even if the caller is inside torch.no_grad(); always
    remove the hook (try/finally); raise RuntimeError if the layer did not run exactly once.
    """
    captured = []

    def keep_a_leaf(module, inputs, output):
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf.clone()

    handle = layer.register_forward_hook(keep_a_leaf)
    try:
        with torch.enable_grad():
            logits = model(x)
    finally:
        handle.remove()
    if len(captured) != 1:
        raise RuntimeError(f"the target layer ran {len(captured)} times in one forward pass; "
                           "choose a layer that runs exactly once")
    return logits, captured[0]


def channel_weights(gradients):
    """alpha: the spatial mean of d(score)/dA for every image and channel.

    gradients: (N, K, h, w). Returns (N, K).
    """
    return gradients.mean(dim=(2, 3))


def weighted_combination(activations, weights):
    """ReLU(sum_k weights[:, k] * activations[:, k]) for every image.

    activations: (N, K, h, w); weights: (N, K). Returns (N, h, w), >= 0.
    """
    return torch.relu((weights[:, :, None, None] * activations).sum(dim=1))


def upsample_and_normalise(cam, size):
    """Bilinear upsampling (align_corners=False) to `size` = (H, W), then per-image min-max.

    cam: (N, h, w) float. Returns (N, H, W) in [0, 1]; an image whose upsampled map is constant
    (e.g. all zero) gets all zeros. "Constant" has a relative tolerance: max - min at most 1e-5
    times the map's largest |value|. Bilinear weights sum to 1 only up to rounding, so a constant
    map (a 1x1 map, as ResNet18's layer4 gives for a 32x32 input) comes back with noise of about
    1e-7 of its value, which min-max would otherwise stretch to a random pattern over [0, 1].
    """
    upsampled = F.interpolate(cam[:, None], size=tuple(size), mode="bilinear",
                              align_corners=False)[:, 0]
    flat = upsampled.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - low
    varies = span > 1e-5 * flat.abs().max(dim=1).values[:, None, None]
    safe_span = torch.where(varies, span, torch.ones_like(span))
    return torch.where(varies, (upsampled - low) / safe_span, torch.zeros_like(upsampled))


def resolve_targets(logits, targets):
    """The class to explain for every image, as an int64 tensor (N,) on the logits' device.

    logits: (N, C). targets: None -> logits.argmax(1); an int in 0..C-1, or a 0-d integer tensor
    such as `logits[0].argmax()` (the same int) -> that class for all; a sequence (list, tuple,
    range) or 1-D integer tensor of length N, values in 0..C-1 -> as given.
    Anything else (a bool, a float, a wrong length, a value out of range, a 2-D tensor) raises
    ValueError with a message saying what was expected.
    """
    n, num_classes = logits.shape
    expected = (f"targets must be None, an int class index, or {n} class indices (one per image) "
                f"as a sequence or 1-D integer tensor, each in 0..{num_classes - 1}")
    if targets is None:
        return logits.argmax(dim=1)
    if isinstance(targets, torch.Tensor) and targets.dim() == 0:
        targets = targets.item()
    if isinstance(targets, Integral) and not isinstance(targets, bool):
        values = [targets] * n
    elif isinstance(targets, torch.Tensor):
        integer_dtypes = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
        if targets.dim() != 1 or targets.dtype not in integer_dtypes:
            raise ValueError(f"{expected}; got a tensor of shape {tuple(targets.shape)}, "
                             f"dtype {targets.dtype}")
        values = targets.tolist()
    elif isinstance(targets, Sequence) and not isinstance(targets, (str, bytes)):
        values = list(targets)
        if not all(isinstance(t, Integral) and not isinstance(t, bool) for t in values):
            raise ValueError(f"{expected}; got {targets!r}")
    else:
        raise ValueError(f"{expected}; got {type(targets).__name__} {targets!r}")
    if len(values) != n:
        raise ValueError(f"{expected}; got {len(values)} for {n} images")
    if not all(0 <= value < num_classes for value in values):  # before any int64 conversion
        raise ValueError(f"{expected}; got {values}")
    return torch.tensor([int(value) for value in values], dtype=torch.long, device=logits.device)


class GradCAM:
    """Grad-CAM heatmaps for `model` at `target_layer`.

    cam = GradCAM(model, model.layer4); maps = cam(x, targets=None)  # (N, H, W) in [0, 1]
    Also a context manager: `with GradCAM(model, layer) as cam: ...`.
    """

    def __init__(self, model, target_layer):
        self.model = model
        self.target_layer = target_layer

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False  # hooks live only inside each call, so there is nothing to release

    def __call__(self, x, targets=None):
        """x: (N, 3, H, W). targets: as in resolve_targets. Returns (N, H, W) in [0, 1].

        The maps are detached: no autograd graph, requires_grad False even when x requires grad
        (an explanation is a picture, not something to differentiate).
        """
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        try:
            logits, activations = capture_activations(self.model, self.target_layer, x)
            classes = resolve_targets(logits, targets)
            with torch.enable_grad():  # the caller may be inside torch.no_grad()
                score = logits.gather(1, classes[:, None]).sum()
                (gradients,) = torch.autograd.grad(score, activations)
        finally:
            for module, mode in modes:
                module.training = mode
        cam = weighted_combination(activations.detach(), channel_weights(gradients))
        return upsample_and_normalise(cam, x.shape[-2:])


def relu_backward(grad_output, forward_input, rule):
    """What a ReLU sends back under `rule` ("backprop", "deconvnet" or "guided").

    grad_output: gradient arriving from above, same shape as forward_input (the ReLU's input in
    the forward pass). Returns a tensor of that shape. Any other rule (also "Guided" or None)
    raises ValueError naming the three rules: never fall back to a default rule silently.
    """
    if rule == "backprop":
        return grad_output * (forward_input > 0)
    if rule == "deconvnet":
        return grad_output.clamp(min=0)
    if rule == "guided":
        return grad_output.clamp(min=0) * (forward_input > 0)
    raise ValueError(f"rule must be 'backprop', 'deconvnet' or 'guided', got {rule!r}")


class ReLUWithRule(torch.autograd.Function):
    """max(x, 0) forward; backward by `rule` (see relu_backward). Use ReLUWithRule.apply(x, rule).

    An unknown rule passes forward unnoticed; backward then raises relu_backward's ValueError.
    """

    @staticmethod
    def forward(ctx, x, rule):
        ctx.save_for_backward(x)
        ctx.rule = rule
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return relu_backward(grad_output, x, ctx.rule), None


def attribution_with_rule(model, x, targets, rule):
    """Input gradient of each image's target logit, with `rule` at every nn.ReLU module.

    rule: "backprop" (= input_gradient), "deconvnet" or "guided". targets: as in resolve_targets.
    Returns a tensor shaped like x. Install the rule with hooks on every nn.ReLU (a forward
    pre-hook that keeps the input and passes on a clone; a forward hook that returns
    ReLUWithRule.apply(kept input, rule)); remove every hook in a finally block; eval mode with
    every module's mode restored; x untouched; no parameter .grad filled in. An unknown rule
    raises relu_backward's ValueError (during the backward pass), with hooks and modes restored.
    """
    kept = {}

    def keep_input(module, inputs):
        kept.setdefault(module, []).append(inputs[0])
        return (inputs[0].clone(),) + tuple(inputs[1:])

    def apply_rule(module, inputs, output):
        return ReLUWithRule.apply(kept[module].pop(), rule)

    handles = []
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                handles.append(module.register_forward_pre_hook(keep_input))
                handles.append(module.register_forward_hook(apply_rule))
        pixels = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(pixels)
            classes = resolve_targets(logits, targets)
            (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), pixels)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            module.training = mode
    return gradient


class GuidedBackprop:
    """Guided Backpropagation: gb = GuidedBackprop(model); attributions = gb(x, targets=None).

    Returns the input gradient (N, C, H, W) with the guided rule at every nn.ReLU module.
    The model, its modules, modes and flags, and the input are left exactly as they were.
    """

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def __call__(self, x, targets=None):
        return attribution_with_rule(self.model, x, targets, "guided")


# %% [markdown]
# ## 1. Combining the two maps
#
# Guided backprop gives $(N, C, H, W)$, Grad-CAM $(N, H, W)$ in $[0, 1]$: give the heatmap a
# channel dimension and multiply.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "361f329a2c05250d0b52615ec52ae815", "grade": false, "grade_id": "guided_gradcam", "locked": false, "schema_version": 3, "solution": true, "task": false}
def guided_gradcam(guided, cam):
    """Guided Grad-CAM from its parts: guided (N, C, H, W) * cam (N, H, W), broadcast over C."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "d3aefb096c1ce2c719fb7372dc166d10", "grade": true, "grade_id": "test_guided_gradcam", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_shape

_gb = torch.tensor([1.0, -2.0, 3.0]).view(1, 3, 1, 1).expand(2, 3, 2, 2)  # channel c: [1, -2, 3][c]
_cam = torch.tensor([[[0.0, 1.0], [0.5, 0.0]], [[1.0, 1.0], [1.0, 0.25]]])
_out = guided_gradcam(_gb, _cam)
expect_shape(_out, (2, 3, 2, 2), "guided_gradcam(guided, cam)", hint="(N, C, H, W), like guided")
expect_close(_out[0, 1], [[0.0, -2.0], [-1.0, 0.0]], "channel 1 of image 0",
             hint="guided * cam: every colour channel multiplied by the image's map",
             causes={"did you add instead of multiplying?": [[-2.0, -1.0], [-1.5, -2.0]],
                     "keep the attribution's sign (no abs)": [[0.0, 2.0], [1.0, 0.0]]})
expect_close(_out[1, 2], [[3.0, 3.0], [3.0, 0.75]], "channel 2 of image 1",
             hint="each image is multiplied by its own map, cam[n]")
print("Visible tests passed.")


# %% [markdown]
# The straightforward way runs the model twice, once per method:

# %%
def two_pass_guided_gradcam(model, layer, x, targets=None):
    return guided_gradcam(GuidedBackprop(model)(x, targets), GradCAM(model, layer)(x, targets))


two_pass = two_pass_guided_gradcam(model, model.layer4, images)
print("two-pass Guided Grad-CAM:", tuple(two_pass.shape))


# %% [markdown]
# ## 2. One forward pass
#
# Both gradients start from the same score $y^c$ and the same forward pass; they differ only in
# the rule at the ReLUs on the way back: Grad-CAM needs the **true** gradient at the target layer,
# guided backprop the **guided** one at the input. So: run the forward pass once with ReLUs whose
# backward rule is read from a switch *when the backward pass runs*, then
#
# 1. set the switch to `"backprop"` and take $\partial y^c / \partial A$ (a short walk back, from
#    the score to the target layer only), keeping the graph (`retain_graph=True`);
# 2. set it to `"guided"` and take the gradient at the input (the full walk back).
#
# One forward pass instead of two, and the first backward walk is short: for ResNet18's `layer4`
# it crosses only the pooling and the last linear layer.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "11824472420ae83c8b276b42dc1796ee", "grade": false, "grade_id": "SwitchableReLU", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SwitchableReLU(torch.autograd.Function):
    """max(x, 0) forward; backward by the rule in `switch["rule"]` *at backward time*.

    Use SwitchableReLU.apply(x, switch) with switch a dict such as {"rule": "guided"};
    the rules are those of relu_backward.
    """

    @staticmethod
    def forward(ctx, x, switch):
        # YOUR CODE HERE
        raise NotImplementedError()

    @staticmethod
    def backward(ctx, grad_output):
        # YOUR CODE HERE
        raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "145acd4d2b3465acae263eb4db53b5d6", "grade": true, "grade_id": "test_SwitchableReLU", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_x = torch.tensor([2.0, -1.0, 3.0, -2.0], requires_grad=True)
_g = torch.tensor([0.5, 0.7, -0.4, -0.9])
_switch = {"rule": "backprop"}
_y = SwitchableReLU.apply(_x, _switch)
assert torch.equal(_x.detach(), torch.tensor([2.0, -1.0, 3.0, -2.0])), \
    f"forward changed its input in place (x is now {_x.tolist()}): return x.clamp(min=0), not clamp_"
expect_close(_y, [2.0, 0.0, 3.0, 0.0], "SwitchableReLU.apply(x, switch), forward", hint="max(x, 0)")
(_plain,) = torch.autograd.grad(_y, _x, _g, retain_graph=True)
_switch["rule"] = "guided"
(_guided,) = torch.autograd.grad(_y, _x, _g)
expect_close(_plain, [0.5, 0.0, -0.4, 0.0], "the gradient with the switch at 'backprop'")
expect_close(_guided, [0.5, 0.0, 0.0, 0.0], "the gradient after switching to 'guided'",
             causes={"read the rule at backward time: keep the switch itself (the dict) on ctx, "
                     "not its value or a copy": [0.5, 0.0, -0.4, 0.0]})
print("Visible tests passed.")


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "e3e9de24b62caf21a7e10aaaf9ed7dcd", "grade": false, "grade_id": "one_pass_guided_gradcam", "locked": false, "schema_version": 3, "solution": true, "task": false}
def one_pass_guided_gradcam(model, layer, x, targets=None):
    """Guided Grad-CAM (N, C, H, W) from one forward pass; equal to the two-pass version.

    Hooks (all removed in a finally block): on every nn.ReLU, a forward pre-hook that keeps the
    input and passes on a clone, and a forward hook that returns SwitchableReLU.apply(kept, switch);
    on `layer`, a forward hook that keeps its output and returns a clone to the network.
    Then: rule "backprop" -> gradient at the kept layer output (retain_graph=True) -> Grad-CAM map
    (channel_weights, weighted_combination, upsample_and_normalise); rule "guided" -> gradient at
    a detached copy of x. Eval mode, every module's mode restored; x and the model untouched.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "5cbb26e98c014f133c310e781572201b", "grade": true, "grade_id": "test_one_pass_guided_gradcam", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_no_hooks, expect_runs

# seeded: about one random network in ten has a blank layer4 map for both images, and the
# comparison at layer4 would then test nothing
torch.manual_seed(0)
_net = resnet18(weights=None, num_classes=4).train()
_inp = torch.randn(2, 3, 64, 64)  # layer4 is 2x2 at 64 px (at 32 px its 1x1 map would be blank)
_layers = {"layer4": _net.layer4, "layer3": _net.layer3,
           "layer4[0].bn2": _net.layer4[0].bn2}  # bn2's output is changed in place later
for _name, _layer in _layers.items():
    _one = expect_runs(lambda: one_pass_guided_gradcam(_net, _layer, _inp, [0, 2]),
                       f"one_pass_guided_gradcam at {_name}", "is the map upsampled to the "
                       "input's size, and the graph kept for the second gradient (retain_graph)?")
    _two = two_pass_guided_gradcam(_net, _layer, _inp, [0, 2])
    expect_close(_one, _two, f"one_pass_guided_gradcam at {_name}", rtol=1e-5,
                 atol=1e-5 * _two.abs().max().item() + 1e-12,
                 hint="it must equal the two-pass result: eval mode; rule 'backprop' for the "
                      "gradient at the kept layer output (a clone goes on), then 'guided' at x")
    assert not _inp.requires_grad, "you set requires_grad on the caller's x: use x.detach().clone()"
    assert _net.training and _net.layer1[0].bn1.training, \
        "the model came in train mode and left in eval mode: restore every module's mode (finally)"
    expect_no_hooks(_net, "remove every hook, the target layer's too, in a finally block")
print("Visible tests passed.")


# %% [markdown]
# The course's `GuidedGradCAM` class wraps your function (`from solutions import GuidedGradCAM`):

# %%
class GuidedGradCAM:
    """Guided Grad-CAM: ggc = GuidedGradCAM(model, layer); maps = ggc(x, targets=None).

    Returns (N, C, H, W) = GuidedBackprop(x) * GradCAM(x)[:, None], from one forward pass. The
    model, its modules, modes and flags, and the input are left exactly as they were.
    """

    def __init__(self, model, target_layer):
        self.model = model
        self.target_layer = target_layer

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def __call__(self, x, targets=None):
        return one_pass_guided_gradcam(self.model, self.target_layer, x, targets)


# %% [markdown]
# What one pass saves (skipped in fast mode):

# %%
if not FAST:
    batch = images[:8]
    for name, run in (("two passes", lambda: two_pass_guided_gradcam(model, model.layer4, batch)),
                      ("one pass", lambda: GuidedGradCAM(model, model.layer4)(batch))):
        run()
        start = time.perf_counter()
        for _ in range(3):
            run()
        print(f"{name:>10}: {(time.perf_counter() - start) / 3 * 1000:.0f} ms per batch of 8")

# %% [markdown]
# ## 3. Pictures: the parts and the product

# %%
cams = GradCAM(model, model.layer4)(images)
guided = GuidedBackprop(model)(images)
product = GuidedGradCAM(model, model.layer4)(images)
rows = [[to_display_image(image), overlay_heatmap(image, cam), process_attributions(gb),
         process_attributions(ggc)] for image, cam, gb, ggc in zip(images, cams, guided, product)]
display(compare_grid(rows, titles=["image", "Grad-CAM", "guided backprop", "Guided Grad-CAM"],
                     row_labels=[CLASS_NAMES[label] for label in labels]))


# %% [markdown]
# ## 4. Class discrimination, measured
#
# Ask each method about two different classes for the same image. A class-discriminative method
# gives two different maps; one that ignores the class gives the same map twice. The Pearson
# correlation between the two maps (flattened) measures it: near 1 = the same picture.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "74c3be1119b82c6294d0246cefecdd9f", "grade": false, "grade_id": "map_correlation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def map_correlation(maps_a, maps_b):
    """Pearson correlation per image between two batches of maps of equal shape (N, ...).

    Returns a float tensor (N,). A constant map has no correlation with anything: give 0 there.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "5ee0564d98b740510b337ab8e13236f8", "grade": true, "grade_id": "test_map_correlation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_a = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])  # image 1 is constant
_b = torch.tensor([[2.0, 4.0, 6.0], [0.0, 5.0, 1.0], [3.0, 2.0, 4.0]])
expect_close(map_correlation(_a, _b), [1.0, 0.0, 0.5], "map_correlation(a, b) for 3 pairs of maps",
             atol=1e-4, hint="one Pearson correlation per image; a constant map gives 0, not NaN",
             causes={"subtract each map's mean first (without it, this is the cosine similarity)":
                         [1.0, 0.6794, 0.9430],
                     "centre each map by its own mean, not the batch's": [0.9869, 0.4201, 0.4629]})
expect_close(map_correlation(_a[:1], -_a[:1]), [-1.0], "map_correlation(a, -a)", atol=1e-4)
print("Visible tests passed.")

# %%
with torch.no_grad():
    ranked = model(images).argsort(dim=1, descending=True)
first, second = ranked[:, 0], ranked[:, 1]  # the predicted class and the runner-up
scores = {
    "Grad-CAM": (GradCAM(model, model.layer4)(images, first),
                 GradCAM(model, model.layer4)(images, second)),
    "guided backprop": (GuidedBackprop(model)(images, first), GuidedBackprop(model)(images, second)),
    "Guided Grad-CAM": (GuidedGradCAM(model, model.layer4)(images, first),
                        GuidedGradCAM(model, model.layer4)(images, second)),
}
print("correlation between the maps for the predicted class and the runner-up (mean over images)")
for name, (for_first, for_second) in scores.items():
    print(f"  {name:>16}: {map_correlation(for_first, for_second).mean():+.2f}")


# %% [markdown]
# The clearest test of class discrimination is a scene with **two plants of different kinds**, each
# of them a class the model considers: a class-discriminative map for one class should sit on that
# class's plant. The generated data records a second plant's mask (`scene_masks`), so we can
# measure where each map's energy falls instead of judging by eye.

# %%
def two_plant_example(dataset, model):
    """(index, labelled class, other plant's class) of the first scene whose two plants are the
    model's two most likely classes; None when the data has no such scene (e.g. real photos)."""
    for index, path in enumerate(dataset.paths):
        try:
            other = scene_facts(path)["other_label"]
        except ValueError:  # real photos have no scene facts
            return None
        if other is None:
            continue
        with torch.no_grad():
            top_two = model(dataset[index][0][None]).argsort(dim=1, descending=True)[0, :2]
        if {int(top_two[0]), int(top_two[1])} == {dataset.labels[index], other}:
            return index, dataset.labels[index], other
    return None


def energy_share(attribution, mask):
    """Share of |attribution| (C, H, W) that falls on ``mask`` (H, W)."""
    magnitude = attribution.abs().sum(dim=0)
    return float((magnitude * mask).sum() / magnitude.sum().clamp_min(1e-12))


example = two_plant_example(test_set, model)
if example is None:
    print("No two-plant scene in this data: showing the first image with its top two classes.")
    image, classes, masks = images[:1], [int(first[0]), int(second[0])], None
else:
    index, labelled, other = example
    image, classes = test_set[index][0][None], [labelled, other]
    masks = scene_masks(test_set.paths[index], size=tuple(image.shape[-2:]))
    print(f"{test_set.paths[index].name}: a {CLASS_NAMES[labelled]} (the label) with a "
          f"{CLASS_NAMES[other]} beside it")
maps = {name: [explain(image, [c])[0] for c in classes]
        for name, explain in (("guided backprop", GuidedBackprop(model)),
                              ("Guided Grad-CAM", GuidedGradCAM(model, model.layer4)))}
if masks is not None:
    for name, (for_labelled, for_other) in maps.items():
        print(f"{name:>16}: for {CLASS_NAMES[classes[0]]} {energy_share(for_labelled, masks[0]):.0%}"
              f" on the {CLASS_NAMES[classes[0]]}, {energy_share(for_labelled, masks[1]):.0%} on the "
              f"{CLASS_NAMES[classes[1]]} | for {CLASS_NAMES[classes[1]]} "
              f"{energy_share(for_other, masks[0]):.0%} / {energy_share(for_other, masks[1]):.0%}")
display(compare_grid(
    [[to_display_image(image[0])] * 2,
     [process_attributions(m) for m in maps["guided backprop"]],
     [process_attributions(m) for m in maps["Guided Grad-CAM"]]],
    titles=[f"class {CLASS_NAMES[c]}" for c in classes],
    row_labels=["image", "guided backprop", "Guided Grad-CAM"]))

# %% [markdown]
# Read the printed shares beside the figure. Guided backprop's two maps are almost the same
# picture, with energy on both plants whichever class you ask about: it drops every negative
# signal on the way back, so what survives is mostly "what excites the network here", whatever
# the class (Nie et al., 2018, show it partly reconstructs the image). Multiplying by Grad-CAM
# brings the class back: Guided Grad-CAM's energy moves to the plant of the class asked about.
#
# ## Recap
#
# - Guided Grad-CAM = guided backprop (sharp, nearly class-blind) times upsampled Grad-CAM
#   (coarse, class-discriminative).
# - One forward pass suffices: ReLUs whose backward rule is read at backward time give the true
#   gradient at the layer and the guided gradient at the input from the same graph.
# - Measure class discrimination: correlate the maps for two classes.
#
# **Next:** evaluating explanations (deletion/insertion, sanity checks) is the course's planned
# lesson 06.
#
# **Further reading**
# - R. R. Selvaraju et al. *Grad-CAM*, section 3 (Guided Grad-CAM). ICCV 2017.
# - J. Adebayo et al. *Sanity Checks for Saliency Maps.* NeurIPS 2018 (guided backprop fails
#   their model-randomisation test).
# - W. Nie, Y. Zhang, A. Patel. *A Theoretical Explanation for Perplexing Behaviors of
#   Backpropagation-based Visualizations.* ICML 2018.
