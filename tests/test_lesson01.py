"""Lesson 01 proven both ways with real nbgrader: solutions pass, stubs fail, grades are exact."""
import copy

import pytest
import torch
from torch import nn

from autograder.build import COURSE_DIR, write_source_notebooks
from autograder.checks import finetune_resnet as checks
from autograder.grading import grade, validate
from autograder.samples import write_samples
from solutions import finetune_resnet as reference

LESSON = "01_finetune_resnet"
POINTS = {"test_label_from_filename": 2, "test_replace_head": 2, "test_freeze_backbone": 1,
          "test_train_one_epoch": 3, "test_evaluate": 2, "test_confusion_matrix": 2}


def test_solution_notebook_passes_every_test(tmp_path, plants):
    write_source_notebooks(tmp_path, [LESSON])
    result = validate(tmp_path / "source" / LESSON / f"{LESSON}.ipynb")
    assert result == {}, f"the instructor version fails its own tests: {result}"


def test_untouched_student_notebook_passes_no_test(plants):
    result = validate(COURSE_DIR / LESSON / f"{LESSON}.ipynb", invert=True)
    assert result == {}, f"graded cells pass without any answer: {result}"


def test_autograde_complete_partial_untouched(tmp_path, plants):
    write_samples(tmp_path / "submissions", LESSON)
    scores = grade(tmp_path / "submissions", workdir=tmp_path / "course", log=print)
    complete = scores["complete"][LESSON]
    assert complete["cells"] == POINTS and complete["score"] == complete["max_score"] == 12
    partial = scores["partial"][LESSON]
    assert partial["cells"] == {**{k: 0 for k in POINTS}, "test_label_from_filename": 2,
                                "test_replace_head": 2, "test_freeze_backbone": 1}
    assert partial["score"] == 5
    untouched = scores["untouched"][LESSON]
    assert untouched["cells"] == {k: 0 for k in POINTS} and untouched["score"] == 0
    # submissions are read, never modified
    assert (tmp_path / "submissions" / "complete" / LESSON / f"{LESSON}.ipynb").read_text() \
        == (tmp_path / "course" / "submitted" / "complete" / LESSON / f"{LESSON}.ipynb").read_text()


def test_reference_passes_every_hidden_check():
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


@pytest.mark.parametrize("check, wrong, words", [
    (checks.check_label_from_filename, _label_no_range_check, "ValueError"),
    (checks.check_replace_head, _head_ignores_num_classes, "num_classes=2"),
    (checks.check_freeze_backbone, _freeze_everything, "freeze=True"),
    (checks.check_train_one_epoch, _train_unweighted_mean, "weight each batch by its size"),
    (checks.check_train_one_epoch, _train_without_train_mode, "model.train()"),
    (checks.check_evaluate, _evaluate_in_train_mode, "model.eval()"),
    (checks.check_confusion_matrix, _confusion_transposed, "rows are true classes"),
])
def test_hidden_checks_reject_wrong_answers_with_a_useful_message(check, wrong, words):
    with pytest.raises(AssertionError) as failure:
        check(copy.deepcopy(wrong))
    assert words in str(failure.value)
