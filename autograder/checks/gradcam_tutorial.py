"""Hidden checks for lesson 02: each compares a student's function with the reference."""
from __future__ import annotations

import torch
from torchvision.models import resnet18

from autograder.checks import hidden_check, max_diff
from solutions.reference import gradcam_tutorial as reference

TOLERANCE = 1e-5


def _net(seed: int, train: bool = False):
    torch.manual_seed(seed)
    net = resnet18(weights=None, num_classes=4)
    return net.train() if train else net.eval()


def _input(seed: int, n: int = 2, size: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _no_hooks(net) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in net.modules())


@hidden_check
def check_capture_activations(student) -> None:
    net = _net(11)
    for name in ("layer2", "layer4", "layer4.1.bn2", "layer3.0.conv1"):
        layer = net.get_submodule(name)
        x = _input(len(name))
        want_logits, want = reference.capture_activations(net, layer, x)
        got = student(net, layer, x)
        assert isinstance(got, tuple) and len(got) == 2, "return (logits, activations)"
        logits, acts = got
        assert acts.shape == want.shape, f"{name}: activations {tuple(acts.shape)}, expected " \
                                         f"{tuple(want.shape)}"
        assert max_diff(acts, want) < TOLERANCE, \
            f"{name}: activations differ by {max_diff(acts, want):.3g} (in-place trap: return a " \
            "clone to the network and keep the original)"
        assert max_diff(logits, want_logits) < TOLERANCE, f"{name}: logits differ from model(x)"
        assert acts.requires_grad, f"{name}: activations must require grad"
        (grad,) = torch.autograd.grad(logits[:, 1].sum(), acts)
        (want_grad,) = torch.autograd.grad(want_logits[:, 1].sum(), want)
        assert max_diff(grad, want_grad) < TOLERANCE, \
            f"{name}: d(logit)/d(activations) differs by {max_diff(grad, want_grad):.3g}"
        assert _no_hooks(net), f"{name}: a hook was left on the model"
    with torch.no_grad():
        logits, acts = student(net, net.layer4, _input(5))
    assert logits.requires_grad, "inside torch.no_grad() the forward pass must still build a graph"


@hidden_check
def check_channel_weights(student) -> None:
    g = torch.Generator().manual_seed(12)
    for shape in ((2, 8, 7, 7), (1, 3, 2, 5), (4, 512, 1, 1)):
        gradients = torch.randn(*shape, generator=g)
        got, want = student(gradients.clone()), reference.channel_weights(gradients)
        assert tuple(got.shape) == shape[:2], f"shape {tuple(got.shape)}, expected {shape[:2]}"
        assert max_diff(got, want) < TOLERANCE, \
            f"for gradients of shape {shape}: max difference {max_diff(got, want):.3g} " \
            "(mean over the two spatial dimensions)"


@hidden_check
def check_weighted_combination(student) -> None:
    g = torch.Generator().manual_seed(13)
    for shape in ((2, 8, 7, 7), (3, 5, 4, 6)):
        acts = torch.randn(*shape, generator=g)
        weights = torch.randn(*shape[:2], generator=g)
        got, want = student(acts.clone(), weights.clone()), reference.weighted_combination(acts, weights)
        assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert got.min() >= 0, "apply the ReLU: the map has negative values"
        assert max_diff(got, want) < TOLERANCE, \
            f"max difference {max_diff(got, want):.3g} from ReLU(sum_k w_k A_k)"


@hidden_check
def check_upsample_and_normalise(student) -> None:
    g = torch.Generator().manual_seed(14)
    cams = torch.relu(torch.randn(3, 7, 7, generator=g))
    cams[1] = 0.0  # an all-zero map must stay zero
    for size in ((224, 224), (64, 48)):
        got, want = student(cams.clone(), size), reference.upsample_and_normalise(cams, size)
        assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert not torch.isnan(got).any(), "NaN in the output: an all-zero map must stay zero"
        assert max_diff(got, want) < TOLERANCE, \
            f"size {size}: max difference {max_diff(got, want):.3g} (bilinear, " \
            "align_corners=False, then per-image min-max)"


@hidden_check
def check_resolve_targets(student) -> None:
    logits = torch.randn(3, 4, generator=torch.Generator().manual_seed(15))
    for targets in (None, 0, 3, [1, 2, 3], (0, 0, 1), range(3), torch.tensor([3, 1, 0]),
                    torch.tensor(2)):
        got, want = student(logits, targets), reference.resolve_targets(logits, targets)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.int64, \
            f"targets={targets!r}: return an int64 tensor"
        assert torch.equal(got, want), f"targets={targets!r}: got {got.tolist()}, expected " \
                                       f"{want.tolist()}"
    for bad in (True, 1.0, 4, -1, 2**70, [1, 2], [1, 2, 3, 0], [2**70, 1, 2],
                torch.tensor([[1, 2, 3]]), torch.tensor([0.0, 1.0, 2.0]),
                torch.tensor([1 + 0j, 2 + 0j, 3 + 0j]), "Greg", "abc", {1: 2}):
        try:
            student(logits, bad)
        except ValueError:
            continue
        except Exception as err:
            raise AssertionError(f"targets={bad!r} raised {type(err).__name__}, expected "
                                 "ValueError") from None
        raise AssertionError(f"targets={bad!r} should raise ValueError")


@hidden_check
def check_gradcam_class(student_class) -> None:
    for seed, layer_name, targets in ((21, "layer4", None), (22, "layer3", 2),
                                      (23, "layer4.1.bn2", [0, 3, 1])):
        net = _net(seed, train=seed % 2 == 0)
        modes = [m.training for m in net.modules()]
        flags = [p.requires_grad for p in net.parameters()]
        x = _input(seed, n=3)
        x_before = x.clone()
        layer = net.get_submodule(layer_name)
        want = reference.GradCAM(net, layer)(x, targets)
        with student_class(net, layer) as cam:
            got = cam(x, targets)
        where = f"{layer_name}, targets={targets}"
        assert got.shape == want.shape, f"{where}: shape {tuple(got.shape)}, expected " \
                                        f"{tuple(want.shape)}"
        assert max_diff(got, want) < TOLERANCE, \
            f"{where}: maps differ from the reference by {max_diff(got, want):.3g}"
        assert [m.training for m in net.modules()] == modes, f"{where}: restore every module's mode"
        assert [p.requires_grad for p in net.parameters()] == flags, \
            f"{where}: requires_grad flags changed"
        assert all(p.grad is None for p in net.parameters()), \
            f"{where}: parameter gradients were computed; use torch.autograd.grad"
        assert _no_hooks(net), f"{where}: hooks were left on the model"
        assert torch.equal(x, x_before) and not x.requires_grad, f"{where}: the input was changed"
        with torch.no_grad():
            inside = student_class(net, layer)(x, targets)
        assert max_diff(inside, want) < TOLERANCE, f"{where}: differs inside torch.no_grad()"
        alone = targets[2] if isinstance(targets, list) else targets
        single = student_class(net, layer)(x[2:3], alone)
        assert max_diff(single, got[2:3]) < TOLERANCE, \
            f"{where}: the batch result for image 2 differs from the image alone"
