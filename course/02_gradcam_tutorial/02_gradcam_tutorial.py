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
# # Lesson 02 — Grad-CAM from scratch
#
# Your classifier from lesson 01 says "Greg". **Where in the image did it see a Greg?** Grad-CAM
# (Selvaraju et al., 2017) answers with a heatmap: bright where the features that raised the
# "Greg" score sit. In this lesson you derive it and build it, piece by piece, in plain PyTorch.
#
# **By the end you can**
# - derive Grad-CAM's channel weights and map, and say why it uses a ReLU and the pre-softmax score;
# - show that for a global-average-pooled head Grad-CAM is CAM up to a constant;
# - use forward hooks safely: copy what you capture, remove every handle;
# - take the gradient with respect to one activation only (`torch.autograd.grad`), and explain why
#   that is about 2.5x cheaper than `.backward()`;
# - turn a map into a heatmap overlay, and write a `GradCAM` class that works on batches.
#
# **Exercises** (13 points)
#
# | # | you write | points |
# | --- | --- | --- |
# | 1 | `capture_activations` | 3 |
# | 2 | `channel_weights` | 1 |
# | 3 | `weighted_combination` | 2 |
# | 4 | `upsample_and_normalise` | 2 |
# | 5 | `resolve_targets` | 2 |
# | 6 | `GradCAM` | 3 |
#
# Replace each `raise NotImplementedError()` with your code and run the test cell below it.

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

# %%
# Setup, part 3: tools for this notebook and the classifier to explain.
import time

import matplotlib.pyplot as plt
from torchvision.models import resnet18

from utils.datasets import CLASS_NAMES, ImageDataset, balanced_subset, eval_transform, split_dir
from utils.models import SHIPPED_CHECKPOINT, load_checkpoint
from utils.visualise import overlay_heatmap, to_display_image

FAST = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("COURSE_FAST"))
model, info = load_checkpoint(SHIPPED_CHECKPOINT)  # the course's trained plant classifier
print(f"loaded {SHIPPED_CHECKPOINT.name}: test accuracy {info['test_acc']:.1%}, "
      f"trained from {info['init_weights']} weights at {info['image_size']} px")
test_set = ImageDataset(split_dir("test"), transform=eval_transform(info["image_size"]))

# %% [markdown]
# ## 1. The idea
#
# A convolutional network keeps *where* in its feature maps: channel $k$ of a late layer is a map
# $A^k \in \mathbb{R}^{h \times w}$ (for ResNet18's `layer4` at 224 px: 512 channels of $7 \times 7$),
# high where the pattern that channel detects is present. The classifier then turns those maps into
# class scores $y^c$ (the logits, before the softmax).
#
# Grad-CAM asks two questions: *how much does each channel matter for class $c$?* and *where is
# that channel active?* The answer to the first is a weight per channel; the heatmap is the
# weighted sum of the maps.
#
# ## 2. The math
#
# **Channel weights.** How much would $y^c$ change if channel $k$ were a little more active,
# on average over the map? That is the spatial mean of the gradient:
#
# $$\alpha_k^c = \frac{1}{Z} \sum_{i=1}^{h} \sum_{j=1}^{w} \frac{\partial y^c}{\partial A^k_{ij}},
# \qquad Z = h \cdot w .$$
#
# **The map.** Weigh each channel's map and keep only what speaks *for* the class:
#
# $$L^c_{\text{Grad-CAM}} = \operatorname{ReLU}\Big(\sum_k \alpha_k^c A^k\Big) \in \mathbb{R}^{h \times w}.$$
#
# - **Why the ReLU?** Negative values are where features would *lower* $y^c$: evidence for other
#   classes. Without the ReLU the map mixes "this is a Greg" with "this is not a Greg"
#   (lesson 03 looks at the negative part on purpose).
# - **Why the pre-softmax score $y^c$, not the probability $p^c$?** The softmax couples the
#   classes: $\partial p^c / \partial A = p^c\big(\partial y^c/\partial A - \sum_j p^j\, \partial y^j/\partial A\big)$,
#   so the map of $p^c$ also shows evidence *against the other classes*, and when the model is sure
#   ($p^c \approx 1$) the factor $p^c(1-p^c)$ makes every gradient vanish.
# - **Resolution.** $L^c$ has the layer's resolution ($7 \times 7$); we upsample it bilinearly to
#   the image and rescale each image's map to $[0, 1]$ to draw it.
#
# **Relation to CAM.** ResNet18 ends with global average pooling and one linear layer:
# $y^c = \sum_k w^c_k \frac{1}{Z}\sum_{ij} A^k_{ij} + b^c$. Then
# $\partial y^c / \partial A^k_{ij} = w^c_k / Z$ for every position, so $\alpha_k^c = w^c_k / Z$
# and Grad-CAM at the last layer is exactly CAM (Zhou et al., 2016), $\sum_k w^c_k A^k$, divided by
# $Z = 49$. Grad-CAM's gain is that it works for *any* layer and any differentiable head. We check
# this numerically at the end.
#
# ## 3. Hooks: seeing inside the forward pass
#
# `layer.register_forward_hook(fn)` makes PyTorch call `fn(module, inputs, output)` every time
# `layer` runs; it returns a *handle*, and `handle.remove()` takes the hook away again. Forget to
# remove it and every later forward pass still runs it (and keeps tensors alive). A hook may also
# **return** a tensor, which then replaces the layer's output for the rest of the network.
#
# One trap: ResNet modifies tensors **in place**. Inside a `BasicBlock`, the output of `bn2` is
# updated by `out += identity` and then by an in-place ReLU. A hook that just stores `output`
# stores a tensor that is overwritten a moment later:

