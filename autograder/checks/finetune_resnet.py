"""Hidden checks for lesson 01: each compares a student's function with the reference."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.models import resnet18

from autograder.checks import hidden_check
from solutions.reference import finetune_resnet as reference


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@hidden_check
def check_label_from_filename(student) -> None:
    g = _rng(101)
    for trial in range(20):
        label = int(torch.randint(0, 4, (1,), generator=g))
        uid = "".join("0123456789abcdef"[int(i)] for i in torch.randint(0, 16, (20,), generator=g))
        folder = ["", "data/plants/train/", "/tmp/some_dir_1/", "val/"][trial % 4]
        name = f"{folder}{label}_{uid}.jpg"
        for path in (name, __import__("pathlib").Path(name)):
            got = student(path)
            assert got == reference.label_from_filename(path), \
                f"label_from_filename({str(path)!r}) returned {got!r}, expected {label}"
    for bad in ("cafefa5f668e62183b8f.jpg", "x_cafefa5f668e62183b8f.jpg", "-1_abc.jpg",
                "7_cafefa5f668e62183b8f.jpg", "4_cafefa5f668e62183b8f.jpg", "data/2_x/plant.jpg"):
        try:
            student(bad)
        except ValueError:
            continue
        except Exception as err:  # a different exception type is a wrong answer, not a crash
            raise AssertionError(f"label_from_filename({bad!r}) raised {type(err).__name__}, "
                                 "expected ValueError") from None
        raise AssertionError(f"label_from_filename({bad!r}) should raise ValueError")


@hidden_check
def check_replace_head(student) -> None:
    for num_classes in (2, 4, 7):
        torch.manual_seed(num_classes)
        model = resnet18(weights=None)
        body = {name: module for name, module in model.named_children() if name != "fc"}
        result = student(model, num_classes)
        assert result is model, "replace_head must return the model it was given"
        head = model.fc
        assert isinstance(head, nn.Linear), f"model.fc should be nn.Linear, got {type(head).__name__}"
        assert (head.in_features, head.out_features) == (512, num_classes), \
            f"num_classes={num_classes}: expected Linear(512, {num_classes}), got " \
            f"Linear({head.in_features}, {head.out_features})"
        assert head.bias is not None, "the new head should have a bias"
        assert all(p.requires_grad for p in head.parameters()), "the new head must be trainable"
        for name, module in body.items():
            assert getattr(model, name) is module, f"model.{name} should not be replaced"


@hidden_check
def check_freeze_backbone(student) -> None:
    for freeze in (True, False, True):
        model = reference.replace_head(resnet18(weights=None), 4)
        for p in model.parameters():  # start from a mixed state, so "do nothing" cannot pass
            p.requires_grad = bool(torch.rand(1, generator=_rng(p.numel())) > 0.5)
        expected_model = copy.deepcopy(model)
        expected = reference.freeze_backbone(expected_model, freeze)
        got = student(model, freeze)
        assert got == expected, f"freeze={freeze}: returned {got}, expected {expected} trainable"
        for (name, p), q in zip(model.named_parameters(), expected_model.parameters()):
            assert p.requires_grad == q.requires_grad, \
                f"freeze={freeze}: {name}.requires_grad is {p.requires_grad}, expected {q.requires_grad}"


def _tiny_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _batches(seed: int, sizes=(4, 4, 3)):
    g = _rng(seed)
    return [(torch.randn(n, 3, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g))
            for n in sizes]


@hidden_check
def check_train_one_epoch(student) -> None:
    for seed in (1, 2):
        data = _batches(seed)
        mine, theirs = _tiny_net(seed).eval(), _tiny_net(seed).eval()  # must switch to train()
        opt_mine = torch.optim.SGD(mine.parameters(), lr=0.1, momentum=0.9)
        opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
        want = reference.train_one_epoch(mine, data, nn.CrossEntropyLoss(), opt_mine, "cpu")
        got = student(theirs, data, nn.CrossEntropyLoss(), opt_theirs, "cpu")
        assert isinstance(got, tuple) and len(got) == 2, "return (mean_loss, accuracy)"
        assert theirs.training, "the model was not in training mode: call model.train() first"
        loss, acc = float(got[0]), float(got[1])
        assert abs(loss - want[0]) <= 1e-5 * max(1.0, abs(want[0])), \
            f"mean loss {loss:.6f}, expected {want[0]:.6f} (weight each batch by its size: " \
            "the last batch is smaller; and train with model.train())"
        assert abs(acc - want[1]) < 1e-9, f"accuracy {acc:.4f}, expected {want[1]:.4f}"
        for (name, p), q in zip(theirs.state_dict().items(), mine.state_dict().values()):
            assert torch.allclose(p.float(), q.float(), atol=1e-6), \
                f"after the epoch, {name} differs from the reference (did you call " \
                "model.train(), zero_grad() before backward(), and step() once per batch?)"


@hidden_check
def check_evaluate(student) -> None:
    for seed in (3, 4):
        data = _batches(seed, sizes=(5, 2))
        model = _tiny_net(seed).train()  # must switch to eval()
        snapshot = copy.deepcopy(model.state_dict())
        want = reference.evaluate(copy.deepcopy(model), data, nn.CrossEntropyLoss(), "cpu")
        got = student(model, data, nn.CrossEntropyLoss(), "cpu")
        assert isinstance(got, tuple) and len(got) == 4, \
            "return (mean_loss, accuracy, predictions, labels)"
        assert not model.training, "the model was left in training mode: call model.eval() first"
        assert abs(float(got[0]) - want[0]) <= 1e-5 * max(1.0, abs(want[0])), \
            f"mean loss {float(got[0]):.6f}, expected {want[0]:.6f} (did you call model.eval()?)"
        assert abs(float(got[1]) - want[1]) < 1e-9, f"accuracy {got[1]}, expected {want[1]}"
        for index, label in ((2, "predictions"), (3, "labels")):
            value = got[index]
            assert isinstance(value, torch.Tensor) and value.dtype == torch.int64 \
                and value.dim() == 1, f"{label} should be a 1-D int64 tensor"
            assert torch.equal(value.cpu(), want[index]), f"{label} differ from the reference"
        for name, value in model.state_dict().items():
            assert torch.equal(value, snapshot[name]), \
                f"evaluate changed {name}: evaluation must leave the model as it was"
        assert all(p.grad is None for p in model.parameters()), \
            "evaluate computed gradients; wrap the loop in torch.no_grad()"


@hidden_check
def check_confusion_matrix(student) -> None:
    g = _rng(7)
    for num_classes, n in ((4, 50), (7, 13), (3, 1)):
        predictions = torch.randint(0, num_classes, (n,), generator=g)
        labels = torch.randint(0, num_classes, (n,), generator=g)
        kept = (predictions.clone(), labels.clone())
        got = student(predictions, labels, num_classes)
        want = reference.confusion_matrix(predictions, labels, num_classes)
        assert isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}"
        assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert got.dtype == torch.int64, f"dtype {got.dtype}, expected torch.int64"
        assert torch.equal(got, want), \
            f"{num_classes} classes: got {got.tolist()}, expected {want.tolist()} " \
            "(rows are true classes, columns predicted)"
        assert torch.equal(predictions, kept[0]) and torch.equal(labels, kept[1]), \
            "confusion_matrix must not modify its inputs"
