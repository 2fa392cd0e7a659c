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

def hidden_check_calls():
    """(lesson, checks module, check name, reference function name) for every hidden test call
    written in a lesson source's hidden-test blocks: the lessons are the list."""
    import re

    from autograder.build import lesson_sources, module_name

    calls = []
    for source in lesson_sources():
        text = source.read_text()
        modules = set(re.findall(r"^from autograder\.checks import (\w+) as hidden_checks$", text,
                                 flags=re.MULTILINE))
        # each lesson's hidden tests call the checks module named after the lesson
        assert modules == {module_name(source.stem)}, f"{source.name} imports checks {modules}"
        calls += [(source.stem, module_name(source.stem), check, argument)
                  for check, argument in re.findall(r"^hidden_checks\.(check_\w+)\((\w+)\)$",
                                                    text, flags=re.MULTILINE)]
    return calls


HIDDEN_CHECK_CALLS = hidden_check_calls()


def test_every_check_function_is_called_by_a_lesson():
    import importlib
    import inspect

    called = {(module, check) for _, module, check, _ in HIDDEN_CHECK_CALLS}
    for module in {module for _, module, _, _ in HIDDEN_CHECK_CALLS}:
        defined = {name for name, _ in inspect.getmembers(
            importlib.import_module(f"autograder.checks.{module}"), inspect.isfunction)
            if name.startswith("check_")}
        assert defined <= {check for m, check in called if m == module}, (
            f"autograder/checks/{module}.py defines checks no lesson calls: "
            f"{sorted(defined - {check for m, check in called if m == module})}")
    assert len(HIDDEN_CHECK_CALLS) >= 25


@pytest.mark.parametrize("lesson,module,check,argument", HIDDEN_CHECK_CALLS,
                         ids=[f"{c[0][:2]}-{c[2]}" for c in HIDDEN_CHECK_CALLS])
def test_reference_passes_every_hidden_check(lesson, module, check, argument):
    import importlib

    checks_module = importlib.import_module(f"autograder.checks.{module}")
    reference_module = importlib.import_module(f"solutions.reference.{module}")
    getattr(checks_module, check)(getattr(reference_module, argument))


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


# Lesson 06: plausible wrong answers, each caught by its hidden check with words that explain it.
from autograder.checks import trusting_explanations as trust_checks  # noqa: E402
from solutions.reference import trusting_explanations as trust  # noqa: E402


def _shares_counting_overlaps_twice(maps, masks):
    shares = [experiments.energy_pointing_game(maps, mask) for mask in masks]
    outside = torch.ones_like(maps)
    for mask in masks:
        outside = outside * (1 - mask)
    return torch.stack(shares + [experiments.energy_pointing_game(maps, outside)], dim=1)


def _deletion_image_by_image(model, images, saliency, targets, steps=20, baseline=None):
    rows = [trust.deletion_curve(model, images[i:i + 1], saliency[i:i + 1], targets[i:i + 1],
                                 steps, None if baseline is None or len(baseline) == 1
                                 else baseline[i:i + 1]) for i in range(len(images))]
    return torch.cat(rows)


def _deletion_least_salient_first(model, images, saliency, targets, steps=20, baseline=None):
    return trust.deletion_curve(model, images, -saliency, targets, steps, baseline)


def _insertion_reversed(model, images, saliency, targets, steps=20, baseline=None):
    return trust.deletion_curve(model, images, saliency, targets, steps, baseline).flip(1)


def _spearman_ordinal_ranks(maps_a, maps_b):
    def ranks(values):
        order = values.flatten(1).argsort(dim=1, stable=True)
        return torch.empty_like(order).scatter_(
            1, order, torch.arange(order.shape[1]).expand_as(order).contiguous()).double()
    return ggc.map_correlation(ranks(maps_a), ranks(maps_b))


def _randomise_each_stage_from_the_original(model, layer_names, seed=0):
    return [trust.cascading_randomisation(model, [name], seed + k)[0]
            for k, name in enumerate(layer_names)]


def _randomise_with_the_global_seed(model, layer_names, seed=0):
    working, copies = copy.deepcopy(model), []
    for k, name in enumerate(layer_names):
        torch.manual_seed(seed + k)
        for module in working.get_submodule(name).modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        copies.append(copy.deepcopy(working))
    return copies


@pytest.mark.parametrize("check, wrong, words", [
    (trust_checks.check_energy_shares, _shares_counting_overlaps_twice, "first mask only"),
    (trust_checks.check_to_saliency, lambda a: a.sum(dim=1), "sum over C of |attribution|"),
    (trust_checks.check_deletion_curve, _deletion_image_by_image, "once per step"),
    (trust_checks.check_deletion_curve, _deletion_least_salient_first, "most salient first"),
    (trust_checks.check_insertion_curve, _insertion_reversed, "differs from the reference"),
    (trust_checks.check_curve_auc, lambda curves: curves.mean(dim=1), "expected"),
    (trust_checks.check_spearman, _spearman_ordinal_ranks, "average of their ranks"),
    (trust_checks.check_cascading_randomisation, _randomise_each_stage_from_the_original,
     "cumulative"),
    (trust_checks.check_cascading_randomisation, _randomise_with_the_global_seed, "fork_rng"),
])
def test_lesson06_checks_reject_wrong_answers(check, wrong, words):
    with pytest.raises(AssertionError) as failure:
        check(wrong)
    assert words in str(failure.value)
