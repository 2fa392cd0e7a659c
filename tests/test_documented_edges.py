"""The edge cases the lessons' docstrings promise (issue 17: the gaps a learner stopped at)."""
import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from solutions.reference.gradcam_tutorial import GradCAM, resolve_targets, upsample_and_normalise
from solutions.reference.guided_backprop import (ReLUWithRule, attribution_with_rule,
                                                 relu_backward)


def test_a_0d_integer_tensor_is_one_class_for_every_image():
    logits = torch.randn(3, 4)
    assert resolve_targets(logits, logits[0].argmax()).tolist() == [logits[0].argmax().item()] * 3
    for bad in (torch.tensor(True), torch.tensor(2.0)):
        with pytest.raises(ValueError, match="targets must be"):
            resolve_targets(logits, bad)


@pytest.mark.parametrize("value", [0.1, 1.7, 4.96, 123.456])
def test_a_constant_map_stays_zero_despite_rounding_in_the_upsampling(value):
    # Bilinear upsampling of a constant 1x1 map is constant only up to rounding (~1e-7 relative).
    upsampled = torch.nn.functional.interpolate(torch.full((1, 1, 1, 1), value), size=(224, 224),
                                                mode="bilinear", align_corners=False)
    assert upsampled.max() > upsampled.min()  # the noise this test is about
    assert torch.equal(upsample_and_normalise(torch.full((1, 1, 1), value), (224, 224)),
                       torch.zeros(1, 224, 224))


def test_a_map_that_varies_beyond_the_tolerance_is_stretched_to_unit_range():
    cam = torch.full((1, 2, 2), 100.0)
    cam[0, 0, 0] += 0.01  # 1e-4 of the value: ten times the tolerance
    out = upsample_and_normalise(cam, (8, 8))
    assert out.min() == 0 and out.max() == pytest.approx(1.0)


def test_gradcam_maps_are_detached_even_for_an_input_that_requires_grad():
    net = resnet18(weights=None, num_classes=4)
    maps = GradCAM(net, net.layer3)(torch.randn(2, 3, 64, 64, requires_grad=True))
    assert not maps.requires_grad and maps.grad_fn is None


def test_an_unknown_rule_raises_value_error_everywhere_and_leaves_no_hooks():
    x = torch.randn(5)
    with pytest.raises(ValueError, match="'backprop', 'deconvnet' or 'guided'"):
        relu_backward(torch.ones(5), x, "Guided")
    pixels = x.clone().requires_grad_(True)
    out = ReLUWithRule.apply(pixels, "Guided")  # forward does not look at the rule
    with pytest.raises(ValueError, match="got 'Guided'"):
        torch.autograd.grad(out.sum(), pixels)
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2)).train()
    with pytest.raises(ValueError, match="got 'Guided'"):
        attribution_with_rule(net, torch.randn(1, 3, 4, 4), 0, "Guided")
    assert net.training and not any(m._forward_hooks or m._forward_pre_hooks
                                    for m in net.modules())
