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
# # Lesson 06 — Can the map be trusted?
#
# Lessons 02-05 built three explanation methods. Each gives a picture, and a picture is
# persuasive. This lesson asks the questions a careful user asks before believing one:
#
# 1. **When the model is wrong, does the map show why?** We look at the shipped model's mistakes.
# 2. **Is the map faithful to the model?** If the pixels a map calls important really matter,
#    deleting them first should destroy the prediction fast (Petsiuk et al., 2018).
# 3. **Does the map depend on the model at all?** Randomise the network's weights and see whether
#    the map changes (Adebayo et al., 2018). Some famous maps barely do.
# 4. **Can a map catch a model that is right for the wrong reason?** A model trained on data with a
#    spurious cue, its maps, and a fix measured by the same numbers.
#
# **By the end you can**
# - split a map's energy between the labelled plant, a second plant and the background;
# - compute deletion and insertion curves in batches and their area under the curve, and compare
#   methods against a random map;
# - run the cascading model-parameter randomisation test with Spearman rank correlation, and say
#   what a method that passes it (or fails it) can and cannot show;
# - find a shortcut with Grad-CAM, remove it, and show with the same measurement that it is gone.
#
# **Exercises** (13 points)
#
# | # | you write | points |
# | --- | --- | --- |
# | 1 | `energy_shares` | 2 |
# | 2 | `to_saliency` | 1 |
# | 3 | `deletion_curve` | 3 |
# | 4 | `insertion_curve` | 1 |
# | 5 | `curve_auc` | 1 |
# | 6 | `spearman` | 2 |
# | 7 | `cascading_randomisation` | 3 |
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
import copy
from collections.abc import Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

# %%
# Setup, part 3: tools for this notebook and the classifier to explain.
import time

from torchvision.transforms.functional import gaussian_blur

from utils import datasets
from utils.datasets import CLASS_NAMES, ImageDataset, balanced_subset, eval_transform, split_dir
from utils.figures import NotebookFigure
from utils.models import CHECKPOINT_DIR, SHIPPED_CHECKPOINT, load_checkpoint
from utils.visualise import compare_grid, overlay_heatmap, process_attributions, to_display_image

FAST = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("COURSE_FAST"))
STARTED = time.perf_counter()
torch.manual_seed(0)
model, info = load_checkpoint(SHIPPED_CHECKPOINT)
test_set = ImageDataset(split_dir("test"), transform=eval_transform(info["image_size"]),
                        with_mask=True)
print(f"loaded {SHIPPED_CHECKPOINT.name}: test accuracy {info['test_acc']:.1%}; fast mode: {FAST}")

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


