# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 04 — Guided Backpropagation
#
# Grad-CAM says *where*, at the coarse resolution of a late layer. The gradient of the score with
# respect to the **input pixels** works at full resolution: which pixels, changed a little, would
# change the score most? Raw, that gradient is noisy. Guided Backpropagation (Springenberg et al.,
# 2015) changes one rule in the backward pass, through every ReLU, and the fine structure of the
# plant appears: leaflets, veins, bands.
#
# **By the end you can**
# - write the three backward rules through a ReLU (backprop, deconvnet, guided) and apply them
#   by hand;
# - implement a rule as a custom `torch.autograd.Function`;
# - install it at every ReLU of a model *without changing the model*, safely with in-place and
#   reused ReLUs, and name the case it cannot catch (`F.relu`);
# - show attributions as images.
#
# **Exercises** (10 points)
#
# | # | you write | points |
# | --- | --- | --- |
# | 1 | `relu_backward` | 2 |
# | 2 | `ReLUWithRule` | 2 |
# | 3 | `input_gradient` | 2 |
# | 4 | `attribution_with_rule` | 4 |

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
from torch import nn

# %%
# Setup, part 3: tools for this notebook and the classifier to explain.
import matplotlib.pyplot as plt
from torchvision.models import resnet18

from utils.datasets import (CLASS_NAMES, ImageDataset, balanced_subset, eval_transform, scene_masks,
                            split_dir)
from utils.models import SHIPPED_CHECKPOINT, load_checkpoint
from utils.visualise import (add_edge_to_attributions, compare_grid, get_edge,
                             process_attributions, to_display_image)

FAST = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("COURSE_FAST"))
model, info = load_checkpoint(SHIPPED_CHECKPOINT)
test_set = ImageDataset(split_dir("test"), transform=eval_transform(info["image_size"]))
examples = balanced_subset(test_set, 4)
images = torch.stack([image for image, _ in examples])
labels = torch.tensor([label for _, label in examples])

# %%
# include: gradcam_tutorial.resolve_targets

# %% [markdown]
# ## 1. Three ways back through a ReLU
#
# Forward, a ReLU computes $y = \max(x, 0)$. Backward, it receives $g = \partial s/\partial y$
# (how the score $s$ changes with its output) and must send something back for its input.
#
# | rule | sends back | keeps |
# | --- | --- | --- |
# | **backprop** (the true gradient) | $g \cdot [x > 0]$ | where the *input* was positive |
# | **deconvnet** (Zeiler & Fergus, 2014) | $\max(g, 0)$ | where the *signal from above* is positive |
# | **guided** (Springenberg et al., 2015) | $\max(g, 0) \cdot [x > 0]$ | both |
#
# A worked example, four units:
#
# | | unit 1 | unit 2 | unit 3 | unit 4 |
# | --- | --- | --- | --- | --- |
# | forward input $x$ | 2 | −1 | 3 | −2 |
# | gradient from above $g$ | 0.5 | 0.7 | −0.4 | −0.9 |
# | backprop | 0.5 | 0 | −0.4 | 0 |
# | deconvnet | 0.5 | 0.7 | 0 | 0 |
# | guided | 0.5 | 0 | 0 | 0 |
#
# The guided rule passes back only signal that was *active* on the way up and *increases* the
# score on the way down. Negative gradients from above (units that argue against the class) are
# dropped at every layer, which is why the result looks clean, and also why (lesson 05) it hardly
# depends on the class.

