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
# # Lesson 03 — Grad-CAM experiments: what changes the map, and is it right?
#
# A heatmap is easy to make and easy to over-read. In this lesson you change one thing at a time
# (the layer, the class, the sign of the gradient, the design choices of lesson 02) and look at
# what happens. Then you stop eyeballing and **measure**: our plant images come with ground-truth
# masks, so we can count how often Grad-CAM points at the plant.
#
# **By the end you can**
# - say how the layer trades resolution for meaning, and what a map for another class shows;
# - compute counterfactual maps (what argues *against* a class);
# - explain the effect of the ReLU, of normalising before or after upsampling, and of nearest vs
#   bilinear upsampling;
# - score maps with the pointing game and the energy-based pointing game, against a baseline.
#
# **Exercises** (10 points)
#
# | # | you write | points |
# | --- | --- | --- |
# | 1 | `gradcam_variant` | 3 |
# | 2 | `counterfactual_map` | 2 |
# | 3 | `pointing_game` | 2 |
# | 4 | `energy_pointing_game` | 2 |
# | 5 | `uniform_baseline` | 1 |

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
import torch
import torch.nn.functional as F

# %%
# Setup, part 3: tools for this notebook and the classifier to explain.
import matplotlib.pyplot as plt

from utils.datasets import CLASS_NAMES, ImageDataset, balanced_subset, eval_transform, split_dir
from utils.models import SHIPPED_CHECKPOINT, load_checkpoint
from utils.visualise import compare_grid, overlay_heatmap, to_display_image

FAST = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("COURSE_FAST"))
model, info = load_checkpoint(SHIPPED_CHECKPOINT)
test_set = ImageDataset(split_dir("test"), transform=eval_transform(info["image_size"]),
                        with_mask=True)
if FAST:
    test_set = balanced_subset(test_set, 8)
images = torch.stack([test_set[i][0] for i in range(len(test_set))])
labels = torch.tensor([test_set[i][1] for i in range(len(test_set))])
masks = torch.stack([test_set[i][2] for i in range(len(test_set))])
with torch.no_grad():
    predictions = model(images).argmax(dim=1)
print(f"{len(images)} test images, accuracy {(predictions == labels).float().mean():.1%}")

# %% [markdown]
# ## 1. The raw material: activations and gradients
#
# Every experiment below starts from the same two tensors at a layer: the activations $A$ and the
# gradients $\partial y^c / \partial A$ for a chosen class. The next cell holds lesson 02's
# `capture_activations` (the course's solution: *if you have not finished lesson 02, do that
# first*), and the one after it takes the gradient as `GradCAM` did.

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


# %%
def activations_and_gradients(model, layer, x, classes):
    """A (N, K, h, w) at `layer` and d(logit of classes[n])/dA (N, K, h, w), model in eval mode."""
    logits, activations = capture_activations(model.eval(), layer, x)
    (gradients,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), activations)
    return activations.detach(), gradients


# %% [markdown]
# ## 2. Design choices, in one function
#
# Lesson 02 fixed three choices: the ReLU after the weighted sum, upsampling *before* the min-max
# normalisation, and bilinear upsampling. Write one function with a switch for each, so we can
# see what each choice does. With the defaults it must give exactly lesson 02's Grad-CAM.
#
# - `relu=False` keeps negative evidence; min-max then maps the most negative value to 0.
# - `normalise_first=True` rescales the small map to $[0, 1]$ and then upsamples it.
# - `mode="nearest"` upsamples by copying each cell into a block (`F.interpolate(...,
#   mode="nearest")`, which takes no `align_corners`); `"bilinear"` uses `align_corners=False`.
#
# Min-max: $(L - \min L)/(\max L - \min L)$ per image; a constant map becomes all zeros.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "837fadc2855e953e92cbd282a4dc4149", "grade": false, "grade_id": "gradcam_variant", "locked": false, "schema_version": 3, "solution": true, "task": false}
def min_max(maps):
    """Per-image min-max of (N, H, W) maps to [0, 1]; a constant map becomes zeros (given)."""
    flat = maps.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1.0),
                       torch.zeros_like(maps))


