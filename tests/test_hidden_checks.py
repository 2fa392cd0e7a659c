"""The hidden checks: the reference passes every one, plausible wrong answers fail with a message
that helps. (Running them inside real notebooks with nbgrader is tests/test_lessons.py.)"""
import copy

import pytest
import torch
from torch import nn

from autograder.checks import finetune_resnet as checks
from autograder.checks import gradcam_experiments as experiment_checks
from autograder.checks import gradcam_tutorial as gradcam_checks
from autograder.checks import guided_backprop as guided_checks
from autograder.checks import guided_gradcam as ggc_checks
from solutions.reference import finetune_resnet as reference
from solutions.reference import gradcam_experiments as experiments
from solutions.reference import gradcam_tutorial as gradcam
from solutions.reference import guided_backprop as guided
from solutions.reference import guided_gradcam as ggc

def test_reference_passes_every_hidden_check():
    gradcam_checks.check_capture_activations(gradcam.capture_activations)
    gradcam_checks.check_channel_weights(gradcam.channel_weights)
    gradcam_checks.check_weighted_combination(gradcam.weighted_combination)
    gradcam_checks.check_upsample_and_normalise(gradcam.upsample_and_normalise)
    gradcam_checks.check_resolve_targets(gradcam.resolve_targets)
    gradcam_checks.check_gradcam_class(gradcam.GradCAM)
    for name in ("gradcam_variant", "counterfactual_map", "pointing_game", "energy_pointing_game",
                 "uniform_baseline"):
        getattr(experiment_checks, f"check_{name}")(getattr(experiments, name))
    guided_checks.check_relu_backward(guided.relu_backward)
    guided_checks.check_relu_with_rule(guided.ReLUWithRule)
    guided_checks.check_input_gradient(guided.input_gradient)
    guided_checks.check_attribution_with_rule(guided.attribution_with_rule)
    ggc_checks.check_guided_gradcam(ggc.guided_gradcam)
    ggc_checks.check_switchable_relu(ggc.SwitchableReLU)
    ggc_checks.check_one_pass_guided_gradcam(ggc.one_pass_guided_gradcam)
    ggc_checks.check_map_correlation(ggc.map_correlation)
    checks.check_label_from_filename(reference.label_from_filename)
    checks.check_replace_head(reference.replace_head)
    checks.check_freeze_backbone(reference.freeze_backbone)
    checks.check_train_one_epoch(reference.train_one_epoch)
    checks.check_evaluate(reference.evaluate)
    checks.check_confusion_matrix(reference.confusion_matrix)


# Plausible wrong answers, and the words the hidden check should use to explain them.
def _label_no_range_check(path):
    return int(str(path).split("/")[-1].split("_")[0])


def _head_ignores_num_classes(model, num_classes):
    model.fc = nn.Linear(512, 4)
    return model


def _freeze_everything(model, freeze=True):
    for p in model.parameters():
        p.requires_grad = not freeze
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _train_unweighted_mean(model, loader, criterion, optimizer, device):
    model.train()
    losses, correct, seen = [], 0, 0
    for images, labels in loader:
        optimizer.zero_grad()
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    return sum(losses) / len(losses), correct / seen


def _train_without_train_mode(model, loader, criterion, optimizer, device):
    total, correct, seen = 0.0, 0, 0
    for images, labels in loader:  # same as the reference, minus model.train()
        optimizer.zero_grad()
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    return total / seen, correct / seen


def _evaluate_in_train_mode(model, loader, criterion, device):
    total, predictions, targets = 0.0, [], []
    with torch.no_grad():  # same as the reference, minus model.eval()
        for images, labels in loader:
            logits = model(images)
            total += criterion(logits, labels).item() * len(labels)
            predictions.append(logits.argmax(1))
            targets.append(labels)
    predictions, targets = torch.cat(predictions), torch.cat(targets)
    return total / len(targets), (predictions == targets).float().mean().item(), predictions, targets


def _confusion_transposed(predictions, labels, num_classes):
    return reference.confusion_matrix(labels, predictions, num_classes)


def _capture_live_tensor(model, layer, x):  # the in-place trap: keeps the tensor the net changes
    kept = []
    handle = layer.register_forward_hook(lambda m, i, o: kept.append(o))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, kept[0]


