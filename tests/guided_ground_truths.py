"""Guided Backpropagation computed independently of the reference, for
tests/test_guided_reference.py: seeded models, the libraries called so that they are comparable
(see that module's docstring), and the ground truth written here (each network's forward pass by
hand with a guided-ReLU autograd function wherever a ReLU module runs)."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
from torchvision import models

from explainer_contract import seeded_resnet18

RTOL = 1e-6  # relative; against captum and the hand-written pass, which compute on the same batch

MEASURED: dict[tuple[str, str, str], float] = {}  # (net, layer or "-", against) -> relative diff


def record(net, layer, against, diff):
    MEASURED[(net, layer, against)] = diff
    print(f"\nrelative max |diff| {net:>9} {layer:<16} vs {against:<34} {diff:.3g}")
    return diff


def seeded_vgg():
    """VGG11-BN features (every ReLU in place) with a small head that has an in-place ReLU too.

    The 25088 -> 4096 classifier is replaced (it would dominate the run time); the features are
    torchvision's, initialised by the seed.
    """
    torch.manual_seed(0)
    model = models.vgg11_bn(weights=None)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Linear(512, 16), nn.ReLU(inplace=True), nn.Linear(16, 4))
    return model.eval()


NETS = {
    "resnet18": (seeded_resnet18, (3, 3, 64, 80), [7, 500, 999]),
    "vgg11_bn": (seeded_vgg, (3, 3, 64, 80), [3, 0, 2]),
}

# ---------------------------------------------------------------------------------------------
# The other implementations, called so that they are comparable (see the module docstring).

def captum_guided_backprop(model, x, targets):
    attr = pytest.importorskip("captum.attr")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require",
                                category=UserWarning)
        return attr.GuidedBackprop(model).attribute(x.clone(), target=list(targets))


def minmax(maps):
    """Per-image min-max of (N, H, W) maps to [0, 1]; a constant map becomes all zero."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1.0), 0.0)


def captum_guided_gradcam(model, layer, x, targets):
    attr = pytest.importorskip("captum.attr")
    lowres = attr.LayerGradCam(model, layer).attribute(x.clone(), target=list(targets),
                                                       relu_attributions=True)
    up = attr.LayerAttribution.interpolate(lowres, tuple(x.shape[-2:]),
                                           interpolate_mode="bilinear")
    return captum_guided_backprop(model, x, targets) * minmax(up[:, 0])[:, None]


def pgc_guided_backprop(model, x, targets):
    """pytorch-grad-cam, one image at a time, each on its own copy of the model and image."""
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam import GuidedBackpropReLUModel

    rows = []
    for n, target in enumerate(targets):
        own_model = copy.deepcopy(model)
        hwc = GuidedBackpropReLUModel(own_model, device="cpu")(x[n:n + 1].clone(), int(target))
        assert isinstance(hwc, np.ndarray) and hwc.shape == (*x.shape[-2:], x.shape[1])
        rows.append(torch.from_numpy(hwc.transpose(2, 0, 1).copy()))
    return torch.stack(rows)


# ---------------------------------------------------------------------------------------------
# Ground truths written here: the forward pass by hand, a guided ReLU wherever a ReLU runs.

class GuidedReLUByHand(torch.autograd.Function):
    """ReLU forward; backward passes the incoming gradient only where it is > 0 and x > 0."""

    @staticmethod
    def forward(ctx, x):
        positive = x > 0
        ctx.save_for_backward(positive)
        return torch.where(positive, x, torch.zeros_like(x))

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return torch.where(positive & (grad > 0), grad, torch.zeros_like(grad))


def plain_relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def resnet18_by_hand(model, x, relu=GuidedReLUByHand.apply):
    """ResNet18's forward written out; `relu` wherever torchvision calls a ReLU module (twice per
    BasicBlock, through the block's one `relu` module). No module ReLU runs, no hooks."""
    h = model.maxpool(relu(model.bn1(model.conv1(x))))
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            assert isinstance(block, models.resnet.BasicBlock)
            identity = h if block.downsample is None else block.downsample(h)
            out = relu(block.bn1(block.conv1(h)))
            h = relu(block.bn2(block.conv2(out)) + identity)
    return model.fc(torch.flatten(model.avgpool(h), 1))


def sequential_by_hand(seq, x, relu=GuidedReLUByHand.apply):
    for module in seq:
        x = relu(x) if isinstance(module, nn.ReLU) else module(x)
    return x


def vgg_by_hand(model, x, relu=GuidedReLUByHand.apply):
    h = model.avgpool(sequential_by_hand(model.features, x, relu))
    return sequential_by_hand(model.classifier, torch.flatten(h, 1), relu)


BY_HAND = {"resnet18": resnet18_by_hand, "vgg11_bn": vgg_by_hand}


def input_gradient_of(forward, x, targets):
    """d(sum_n logits[n, targets[n]]) / dx for any forward function, through autograd."""
    pixels = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = forward(pixels)
        score = logits[torch.arange(len(targets)), torch.as_tensor(list(targets))].sum()
        (grad,) = torch.autograd.grad(score, pixels)
    return grad