def input_gradient(model, x, targets=None):
    """d(logit of each image's target class) / d(input): a tensor shaped like x (N, C, H, W).

    targets: as in resolve_targets (None = each image's predicted class). The model runs in
    eval mode and every module's mode is restored afterwards; x is not modified, its
    requires_grad flag is unchanged, and no parameter's .grad is filled in.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        pixels = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(pixels)
            classes = resolve_targets(logits, targets)
            (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), pixels)
    finally:
        for module, mode in modes:
            module.training = mode
    return gradient


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


def guided_gradcam(guided, cam):
    """Guided Grad-CAM from its parts: guided (N, C, H, W) * cam (N, H, W), broadcast over C."""
    return guided * cam[:, None]


class SwitchableReLU(torch.autograd.Function):
    """max(x, 0) forward; backward by the rule in `switch["rule"]` *at backward time*.

    Use SwitchableReLU.apply(x, switch) with switch a dict such as {"rule": "guided"};
    the rules are those of relu_backward.
    """

    @staticmethod
    def forward(ctx, x, switch):
        ctx.save_for_backward(x)
        ctx.switch = switch
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return relu_backward(grad_output, x, ctx.switch["rule"]), None


def one_pass_guided_gradcam(model, layer, x, targets=None):
    """Guided Grad-CAM (N, C, H, W) from one forward pass; equal to the two-pass version.

    Hooks (all removed in a finally block): on every nn.ReLU, a forward pre-hook that keeps the
    input and passes on a clone, and a forward hook that returns SwitchableReLU.apply(kept, switch);
    on `layer`, a forward hook that keeps its output and returns a clone to the network.
    Then: rule "backprop" -> gradient at the kept layer output (retain_graph=True) -> Grad-CAM map
    (channel_weights, weighted_combination, upsample_and_normalise); rule "guided" -> gradient at
    a detached copy of x. Eval mode, every module's mode restored; x and the model untouched.
    """
    switch = {"rule": "backprop"}
    kept_inputs, kept_output = {}, []

    def keep_input(module, inputs):
        kept_inputs.setdefault(module, []).append(inputs[0])
        return (inputs[0].clone(),) + tuple(inputs[1:])

    def switchable(module, inputs, output):
        return SwitchableReLU.apply(kept_inputs[module].pop(), switch)

    def keep_output(module, inputs, output):
        kept_output.append(output)
        return output.clone()

    handles = []
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                handles.append(module.register_forward_pre_hook(keep_input))
                handles.append(module.register_forward_hook(switchable))
        handles.append(layer.register_forward_hook(keep_output))
        pixels = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(pixels)
            if len(kept_output) != 1:
                raise RuntimeError(f"the target layer ran {len(kept_output)} times; choose a "
                                   "layer that runs exactly once")
            classes = resolve_targets(logits, targets)
            score = logits.gather(1, classes[:, None]).sum()
            (layer_gradient,) = torch.autograd.grad(score, kept_output[0], retain_graph=True)
            switch["rule"] = "guided"
            (guided,) = torch.autograd.grad(score, pixels)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            module.training = mode
    cam = weighted_combination(kept_output[0].detach(), channel_weights(layer_gradient))
    return guided_gradcam(guided, upsample_and_normalise(cam, x.shape[-2:]))


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


def map_correlation(maps_a, maps_b):
    """Pearson correlation per image between two batches of maps of equal shape (N, ...).

    Returns a float tensor (N,). A constant map has no correlation with anything: give 0 there.
    """
    a = maps_a.flatten(1).double()
    b = maps_b.flatten(1).double()
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    norms = a.norm(dim=1) * b.norm(dim=1)
    correlation = (a * b).sum(dim=1) / torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.where(norms > 0, correlation, torch.zeros_like(correlation)).float()


def energy_pointing_game(maps, masks):
    """Share of each map's energy on the mask: sum(map * mask) / sum(map), 0 for a zero map.

    maps: (N, H, W) >= 0; masks: (N, H, W) in {0, 1}. Returns a float tensor (N,) in [0, 1].
    """
    total = maps.flatten(1).sum(dim=1)
    inside = (maps * masks).flatten(1).sum(dim=1)
    return torch.where(total > 0, inside / torch.where(total > 0, total, 1.0),
                       torch.zeros_like(total))


# %% [markdown]
# The cell above holds the course's solutions of lessons 02-05 (*finish those lessons first*):
# `GradCAM`, `GuidedBackprop`, `GuidedGradCAM`, `input_gradient`, `map_correlation` and
# `energy_pointing_game`.
#
# ## 1. Explaining the model's mistakes
#
# The shipped classifier is wrong on some test images. Some scenes hold a second, partly visible
# plant of another kind; the label (and the mask $M$) belong to the main plant, and the other plant
# has a mask $O$ of its own. For a wrong prediction we ask two maps:
#
# - Grad-CAM for the **predicted** class: where did the model see the class it chose?
# - Grad-CAM for the **true** class: where did it see the class it should have chosen?
#
# and split each map's energy $L \ge 0$ into three parts that add up to 1:
#
# $$\underbrace{\frac{\sum_{ij} L_{ij} M_{ij}}{\sum_{ij} L_{ij}}}_{\text{labelled plant}} +
# \underbrace{\frac{\sum_{ij} L_{ij} O_{ij}(1 - M_{ij})}{\sum_{ij} L_{ij}}}_{\text{other plant}} +
# \underbrace{\frac{\sum_{ij} L_{ij} (1 - M_{ij})(1 - O_{ij})}{\sum_{ij} L_{ij}}}_{\text{elsewhere}} = 1 .$$
#
# Where two masks overlap (one plant in front of the other), the pixel counts once, for the mask
# named first. A map that is zero everywhere has no energy to share: all parts are 0.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "546939f60fee1970b05806c53b8466c3", "grade": false, "grade_id": "energy_shares", "locked": false, "schema_version": 3, "solution": true, "task": false}
def energy_shares(maps, masks):
    """Share of each map's energy on each region: a float tensor (N, len(masks) + 1).

    maps: (N, H, W) >= 0. masks: a list of K masks (N, H, W) in {0, 1}. Column k (k < K) is the
    share on masks[k] where no earlier mask is 1; the last column is the share on no mask at all.
    Each row sums to 1, except for a map that is zero everywhere, whose row is all 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "a4ea99002b3565e3c86b3516dd58fdcc", "grade": true, "grade_id": "test_energy_shares", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_maps = torch.tensor([[[4.0, 3.0], [2.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])  # image 1 is all zero
_plant = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]]).expand(2, 2, 2)
_other = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]]).expand(2, 2, 2)  # overlaps the plant at (0, 1)
expect_close(energy_shares(_maps, [_plant, _other]), [[0.7, 0.2, 0.1], [0.0, 0.0, 0.0]],
             "energy_shares(maps, [plant, other]) (energy 4, 3 on the plant, 2 on the other, 1 "
             "elsewhere; the second map is all zero)",
             hint="one column per mask, then 'elsewhere'; a zero map gives zeros, not NaN",
             causes={"where the masks overlap, the pixel belongs to the first mask only":
                         [[0.7, 0.5, -0.2], [0.0, 0.0, 0.0]],
                     "where the masks overlap, the pixel belongs to the first mask only (once)":
                         [[0.7, 0.5, 0.1], [0.0, 0.0, 0.0]],
                     "the last column is the energy outside every mask, not only the last":
                         [[0.7, 0.2, 0.5], [0.0, 0.0, 0.0]],
                     "the last column is the energy outside every mask taken so far":
                         [[0.7, 0.2, 0.8], [0.0, 0.0, 0.0]]})
expect_close(energy_shares(_maps[:1], [_other[:1]]), [[0.5, 0.5]], "energy_shares(maps, [other])")
print("Visible tests passed.")


# %% [markdown]
# The masks of the second plant come with the generated data (`utils.datasets.scene_masks`);
# photos of your own have none, and then the "other plant" column stays 0.

# %%
def other_plant_masks(paths, size):
    """(N, H, W) masks of the second plant in each scene; zeros where the data has none."""
    masks = torch.zeros(len(paths), *size)
    for index, path in enumerate(paths):
        try:
            _, masks[index] = datasets.scene_masks(path, size=size)
        except ValueError:  # real photos: no second plant recorded
            continue
    return masks