# %%
demo_model = resnet18(weights=None).eval()
stored = {}
handle = demo_model.layer4[-1].bn2.register_forward_hook(
    lambda module, inputs, output: stored.update(live=output, copy=output.detach().clone()))
with torch.no_grad():
    demo_model(torch.randn(1, 3, 64, 64))
handle.remove()
difference = (stored["live"] - stored["copy"]).abs().max().item()
print(f"stored live tensor vs a copy taken inside the hook: max difference {difference:.3f}")
print("hooks left on bn2:", len(demo_model.layer4[-1].bn2._forward_hooks))


# %% [markdown]
# The live tensor now holds `ReLU(bn2 + identity)`, not the output of `bn2`. Gradients taken with
# respect to it are wrong too. The cure: hand the rest of the network a **copy** and keep the
# original, which nothing touches.
#
# **Gradients with respect to one tensor.** We need $\partial y^c / \partial A$ and nothing else.
# `y.backward()` computes the gradient of *every parameter* of the network (11 million numbers,
# through every layer down to the input). `torch.autograd.grad(y, A)` walks back only from $y$ to
# $A$. If $A$ is made a fresh leaf (`output.detach().requires_grad_()`), the graph even stops there:
# nothing before the target layer is recorded or differentiated.
#
# ### Exercise 1 — capture the activations

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "03bab47397f2a49de299f9f522302dfa", "grade": false, "grade_id": "capture_activations", "locked": false, "schema_version": 3, "solution": true, "task": false}
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
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "688caf7e24d5ace65b7160bf4f7d5db3", "grade": true, "grade_id": "test_capture_activations", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_no_hooks, expect_raises, expect_runs, expect_shape

_net = resnet18(weights=None).eval()
_x = torch.randn(2, 3, 64, 64)
_logits, _acts = capture_activations(_net, _net.layer4, _x)
expect_shape(_logits, (2, 1000), "the logits (N, num_classes)")
expect_shape(_acts, (2, 512, 2, 2), "layer4's activations (N, K, h, w)")
assert _acts.requires_grad and _acts.is_leaf, \
    "the activations must be a leaf that requires grad: keep output.detach().requires_grad_()"
expect_runs(lambda: torch.autograd.grad(_logits[:, 0].sum(), _acts), "autograd.grad(logits, acts)",
            "the logits were not computed from your activations: the hook must return (a clone "
            "of) the leaf it keeps, so that the rest of the network runs on it")
