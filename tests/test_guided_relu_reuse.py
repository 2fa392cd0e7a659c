"""GuidedBackprop and GuidedGradCAM where a network reuses a ReLU module or calls F.relu: the
guided rule at every use of a module, and the documented limit of module hooks."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from explainer_contract import (assert_same, no_hooks_anywhere, relative_diff, seeded_resnet18,
                                snapshot)
from guided_ground_truths import (RTOL, GuidedReLUByHand, captum_guided_backprop, input_gradient_of,
                                  plain_relu, record)
from solutions import GradCAM, GuidedBackprop, GuidedGradCAM

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


class TwoReLUNet(nn.Module):
    """conv -> ReLU -> conv -> ReLU -> GAP -> linear, the two ReLUs one module or two, or F.relu.

    The same seed gives the same weights in every variant (ReLU has no parameters)."""

    def __init__(self, relus="two modules"):
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.head = nn.Linear(6, 5)
        self.mode = relus
        if relus != "functional":
            self.relu1 = nn.ReLU()
            self.relu2 = self.relu1 if relus == "one module" else nn.ReLU(inplace=True)

    def forward(self, x, relu1=None, relu2=None):
        if relu1 is None:
            relu1, relu2 = ((F.relu, F.relu) if self.mode == "functional"
                            else (self.relu1, self.relu2))
        h = relu2(self.conv2(relu1(self.conv1(x))))
        return self.head(h.mean(dim=(2, 3)))


@pytest.fixture
def tiny_x():
    return torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(4))


def test_reused_relu_module_is_guided_at_every_use(tiny_x):
    """One nn.ReLU module called twice == two modules == the hand-written guided pass == captum;
    and it is not the pass with the guided rule at only one of the two uses."""
    shared, separate = TwoReLUNet("one module").eval(), TwoReLUNet("two modules").eval()
    assert shared.relu1 is shared.relu2
    targets = [1, 4]
    guided, plain = GuidedReLUByHand.apply, plain_relu
    truth = input_gradient_of(lambda p: shared(p, guided, guided), tiny_x, targets)
    ours = GuidedBackprop(shared)(tiny_x, targets)
    record("tiny", "-", "hand-written guided pass (reuse)", relative_diff(ours, truth))
    assert relative_diff(ours, truth) <= RTOL
    assert relative_diff(ours, GuidedBackprop(separate)(tiny_x, targets)) <= RTOL
    assert relative_diff(ours, captum_guided_backprop(shared, tiny_x, targets)) <= RTOL
    for half in ((guided, plain), (plain, guided), (plain, plain)):
        other = input_gradient_of(lambda p: shared(p, *half), tiny_x, targets)
        assert relative_diff(other, truth) > 0.01, "the test must tell the variants apart"
    assert no_hooks_anywhere(shared)


def test_resnet18_reuses_its_relu_modules():
    """What the hand-written ResNet18 pass above assumes: each BasicBlock's ReLU runs twice."""
    model = seeded_resnet18()
    counts = {}
    handles = [m.register_forward_hook(lambda m, i, o: counts.__setitem__(m, counts.get(m, 0) + 1))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32))
    finally:
        for handle in handles:
            handle.remove()
    assert sorted(counts.values()) == [1] + [2] * 8


def test_functional_relu_gets_the_plain_gradient(tiny_x):
    """The documented limit: F.relu is not an nn.ReLU module, so no guided rule is applied.

    GuidedBackprop then returns the plain input gradient, which here differs from the guided
    one; GuidedGradCAM is that plain gradient times the Grad-CAM map."""
    net = TwoReLUNet("functional").eval()
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    targets = [0, 3]
    plain = input_gradient_of(net, tiny_x, targets)
    guided = input_gradient_of(
        lambda p: net(p, GuidedReLUByHand.apply, GuidedReLUByHand.apply), tiny_x, targets)
    ours = GuidedBackprop(net)(tiny_x, targets)
    assert relative_diff(ours, plain) <= RTOL
    assert relative_diff(ours, guided) > 0.01, "the limit is real: not the guided gradient"
    cam = GradCAM(net, net.conv2)(tiny_x, targets)
    assert relative_diff(GuidedGradCAM(net, net.conv2)(tiny_x, targets),
                         plain * cam[:, None]) <= RTOL


def test_guided_gradcam_layer_that_runs_twice_is_refused():
    """From the reference's docstring: the target layer must run exactly once (a BasicBlock's
    ReLU module runs twice); RuntimeError, and every hook is removed on that path too."""
    resnet = seeded_resnet18()
    before = snapshot(resnet)
    with pytest.raises(RuntimeError, match="exactly once"):
        GuidedGradCAM(resnet, resnet.layer4[1].relu)(torch.randn(1, 3, 32, 32), 0)
    assert_same(before, snapshot(resnet))
    assert no_hooks_anywhere(resnet)