size = (info["image_size"], info["image_size"])
chosen = balanced_subset(test_set, 16).indices if FAST else list(range(len(test_set)))
all_images = torch.stack([test_set[i][0] for i in chosen])
all_labels = torch.tensor([test_set.labels[i] for i in chosen])
plant_masks = torch.stack([test_set.mask(i, size=size) for i in chosen])
other_masks = other_plant_masks([test_set.paths[i] for i in chosen], size)
with torch.no_grad():
    all_predictions = torch.cat([model.eval()(batch).argmax(dim=1) for batch in all_images.split(20)])
wrong = (all_predictions != all_labels).nonzero()[:, 0]
print(f"{len(all_images)} test images, {len(wrong)} wrong, "
      f"{int((other_masks.flatten(1).amax(1) > 0).sum())} with a second plant")

# %%
shown_wrong = wrong[: 4 if FAST else 12]
regions = ["labelled plant", "other plant", "elsewhere"]
if len(shown_wrong) == 0:
    print("The model makes no mistake on these images: nothing to explain here.")
else:
    x, gradcam = all_images[shown_wrong], GradCAM(model, model.layer4)
    for_predicted = gradcam(x, all_predictions[shown_wrong])
    for_true = gradcam(x, all_labels[shown_wrong])
    masks_here = [plant_masks[shown_wrong], other_masks[shown_wrong]]
    right = (all_predictions == all_labels).nonzero()[:, 0][: len(shown_wrong)]
    shares = {"wrong: predicted": energy_shares(for_predicted, masks_here),
              "wrong: true class": energy_shares(for_true, masks_here),
              "right (compare)": energy_shares(gradcam(all_images[right], all_labels[right]),
                                               [plant_masks[right], other_masks[right]])}
    print(f"Grad-CAM energy on each region, mean over {len(shown_wrong)} wrong and "
          f"{len(right)} right predictions")
    print(f"{'map':<18}" + "".join(f"{name:>16}" for name in regions))
    for name, table in shares.items():
        print(f"{name:<18}" + "".join(f"{value:>16.1%}" for value in table.mean(dim=0)))
    rows = []
    for k, i in enumerate(shown_wrong[:4].tolist()):
        regions_image = torch.stack([other_masks[i], plant_masks[i], torch.zeros(size)], dim=-1)
        rows.append([to_display_image(all_images[i]), regions_image.numpy(),
                     overlay_heatmap(all_images[i], for_predicted[k]),
                     overlay_heatmap(all_images[i], for_true[k])])
    display(compare_grid(rows, titles=["image", "plant (green), other (red)",
                                       "map: predicted", "map: true class"],
                         row_labels=[f"{CLASS_NAMES[all_labels[i]]} -> "
                                     f"{CLASS_NAMES[all_predictions[i]]}"
                                     for i in shown_wrong[:4].tolist()]))


# %% [markdown]
# Read the table against the last row, the right predictions. When the shipped model was measured
# for this lesson (a normal run: 12 of its 16 mistakes on the 80 test images), the map for the
# *predicted* class of a wrong prediction put about a fifth of its energy (21%) on the **other**
# plant (right predictions: 1%) and little on the labelled one (6%), while the map for the *true*
# class put 27% on the labelled plant and almost nothing (under 1%) on the other one. Most of
# every map falls "elsewhere" (about three quarters): the plants are small. So most mistakes are
# the model answering a different question than the label asks: "which plant is in the picture?"
# instead of "which plant is the main one?". Where the predicted class's map sits on the labelled
# plant instead, the plant itself looked like the other kind (occluded, cut by the frame, in dim
# light). The figure's row labels read "true -> predicted". The map does not say which answer is
# right; it says where to look, and the masks turn the looking into a number.
#
# ## 2. Faithfulness: deletion and insertion
#
# A map ranks the pixels. If the ranking is faithful to the model, the pixels ranked first are
# the ones the model needs. Petsiuk et al. (2018) turn that into two curves. Let $p_c(x)$ be the
# softmax probability of class $c$ and $x^{(k)}$ the image with its $\lfloor k \cdot HW / S
# \rfloor$ highest-ranked pixels replaced by a baseline $b$ ($k = 0, \dots, S$):
#
# - **deletion**: $p_c(x^{(0)}), \dots, p_c(x^{(S)})$ starting from the image and deleting pixels
#   (replacing them by $b$, here the dataset's mean colour, i.e. 0 after normalisation). A faithful
#   map makes this curve fall fast: **low area is good**;
# - **insertion**: start from $b$ (here a strongly blurred copy of the image) and put the image's
#   pixels back in the map's order. A faithful map makes it rise fast: **high area is good**.
#
# Insertion is deletion with the roles of the image and the baseline swapped. The area under a
# curve of $S + 1$ points spaced $1/S$ apart (the trapezoid rule):
#
# $$\text{AUC} = \frac{1}{S} \sum_{k=1}^{S} \frac{p_c(x^{(k-1)}) + p_c(x^{(k)})}{2} \in [0, 1].$$
#
# A map that ranks pixels at random gives the baseline both numbers must beat.
#
# **Cost.** One curve needs $S + 1$ forward passes. Done image by image, 16 images cost
# $16(S+1)$ passes; with all images in one batch per step they cost $S + 1$ batched passes, which
# on a CPU is several times faster.
#
# First, every method's output as one map per image: for the gradient-based methods, the
# magnitude summed over the colour channels.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "41da99fd85ca642dd05ad8f403abd456", "grade": false, "grade_id": "to_saliency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def to_saliency(attributions):
    """One map per image from an attribution (N, C, H, W): sum over C of |attribution|, (N, H, W)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "8a75f252ab6631437d572fc73284ec83", "grade": true, "grade_id": "test_to_saliency", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_attr = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.0]], [[1.0, 1.0]]]])  # (1, 3, 1, 2)
expect_close(to_saliency(_attr), [[[5.0, 3.0]]], "to_saliency(attributions (1, 3, 1, 2))",
             hint="(N, H, W): the sum over the colour channels (dim 1) of the absolute values",
             causes={"take the absolute value before summing (signs cancel)": [[[-1.0, -1.0]]],
                     "sum the channels, do not take their maximum": [[[3.0, 2.0]]]})
print("Visible tests passed.")


# %% [markdown]
# Now the deletion curve. Rank each image's pixels by its own map (`torch.argsort(...,
# descending=True, stable=True)` on the flattened map), and at step $k$ replace the first
# $\lfloor k \cdot HW / S \rfloor$ of them, in every colour channel, by the baseline. A pixel's
# rank is the inverse of the sort order: `rank.scatter_(1, order, positions)`, and then the pixels
# to replace at step $k$ are simply those with `rank < count`. One forward pass of the whole batch
# per step, without gradients, in eval mode.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "3c61c6728e7663b85c9ca40e26de4270", "grade": false, "grade_id": "deletion_curve", "locked": false, "schema_version": 3, "solution": true, "task": false}
def deletion_curve(model, images, saliency, targets, steps=20, baseline=None):
    """Softmax probability of each image's target class as its top-ranked pixels are replaced.

    images: (N, C, H, W); saliency: (N, H, W), higher = more important; targets: (N,) int64;
    baseline: a tensor broadcastable to images that replaces the deleted pixels (None: zeros).
    Returns (N, steps + 1): column k = after replacing the first k * H * W // steps pixels of each
    image in order of decreasing saliency (ties: lower flat index first); column 0 is the image
    itself, column `steps` the baseline alone. One forward pass of the batch per step, under
    torch.no_grad(), in eval mode with every module's mode restored; images untouched.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "6eeccef37e7026c8eb1714db80a04a5e", "grade": true, "grade_id": "test_deletion_curve", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_shape