expect_no_hooks(_net, "remove the hook's handle after the forward pass")
with torch.no_grad():
    expect_close(_logits, _net(_x), "the logits", hint="the hook must not change the result")
    _logits, _ = capture_activations(_net, _net.layer4, _x)
assert _logits.requires_grad, ("called inside torch.no_grad(), the logits have no graph: run the "
                               "model under torch.enable_grad()")
try:
    capture_activations(_net, _net.layer4, torch.randn(1, 5, 8, 8))  # conv1 fails: 5 channels
except RuntimeError:
    pass
expect_no_hooks(_net, "when the forward pass fails the hook must still go: remove it in a finally")
expect_raises(RuntimeError, lambda: capture_activations(_net, _net.layer1[0].relu, _x),
              "capture_activations at layer1[0].relu", "that ReLU runs twice per forward pass")
with torch.no_grad():
    _, _inner = expect_runs(lambda: capture_activations(_net, _net.layer4[-1].bn2, _x),
                            "capture_activations at layer4[-1].bn2", "hand later layers a clone")
_expected = {}
_h = _net.layer4[-1].bn2.register_forward_hook(lambda m, i, o: _expected.update(a=o.clone()))
with torch.no_grad():
    _net(_x)
_h.remove()
expect_close(_inner, _expected["a"], "bn2's activations", hint="in-place trap: `out += identity` "
             "overwrites bn2's output later; keep a detached copy and hand later layers a clone")
print("Visible tests passed.")


# %% [markdown]
# ### Exercise 2 — channel weights $\alpha^c_k$

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "4317ee9ba671645b1fdf146f4e1e2c74", "grade": false, "grade_id": "channel_weights", "locked": false, "schema_version": 3, "solution": true, "task": false}
def channel_weights(gradients):
    """alpha: the spatial mean of d(score)/dA for every image and channel.

    gradients: (N, K, h, w). Returns (N, K).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "dbb50855a1dedf3403c27b191f2dac0f", "grade": true, "grade_id": "test_channel_weights", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_g = torch.arange(16.0).reshape(1, 2, 2, 4)  # one image, two channels of 2x4
expect_close(channel_weights(_g), [[3.5, 11.5]], "channel_weights(arange(16).reshape(1, 2, 2, 4))",
             causes={"did you sum instead of taking the mean?": [[28.0, 92.0]]},
             hint="the mean over the spatial dims 2 and 3: one weight per image and channel, (N, K)")
print("Visible tests passed.")


# %% [markdown]
# ### Exercise 3 — the weighted combination and the ReLU

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "eeecc5c4177527b0547f92802d2bba9a", "grade": false, "grade_id": "weighted_combination", "locked": false, "schema_version": 3, "solution": true, "task": false}
def weighted_combination(activations, weights):
    """ReLU(sum_k weights[:, k] * activations[:, k]) for every image.

    activations: (N, K, h, w); weights: (N, K). Returns (N, h, w), >= 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "1641c4b8267fa451227791fe42430ad7", "grade": true, "grade_id": "test_weighted_combination", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_a = torch.tensor([[[[1.0, -2.0]], [[3.0, 1.0]]]])  # one image, two channels of 1x2
expect_close(weighted_combination(_a, torch.tensor([[2.0, 1.0]])), [[[5.0, 0.0]]],
             "weighted_combination(a, weights [[2, 1]])", hint="(N, h, w): sum over the channels",
             causes={"did you forget the ReLU?": [[[5.0, -3.0]]],
                     "apply the ReLU to the weighted sum, not to the activations": [[[5.0, 1.0]]],
                     "did you average over the channels instead of summing?": [[[2.5, 0.0]]]})
expect_close(weighted_combination(_a, torch.tensor([[1.0, -1.0]])), [[[0.0, 0.0]]],
             "weighted_combination(a, weights [[1, -1]])", hint="negative sums become 0")
print("Visible tests passed.")


