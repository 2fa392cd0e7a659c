"""Grad-CAM computed independently of the reference, for tests/test_gradcam_reference.py: the
libraries called so that they are comparable (see that module's docstring), and ground truths
written here (an additive zero offset, a hook-free hand split of ResNet18's last block)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import models

# Model families, each with an input batch (non-square, to catch H/W mix-ups) and one distinct
# explicit target class per image.
NETS = {
    "resnet18": (models.resnet18, (3, 3, 64, 96), [7, 500, 999]),
    "vgg11_bn": (models.vgg11_bn, (2, 3, 64, 96), [3, 640]),  # in-place ReLUs everywhere
    "mobilenet_v3_small": (models.mobilenet_v3_small, (3, 3, 64, 96), [1, 200, 987]),
}



def minmax_upsample(cam, size):
    """(N, h, w) map at the layer's resolution -> bilinear (align_corners=False) -> min-max."""
    up = F.interpolate(cam[:, None].float(), size=tuple(size), mode="bilinear",
                       align_corners=False)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / torch.where(span > 0, span, 1.0), 0.0)


def seeded_net(name):
    builder, shape, targets = NETS[name]
    torch.manual_seed(0)
    model = builder(weights=None).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    return model, x, targets


def max_diff(a, b):
    """max |a - b| in float64; a and b are tensors or numpy arrays of the same shape."""
    a, b = (t if isinstance(t, torch.Tensor) else torch.from_numpy(np.asarray(t)) for t in (a, b))
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.double() - b.double()).abs().max().item()


def ground_truth_zero_offset(model, layer, x, targets, raw=False):
    """Grad-CAM by an additive zero: the hook returns `output + delta` (delta = 0, requires grad).

    `output + delta` is a new tensor, so later in-place operations act on it and never on
    `output`, a copy of which we keep; d(score)/d(delta) = d(score)/dA for the value A had when
    the layer produced it. A different mechanism from the reference's detached leaf + clone.
    """
    kept = {}

    def hook(module, inputs, output):
        kept["A"] = output.detach().clone()
        kept["delta"] = torch.zeros_like(output, requires_grad=True)
        return output + kept["delta"]

    handle = layer.register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    score = logits[torch.arange(len(targets)), torch.as_tensor(targets)].sum()
    (grad,) = torch.autograd.grad(score, kept["delta"])
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * kept["A"]).sum(dim=1))
    maps = minmax_upsample(cam, x.shape[-2:])
    return (cam, maps) if raw else maps


def pgc_postprocess(cam, size):
    """pytorch-grad-cam 1.5's post-processing of a raw (N, h, w) map, in float64 with torch.

    compute_cam_per_layer: relu, then scale_cam_image(cam, (W, H)): per image
    (c - min c) / (1e-7 + max(c - min c)), then cv2.resize INTER_LINEAR (= bilinear,
    align_corners=False); aggregate_multi_layers: relu, mean over the one layer, scale_cam_image.
    """
    def scale(c):
        c = c - c.amin(dim=(1, 2), keepdim=True)
        return c / (1e-7 + c.amax(dim=(1, 2), keepdim=True))

    up = F.interpolate(scale(torch.relu(cam.double()))[:, None], size=tuple(size),
                       mode="bilinear", align_corners=False)[:, 0]
    return scale(torch.relu(up))


class LogitScale(nn.Module):
    """`model` with its logits multiplied by `factor` (same modules, same layers)."""

    def __init__(self, model, factor):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x):
        return self.model(x) * self.factor


def resnet18_last_block_split(model, x):
    """ResNet18 up to layer4[1].bn2 without hooks: (identity h, A = bn2 output), both detached."""
    block = model.layer4[1]
    assert block.downsample is None
    with torch.no_grad():
        h = model.maxpool(F.relu(model.bn1(model.conv1(x))))
        h = model.layer4[0](model.layer3(model.layer2(model.layer1(h))))
        a = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(h)))))
    return h, a


def resnet18_bn2_ground_truth(model, x, targets):
    """Grad-CAM at layer4.1.bn2 by running the network split by hand, no hooks, no in-place ops.

    A = bn2's output; the rest of the block (`out += identity; relu`) and of the network are run
    out of place from a fresh leaf A, and d(score)/dA comes from autograd.
    """
    h, a = resnet18_last_block_split(model, x)
    a = a.clone().requires_grad_(True)
    with torch.enable_grad():
        out = F.relu(a + h)
        logits = model.fc(torch.flatten(model.avgpool(out), 1))
        score = logits[torch.arange(len(targets)), torch.as_tensor(targets)].sum()
        (grad,) = torch.autograd.grad(score, a)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * a.detach()).sum(dim=1))
    return minmax_upsample(cam, x.shape[-2:]), grad, h, a.detach()


def captum_gradcam(model, layer, x, targets):
    attr = pytest.importorskip("captum.attr")
    lowres = attr.LayerGradCam(model, layer).attribute(x, target=list(targets),
                                                       relu_attributions=True)
    up = attr.LayerAttribution.interpolate(lowres, tuple(x.shape[-2:]),
                                           interpolate_mode="bilinear")
    return minmax_upsample(up[:, 0], x.shape[-2:])  # already at (H, W): only the min-max acts


def pgc_gradcam(model, layer, x, targets):
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam import GradCAM as PGCGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    try:
        with PGCGradCAM(model=model, target_layers=[layer]) as cam:
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        model.zero_grad(set_to_none=True)  # it uses .backward(): leave the shared model clean
    return torch.from_numpy(np.asarray(out))