def gradcam_variant(activations, gradients, size, relu=True, normalise_first=False,
                    mode="bilinear"):
    """Grad-CAM with its design choices exposed.

    activations, gradients: (N, K, h, w). size: (H, W) of the output.
    Weights = spatial mean of the gradients; map = sum_k w_k A_k, then ReLU if `relu`.
    normalise_first=False: upsample to `size` with `mode`, then min_max.
    normalise_first=True: min_max at (h, w), then upsample.
    mode: "bilinear" (align_corners=False) or "nearest". Returns (N, H, W) in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "532f8ad85b999f8cce18db2ceae91430", "grade": true, "grade_id": "test_gradcam_variant", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_a = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]], [[0.0, 3.0], [1.0, 0.0]]]])  # (1, 2, 2, 2)
_g = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]], [[-1.0, -1.0], [-1.0, -1.0]]]])
from utils.checking import expect_close, expect_shape

_for = [[[0.5, 0.0], [0.0, 1.0]]]  # ReLU([[1, -3], [-1, 2]]), min-max
_signed = [[[0.8, 0.0], [0.4, 1.0]]]  # [[1, -3], [-1, 2]], min-max
expect_close(gradcam_variant(_a, _g, (2, 2), mode="nearest"), _for, "gradcam_variant(a, g, (2, 2))",
             causes={"did you forget the ReLU (relu=True)?": _signed})
expect_close(gradcam_variant(_a, _g, (2, 2), relu=False, mode="nearest"), _signed,
             "gradcam_variant(..., relu=False)", causes={"relu=False keeps the negative part": _for})
expect_shape(gradcam_variant(_a, _g, (8, 8)), (1, 8, 8), "gradcam_variant(a, g, (8, 8))")
_bilinear, _nearest = [0.5, 0.375, 0.125, 0.0], [0.5, 0.5, 0.0, 0.0]
expect_close(gradcam_variant(_a, _g, (4, 4))[0, 0], _bilinear, "row 0 at (4, 4), mode='bilinear'",
             causes={"mode='bilinear' must upsample bilinearly": _nearest,
                     "use align_corners=False": [0.5, 0.3333, 0.1667, 0.0]}, atol=1e-4)
expect_close(gradcam_variant(_a, _g, (4, 4), mode="nearest")[0, 0], _nearest,
             "row 0 at (4, 4), mode='nearest'", causes={"use the `mode` you are given": _bilinear})
_peak = torch.zeros(1, 1, 3, 3)
_peak[0, 0, 1, 1] = 1.0  # a 3x3 map with its peak in the middle, which no 4x4 pixel samples exactly
for _first, _max in ((True, 0.390625), (False, 1.0)):
    expect_close(gradcam_variant(_peak, torch.ones(1, 1, 3, 3), (4, 4), normalise_first=_first).max(),
                 _max, f"the max at (4, 4) with normalise_first={_first}",
                 hint="normalise_first=True: min_max at (h, w), then upsample (the peak falls between "
                      "output pixels and stays below 1); False: upsample, then min_max")
print("Visible tests passed.")


# %% [markdown]
# ## 3. Which layer?
#
# Early layers have high resolution but detect edges and colours: their maps light up anything
# with contrast. Late layers know about plants but see the image through a $7 \times 7$ grid.

# %%
def explain(layer, x, classes, **choices):
    activations, gradients = activations_and_gradients(model, layer, x, classes)
    return gradcam_variant(activations, gradients, x.shape[-2:], **choices)


shown = list(range(0, len(images), max(1, len(images) // 4)))[:4]
x, shown_predictions = images[shown], predictions[shown]
layer_names = ["layer1", "layer2", "layer3", "layer4"]
rows = [[to_display_image(image) for image in x]]
for name in layer_names:
    maps = explain(model.get_submodule(name), x, shown_predictions)
    rows.append([overlay_heatmap(image, cam) for image, cam in zip(x, maps)])
fig = compare_grid(list(map(list, zip(*rows))), titles=["image", *layer_names],
                   row_labels=[f"{CLASS_NAMES[labels[i]]}" for i in shown])
display(fig)


# %% [markdown]
# ## 4. Which class? And what argues against it?
#
# Explaining another class than the prediction asks "what here looks like a Baya?". And flipping
# the sign of the gradients asks "what here argues *against* this class?": features whose
# increase would lower $y^c$. Selvaraju et al. call these **counterfactual explanations**:
#
# $$L^c_{\text{counterfactual}} = \operatorname{ReLU}\Big(\sum_k \Big(-\frac{1}{Z}\sum_{ij}
# \frac{\partial y^c}{\partial A^k_{ij}}\Big) A^k\Big).$$

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "4d6e29655088062dd6dc704d662a0c46", "grade": false, "grade_id": "counterfactual_map", "locked": false, "schema_version": 3, "solution": true, "task": false}
def counterfactual_map(activations, gradients, size):
    """What argues against the class: Grad-CAM with negated gradients (ReLU, bilinear, min-max).

    activations, gradients: (N, K, h, w); size: (H, W). Returns (N, H, W) in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "3534f616d12fb4a0867a23bfdf34a203", "grade": true, "grade_id": "test_counterfactual_map", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