# %% [markdown]
# ### Exercise 4 — from a 7×7 map to a heatmap
#
# Upsample bilinearly to the input's size (`F.interpolate(..., mode="bilinear",
# align_corners=False)`, which needs a channel dimension), then rescale each image's map to
# $[0, 1]$: $(L - \min L)/(\max L - \min L)$. A map that is zero everywhere (the class has no
# positive evidence at this layer) must stay zero, not become `NaN`.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "a40e6fc59749476256bc59320633af1d", "grade": false, "grade_id": "upsample_and_normalise", "locked": false, "schema_version": 3, "solution": true, "task": false}
def upsample_and_normalise(cam, size):
    """Bilinear upsampling (align_corners=False) to `size` = (H, W), then per-image min-max.

    cam: (N, h, w) float. Returns (N, H, W) in [0, 1]; an image whose upsampled map is constant
    (e.g. all zero) gets all zeros. "Constant" has a relative tolerance: max - min at most 1e-5
    times the map's largest |value|. Bilinear weights sum to 1 only up to rounding, so a constant
    map (a 1x1 map, as ResNet18's layer4 gives for a 32x32 input) comes back with noise of about
    1e-7 of its value, which min-max would otherwise stretch to a random pattern over [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "48d2d8dc6d9be668e930d22ceca2a4a2", "grade": true, "grade_id": "test_upsample_and_normalise", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_shape

_c = torch.tensor([[[0.0, 2.0], [4.0, 8.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 3.0]]])
_u = upsample_and_normalise(_c, (4, 4))  # three 2x2 maps; the second is all zero
expect_shape(_u, (3, 4, 4), "upsample_and_normalise(maps, size=(4, 4))",
             hint="(N, H, W) with (H, W) = the size argument, not a fixed size")
expect_close(_u[0, 1], [0.125, 0.203125, 0.359375, 0.4375], "row 1 of image 0", atol=1e-4,
             causes={"did you use mode='nearest'? Grad-CAM upsamples bilinearly": [0, 0, 0.25, 0.25],
                     "use align_corners=False": [0.1667, 0.2778, 0.3889, 0.5]})
assert not torch.isnan(_u).any(), \
    "image 1 is all zero and came back with NaN: a constant map must stay zero (avoid 0 / 0)"
expect_close(_u.flatten(1).max(dim=1).values, [1.0, 0.0, 1.0], "each image's max",
             causes={"normalise each image by its own min and max, not the batch's": [1, 0, 0.375]})
expect_close(_u.flatten(1).min(dim=1).values, [0.0, 0.0, 0.0], "each image's min",
             causes={"subtract the min first, (L - min) / (max - min), not L / max": [0, 0, 1 / 3]})
print("Visible tests passed.")


# %% [markdown]
# ### Exercise 5 — which class to explain
#
# By default we explain each image's predicted class, but the interesting questions are often
# about another one ("why not Baya?"). `targets` may be `None` (each image's prediction), one int
# (that class for every image), or one class per image (a list, tuple or 1-D tensor of length N).

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "de47d0900e3bcf437760ef794a9bb33d", "grade": false, "grade_id": "resolve_targets", "locked": false, "schema_version": 3, "solution": true, "task": false}
def resolve_targets(logits, targets):
    """The class to explain for every image, as an int64 tensor (N,) on the logits' device.

    logits: (N, C). targets: None -> logits.argmax(1); an int in 0..C-1, or a 0-d integer tensor
    such as `logits[0].argmax()` (the same int) -> that class for all; a sequence (list, tuple,
    range) or 1-D integer tensor of length N, values in 0..C-1 -> as given.
    Anything else (a bool, a float, a wrong length, a value out of range, a 2-D tensor) raises
    ValueError with a message saying what was expected.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "d79bb7fda28a2c62db01e823cc24b709", "grade": true, "grade_id": "test_resolve_targets", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_raises

_logits = torch.tensor([[0.1, 2.0, 0.3], [3.0, 0.0, 0.0]])  # 2 images, 3 classes
_cases = ((None, [1, 0]), (2, [2, 2]), ([0, 1], [0, 1]), (torch.tensor([2, 1]), [2, 1]))
for _targets, _want in _cases:
    _got = resolve_targets(_logits, _targets)
    assert isinstance(_got, torch.Tensor) and _got.dtype == torch.int64 and _got.tolist() == _want, \
        (f"resolve_targets(logits, {_targets!r}): expected an int64 tensor {_want}, got {_got!r} "
         "(None = each image's argmax over the classes, dim 1; an int = that class for all)")