# %% nbgrader={"grade": false, "grade_id": "relu_backward", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def relu_backward(grad_output, forward_input, rule):
    """What a ReLU sends back under `rule` ("backprop", "deconvnet" or "guided").

    grad_output: gradient arriving from above, same shape as forward_input (the ReLU's input in
    the forward pass). Returns a tensor of that shape. Any other rule (also "Guided" or None)
    raises ValueError naming the three rules: never fall back to a default rule silently.
    """
    ### BEGIN SOLUTION
    if rule == "backprop":
        return grad_output * (forward_input > 0)
    if rule == "deconvnet":
        return grad_output.clamp(min=0)
    if rule == "guided":
        return grad_output.clamp(min=0) * (forward_input > 0)
    raise ValueError(f"rule must be 'backprop', 'deconvnet' or 'guided', got {rule!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_relu_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_raises, show

_x = torch.tensor([2.0, -1.0, 3.0, -2.0, 0.0])  # the worked example, and a fifth unit at x = 0
_g = torch.tensor([0.5, 0.7, -0.4, -0.9, 0.6])
_rules = {  # rule: (what it sends back, {likely cause: what that mistake sends back})
    "backprop": ([0.5, 0.0, -0.4, 0.0, 0.0], {
        "did you mask by the sign of the gradient? backprop masks by the forward input, [x > 0]":
            [0.5, 0.7, 0.0, 0.0, 0.6],
        "a ReLU's gradient at x = 0 is 0 (as in PyTorch): mask with x > 0, not x >= 0":
            [0.5, 0.0, -0.4, 0.0, 0.6]}),
    "deconvnet": ([0.5, 0.7, 0.0, 0.0, 0.6], {
        "deconvnet ignores x: it keeps only where the gradient from above is positive":
            [0.5, 0.0, 0.0, 0.0, 0.0]}),
    "guided": ([0.5, 0.0, 0.0, 0.0, 0.0], {
        "guided also drops negative gradients from above: max(g, 0) * [x > 0]":
            [0.5, 0.0, -0.4, 0.0, 0.0],
        "mask with x > 0, not x >= 0": [0.5, 0.0, 0.0, 0.0, 0.6]}),
}
for _rule, (_want, _causes) in _rules.items():
    _g_in = _g.clone()
    _got = relu_backward(_g_in, _x, _rule)
    assert torch.equal(_g_in, _g), (f"relu_backward(g, x, {_rule!r}) changed grad_output in place "
                                    f"(now {show(_g_in)}): return a new tensor (clamp, not clamp_)")
    expect_close(_got, _want, f"relu_backward(g, x, {_rule!r})", causes=_causes)
expect_raises(ValueError, lambda: relu_backward(_g, _x, "Guided"), "relu_backward(g, x, 'Guided')",
              "an unknown rule is an error, never a silent default")
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import guided_backprop as hidden_checks
hidden_checks.check_relu_backward(relu_backward)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A ReLU with a rule of its own
#
# A `torch.autograd.Function` defines both directions: `forward(ctx, ...)` computes the output and
# may keep what the backward needs on `ctx` (`ctx.save_for_backward(tensor)` for tensors, plain
# attributes for the rest); `backward(ctx, grad_output)` returns one gradient per input of
# `forward` (`None` for inputs that are not tensors). Call it with `ReLUWithRule.apply(x, rule)`.

# %% nbgrader={"grade": false, "grade_id": "ReLUWithRule", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
class ReLUWithRule(torch.autograd.Function):
    """max(x, 0) forward; backward by `rule` (see relu_backward). Use ReLUWithRule.apply(x, rule).

    An unknown rule passes forward unnoticed; backward then raises relu_backward's ValueError.
    """

    @staticmethod
    def forward(ctx, x, rule):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        ctx.rule = rule
        return x.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return relu_backward(grad_output, x, ctx.rule), None
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_ReLUWithRule", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close

_x = torch.tensor([2.0, -1.0, 3.0, -2.0, 0.0])  # the units of the relu_backward test
_g = torch.tensor([0.5, 0.7, -0.4, -0.9, 0.6])
_rules = {"backprop": [0.5, 0.0, -0.4, 0.0, 0.0], "deconvnet": [0.5, 0.7, 0.0, 0.0, 0.6],
          "guided": [0.5, 0.0, 0.0, 0.0, 0.0]}
for _rule, _want in _rules.items():
    _xx = _x.clone().requires_grad_(True)
    _y = ReLUWithRule.apply(_xx, _rule)
    assert torch.equal(_xx.detach(), _x), (f"forward changed its input in place (x is now "
                                           f"{_xx.tolist()}): return x.clamp(min=0), not clamp_")
    expect_close(_y, [2.0, 0.0, 3.0, 0.0, 0.0], "ReLUWithRule.apply(x, rule), forward",
                 hint="forward is max(x, 0)")
    (_grad,) = torch.autograd.grad(_y, _xx, grad_outputs=_g)
    expect_close(_grad, _want, f"the gradient through ReLUWithRule.apply(x, {_rule!r})",
                 hint="backward must return relu_backward(grad_output, saved x, the rule given to "
                      "forward, kept on ctx), None")
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import guided_backprop as hidden_checks
hidden_checks.check_relu_with_rule(ReLUWithRule)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The plain input gradient
#
# First the baseline: $\partial y^c / \partial x$, the gradient of each image's target logit with
# respect to its pixels. Two promises we keep from lesson 02: **do not touch the caller's
# tensors** (differentiate with respect to a detached copy of `x`; never call `requires_grad_`
# on the input you were given) and **leave the model as it was** (run it in evaluation mode, then
# restore every module's mode).

# %% nbgrader={"grade": false, "grade_id": "input_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def input_gradient(model, x, targets=None):
    """d(logit of each image's target class) / d(input): a tensor shaped like x (N, C, H, W).

    targets: as in resolve_targets (None = each image's predicted class). The model runs in
    eval mode and every module's mode is restored afterwards; x is not modified, its
    requires_grad flag is unchanged, and no parameter's .grad is filled in.
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_input_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from utils.checking import expect_close, expect_runs, expect_shape

torch.manual_seed(0)
_lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Dropout(0.5))  # in train mode, as made
_inp = torch.randn(2, 3, 2, 2)
_grad = input_gradient(_lin, _inp, targets=[0, 2])
assert not _inp.requires_grad, ("input_gradient set requires_grad on the caller's x: differentiate "
                                "with respect to a copy, x.detach().clone()")
expect_shape(_grad, (2, 3, 2, 2), "the gradient", hint="shaped like x")
expect_close(_grad.flatten(1), _lin[1].weight[[0, 2]], "the gradient of a linear model",
             hint="expected its weights W[target] for each image: did you run the model in eval "
                  "mode (dropout in train mode zeroes and rescales) and use `targets`?")
assert _lin.training and _lin[2].training, \
    "the model came in train mode and left in eval mode: restore every module's mode (finally block)"
assert all(p.grad is None for p in _lin.parameters()), \
    "the parameters' .grad were filled in: use torch.autograd.grad(score, pixels), not backward()"
with torch.no_grad():
    expect_runs(lambda: input_gradient(_lin, _inp, 1), "input_gradient called inside torch.no_grad()",
                "compute the score and its gradient under torch.enable_grad()")
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import guided_backprop as hidden_checks
hidden_checks.check_input_gradient(input_gradient)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Changing the rule at every ReLU, without changing the model
#
# We want every `nn.ReLU` of the model to behave like `ReLUWithRule` for one call. Three traps:
#
# 1. **Do not swap modules.** Replacing `model.relu` by another module (or setting
#    `inplace = False`, as many tutorials do) changes the caller's model, and any error halfway
#    leaves it changed. Hooks that we remove in a `finally` leave it exactly as it was.
# 2. **In-place ReLUs.** torchvision's ReLUs are `inplace=True`: by the time a *forward hook* runs,
#    the ReLU has overwritten its input, and the ReLU's own backward sits in the graph. (And
#    `register_full_backward_hook` on an in-place ReLU raises an error.) The cure: a **forward
#    pre-hook** keeps the original input and hands the ReLU a clone to overwrite; the forward hook
#    then returns `ReLUWithRule.apply(original, rule)` in place of the ReLU's output, so the
#    ReLU's own result and its backward are left out of the graph.
# 3. **Reused ReLUs.** torchvision's `BasicBlock` calls *one* ReLU module twice per forward pass.
#    Hooks run on every call, so the hook must use *this call's* input. Keeping only the first
#    one (`kept.setdefault(module, x)`, or reading `kept[module][0]`) hands the second call the
#    first call's input: the map is then off by 98% of its largest value (measured on a random
#    ResNet18), with no error. A stack (pre-hook pushes, hook pops, as below) is one cure; a slot
#    per module that each pre-hook overwrites works too, because a ReLU's pre-hook and its hook
#    run back to back, with no other call of that ReLU in between.
#
# The demonstration below shows trap 2 for backward hooks:

# %%
demo = resnet18(weights=None).eval()
handle = demo.relu.register_full_backward_hook(lambda module, grad_in, grad_out: None)
try:
    demo(torch.randn(1, 3, 32, 32, requires_grad=True)).sum().backward()
    print("no error (this PyTorch accepts it)")
except RuntimeError as error:
    print("RuntimeError:", str(error).splitlines()[0][:150])
finally:
    handle.remove()
calls = []
handle = demo.layer1[0].relu.register_forward_hook(lambda *args: calls.append(1))
with torch.no_grad():
    demo(torch.randn(1, 3, 32, 32))
handle.remove()
print(f"trap 3: the ReLU module of layer1[0] ran {len(calls)} times in one forward pass")

# %% nbgrader={"grade": false, "grade_id": "attribution_with_rule", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def attribution_with_rule(model, x, targets, rule):
    """Input gradient of each image's target logit, with `rule` at every nn.ReLU module.

    rule: "backprop" (= input_gradient), "deconvnet" or "guided". targets: as in resolve_targets.
    Returns a tensor shaped like x. Install the rule with hooks on every nn.ReLU (a forward
    pre-hook that keeps the input and passes on a clone; a forward hook that returns
    ReLUWithRule.apply(kept input, rule)); remove every hook in a finally block; eval mode with
    every module's mode restored; x untouched; no parameter .grad filled in. An unknown rule
    raises relu_backward's ValueError (during the backward pass), with hooks and modes restored.
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_attribution_with_rule", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
import copy

from utils.checking import expect_close, expect_no_hooks

_net = resnet18(weights=None, num_classes=4).train()  # torchvision's ReLUs work in place
_inp = torch.randn(2, 3, 32, 32)
_plain = attribution_with_rule(_net, _inp, [1, 3], "backprop")
expect_close(_plain, input_gradient(_net, _inp, [1, 3]), "the attribution with the backprop rule",
             atol=1e-6, hint="it must be the plain gradient, input_gradient: do you pass `rule` "
                             "on to ReLUWithRule, and run the model in eval mode?")
assert not _inp.requires_grad, "you set requires_grad on the caller's x: use x.detach().clone()"
assert _net.training and _net.layer1[0].bn1.training, \
    "the model came in train mode and left in eval mode: restore every module's mode (finally block)"
expect_no_hooks(_net, "remove every hook in a finally block")
assert all(m.inplace for m in _net.modules() if isinstance(m, nn.ReLU)), \
    "the model's ReLUs are no longer in place: do not change the model, install the rule with hooks"
_copy = copy.deepcopy(_net)  # the same network with ReLUs that do not work in place
for _module in _copy.modules():
    if isinstance(_module, nn.ReLU):
        _module.inplace = False
for _rule in ("deconvnet", "guided"):
    _got = attribution_with_rule(_net, _inp, [1, 3], _rule)
    assert not torch.allclose(_got, _plain), f"the {_rule} rule gives the plain gradient"
    expect_close(_got, attribution_with_rule(_copy, _inp, [1, 3], _rule),
                 f"the {_rule} attribution with in-place ReLUs", atol=1e-6,
                 hint="it must equal the one with inplace=False ReLUs (trap 2): keep each ReLU's "
                      "input in a forward pre-hook and pass the ReLU a clone")
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import guided_backprop as hidden_checks
hidden_checks.check_attribution_with_rule(attribution_with_rule)
### END HIDDEN TESTS

# %% [markdown]
# The course's `GuidedBackprop` class is a thin wrapper around your function (it is what
# `from solutions import GuidedBackprop` gives the instructor, and lesson 05 builds on it):

# %% tags=["export"]
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
# ### The trap hooks cannot catch: `F.relu`
#
# A network that calls the *function* `torch.nn.functional.relu` in its `forward` has no ReLU
# module to hook. Nothing fails: the result is silently the plain gradient.

# %%
class FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.nn.functional.relu(self.conv(x)).mean(dim=(2, 3)))


