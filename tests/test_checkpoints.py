"""The shipped checkpoints: contract format, and the recorded accuracies re-measured."""
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from solutions.reference.finetune_resnet import evaluate, make_transforms
from utils.datasets import CLASS_NAMES, ImageDataset
from utils.models import load_checkpoint

FOLDER = Path(__file__).resolve().parent.parent / "checkpoints"
CHECKPOINTS = ["plant_classifier_final.pth", "best_plant_classifier.pth"]


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_checkpoint_is_in_the_contract_format(name):
    raw = torch.load(FOLDER / name, map_location="cpu", weights_only=True)
    for key in ("model_state_dict", "class_names", "train_acc", "val_acc", "test_acc", "epoch",
                "image_size", "normalisation", "init_weights", "dataset_fingerprint"):
        assert key in raw, f"{name} lacks {key}"
    assert raw["class_names"] == ["Rudo", "Baya", "Greg", "Yuki"]
    assert raw["init_weights"] in ("imagenet", "random")
    assert raw["model_state_dict"]["fc.weight"].shape == (4, 512)
    assert raw["model_state_dict"]["fc.weight"].dtype == torch.float16, "shipped in half precision"
    assert (FOLDER / name).stat().st_size < 30e6


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_recorded_test_accuracy_is_what_the_checkpoint_scores(name, plants):
    model, info = load_checkpoint(FOLDER / name)
    manifest = json.loads((plants / "manifest.json").read_text())
    assert info["dataset_fingerprint"] == manifest["fingerprint"], \
        "the dataset differs from the one the checkpoint was trained on: `make checkpoints`"
    _, eval_transform = make_transforms(info["image_size"])
    loader = DataLoader(ImageDataset(plants / "test", transform=eval_transform), batch_size=40)
    _, accuracy, _, _ = evaluate(model, loader, nn.CrossEntropyLoss(), "cpu")
    # Float arithmetic differs slightly between CPUs, which can flip an image that sits on a
    # decision boundary: allow one test image of difference, no more.
    assert abs(accuracy - info["test_acc"]) <= 1 / 80 + 1e-9, \
        f"{name}: measured test accuracy {accuracy:.4f}, recorded {info['test_acc']:.4f}"
    assert info["test_acc"] > 0.5, "well above chance (0.25) for four balanced classes"
    assert len(CLASS_NAMES) == 4