for _bad, _why in ((True, "a bool is not a class index, although bool is a subclass of int"),
                   ([1, False], "bools are not class indices"), ([0, 1, 2], "3 targets, 2 images"),
                   (3, "class 3 is out of range 0..2"), (-1, "class -1 is out of range 0..2"),
                   (1.5, "a float is not a class index"), ("Greg", "a name is not a class index")):
    expect_raises(ValueError, lambda: resolve_targets(_logits, _bad),
                  f"resolve_targets(logits, {_bad!r})", _why)
print("Visible tests passed.")


# %% [markdown]
# ### Exercise 6 — the `GradCAM` class
#
# Put the pieces together. A few promises make the class safe to use on someone else's model:
#
# - it runs the model in evaluation mode (batch norm must not update its statistics, and each
#   image's map must not depend on the rest of the batch) and then **restores every module's
#   mode**;
# - it leaves no hooks behind, changes no `requires_grad` flag and does not touch the input;
# - it uses `torch.autograd.grad`, so no parameter's `.grad` is filled in.
#
# Summing the target scores over the batch before differentiating is fine: in evaluation mode,
# image $n$'s score depends only on image $n$'s activations.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "5ab67b831ea9cb67aeb46a421e0e2799", "grade": false, "grade_id": "GradCAM", "locked": false, "schema_version": 3, "solution": true, "task": false}
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
        # YOUR CODE HERE
        raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "f672956412ba5fe8d98f9da000256aec", "grade": true, "grade_id": "test_GradCAM", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from torch import nn

from utils.checking import expect_close, expect_no_hooks, expect_runs, expect_shape

# A tiny net whose maps are known: channels relu(x) and relu(-x), logits y0 = mean(relu(x)) and
# y1 = mean(relu(x)) + mean(relu(-x)); at its ReLU, class 0's Grad-CAM is relu(x), scaled.
_tiny = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(2, 2)).eval()
_tiny_x = torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])  # one 2x2 image; the prediction is class 1
with torch.no_grad():
    _tiny[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)), _tiny[0].bias.zero_()
    _tiny[4].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]])), _tiny[4].bias.zero_()
    _map = expect_runs(lambda: GradCAM(_tiny, _tiny[1])(_tiny_x, targets=0),
                       "GradCAM called inside torch.no_grad()",
                       "compute the score and its gradient under torch.enable_grad()")
expect_close(_map, [[[0.5, 0.0], [1.0, 0.0]]], "the tiny net's map for class 0",
             hint="ReLU(sum_k alpha_k A^k) of the logit y0, upsampled to the input's 2x2, in [0, 1]",
             causes={"did you differentiate the softmax probability instead of the logit?":
                         [[[0.0, 0.0], [0.0, 0.0]]],
                     "did you ignore `targets`? that is the map of class 1, the prediction":
                         [[[0.5, 0.5], [1.0, 0.0]]]})
_net = resnet18(weights=None).train()
_x = torch.randn(3, 3, 64, 64)
with GradCAM(_net, _net.layer3) as _cam:
    _maps = _cam(_x, targets=[1, 2, 3])
expect_shape(_maps, (3, 64, 64), "the maps", hint="(N, H, W): upsample to the input's own size")
assert _maps.min() >= 0 and _maps.max() <= 1 + 1e-6, \
    f"the maps must lie in [0, 1], got values from {_maps.min():.3g} to {_maps.max():.3g}"
assert _net.training and _net.layer3[0].bn1.training, \
    "the model came in train mode and left in eval mode: restore every module's mode (finally)"
expect_no_hooks(_net, "no hooks may be left behind")
assert all(p.grad is None for p in _net.parameters()), \
    "the parameters' .grad were filled in: use torch.autograd.grad(score, activations), not backward"