functional = FunctionalNet().eval()
probe = torch.randn(1, 3, 8, 8)
same = torch.allclose(GuidedBackprop(functional)(probe, 0), input_gradient(functional, probe, 0))
print(f"guided == plain gradient for a network built on F.relu: {same}")

# %% [markdown]
# ## 5. Seeing attributions
#
# An attribution has three channels, one per colour. `process_attributions` turns it into an
# image: `mode="magnitude"` shows the largest absolute value over the channels (clipped at the
# 99th percentile, so that a few extreme pixels do not wash everything out), `mode="channels"`
# shows signed values around grey. Canny edges of the photo (`get_edge`) drawn on top help to see
# *what* lights up.

# %%
rules = ["backprop", "deconvnet", "guided"]
attributions = {rule: attribution_with_rule(model, images, None, rule) for rule in rules}
rows = []
for i, image in enumerate(images):
    edges = get_edge(image)
    rows.append([to_display_image(image)] + [
        add_edge_to_attributions(process_attributions(attributions[rule][i]), edges, alpha=0.35)
        for rule in rules])
fig = compare_grid(rows, titles=["image", "gradient", "deconvnet", "guided backprop"],
                   row_labels=[CLASS_NAMES[label] for label in labels])
display(fig)

# How much of each map's magnitude falls on the labelled plant, beside the plant's share of the
# image (a map that ignored the plant would put about that share on it).
try:
    plant = torch.stack([scene_masks(test_set.paths[i], size=tuple(images.shape[-2:]))[0]
                         for i in examples.indices])
