"""Hidden checks for lesson 03: each compares a student's function with the reference."""
from __future__ import annotations

import itertools

import torch

from autograder.checks import hidden_check, max_diff
from solutions.reference import gradcam_experiments as reference

TOLERANCE = 1e-5


def _activations_and_gradients(seed: int, shape=(3, 6, 5, 4)):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(*shape, generator=g)), torch.randn(*shape, generator=g)


@hidden_check
def check_gradcam_variant(student) -> None:
    activations, gradients = _activations_and_gradients(31)
    activations[1] = 0.0  # a constant map must come out as zeros
    for relu, first, mode in itertools.product((True, False), (False, True), ("bilinear", "nearest")):
        for size in ((20, 16), (7, 9)):
            options = dict(relu=relu, normalise_first=first, mode=mode)
            got = student(activations.clone(), gradients.clone(), size, **options)
            want = reference.gradcam_variant(activations, gradients, size, **options)
            assert got.shape == want.shape, f"{options}, size {size}: shape {tuple(got.shape)}, " \
                                            f"expected {tuple(want.shape)}"
            assert not torch.isnan(got).any(), f"{options}: NaN for a constant map"
            assert max_diff(got, want) < TOLERANCE, \
                f"{options}, size {size}: max difference {max_diff(got, want):.3g}"


@hidden_check
def check_counterfactual_map(student) -> None:
    for seed in (32, 33):
        activations, gradients = _activations_and_gradients(seed)
        got = student(activations.clone(), gradients.clone(), (10, 12))
        want = reference.counterfactual_map(activations, gradients, (10, 12))
        assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert max_diff(got, want) < TOLERANCE, \
            f"max difference {max_diff(got, want):.3g} (negate the gradients, then Grad-CAM " \
            "with ReLU, bilinear upsampling and min-max)"


def _maps_and_masks(seed: int, n: int = 12):
    g = torch.Generator().manual_seed(seed)
    maps = torch.relu(torch.randn(n, 9, 11, generator=g))
    maps[0] = 0.0  # an all-zero map
    masks = (torch.rand(n, 9, 11, generator=g) > 0.6).float()
    masks[1] = 0.0  # an image without object pixels
    return maps, masks


@hidden_check
def check_pointing_game(student) -> None:
    for seed in (34, 35):
        maps, masks = _maps_and_masks(seed)
        got, want = student(maps.clone(), masks.clone()), reference.pointing_game(maps, masks)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.bool, "return a bool tensor"
        assert torch.equal(got, want), f"hits {got.int().tolist()}, expected {want.int().tolist()}" \
                                       " (image 0's map is all zero: a miss)"


@hidden_check
def check_energy_pointing_game(student) -> None:
    for seed in (36, 37):
        maps, masks = _maps_and_masks(seed)
        got, want = student(maps.clone(), masks.clone()), reference.energy_pointing_game(maps, masks)
        assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert not torch.isnan(got).any(), "NaN: an all-zero map scores 0"
        assert max_diff(got, want) < TOLERANCE, f"max difference {max_diff(got, want):.3g}"


@hidden_check
def check_uniform_baseline(student) -> None:
    _, masks = _maps_and_masks(38)
    got, want = student(masks.clone()), reference.uniform_baseline(masks)
    assert got.shape == want.shape and max_diff(got, want) < TOLERANCE, \
        f"got {got.tolist()}, expected each mask's area fraction {want.tolist()}"