# A "model" we can follow by hand: logit 0 = x . w with w = (0.5, 1, 1.5, 2), logit 1 = 0, so
# p(class 0) = sigmoid(the weighted sum of the pixels still there).
_net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
with torch.no_grad():
    _net[1].weight.copy_(torch.tensor([[0.5, 1.0, 1.5, 2.0], [0.0, 0.0, 0.0, 0.0]]))
_x = torch.stack([torch.ones(1, 2, 2), 2 * torch.ones(1, 2, 2)])  # (2, 1, 2, 2)
_saliency = torch.tensor([[[0.1, 0.4], [0.3, 0.2]], [[0.4, 0.1], [0.2, 0.3]]])
_calls = []
_hook = _net.register_forward_pre_hook(lambda module, inputs: _calls.append(len(inputs[0])))
_net.train()
try:
    _curve = deletion_curve(_net, _x.clone(), _saliency, torch.tensor([0, 1]), steps=4)
finally:
    _hook.remove()
expect_shape(_curve, (2, 5), "deletion_curve(..., steps=4) for 2 images",
             hint="one row per image, steps + 1 columns: column 0 is the untouched image")
# image 0 loses the pixels weighted 1, 1.5, 2, 0.5 in that order (its saliency's order)
expect_close(_curve[0], torch.sigmoid(torch.tensor([5.0, 4.0, 2.5, 0.5, 0.0])),
             "the curve of image 0 (class 0)", atol=1e-4,
             hint="sigmoid of the weighted sum that remains after each deletion",
             causes={"delete the MOST salient pixels first (descending order)":
                         torch.sigmoid(torch.tensor([5.0, 4.5, 2.5, 1.0, 0.0])),
                     "return the softmax probability, not the logit":
                         torch.tensor([5.0, 4.0, 2.5, 0.5, 0.0])})
expect_close(_curve[1], 1 - torch.sigmoid(torch.tensor([10.0, 9.0, 5.0, 2.0, 0.0])),
             "the curve of image 1 (class 1, pixels of value 2)", atol=1e-4,
             hint="rank each image by its own saliency map, and take each image's own target",
             causes={"take each image's own target class (targets[n])":
                         torch.sigmoid(torch.tensor([10.0, 9.0, 5.0, 2.0, 0.0]))})
assert _calls == [2] * 5, (f"the model ran on batches of sizes {_calls}; run it once per step on "
                           "the whole batch (steps + 1 = 5 passes of 2 images)")
assert _net.training, "the model came in train mode: restore every module's mode afterwards"
expect_close(deletion_curve(_net, _x[:1], _saliency[:1], torch.tensor([0]), steps=3)[0],
             torch.sigmoid(torch.tensor([5.0, 4.0, 2.5, 0.0])), "steps=3 on 4 pixels", atol=1e-4,
             hint="step k replaces the first k * H * W // steps pixels: 0, 1, 2, 4")
expect_close(deletion_curve(_net, _x[:1], _saliency[:1], torch.tensor([0]), steps=2,
                            baseline=torch.full((1, 1, 1, 1), 3.0))[0],
             torch.sigmoid(torch.tensor([5.0, 10.0, 15.0])), "a baseline of 3", atol=1e-4,
             hint="deleted pixels take the baseline's value")
