"""Hidden checks for lesson 05: each compares a student's function with the reference."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18, vgg11

from autograder.checks import hidden_check, max_diff, relative_diff
from solutions.reference import guided_gradcam as reference

TOLERANCE = 1e-5


@hidden_check
def check_guided_gradcam(student) -> None:
    g = torch.Generator().manual_seed(51)
    guided, cam = torch.randn(3, 3, 8, 6, generator=g), torch.rand(3, 8, 6, generator=g)
    got, want = student(guided.clone(), cam.clone()), reference.guided_gradcam(guided, cam)
    assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    assert relative_diff(got, want) < TOLERANCE, "every channel is scaled by the heatmap"


@hidden_check
def check_switchable_relu(student_function) -> None:
    g = torch.Generator().manual_seed(52)
    x, upstream = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    for order in (("backprop", "guided", "deconvnet"), ("guided", "backprop", "guided")):
        mine, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        my_switch, their_switch = {"rule": order[0]}, {"rule": order[0]}
        want_out = reference.SwitchableReLU.apply(mine, my_switch)
        got_out = student_function.apply(theirs, their_switch)
        assert torch.equal(got_out.detach(), want_out.detach()), "forward is max(x, 0)"
        for rule in order:
            my_switch["rule"] = their_switch["rule"] = rule
            (want,) = torch.autograd.grad(want_out, mine, upstream, retain_graph=True)
            (got,) = torch.autograd.grad(got_out, theirs, upstream, retain_graph=True)
            assert torch.equal(got, want), \
                f"after switching to {rule!r}, the backward differs (read the rule at backward time)"


@hidden_check
def check_one_pass_guided_gradcam(student) -> None:
    torch.manual_seed(53)
    vgg = vgg11(weights=None, num_classes=4)
    vgg.avgpool = nn.AdaptiveAvgPool2d(1)
    vgg.classifier = nn.Sequential(nn.Linear(512, 16), nn.ReLU(inplace=True), nn.Linear(16, 4))
    torch.manual_seed(54)
    net = resnet18(weights=None, num_classes=4)
    cases = [("resnet18", net, "layer4", None), ("resnet18", net, "layer3", [1, 2]),
             ("resnet18", net, "layer4.1.bn2", 3), ("vgg11", vgg, "features.12", [0, 3])]
    # 64 px: layer4 is 2 x 2 there (at 32 px it is 1 x 1, a constant map that Grad-CAM zeroes)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(55))
    for name, model, layer_name, targets in cases:
        model.train()
        modes = [m.training for m in model.modules()]
        layer = model.get_submodule(layer_name)
        want = reference.one_pass_guided_gradcam(model, layer, x, targets)
        got = student(model, layer, x, targets)
        where = f"{name} {layer_name}, targets={targets}"
        assert got.shape == want.shape, f"{where}: shape {tuple(got.shape)}"
        assert relative_diff(got, want) < TOLERANCE, \
            f"{where}: differs from GuidedBackprop x GradCAM by {relative_diff(got, want):.3g} " \
            "(relative). The Grad-CAM gradient needs the 'backprop' rule at the ReLUs after the layer"
        assert [m.training for m in model.modules()] == modes, f"{where}: restore every mode"
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules()), \
            f"{where}: hooks were left on the model"
        assert all(p.grad is None for p in model.parameters()), f"{where}: parameter .grad filled"


@hidden_check
def check_map_correlation(student) -> None:
    g = torch.Generator().manual_seed(56)
    a, b = torch.randn(5, 3, 4, 4, generator=g), torch.randn(5, 3, 4, 4, generator=g)
    b[1] = a[1] * 2 + 1  # perfectly correlated
    b[2] = 7.0  # constant: correlation 0
    got, want = student(a.clone(), b.clone()), reference.map_correlation(a, b)
    assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    assert not torch.isnan(got).any(), "NaN: give 0 for a constant map"
    assert max_diff(got, want) < TOLERANCE, \
        f"got {got.tolist()}, expected {want.tolist()}"