def _normalise_without_zero_guard(cam, size):
    up = torch.nn.functional.interpolate(cam[:, None], size=tuple(size), mode="bilinear",
                                         align_corners=False)[:, 0]
    low = up.flatten(1).min(1).values[:, None, None]
    high = up.flatten(1).max(1).values[:, None, None]
    return (up - low) / (high - low)


class _GradCAMLeavesTrainMode(gradcam.GradCAM):  # forgets to restore the caller's mode
    def __call__(self, x, targets=None):
        result = super().__call__(x, targets)
        self.model.eval()
        return result


def _pointing_counts_zero_maps(maps, masks):
    peak = maps.flatten(1).argmax(dim=1)
    return masks.flatten(1).gather(1, peak[:, None])[:, 0] > 0


def _energy_without_zero_guard(maps, masks):
    return (maps * masks).flatten(1).sum(1) / maps.flatten(1).sum(1)


def _attribution_with_forward_hook_only(model, x, targets, rule):
    """Hooks only after the ReLU: wrong for in-place ReLUs (the ReLU's own backward remains)."""
    handles = [m.register_forward_hook(lambda mod, inp, out: guided.ReLUWithRule.apply(inp[0], rule))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        return guided.input_gradient(model, x, targets)
    finally:
        for handle in handles:
            handle.remove()


def _one_pass_with_guided_layer_gradient(model, layer, x, targets=None):
    """Takes the Grad-CAM gradient through guided ReLUs: wrong below the last block."""
    return ggc.guided_gradcam(guided.GuidedBackprop(model)(x, targets),
                              _gradcam_through_guided_relus(model, layer, x, targets))


def _gradcam_through_guided_relus(model, layer, x, targets):
    handles = [m.register_forward_hook(lambda mod, inp, out: guided.ReLUWithRule.apply(
        inp[0], "guided")) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        return gradcam.GradCAM(model, layer)(x, targets)
    finally:
        for handle in handles:
            handle.remove()


class _ZeroDifference(torch.Tensor):
    """A result that cheats the comparison: every difference from it looks like zero."""

    def abs(self):
        return torch.zeros(1)


def _weights_that_cheat(gradients):
    return torch.zeros(gradients.shape[:2]).as_subclass(_ZeroDifference)


def _gradcam_variant_that_cheats(*args, **kwargs):
    return (experiments.gradcam_variant(*args, **kwargs) + 1).as_subclass(_ZeroDifference)


@pytest.mark.parametrize("check, wrong, words", [
    (checks.check_label_from_filename, _label_no_range_check, "ValueError"),
    (checks.check_replace_head, _head_ignores_num_classes, "num_classes=2"),
    (checks.check_freeze_backbone, _freeze_everything, "freeze=True"),
    (checks.check_train_one_epoch, _train_unweighted_mean, "weight each batch by its size"),
    (checks.check_train_one_epoch, _train_without_train_mode, "model.train()"),
    (checks.check_evaluate, _evaluate_in_train_mode, "model.eval()"),
    (checks.check_confusion_matrix, _confusion_transposed, "rows are true classes"),
    (gradcam_checks.check_capture_activations, _capture_live_tensor, "clone"),
    (gradcam_checks.check_upsample_and_normalise, _normalise_without_zero_guard, "NaN"),
    (gradcam_checks.check_gradcam_class, _GradCAMLeavesTrainMode, "restore every module's mode"),
    (experiment_checks.check_pointing_game, _pointing_counts_zero_maps, "all zero: a miss"),
    (experiment_checks.check_energy_pointing_game, _energy_without_zero_guard, "NaN"),
    (guided_checks.check_attribution_with_rule, _attribution_with_forward_hook_only, "pre-hook"),
    (ggc_checks.check_one_pass_guided_gradcam, _one_pass_with_guided_layer_gradient, "'backprop'"),
    # a tensor subclass that fakes the comparison's arithmetic is refused by its type
    (gradcam_checks.check_channel_weights, _weights_that_cheat, "not a _ZeroDifference"),
    (experiment_checks.check_gradcam_variant, _gradcam_variant_that_cheats,
     "not a _ZeroDifference"),
])
def test_hidden_checks_reject_wrong_answers_with_a_useful_message(check, wrong, words):
    with pytest.raises(AssertionError) as failure:
        check(copy.deepcopy(wrong))
    assert words in str(failure.value)