print("Visible tests passed.")


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "0629b674eba75215a3466d61aee25ff9", "grade": false, "grade_id": "insertion_curve", "locked": false, "schema_version": 3, "solution": true, "task": false}
def insertion_curve(model, images, saliency, targets, steps=20, baseline=None):
    """The insertion curve (N, steps + 1): start from `baseline` (None: zeros) and put back the
    image's pixels in order of decreasing saliency. Column 0 is the baseline alone, column
    `steps` the image itself. Same rules as deletion_curve (use it)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "d4e8f8dcae38889dc4317da649c03331", "grade": true, "grade_id": "test_insertion_curve", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_inserted = insertion_curve(_net, _x[:1], _saliency[:1], torch.tensor([0]), steps=4)
expect_close(_inserted, torch.sigmoid(torch.tensor([[0.0, 1.0, 2.5, 4.5, 5.0]])),
             "insertion_curve(..., steps=4), baseline zeros", atol=1e-4,
             hint="start from the baseline and put back the most salient pixels first",
             causes={"column 0 is the baseline alone, the last column the whole image":
                         torch.sigmoid(torch.tensor([[5.0, 4.0, 2.5, 0.5, 0.0]]))})
_grey = torch.full((1, 1, 1, 1), -1.0)
expect_close(insertion_curve(_net, _x[:1], _saliency[:1], torch.tensor([0]), steps=2,
                             baseline=_grey)[0], torch.sigmoid(torch.tensor([-5.0, 0.0, 5.0])),
             "insertion from a baseline of -1", atol=1e-4)
print("Visible tests passed.")


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "d6d555882b8c39b665af92fd72765231", "grade": false, "grade_id": "curve_auc", "locked": false, "schema_version": 3, "solution": true, "task": false}
def curve_auc(curves):
    """Area under each curve (N, S + 1) with x from 0 to 1 in steps of 1/S (trapezoids): (N,)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "f48466f4dd60147de9377e882f53bc8d", "grade": true, "grade_id": "test_curve_auc", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

expect_close(curve_auc(torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])), [0.75, 1.0],
             "curve_auc of [0, 1, 1] and [1, 1, 1] (x = 0, 0.5, 1)",
             hint="trapezoids of width 1/S between neighbouring points; x runs from 0 to 1",
             causes={"x runs from 0 to 1: the width of a step is 1/S, not 1": [1.5, 2.0],
                     "use trapezoids, not the mean of the points": [2 / 3, 1.0],
                     "use trapezoids (the average of both ends of a step), not one end":
                         [1.0, 1.0]})
print("Visible tests passed.")


# %% [markdown]
# ### The five maps, measured
#
# Each method explains the predicted class. The random map draws an independent uniform number
# per pixel, so it deletes pixels in a random order.

# %%
def explanation_maps(model, x, classes, generator):
    """{method: (N, H, W) map} for the five maps compared in this lesson."""
    return {
        "Grad-CAM": GradCAM(model, model.layer4)(x, classes),
        "Guided Backprop": to_saliency(GuidedBackprop(model)(x, classes)),
        "Guided Grad-CAM": to_saliency(GuidedGradCAM(model, model.layer4)(x, classes)),
        "input gradient": to_saliency(input_gradient(model, x, classes)),
        "random": torch.rand(x.shape[0], *x.shape[-2:], generator=generator),
    }


curve_set = balanced_subset(test_set, 4 if FAST else 16)
x = torch.stack([curve_set[i][0] for i in range(1 if FAST else len(curve_set))])
with torch.no_grad():
    classes = model(x).argmax(dim=1)
STEPS = 3 if FAST else 20
blurred = gaussian_blur(x, kernel_size=51, sigma=20.0)
maps = explanation_maps(model, x, classes, torch.Generator().manual_seed(0))
start = time.perf_counter()
curves = {name: (deletion_curve(model, x, m, classes, STEPS),
                 insertion_curve(model, x, m, classes, STEPS, baseline=blurred))
          for name, m in maps.items()}
print(f"{len(curves) * 2} curves of {STEPS} steps over {len(x)} image{'s' * (len(x) > 1)} in "
      f"{time.perf_counter() - start:.1f} s")
aucs = {name: (curve_auc(d), curve_auc(i)) for name, (d, i) in curves.items()}
print(f"{'method':<17}{'deletion AUC':>14}{'insertion AUC':>15}   (deletion: lower is better)")
for name, (d, i) in aucs.items():
    verdict = "" if name == "random" else "  beats random: " + (
        "both" if d.mean() < aucs["random"][0].mean() and i.mean() > aucs["random"][1].mean()
        else "deletion" if d.mean() < aucs["random"][0].mean()
        else "insertion" if i.mean() > aucs["random"][1].mean() else "neither")
    print(f"{name:<17}{d.mean():>14.3f}{i.mean():>15.3f}{verdict}")

fig = NotebookFigure(figsize=(10, 3.5), layout="constrained")
axes = fig.subplots(1, 2)
fractions = torch.linspace(0, 1, STEPS + 1)
for name, (d, i) in curves.items():
    style = {"color": "gray", "linestyle": "--"} if name == "random" else {}
    axes[0].plot(fractions, d.mean(dim=0), label=name, **style)
    axes[1].plot(fractions, i.mean(dim=0), label=name, **style)
for ax, title in zip(axes, ["deletion (lower is better)", "insertion (higher is better)"]):
    ax.set(title=title, xlabel="fraction of pixels replaced" if "del" in title
           else "fraction of pixels put back", ylabel="p(predicted class)", ylim=(0, 1.02))
axes[1].legend(fontsize=8)
display(fig)


