"""Hidden checks for lesson 06: each compares a student's function with the reference."""
from __future__ import annotations

import copy

import torch
from torch import nn

from autograder.checks import hidden_check, max_diff
from solutions.reference import trusting_explanations as reference

TOLERANCE = 1e-5


def _small_classifier(seed: int) -> nn.Module:
    """A tiny convolutional classifier (3 classes) with batch norm, in train mode."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)).train()


@hidden_check
def check_energy_shares(student) -> None:
    g = torch.Generator().manual_seed(61)
    maps = torch.rand(4, 6, 5, generator=g)
    maps[2] = 0.0  # no energy: a row of zeros
    masks = [(torch.rand(4, 6, 5, generator=g) > 0.6).float() for _ in range(3)]  # overlapping
    for chosen in (masks, masks[:1], []):
        got, want = student(maps.clone(), [m.clone() for m in chosen]), \
            reference.energy_shares(maps, chosen)
        assert got.shape == want.shape, \
            f"{len(chosen)} masks: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert not torch.isnan(got).any(), "NaN: a map that is zero everywhere gives zeros"
        assert max_diff(got, want) < TOLERANCE, \
            f"{len(chosen)} overlapping masks: got {got[0].tolist()} for image 0, expected " \
            f"{want[0].tolist()} (an overlap counts for the first mask only)"


@hidden_check
def check_to_saliency(student) -> None:
    g = torch.Generator().manual_seed(62)
    for shape in ((2, 3, 5, 4), (1, 1, 3, 3), (3, 4, 2, 6)):
        attributions = torch.randn(*shape, generator=g)
        got, want = student(attributions.clone()), reference.to_saliency(attributions)
        assert got.shape == want.shape, f"input {shape}: shape {tuple(got.shape)}, expected " \
                                        f"{tuple(want.shape)}"
        assert max_diff(got, want) < TOLERANCE, f"input {shape}: sum over C of |attribution|"


def _curve_cases():
    g = torch.Generator().manual_seed(63)
    net = _small_classifier(64)
    images = torch.randn(3, 3, 6, 5, generator=g)
    saliency = torch.rand(3, 6, 5, generator=g)  # no ties: any sort order gives the same ranks
    targets = torch.tensor([0, 2, 1])
    return net, images, saliency, targets, [
        {"steps": 5}, {"steps": 7}, {"steps": 30, "baseline": torch.full((1, 3, 1, 1), 0.7)},
        {"steps": 4, "baseline": torch.randn(3, 3, 6, 5, generator=g)}]


def _check_curve(student, want_function, name) -> None:
    net, images, saliency, targets, cases = _curve_cases()
    for options in cases:
        kept = images.clone()
        want = want_function(net, images, saliency, targets, **options)
        calls = []
        hook = net.register_forward_pre_hook(lambda module, inputs: calls.append(len(inputs[0])))
        try:
            got = student(net, images, saliency.clone(), targets.clone(), **options)
        finally:
            hook.remove()
        where = f"{name} with steps={options['steps']}" + (
            ", a baseline" if "baseline" in options else "")
        assert got.shape == want.shape, f"{where}: shape {tuple(got.shape)}, " \
                                        f"expected {tuple(want.shape)}"
        assert max_diff(got, want) < 1e-4, \
            f"{where}: differs from the reference by up to {max_diff(got, want):.3g} (step k " \
            "replaces the first k * H * W // steps pixels, most salient first, in every channel)"
        assert calls == [len(images)] * (options["steps"] + 1), \
            f"{where}: the model ran on batches {calls}; once per step on the whole batch"
        assert torch.equal(images, kept), f"{where}: the images were modified in place"
        assert net.training and net[1].training, f"{where}: restore the model's train mode"
        assert all(p.grad is None for p in net.parameters()), \
            f"{where}: parameter .grad filled in: compute under torch.no_grad()"


@hidden_check
def check_deletion_curve(student) -> None:
    _check_curve(student, reference.deletion_curve, "deletion_curve")


@hidden_check
def check_insertion_curve(student) -> None:
    _check_curve(student, reference.insertion_curve, "insertion_curve")


@hidden_check
def check_curve_auc(student) -> None:
    g = torch.Generator().manual_seed(65)
    for points in (2, 5, 21):
        curves = torch.rand(4, points, generator=g)
        got, want = student(curves.clone()), reference.curve_auc(curves)
        assert got.shape == want.shape, f"{points} points: shape {tuple(got.shape)}, expected " \
                                        f"{tuple(want.shape)}"
        assert max_diff(got, want) < TOLERANCE, \
            f"{points} points per curve: got {got.tolist()}, expected {want.tolist()}"


@hidden_check
def check_spearman(student) -> None:
    g = torch.Generator().manual_seed(66)
    a = torch.randint(0, 5, (5, 2, 6, 6), generator=g).float()  # many ties
    b = torch.randn(5, 2, 6, 6, generator=g)
    b[1] = a[1] ** 3  # a monotone function: correlation 1
    b[2] = 3.0  # constant: 0
    b[3] = -a[3]
    got, want = student(a.clone(), b.clone()), reference.spearman(a, b)
    assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    assert not torch.isnan(got).any(), "NaN: a constant map gives 0"
    assert max_diff(got, want) < 1e-4, \
        f"got {[round(v, 4) for v in got.tolist()]}, expected " \
        f"{[round(v, 4) for v in want.tolist()]} (ties share the average of their ranks)"


def _state(net):
    return {name: value.clone() for name, value in net.state_dict().items()}


@hidden_check
def check_cascading_randomisation(student) -> None:
    net = _small_classifier(67)
    with torch.no_grad():  # trained-looking batch norm, so that a reset is visible
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-1, 1)
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    before, rng = _state(net), torch.get_rng_state()
    names = ["5", "1", "0"]
    copies = student(net, names, seed=3)
    assert torch.equal(torch.get_rng_state(), rng), "the caller's random state changed: seed " \
                                                    "inside torch.random.fork_rng()"
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items()), \
        "the original model changed: work on a deep copy"
    assert isinstance(copies, list) and len(copies) == len(names), \
        f"expected a list of {len(names)} models"
    assert len({id(c) for c in copies}) == len(copies), "each stage must be its own copy"
    for k, stage in enumerate(copies):
        state = stage.state_dict()
        for name, value in before.items():
            layer = name.split(".")[0]
            randomised = layer in names[: k + 1]
            if name.endswith("num_batches_tracked"):
                continue
            if randomised and layer in names[:k]:
                assert not torch.equal(state[name], value), \
                    f"copy {k}: {name} is back to its trained value; the randomisation is " \
                    f"cumulative: copy {k} has layers {names[:k + 1]} all randomised"
            elif randomised:
                assert not torch.equal(state[name], value), \
                    f"copy {k}: {name} was not re-initialised (reset_parameters on every " \
                    "submodule of the layer that has it, batch norm included)"
            else:
                assert torch.equal(state[name], value), \
                    f"copy {k}: {name} changed, but layer {layer} comes later in the cascade"
        if k:
            previous = copies[k - 1].state_dict()
            for name in previous:
                if name.split(".")[0] in names[:k]:
                    assert torch.equal(state[name], previous[name]), \
                        f"copy {k}: {name} differs from copy {k - 1}: keep the layers randomised " \
                        "before (cumulative), randomise only the next one"
    again = student(net, names, seed=3)
    assert all(torch.equal(again[-1].state_dict()[k], v)
               for k, v in copies[-1].state_dict().items()), "the same seed must give the same " \
                                                              "models"
    other = student(net, names, seed=4)
    assert not torch.equal(other[0].state_dict()["5.weight"], copies[0].state_dict()["5.weight"]), \
        "another seed must give other random weights"
    want = reference.cascading_randomisation(copy.deepcopy(net), names, seed=3)
    assert all(torch.equal(want[-1].state_dict()[k], v)
               for k, v in copies[-1].state_dict().items()), \
        "layer k must be re-initialised under torch.manual_seed(seed + k), submodules in " \
        "module order"