expect_close(GradCAM(_net, _net.layer3)(_x[1:2], targets=2), _maps[1:2], "image 1's map alone",
             hint="it must equal its map in the batch: did you run the model in eval mode? (batch "
                  "norm in train mode mixes the images of a batch)")
print("Visible tests passed.")

# %% [markdown]
# ## 4. Grad-CAM on the plant classifier
#
# Two test images of each plant with their heatmaps at `layer4`, explaining the predicted class.
# Titles give the prediction and the truth; a wrong prediction is marked ✗.

# %%
examples = balanced_subset(test_set, 8)
images = torch.stack([image for image, _ in examples])
labels = [label for _, label in examples]
with torch.no_grad():
    predictions = model(images).argmax(dim=1).tolist()
maps = GradCAM(model, model.layer4)(images)

fig, axes = plt.subplots(2, 8, figsize=(16, 4.6))
for column, (image, heatmap, label, predicted) in enumerate(zip(images, maps, labels, predictions)):
    mark = "✓" if label == predicted else "✗"
    axes[0, column].imshow(to_display_image(image))
    axes[0, column].set_title(f"true: {CLASS_NAMES[label]}", fontsize=9)
    axes[1, column].imshow(overlay_heatmap(image, heatmap, alpha=0.5))
    axes[1, column].set_title(f"predicted: {CLASS_NAMES[predicted]} {mark}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("Grad-CAM at layer4 for the predicted class")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Checks you can see
#
# **Grad-CAM at the last layer is CAM / 49.** For the GAP + linear head, the channel weights are
# the head's weights divided by $Z = 7 \cdot 7$:

# %%
logits, activations = capture_activations(model, model.layer4, images[:2])
classes = logits.argmax(dim=1)
(gradients,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), activations)
alpha = channel_weights(gradients)
head_weights = model.fc.weight[classes].detach()
h, w = activations.shape[-2:]
print(f"max |alpha - w_fc / (h*w)| = {(alpha - head_weights / (h * w)).abs().max().item():.2e}")


# %% [markdown]
# **Why `autograd.grad` is cheaper.** Time one Grad-CAM both ways on a batch of 8 (skipped in
# fast mode): the `.backward()` version differentiates every parameter, ours only the layers after
# `layer4`.

# %%
def gradcam_with_backward(model, layer, x):
    """The expensive way: a live hook, retain_grad and a full backward pass."""
    kept = {}
    handle = layer.register_forward_hook(lambda m, i, o: kept.update(a=o))
    try:
        logits = model(x)
        kept["a"].retain_grad()
        logits.max(dim=1).values.sum().backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    return kept["a"].grad


if not FAST:
    batch = images[:8]
    for name, run in (("autograd.grad", lambda: GradCAM(model, model.layer4)(batch)),
                      (".backward()", lambda: gradcam_with_backward(model, model.layer4, batch))):
        run()  # warm-up
        start = time.perf_counter()
        for _ in range(3):
            run()
        print(f"{name:>14}: {(time.perf_counter() - start) / 3 * 1000:.0f} ms per batch of 8")

# %% [markdown]
# ## Recap
#
# - Grad-CAM weighs each channel of a layer by the spatial mean of $\partial y^c/\partial A^k$ and
#   keeps the positive part of the weighted sum; the score is the logit, not the probability.
# - For a global-average-pooled linear head, Grad-CAM at the last layer is CAM divided by $h w$.
# - Hooks: copy what you capture when later layers work in place, and always remove the handle.
# - Take the gradient with respect to the activation only (`torch.autograd.grad` on a leaf); it
#   skips every parameter gradient and every layer before the target.
#
# **Next:** lesson 03 varies the layer, the target class and the design choices, and measures the
# maps against the plants' true masks.
#
# **Further reading**
# - R. R. Selvaraju et al. *Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
#   Localization.* ICCV 2017.
# - B. Zhou et al. *Learning Deep Features for Discriminative Localization* (CAM). CVPR 2016.
# - J. Adebayo et al. *Sanity Checks for Saliency Maps.* NeurIPS 2018.