# %% [markdown]
# Every method beats the random map on both curves here, and by more on insertion than on
# deletion: deleting pixels in *any* order soon leaves grey holes everywhere, which the model
# never saw, so even the random order brings the probability down fast and leaves little room
# below it. When this lesson was measured (a normal run: 16 images, 20 steps), Guided Grad-CAM
# deleted best (AUC 0.23 against the random map's 0.31), and the four methods were within 0.03 of
# each other on insertion (0.79 to 0.82 against 0.63). Keep two cautions in mind. Deletion turns
# the image into something the model never saw in training (grey holes, blurred patches), so a
# falling probability can mean "the evidence is gone" or "this is no longer a plant photograph"
# (Hooker et al., 2019, retrain to avoid this). And a good deletion score says the pixel *order*
# matters to the model, not that the picture is easy to read. A method counts as faithful only
# where it beats the random map.
#
# ## 3. The model-parameter randomisation test
#
# If a map explains *the model*, destroying the model should destroy the map. Adebayo et al.
# (2018) re-initialise the network's layers **from the head down, cumulatively**: first the
# classifier, then the last block as well, and so on down to the first convolution, and compare
# each map with the map of the trained model. A method whose maps stay the same while the model
# becomes random is showing something else: the image's edges, for example.
#
# The comparison is the **Spearman rank correlation**: the Pearson correlation of the *ranks* of
# the pixels, $\rho(a, b) = \operatorname{corr}\big(\operatorname{rank}(a), \operatorname{rank}(b)\big)$.
# It asks only whether the two maps *order* the pixels alike, which is what a user reads from a
# heatmap, whatever the scale. Equal values share the average of the ranks they occupy (values
# $[5, 1, 5, 2]$ get ranks $[3.5, 1, 3.5, 2]$); a constant map has no order: $\rho = 0$.
# For $n$ values one sort gives the ranks: with the sorted values $s$, a value $v$ has
# `searchsorted(s, v)` values below it and `searchsorted(s, v, right=True)` values at most equal,
# and its average rank is the mean of the positions in between.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "e2ae8029fc6a1fbdb1ad49dad1254640", "grade": false, "grade_id": "spearman", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spearman(maps_a, maps_b):
    """Spearman rank correlation per image between two batches of maps of equal shape (N, ...).

    Ranks over each image's flattened values, ties get the average of their ranks, then the
    Pearson correlation of the ranks (map_correlation). Returns (N,); a constant map gives 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "11908daa0d011352c014e7952d73e967", "grade": true, "grade_id": "test_spearman", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_a = torch.tensor([[3.0, 1.0, 2.0, 4.0], [3.0, 1.0, 2.0, 4.0], [5.0, 1.0, 5.0, 2.0],
                   [7.0, 7.0, 7.0, 7.0]])
_b = torch.tensor([[30.0, 1.0, 8.0, 64.0], [1.0, 3.0, 4.0, 2.0], [4.0, 1.0, 3.0, 2.0],
                   [1.0, 2.0, 3.0, 4.0]])
expect_close(spearman(_a, _b), [1.0, -0.6, 0.9487, 0.0], "spearman(a, b) for 4 pairs of maps",
             atol=1e-4, hint="the Pearson correlation of the average ranks; constant map: 0",
             causes={"correlate the ranks, not the values": [0.9613, -0.6, 0.9393, 0.0],
                     "argsort gives the order of the positions, not each value's rank: the rank "
                     "is the inverse permutation": [1.0, 0.6, 0.2, 0.0],
                     "tied values share the average of their ranks": [1.0, -0.6, 0.8, 0.0]})
expect_close(spearman(_a[:1].view(1, 2, 2), -_a[:1].view(1, 2, 2)), [-1.0],
             "spearman of (1, 2, 2) maps a and -a", atol=1e-4, hint="flatten each image's map")
print("Visible tests passed.")


# %% [markdown]
# Now the randomisation. Work on a **deep copy** (the trained model must survive), and for the
# $k$-th layer name (counting from 0) re-initialise every submodule of that layer that has a
# `reset_parameters()` method (convolutions, batch norms, linear layers), with the random numbers
# seeded by `seed + k` inside `torch.random.fork_rng()`: the same seed gives the same random
# model every time, and the caller's random number stream is left as it was. Keep a copy after
# each layer: copy $k$ has layers $0..k$ randomised.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "0948d3efb59e8b7d2fad28bef1189abc", "grade": false, "grade_id": "cascading_randomisation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cascading_randomisation(model, layer_names, seed=0):
    """[copy with layer_names[0] re-initialised, copy with layer_names[0] and [1], ...].

    layer_names: module names as model.get_submodule takes them, head first (e.g. ["fc",
    "layer4", ...]). Layer k is re-initialised by reset_parameters() on each of its submodules
    that has one, under torch.random.fork_rng() with torch.manual_seed(seed + k). Returns a list
    of len(layer_names) independent deep copies; `model` itself is not changed.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "a4594fa5f02bc5d20ec9f120daf2d891", "grade": true, "grade_id": "test_cascading_randomisation", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
_before = copy.deepcopy(_net.state_dict())
_rng = torch.get_rng_state()
_copies = cascading_randomisation(_net, ["2", "0"], seed=5)
assert isinstance(_copies, list) and len(_copies) == 2, \
    f"expected a list of 2 models (one per layer name), got {type(_copies).__name__}"
assert torch.equal(torch.get_rng_state(), _rng), \
    "the caller's random numbers moved: seed inside torch.random.fork_rng()"
assert all(torch.equal(_net.state_dict()[k], v) for k, v in _before.items()), \
    "the original model changed: work on copy.deepcopy(model)"
assert _copies[0] is not _copies[1] and _copies[0][2] is not _copies[1][2], \
    "each stage must be its own deep copy (the list holds one model twice)"
