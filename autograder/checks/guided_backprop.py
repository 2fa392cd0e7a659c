"""Hidden checks for lesson 04: each compares a student's function with the reference."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18, vgg11

from autograder.checks import hidden_check, max_diff, relative_diff
from solutions.reference import guided_backprop as reference

TOLERANCE = 1e-5
RULES = ("backprop", "deconvnet", "guided")


@hidden_check
def check_relu_backward(student) -> None:
    g = torch.Generator().manual_seed(41)
    x, grad = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    for rule in RULES:
        got, want = student(grad.clone(), x.clone(), rule), reference.relu_backward(grad, x, rule)
        assert got.shape == want.shape and max_diff(got, want) == 0, \
            f"rule {rule!r}: differs from the table (max difference {max_diff(got, want):.3g})"
    try:
        student(grad, x, "zeiler")
    except ValueError:
        return
    raise AssertionError("an unknown rule should raise ValueError")


@hidden_check
def check_relu_with_rule(student_function) -> None:
    g = torch.Generator().manual_seed(42)
    for rule in RULES:
        x = torch.randn(2, 6, generator=g)
        upstream = torch.randn(2, 6, generator=g)
        mine, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        want_out = reference.ReLUWithRule.apply(mine, rule)
        got_out = student_function.apply(theirs, rule)
        assert torch.equal(got_out.detach(), want_out.detach()), f"rule {rule!r}: forward differs"
        (want,) = torch.autograd.grad(want_out, mine, upstream)
        (got,) = torch.autograd.grad(got_out, theirs, upstream)
        assert max_diff(got, want) == 0, f"rule {rule!r}: backward differs from relu_backward"


def _models():
    torch.manual_seed(43)
    yield "resnet18", resnet18(weights=None, num_classes=4), torch.randn(2, 3, 32, 32)
    torch.manual_seed(44)
    vgg = vgg11(weights=None, num_classes=4)
    # VGG's in-place ReLU features with a small head (its own head has 120 million weights)
    vgg.avgpool = nn.AdaptiveAvgPool2d(1)
    vgg.classifier = nn.Sequential(nn.Linear(512, 16), nn.ReLU(inplace=True), nn.Linear(16, 4))
    yield "vgg11", vgg, torch.randn(2, 3, 32, 32)


def _each_model_checked_untouched():
    """Each test model, in train mode, with its input. Once the caller's checks on one model
    are done (the loop asks for the next), asserts that the student's function left that model
    and its input as they were."""
    for name, model, x in _models():
        model.train()
        modules, modes, x_before = [id(m) for m in model.modules()], \
            [m.training for m in model.modules()], x.clone()
        yield name, model, x
        _assert_untouched(name, model, modules, modes, x, x_before)


def _assert_untouched(name, model, modules, modes, x, x_before):
    assert [id(m) for m in model.modules()] == modules, f"{name}: modules were replaced"
    assert [m.training for m in model.modules()] == modes, f"{name}: restore every module's mode"
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU)), \
        f"{name}: inplace flags were changed"
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in model.modules()), f"{name}: hooks were left on the model"
    assert all(p.grad is None for p in model.parameters()), f"{name}: parameter .grad filled in"
    assert torch.equal(x, x_before) and not x.requires_grad, f"{name}: the input was changed"


@hidden_check
def check_input_gradient(student) -> None:
    for name, model, x in _each_model_checked_untouched():
        for targets in (None, 2, [0, 3]):
            got = student(model, x, targets)
            want = reference.input_gradient(model, x, targets)
            assert got.shape == x.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(x.shape)}"
            assert relative_diff(got, want) < TOLERANCE, \
                f"{name}, targets={targets}: differs from the reference by " \
                f"{relative_diff(got, want):.3g} (relative; did you use eval mode?)"


@hidden_check
def check_attribution_with_rule(student) -> None:
    for name, model, x in _each_model_checked_untouched():
        for rule in RULES:
            got = student(model, x, [1, 2], rule)
            want = reference.attribution_with_rule(model, x, [1, 2], rule)
            assert got.shape == x.shape, f"{name}: shape {tuple(got.shape)}"
            assert relative_diff(got, want) < TOLERANCE, \
                f"{name}, rule {rule!r}: differs from the reference by " \
                f"{relative_diff(got, want):.3g} (relative). In-place ReLUs: keep the input in " \
                "a forward pre-hook; reused ReLUs: one kept input per call"
            single = student(model, x[1:2], [2], rule)
            assert relative_diff(single, want[1:2]) < TOLERANCE, \
                f"{name}, rule {rule!r}: the batch result differs from the image alone"
