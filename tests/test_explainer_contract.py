"""The contract every explainer of the reference API keeps (DESIGN.md, "Reference API"), run once
for each of them: a new explainer gets every clause by being added to EXPLAINERS.

What is specific to one method (agreement with captum and pytorch-grad-cam, ground truths, what
an all-zero map gives) lives in tests/test_gradcam_reference.py and tests/test_guided_reference.py.
"""
from __future__ import annotations

import re

import pytest
import torch

from explainer_contract import (BAD_TARGETS, N_CLASSES, N_IMAGES, assert_same, messy_resnet,
                                no_hooks_anywhere, per_image_targets, relative_diff,
                                seeded_resnet18, snapshot)
from solutions import GradCAM, GuidedBackprop, GuidedGradCAM

# name: (build the explainer for a ResNet18, tolerance of batch vs one image at a time).
# Guided Grad-CAM's per-image min-max amplifies the ~1e-7 rounding difference of a batched
# convolution by max|map| / span (measured up to 2.3e-6); Grad-CAM's maps are in [0, 1].
EXPLAINERS = {
    "GradCAM": (lambda model: GradCAM(model, model.layer4[1].bn2), 1e-5),
    "GuidedBackprop": (lambda model: GuidedBackprop(model), 1e-6),
    "GuidedGradCAM": (lambda model: GuidedGradCAM(model, model.layer4[1].bn2), 1e-5),
}
every_explainer = pytest.mark.parametrize("kind", list(EXPLAINERS))


def explainer(kind, model):
    return EXPLAINERS[kind][0](model)


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def resnet():
    """Shared by the read-only clauses (each asserts it is left unchanged)."""
    return seeded_resnet18()


@pytest.fixture
def small_x():
    return torch.randn(N_IMAGES, 3, 40, 56, generator=torch.Generator().manual_seed(2))


@every_explainer
def test_model_comes_back_as_it_went_in(small_x, kind):
    """Same modules, modes, requires_grad, grads, BN statistics, hooks (the user's stays)."""
    model, calls = messy_resnet()
    before = snapshot(model)
    out = explainer(kind, model)(small_x, [1, 2, 3])
    assert_same(before, snapshot(model))
    assert calls == [1], "the user's own hook stays and runs once per forward pass"
    assert all(p.grad is None for name, p in model.named_parameters() if name != "fc.weight")
    # the result is that of the same weights in eval mode with every parameter trainable
    assert relative_diff(out, explainer(kind, seeded_resnet18())(small_x, [1, 2, 3])) <= 1e-6


@every_explainer
def test_no_hooks_and_no_grads_left(resnet, small_x, kind):
    assert no_hooks_anywhere(resnet)
    before = snapshot(resnet)
    explainer(kind, resnet)(small_x)
    assert no_hooks_anywhere(resnet)
    assert all(p.grad is None for p in resnet.parameters())
    assert_same(before, snapshot(resnet))


@every_explainer
def test_fully_frozen_model(small_x, kind):
    model = seeded_resnet18()
    expected = explainer(kind, model)(small_x, [1, 2, 3])
    model.requires_grad_(False)
    assert torch.equal(explainer(kind, model)(small_x, [1, 2, 3]), expected)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


@every_explainer
@pytest.mark.parametrize("requires_grad", [False, True])
def test_input_untouched(resnet, small_x, kind, requires_grad):
    x = small_x.clone().requires_grad_(requires_grad)
    copy_, version = x.detach().clone(), x._version
    out = explainer(kind, resnet)(x, [1, 2, 3])
    assert torch.equal(x.detach(), copy_) and x._version == version
    assert x.requires_grad is requires_grad and x.is_leaf and x.grad is None
    assert not out.requires_grad, "the result is detached from any graph"
    assert torch.equal(out, explainer(kind, resnet)(copy_, [1, 2, 3]))


@every_explainer
def test_two_calls_identical(resnet, small_x, kind):
    explain = explainer(kind, resnet)
    assert torch.equal(explain(small_x), explain(small_x))
    assert torch.equal(explain(small_x, [3, 1, 4]), explain(small_x, [3, 1, 4]))


@every_explainer
def test_inside_no_grad(resnet, small_x, kind):
    outside = explainer(kind, resnet)(small_x, [1, 2, 3])
    with torch.no_grad():
        inside = explainer(kind, resnet)(small_x, [1, 2, 3])
        assert not torch.is_grad_enabled()
    assert torch.equal(inside, outside)


@every_explainer
@pytest.mark.parametrize("form", ["None", "int", "list", "tuple", "tensor"])
def test_batch_equals_per_image(small_x, kind, form):
    """On a model in train mode (batch norm would couple the images if it were left so)."""
    model = seeded_resnet18(train=True)
    explain = explainer(kind, model)
    classes = [11, 22, 33]
    batch_targets = {"None": None, "int": 42, "list": classes, "tuple": tuple(classes),
                     "tensor": torch.tensor(classes)}[form]
    batch = explain(small_x, batch_targets)
    for n in range(len(small_x)):
        single_targets = (batch_targets if form in ("None", "int")
                          else per_image_targets(form, classes)[n])
        single = explain(small_x[n:n + 1], single_targets)
        assert relative_diff(batch[n:n + 1], single) <= EXPLAINERS[kind][1], f"image {n}"
    # what each form means: None = the eval-mode prediction, an int = that class for all
    model.eval()
    with torch.no_grad():
        predicted = model(small_x).argmax(dim=1).tolist()
    model.train()
    meaning = {"None": predicted, "int": [42] * 3}.get(form, classes)
    assert torch.equal(batch, explain(small_x, list(meaning)))


@every_explainer
def test_range_is_a_sequence_of_targets(resnet, small_x, kind):
    """The contract says "a sequence": range(3) is a collections.abc.Sequence."""
    explain = explainer(kind, resnet)
    assert torch.equal(explain(small_x, range(3)), explain(small_x, [0, 1, 2]))


@pytest.fixture(scope="module")
def train_resnet():
    return seeded_resnet18(train=True)


@every_explainer
@pytest.mark.parametrize("targets,problem", BAD_TARGETS)
def test_bad_targets_raise_value_error(train_resnet, small_x, kind, targets, problem):
    model = train_resnet
    before = snapshot(model)
    with pytest.raises(ValueError) as info:
        explainer(kind, model)(small_x, targets)
    message = str(info.value)
    assert re.search(r"\bint", message, re.IGNORECASE), f"say that ints are expected: {message}"
    assert re.search(rf"\b{N_IMAGES}\b", message), f"say how many targets: {message}"
    if problem == "range":
        assert re.search(rf"\b({N_CLASSES - 1}|{N_CLASSES})\b", message), \
            f"say the valid range: {message}"
    assert_same(before, snapshot(model))  # hooks removed and modes restored on the error path