_first, _second = _copies[0].state_dict(), _copies[1].state_dict()
assert not torch.equal(_first["2.weight"], _before["2.weight"]), "copy 0: layer '2' not re-initialised"
assert torch.equal(_first["0.weight"], _before["0.weight"]), \
    "copy 0 must have only the first name ('2') randomised"
assert not torch.equal(_second["0.weight"], _before["0.weight"]), "copy 1: layer '0' not re-initialised"
assert torch.equal(_second["2.weight"], _first["2.weight"]), \
    "cumulative: copy 1 keeps copy 0's random layer '2' and randomises '0' as well"
_again = cascading_randomisation(_net, ["2", "0"], seed=5)
assert all(torch.equal(_again[1].state_dict()[k], v) for k, v in _second.items()), \
    "the same seed must give the same random models (torch.manual_seed(seed + k))"
_expected = copy.deepcopy(_net)
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(5)
    _expected[2].reset_parameters()
assert torch.equal(_first["2.weight"], _expected[2].weight), \
    "layer k is re-initialised with reset_parameters() after torch.manual_seed(seed + k)"
print("Visible tests passed.")

# %% [markdown]
# The test, on the shipped model: each method explains the trained model's predicted class, the
# same class on every randomised copy.

# %%
stages = ["fc", "conv1"] if FAST else \
    ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]
probe = x[: 1 if FAST else 8]
probe_classes = classes[: len(probe)]
methods = ["Grad-CAM", "Guided Backprop", "Guided Grad-CAM", "input gradient"]
start = time.perf_counter()
original = explanation_maps(model, probe, probe_classes, torch.Generator().manual_seed(1))
randomised_maps, correlations = [], {name: [] for name in methods}
for random_model in cascading_randomisation(model, stages, seed=0):
    stage_maps = explanation_maps(random_model, probe, probe_classes,
                                  torch.Generator().manual_seed(1))
    randomised_maps.append(stage_maps)
    for name in methods:
        correlations[name].append(spearman(original[name], stage_maps[name]).mean().item())
print(f"randomisation test over {len(probe)} image{'s' * (len(probe) > 1)} in "
      f"{time.perf_counter() - start:.1f} s")
print("Spearman correlation with the trained model's map (mean over images), layers randomised "
      "from the head down:")
print(f"{'method':<17}" + "".join(f"{'+' + s:>9}" for s in stages))
for name in methods:
    print(f"{name:<17}" + "".join(f"{value:>9.2f}" for value in correlations[name]))

rows = [[to_display_image(probe[0])] + [process_attributions(torch.stack([m[name][0]] * 3))
                                        if name != "Grad-CAM" else overlay_heatmap(probe[0], m[name][0])
                                        for m in [original, *randomised_maps]]
        for name in methods]
display(compare_grid(rows, titles=["image", "trained", *[f"+{s}" for s in stages]],
                     row_labels=methods, cell_size=1.8))

# %% [markdown]
# Read the table from left to right (the figures quoted are a normal run's, over 8 images).
# Grad-CAM keeps some of its map with a random head (0.61: the channels of `layer4` all light up
# where the plant is, so even random channel weights paint the plant), then collapses as soon as
# `layer4` itself is random (0.04). The input gradient and Guided Grad-CAM fall step by step (to
# about 0.34). Guided Backprop stays close to its trained map (0.86 to 0.97) while the top half of
# the network is random: its guided rule discards the negative gradients that carry the class, and
# what remains is largely a reconstruction of the image's edges (Nie et al., 2018). A sharp,
# beautiful map that survives the randomisation of the model **cannot be evidence about what the
# model learned**. Passing the test is necessary, not sufficient: it says a map depends on the
# weights, not that it is faithful (section 2 measures that).
#
# ## 4. Catching a shortcut
#
# A second dataset, `data/plants_shortcut/`, holds the same plants with a coloured tag in a corner.
# In train and val the tag's colour tells the class; in the test split every tag has the colour of
# a **wrong** class. A model trained on it can be right for the wrong reason: read the tag,
# ignore the plant. The course ships such a model (`checkpoints/shortcut_classifier.pth`, trained
# by `solutions/tools/train_shortcut.py` at 128 px). Its validation accuracy looks fine. Does the
# map show the shortcut before the test accuracy does?

# %%
SHORTCUT_CHECKPOINT = CHECKPOINT_DIR / "shortcut_classifier.pth"
SHORTCUT_READY = SHORTCUT_CHECKPOINT.exists()
if SHORTCUT_READY:
    shortcut_root = datasets.shortcut_root()  # data/plants_shortcut, made on first use
else:
    print(f"No {SHORTCUT_CHECKPOINT}: run `make checkpoints`, then this section runs.")


def shortcut_split(split, size, image_size):
    """Images, labels, plant masks and cue masks of `size` images of the shortcut data's split."""
    dataset = ImageDataset(shortcut_root / split, transform=eval_transform(image_size),
                           with_mask=True)
    chosen = balanced_subset(dataset, size).indices
    cues = [datasets.cue_mask(dataset.paths[i], size=(image_size, image_size)) for i in chosen]
    items = [dataset[i] for i in chosen]
    return (torch.stack([image for image, _, _ in items]),
            torch.tensor([label for _, label, _ in items]),
            torch.stack([mask for _, _, mask in items]), torch.stack(cues))


