# ---
# jupyter:
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

# %% tags=["export"]
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
# include: gradcam_tutorial.capture_activations, gradcam_tutorial.channel_weights, gradcam_tutorial.weighted_combination, gradcam_tutorial.upsample_and_normalise, gradcam_tutorial.resolve_targets, gradcam_tutorial.GradCAM, guided_backprop.relu_backward, guided_backprop.ReLUWithRule, guided_backprop.attribution_with_rule, guided_backprop.GuidedBackprop

# %% [markdown]
# ## 1. Combining the two maps
#
# Guided backprop gives $(N, C, H, W)$, Grad-CAM $(N, H, W)$ in $[0, 1]$: give the heatmap a
# channel dimension and multiply.

# %% nbgrader={"grade": false, "grade_id": "guided_gradcam", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def guided_gradcam(guided, cam):
    """Guided Grad-CAM from its parts: guided (N, C, H, W) * cam (N, H, W), broadcast over C."""
    ### BEGIN SOLUTION
    return guided * cam[:, None]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_guided_gradcam", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
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
### BEGIN HIDDEN TESTS
from autograder.checks import guided_gradcam as hidden_checks
hidden_checks.check_guided_gradcam(guided_gradcam)
### END HIDDEN TESTS

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

# %% nbgrader={"grade": false, "grade_id": "SwitchableReLU", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
class SwitchableReLU(torch.autograd.Function):
    """max(x, 0) forward; backward by the rule in `switch["rule"]` *at backward time*.

    Use SwitchableReLU.apply(x, switch) with switch a dict such as {"rule": "guided"};
    the rules are those of relu_backward.
    """

    @staticmethod
    def forward(ctx, x, switch):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        ctx.switch = switch
        return x.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return relu_backward(grad_output, x, ctx.switch["rule"]), None
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_SwitchableReLU", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
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
### BEGIN HIDDEN TESTS
from autograder.checks import guided_gradcam as hidden_checks
hidden_checks.check_switchable_relu(SwitchableReLU)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "one_pass_guided_gradcam", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def one_pass_guided_gradcam(model, layer, x, targets=None):
    """Guided Grad-CAM (N, C, H, W) from one forward pass; equal to the two-pass version.

    Hooks (all removed in a finally block): on every nn.ReLU, a forward pre-hook that keeps the
    input and passes on a clone, and a forward hook that returns SwitchableReLU.apply(kept, switch);
    on `layer`, a forward hook that keeps its output and returns a clone to the network.
    Then: rule "backprop" -> gradient at the kept layer output (retain_graph=True) -> Grad-CAM map
    (channel_weights, weighted_combination, upsample_and_normalise); rule "guided" -> gradient at
    a detached copy of x. Eval mode, every module's mode restored; x and the model untouched.
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_one_pass_guided_gradcam", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
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
### BEGIN HIDDEN TESTS
from autograder.checks import guided_gradcam as hidden_checks
hidden_checks.check_one_pass_guided_gradcam(one_pass_guided_gradcam)
### END HIDDEN TESTS

# %% [markdown]
# The course's `GuidedGradCAM` class wraps your function (`from solutions import GuidedGradCAM`):

# %% tags=["export"]
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

# %% nbgrader={"grade": false, "grade_id": "map_correlation", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def map_correlation(maps_a, maps_b):
    """Pearson correlation per image between two batches of maps of equal shape (N, ...).

    Returns a float tensor (N,). A constant map has no correlation with anything: give 0 there.
    """
    ### BEGIN SOLUTION
    a = maps_a.flatten(1).double()
    b = maps_b.flatten(1).double()
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    norms = a.norm(dim=1) * b.norm(dim=1)
    correlation = (a * b).sum(dim=1) / torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.where(norms > 0, correlation, torch.zeros_like(correlation)).float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_map_correlation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
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
### BEGIN HIDDEN TESTS
from autograder.checks import guided_gradcam as hidden_checks
hidden_checks.check_map_correlation(map_correlation)
### END HIDDEN TESTS

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
