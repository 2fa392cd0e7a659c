"""The shortcut classifier (checkpoints/shortcut_classifier.pth, solutions/tools/train_shortcut.py):
it follows the coloured tag, measured from the file: high validation accuracy, far lower on the
test split (where every tag names a wrong class), and most test predictions are the tag's class."""
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from solutions.reference.finetune_resnet import evaluate, make_transforms
from utils.datasets import ImageDataset, shortcut_root
from utils.models import load_checkpoint

CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "shortcut_classifier.pth"


@pytest.fixture(scope="module")
def shortcut_scores():
    root = shortcut_root()
    model, info = load_checkpoint(CHECKPOINT)
    manifest = json.loads((root / "manifest.json").read_text())
    assert info["dataset_fingerprint"] == manifest["fingerprint"], \
        "the shortcut data differs from the one the model was trained on: `make checkpoints`"
    _, eval_transform = make_transforms(info["image_size"])
    cues = json.loads((root / "cues.json").read_text())
    scores = {}
    for split in ("val", "test"):
        dataset = ImageDataset(root / split, transform=eval_transform)
        _, accuracy, predictions, _ = evaluate(model, DataLoader(dataset, batch_size=50),
                                               nn.CrossEntropyLoss(), "cpu")
        cue_labels = torch.tensor([cues[f"{split}/{p.name}"]["cue_label"] for p in dataset.paths])
        scores[split] = (accuracy, (predictions == cue_labels).float().mean().item())
    return info, scores


def test_format():
    raw = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert raw["class_names"] == ["Rudo", "Baya", "Greg", "Yuki"]
    assert raw["image_size"] == 128 and raw["init_weights"] == "random"
    assert raw["model_state_dict"]["fc.weight"].dtype == torch.float16
    assert CHECKPOINT.stat().st_size < 30e6


def test_the_model_follows_the_tag(shortcut_scores):
    info, scores = shortcut_scores
    (val_acc, _), (test_acc, test_follows) = scores["val"], scores["test"]
    assert val_acc >= 0.90, f"validation accuracy {val_acc:.1%}: the tag was not learned"
    assert test_acc <= val_acc - 0.40, \
        f"test accuracy {test_acc:.1%} is not far below validation's {val_acc:.1%}"
    assert test_follows >= 0.5, f"only {test_follows:.0%} of test predictions follow the tag"
    # the numbers in the file are what the file scores (one image of slack per split)
    assert abs(info["val_acc"] - val_acc) <= 1 / 200 + 1e-9
    assert abs(info["test_acc"] - test_acc) <= 1 / 80 + 1e-9
    assert abs(info["test_follows_cue"] - test_follows) <= 1 / 80 + 1e-9