except ValueError as error:  # real photos have no masks
    print(f"no plant masks for these images ({error})")
else:
    print(f"the plant covers {plant.mean():.0%} of the image on average")
    for rule in rules:
        magnitude = attributions[rule].abs().sum(dim=1)
        share = (magnitude * plant).sum(dim=(1, 2)) / magnitude.sum(dim=(1, 2)).clamp_min(1e-12)
        print(f"  {rule:>9}: {share.mean():.0%} of the map on the plant "
              f"(per image: {', '.join(f'{s:.0%}' for s in share.tolist())})")

# %% [markdown]
# Compare the printed shares with the figure. The three rules differ only in what they let pass
# on the way back. The plain gradient keeps both signs of the signal, so it is noisy; deconvnet
# ignores the forward input and, on this network, comes out as a grid-like texture over the
# whole frame (its share on the plant stays close to the plant's area); guided backpropagation
# keeps only what excites the network at both ends, and follows the plant's fine structure.
# Keep in mind what it is: the image structures that excite the network, with all negative
# evidence removed. Lesson 05 shows that this makes it almost blind to the class.
#
# ## Recap
#
# - The backward rule through a ReLU is a choice: the true gradient masks by the forward input,
#   deconvnet by the sign of the signal from above, guided backprop by both.
# - A custom `torch.autograd.Function` sets the backward rule; hooks install it for one call and
#   are removed in a `finally`, so the caller's model is never changed.
# - In-place ReLUs need a forward pre-hook that keeps the original input; a reused ReLU needs each
#   call's own input (a stack, or a slot overwritten per call); functional `F.relu` cannot be
#   reached by module hooks at all.
#
# **Next:** lesson 05 multiplies guided backprop by Grad-CAM.
#
# **Further reading**
# - J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller. *Striving for Simplicity: The All
#   Convolutional Net.* ICLR Workshop 2015.
# - M. D. Zeiler, R. Fergus. *Visualizing and Understanding Convolutional Networks.* ECCV 2014.
# - W. Nie, Y. Zhang, A. Patel. *A Theoretical Explanation for Perplexing Behaviors of
#   Backpropagation-based Visualizations.* ICML 2018.