expect_close(counterfactual_map(_a, _g, (2, 2)), [[[0.0, 1.0], [1 / 3, 0.0]]],  # ReLU(-cam)
             "counterfactual_map(a, g, (2, 2))", atol=1e-4, hint="ReLU(sum_k (-alpha_k) A^k), min-max",
             causes={"did you forget to negate the gradients?": [[[0.5, 0.0], [0.0, 1.0]]],
                     "negate the gradients, not the map: 1 - map is not the evidence against":
                         [[[0.5, 1.0], [1.0, 0.0]]],
                     "keep the ReLU: only the negative evidence": [[[0.2, 1.0], [0.6, 0.0]]]})
print("Visible tests passed.")

# %%
one = images[shown[:1]].expand(len(CLASS_NAMES), -1, -1, -1)
every_class = torch.arange(len(CLASS_NAMES))
activations, gradients = activations_and_gradients(model, model.layer4, one, every_class)
for_class = gradcam_variant(activations, gradients, one.shape[-2:])
against_class = counterfactual_map(activations, gradients, one.shape[-2:])
fig = compare_grid([[overlay_heatmap(one[0], m) for m in for_class],
                    [overlay_heatmap(one[0], m) for m in against_class]],
                   titles=[f"class {name}" for name in CLASS_NAMES],
                   row_labels=["evidence for", "evidence against"])
fig.suptitle(f"one {CLASS_NAMES[labels[shown[0]]]}, predicted "
             f"{CLASS_NAMES[predictions[shown[0]]]}: maps for every class")
display(fig)

# %% [markdown]
# ## 5. The design choices, side by side
#
# Without the ReLU the map shows evidence for *and* against, and its zero level moves. Nearest
# upsampling shows the $7 \times 7$ grid the map really has; bilinear hides it. Normalising first
# gives nearly the same picture: both steps are linear, so they almost commute (they differ only
# because the upsampled map's extremes fall between the grid points).

# %%
x = images[shown[:2]]
activations, gradients = activations_and_gradients(model, model.layer4, x, predictions[shown[:2]])
variants = {"lesson 02": {}, "no ReLU": {"relu": False}, "nearest": {"mode": "nearest"},
            "normalise first": {"normalise_first": True}}
fig = compare_grid([[overlay_heatmap(image, gradcam_variant(activations[i:i + 1],
                                                              gradients[i:i + 1], x.shape[-2:],
                                                              **options)[0])
                     for options in variants.values()] for i, image in enumerate(x)],
                   titles=list(variants))
display(fig)