def shortcut_report(net, name, val, test):
    """Accuracy on val (tag tells the truth) and test (tag lies), and where Grad-CAM looks."""
    with torch.no_grad():
        accuracy = {split: (net.eval()(data[0]).argmax(1) == data[1]).float().mean().item()
                    for split, data in (("val", val), ("test", test))}
    images, _, plants, cues = test
    cams = GradCAM(net, net.layer4)(images)
    shares = energy_shares(cams, [cues, plants]).mean(dim=0)
    # share / area: 1 is what a uniform map gives, above 1 is where the map concentrates
    density = shares[:2] / torch.stack([cues.mean(), plants.mean()])
    print(f"{name:<22} val {accuracy['val']:>6.1%}  test {accuracy['test']:>6.1%}  "
          f"Grad-CAM energy: on the tag {shares[0]:>6.1%} ({density[0]:.1f}x its area), "
          f"on the plant {shares[1]:>6.1%} ({density[1]:.1f}x), elsewhere {shares[2]:>6.1%}")
    return cams


if SHORTCUT_READY:
    shortcut_model, shortcut_info = load_checkpoint(SHORTCUT_CHECKPOINT)
    cue_size = shortcut_info["image_size"]
    shortcut_val = shortcut_split("val", 8 if FAST else 100, cue_size)
    shortcut_test = shortcut_split("test", 8 if FAST else 80, cue_size)
    tag_area = shortcut_test[3].flatten(1).mean(1).mean().item()
    print(f"the tag covers {tag_area:.1%} of the image, the plant "
          f"{shortcut_test[2].flatten(1).mean(1).mean():.1%} (a uniform map's shares)")
    cams_before = shortcut_report(shortcut_model, "shortcut model", shortcut_val, shortcut_test)


# %% [markdown]
# **The fix: take the cue's information away.** During a short fine-tune, paint every training
# image's tag in a random colour. The tag is still there, but it no longer tells the class, so
# the only way to lower the loss is the plant. (With real data one rarely has a mask of the cue;
# the remedies are then the same in spirit: collect data where the cue and the label disagree,
# or crop or blur the place where the cue lives.)

# %%
def recolour_cues(images, cues, generator):
    """Images (normalised) with each image's cue painted in one random colour."""
    mean = torch.tensor(datasets.IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(datasets.IMAGENET_STD)[:, None, None]
    colours = (torch.rand(len(images), 3, 1, 1, generator=generator) - mean) / std
    return torch.where(cues[:, None] > 0, colours, images)


def fine_tune_without_cue(net, train, epochs, generator):
    net = copy.deepcopy(net).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-4)
    images, labels, _, cues = train
    for epoch in range(epochs):
        for batch in torch.randperm(len(images), generator=generator).split(32):
            loss = F.cross_entropy(net(recolour_cues(images[batch], cues[batch], generator)),
                                   labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


if SHORTCUT_READY:
    start = time.perf_counter()
    shortcut_train = shortcut_split("train", 16 if FAST else 400, cue_size)
    fixed_model = fine_tune_without_cue(shortcut_model, shortcut_train, 1 if FAST else 3,
                                        torch.Generator().manual_seed(0))
    print(f"fine-tuned on {len(shortcut_train[0])} images in {time.perf_counter() - start:.0f} s")
    cams_after = shortcut_report(fixed_model, "after recolouring tags", shortcut_val, shortcut_test)
    rows = [[to_display_image(image), overlay_heatmap(image, before), overlay_heatmap(image, after)]
            for image, before, after in zip(shortcut_test[0][:4], cams_before[:4], cams_after[:4])]
    display(compare_grid(rows, titles=["test image (tag lies)", "shortcut model", "after the fix"],
                         row_labels=[CLASS_NAMES[label] for label in shortcut_test[1][:4]]))

# %%
print(f"lesson ran in {time.perf_counter() - STARTED:.0f} s "
      f"({time.process_time():.0f} s of CPU time in this kernel)")

# %% [markdown]
# Read the energy against the area. When this lesson was measured, the shortcut model (val 94%,
# test 12.5%) put 6.6% of its Grad-CAM energy on a tag that covers 1.6% of the image, four times
# what a uniform map puts there, and 8.4% on a plant that covers 9%: less than a uniform map. The
# map shows the shortcut on validation-like data, before any test set with lying tags exists.
# After the fine-tune, compare the same line: the tag's share should fall towards its area and
# the plant's rise, with the test accuracy on lying tags. Where the map and the accuracy tell the
# same story, the map has earned some trust.
#
# ## Recap
#
# - Explain a mistake with two maps (predicted and true class) and a measurement: how much of
#   each falls on the labelled plant, another plant, the background.
# - Deletion and insertion curves test whether a map's ranking matters to the model; compute them
#   in batches, report the area under the curve, and always beside a random map.
# - The cascading randomisation test asks whether a map depends on the model at all; Guided
#   Backprop largely does not. Spearman rank correlation (average ranks for ties) compares the
#   maps.
# - A map can reveal a shortcut, and the same measurement shows when a fix has removed it.
#
# **Further reading**
# - V. Petsiuk, A. Das, K. Saenko. *RISE: Randomized Input Sampling for Explanation of Black-box
#   Models* (deletion and insertion). BMVC 2018.
# - J. Adebayo et al. *Sanity Checks for Saliency Maps.* NeurIPS 2018.
# - S. Hooker et al. *A Benchmark for Interpretability Methods in Deep Neural Networks* (ROAR:
#   retrain after removing pixels, because deletion leaves the training distribution). NeurIPS 2019.
# - R. Geirhos et al. *Shortcut Learning in Deep Neural Networks.* Nature Machine Intelligence 2020.
# - A. Hedström et al. *Quantus: An Explainable AI Toolkit for Responsible Evaluation of Neural
#   Network Explanations.* JMLR 2023 (the library our tests compare against).
