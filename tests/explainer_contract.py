"""Shared helpers for the explainers' contract (DESIGN.md, "Reference API"): what every explainer
must leave as it found it, and the targets it must refuse. Used by tests/test_explainer_contract.py
(the clauses, once for every explainer) and by the method-specific reference tests."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.modules import module as torch_module_globals
from torchvision import models

HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
              "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks",
              "_backward_pre_hooks", "_state_dict_hooks", "_state_dict_pre_hooks",
              "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")
GLOBAL_HOOK_DICTS = ("_global_forward_hooks", "_global_forward_pre_hooks",
                     "_global_backward_hooks", "_global_backward_pre_hooks",
                     "_global_forward_hooks_always_called")


def seeded_resnet18(train=False):
    torch.manual_seed(0)
    model = models.resnet18(weights=None)
    return model.train() if train else model.eval()


def relative_diff(ours, theirs):
    """max |ours - theirs| / max |theirs| (float64); absolute where theirs is all zero."""
    ours, theirs = (t if isinstance(t, torch.Tensor) else torch.from_numpy(np.asarray(t))
                    for t in (ours, theirs))
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = theirs.double().abs().max().item()
    diff = (ours.double() - theirs.double()).abs().max().item()
    return diff / scale if scale > 0 else diff


def all_hooks(model):
    """Every module hook, every global module hook, every tensor hook on a parameter."""
    modules = {(name, attr): list(getattr(m, attr, {}).items())
               for name, m in model.named_modules(remove_duplicate=False) for attr in HOOK_DICTS}
    params = {name: (p._backward_hooks, getattr(p, "_post_accumulate_grad_hooks", None))
              for name, p in model.named_parameters()}
    glob = {attr: list(getattr(torch_module_globals, attr, {}).items())
            for attr in GLOBAL_HOOK_DICTS}
    return modules, params, glob


def no_hooks_anywhere(model):
    modules, params, glob = all_hooks(model)
    return (not any(modules.values()) and not any(any(h) for h in params.values())
            and not any(glob.values()))


def snapshot(model):
    """Everything about `model` that an explainer must leave as it found it.

    The module and parameter objects themselves are kept (not their id(), which a new object
    could reuse once a replaced one is freed) and compared with `is`."""
    named = list(model.named_modules(remove_duplicate=False))
    return {
        "modules": [(name, m) for name, m in named],
        "inplace": {name: m.inplace for name, m in named if hasattr(m, "inplace")},
        "training": {name: m.training for name, m in named},
        "params": [(name, p, p.requires_grad) for name, p in model.named_parameters()],
        "grads": {name: None if p.grad is None else p.grad.clone()
                  for name, p in model.named_parameters()},
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "hooks": all_hooks(model),
    }


def assert_same(before, after):
    for key in ("modules", "params"):
        assert len(before[key]) == len(after[key]), f"number of {key} changed"
        for (name, obj, *flags), (name_now, obj_now, *flags_now) in zip(before[key], after[key]):
            assert name == name_now and obj is obj_now, f"{key}: {name} replaced"
            assert flags == flags_now, f"{name}.requires_grad changed"
    for key in ("inplace", "training", "hooks"):
        assert before[key] == after[key], f"{key} changed"
    for name, grad in before["grads"].items():
        now = after["grads"][name]
        assert (grad is None and now is None) or (
            grad is not None and now is not None and torch.equal(grad, now)), f"{name}.grad"
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), f"state_dict[{key!r}] changed"


def messy_resnet():
    """ResNet18 in train mode with some modules in eval, frozen parameters, a .grad and a user
    forward hook (which must stay and run once per forward pass)."""
    model = seeded_resnet18(train=True)
    model.layer2.eval()
    model.layer3[0].bn1.eval()
    for module in (model.conv1, model.bn1, model.layer1):
        module.requires_grad_(False)
    model.fc.weight.grad = torch.ones_like(model.fc.weight)
    calls = []
    model.layer3.register_forward_hook(lambda module, inputs, output: calls.append(1))
    return model, calls


def per_image_targets(form, classes):
    """The one-image version of each of a batch's targets, written in the same form."""
    if form == "tensor":
        return [torch.tensor([c]) for c in classes]
    return [[c] if form == "list" else (c,) for c in classes]


# Targets every explainer must refuse with a ValueError, for a batch of N_IMAGES images and a
# model of N_CLASSES classes: (value, what is wrong with it).
N_IMAGES, N_CLASSES = 3, 1000
BAD_TARGETS = [
    pytest.param([1, 2], "length", id="short-list"),
    pytest.param((1, 2, 3, 4), "length", id="long-tuple"),
    pytest.param(torch.tensor([1, 2]), "length", id="short-tensor"),
    pytest.param(1.5, "type", id="float"),
    pytest.param(2.0, "type", id="integral-float"),
    pytest.param(True, "type", id="bool"),
    pytest.param([1, True, 2], "type", id="list-with-bool"),
    pytest.param([1, 2.0, 3], "type", id="list-with-float"),
    pytest.param(torch.tensor([[1, 2, 3]]), "type", id="2d-tensor"),
    pytest.param(torch.tensor([1.0, 2.0, 3.0]), "type", id="float-tensor"),
    pytest.param(torch.tensor([True, False, True]), "type", id="bool-tensor"),
    pytest.param(torch.tensor([1 + 0j, 2 + 0j, 3 + 0j]), "type", id="complex-tensor"),
    pytest.param("Greg", "type", id="string"),
    pytest.param(-1, "range", id="negative"),
    pytest.param(N_CLASSES, "range", id="int-too-large"),
    pytest.param([0, 1, N_CLASSES], "range", id="list-out-of-range"),
    pytest.param(torch.tensor([0, -1, 2]), "range", id="tensor-out-of-range"),
    pytest.param(2 ** 70, "range", id="huge-int"),
    pytest.param([2 ** 70, 1, 2], "range", id="list-with-huge-int"),
]