# %% [markdown]
# ## 6. Measuring localisation
#
# Does the map point at the plant? Two standard scores, computed per image against its mask $M$:
#
# - **Pointing game** (Zhang et al., 2016): a *hit* when the map's maximum lies on the plant.
#   We take the first maximum (`argmax` of the flattened map); a map that is zero everywhere
#   points nowhere and counts as a miss.
# - **Energy-based pointing game** (Wang et al., 2020): the share of the map's total energy that
#   falls on the plant, $\sum_{ij} L_{ij} M_{ij} / \sum_{ij} L_{ij}$; 0 for an all-zero map.
#
# Neither means much without a **baseline**: a map that is the same everywhere puts on the plant
# exactly the plant's share of the image, $\sum_{ij} M_{ij} / (H W)$. Our plants are small, so
# this baseline is low, and a map that beats it is really looking at the plant.

# %% deletable=false nbgrader={"cell_type": "code", "checksum": "cd05d58dacd16e503a54517d05892159", "grade": false, "grade_id": "pointing_game", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointing_game(maps, masks):
    """Hit or miss per image: does the map's (first) maximum lie on the mask?

    maps: (N, H, W) >= 0; masks: (N, H, W) with 1 on the object and 0 elsewhere.
    Returns a bool tensor (N,). A map that is zero everywhere is a miss.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "cb6cd71e1de1d9a84ac05cbb92a7ba28", "grade": true, "grade_id": "test_pointing_game", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_mask = torch.zeros(3, 4, 4)
_mask[:, 1:3, 1:3] = 1
_maps = torch.zeros(3, 4, 4)
_maps[0, 2, 2] = 1.0   # peak on the object
_maps[1, 0, 3] = 1.0   # peak off the object
hits = pointing_game(_maps, _mask)
assert hits.dtype == torch.bool and hits.tolist() == [True, False, False], \
    (f"expected a bool tensor [True, False, False] (image 0 peaks on the object, image 1 off it, "
     f"image 2 is all zero), got {hits!r}")
assert pointing_game(torch.zeros(1, 4, 4), torch.ones(1, 4, 4)).tolist() == [False], \
    "a map that is zero everywhere points nowhere: it is a miss, even where the mask covers its argmax"
print("Visible tests passed.")


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "d69b3add0d4b7f8213e14cdec73212db", "grade": false, "grade_id": "energy_pointing_game", "locked": false, "schema_version": 3, "solution": true, "task": false}
def energy_pointing_game(maps, masks):
    """Share of each map's energy on the mask: sum(map * mask) / sum(map), 0 for a zero map.

    maps: (N, H, W) >= 0; masks: (N, H, W) in {0, 1}. Returns a float tensor (N,) in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "5a1b72c1b9dc346488c56899255ac287", "grade": true, "grade_id": "test_energy_pointing_game", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_energy_maps = _maps.clone()  # a copy: the pointing-game test above stays re-runnable
_energy_maps[0, 0, 0] = 1.0  # image 0: energy 1 on the object (of area 4), 1 off it
expect_close(energy_pointing_game(_energy_maps, _mask), [0.5, 0.0, 0.0], "energy_pointing_game",
             hint="one share per image; a map that is zero everywhere (image 2) gives 0, not NaN",
             causes={"divide by the map's total, sum(map), not by the mask's area": [0.25, 0.0, 0.0]})
print("Visible tests passed.")


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "7c9e46e8cb34ff60fd94b3a6cd073ea2", "grade": false, "grade_id": "uniform_baseline", "locked": false, "schema_version": 3, "solution": true, "task": false}
def uniform_baseline(masks):
    """The energy score of a uniform map: each mask's area fraction, a float tensor (N,)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "59021a53b05a11e21a24c860c4bacb3f", "grade": true, "grade_id": "test_uniform_baseline", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

expect_close(uniform_baseline(_mask), [0.25, 0.25, 0.25], "uniform_baseline(masks of 4 in 16 pixels)",
             hint="each mask's area fraction, one per image",
             causes={"did you sum instead of taking the mean (the area fraction)?": [4.0, 4.0, 4.0]})
expect_close(uniform_baseline(_mask), energy_pointing_game(torch.ones(3, 4, 4), _mask),
             "uniform_baseline(masks)", hint="it must equal the energy score of a map of ones")
print("Visible tests passed.")

# %% [markdown]
# ## 7. The scores, per layer and per class
#
# Grad-CAM for the predicted class at each layer, over the test images (a subset in fast mode).

# %%
rows = []
for name in layer_names:
    maps = explain(model.get_submodule(name), images, predictions)
    rows.append((name, pointing_game(maps, masks).float(), energy_pointing_game(maps, masks)))
baseline = uniform_baseline(masks)

header = f"{'layer':<8}{'pointing':>10}{'energy':>9}  " + "".join(f"{c:>14}" for c in CLASS_NAMES)
print(header + "\n" + "-" * len(header))
for name, hits, energy in rows:
    per_class = "".join(f"{hits[labels == c].mean():>7.0%}/{energy[labels == c].mean():>5.0%} "
                        for c in range(len(CLASS_NAMES)))
    print(f"{name:<8}{hits.mean():>10.1%}{energy.mean():>9.1%}  {per_class}")
print(f"{'uniform':<8}{'':>10}{baseline.mean():>9.1%}  (the plant's share of the image)")
print("per class: pointing / energy")

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar([r[0] for r in rows], [r[2].mean().item() for r in rows], label="energy on the plant")
ax.plot([r[0] for r in rows], [r[1].mean().item() for r in rows], "ko-", label="pointing game")
ax.axhline(baseline.mean().item(), color="red", linestyle="--", label="uniform map")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("How well Grad-CAM localises the plant")
plt.show()

# %% [markdown]
# ### Correct and wrong predictions
#
# Are the maps of misclassified images worse at finding the plant? (In fast mode there may be
# too few images of either kind to say.)

# %%
layer4_hits, layer4_energy = rows[-1][1], rows[-1][2]
for name, chosen in (("correct", predictions == labels), ("wrong", predictions != labels)):
    if chosen.any():
        print(f"{name:>8}: {int(chosen.sum())} images, pointing {layer4_hits[chosen].mean():.0%}, "
              f"energy {layer4_energy[chosen].mean():.0%}")

# %% [markdown]
# Read both tables against the uniform map. In a normal run on the shipped model (all 80 test
# images) every layer beats it by far (the plant is 7.9% of the image), but not in the order the
# theory suggests: `layer2` and `layer3` point at the plant most often (76%) and `layer1` puts the
# most energy on it (43%), while `layer4` scores 64% and 23%. The plant is the most contrasted
# object in these scenes, so the edge detectors of the early layers find it too; a good
# localisation score does not say that a layer's map is about the *class*. Section 4's maps for
# other classes, at `layer4`, are what show class evidence. The second table is sharper: on the
# 16 wrong predictions the `layer4` map points at the labelled plant 6% of the time and puts 6% of
# its energy there, no better than the uniform map, against 78% and 28% on the right ones. When
# the model is wrong, its map is somewhere else; lesson 06 measures where (often on a second
# plant of another kind).
#
# ## Recap
#
# - The layer trades resolution for meaning: `layer4` maps are coarse; measured against masks,
#   earlier layers can localise the plant as well or better, without being about the class.
# - The maps of wrong predictions miss the labelled plant: a localisation score per group of
#   predictions says more than one average.
# - Maps for other classes and counterfactual maps (negated gradients) show what speaks for and
#   against a class.
# - The ReLU, the upsampling mode and the order of normalisation are choices with visible effects.
# - Measure, with a baseline: the pointing game and the energy-based pointing game against masks.
#
# **Next:** lesson 04 looks at the other end of the resolution scale: Guided Backpropagation.
#
# **Further reading**
# - J. Zhang et al. *Top-down Neural Attention by Excitation Backprop* (the pointing game). ECCV 2016.
# - H. Wang et al. *Score-CAM* (the energy-based pointing game). CVPR Workshops 2020.
# - R. R. Selvaraju et al. *Grad-CAM* (counterfactual explanations, section 5). ICCV 2017.
