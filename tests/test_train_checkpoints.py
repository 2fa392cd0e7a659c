"""`make checkpoints`' tool, solutions/tools/train_checkpoints.py, run as a user runs it but tiny
(1 epoch at 32 px, about 15 s): both files are course checkpoints that record what they score,
and the two figures beside them are images."""
import json
import subprocess
import sys
from pathlib import Path

from torch import nn
from torch.utils.data import DataLoader

from solutions.reference.finetune_resnet import evaluate, make_transforms
from utils.datasets import ImageDataset
from utils.models import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def test_one_tiny_epoch_writes_two_checkpoints_that_score_what_they_record(tmp_path, plants):
    run = subprocess.run([sys.executable, "-m", "solutions.tools.train_checkpoints", "--epochs", "1",
                          "--image-size", "32", "--batch-size", "64", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "trained 1 epochs" in run.stdout, run.stdout
    fingerprint = json.loads((plants / "manifest.json").read_text())["fingerprint"]
    _, eval_transform = make_transforms(32)
    test_split = DataLoader(ImageDataset(plants / "test", transform=eval_transform), batch_size=80)
    for name in ("plant_classifier_final.pth", "best_plant_classifier.pth"):
        model, info = load_checkpoint(tmp_path / name)
        assert (info["epoch"], info["image_size"], info["training"]["epochs"]) == (1, 32, 1)
        assert info["dataset_fingerprint"] == fingerprint
        assert info["model_state_dict"]["fc.weight"].dtype.itemsize == 2, "stored in half precision"
        _, _, predictions, labels = evaluate(model, test_split, nn.CrossEntropyLoss(), "cpu")
        measured = (predictions == labels).float().mean().item()
        assert abs(measured - info["test_acc"]) <= 1 / 80 + 1e-9, (name, measured, info["test_acc"])
        assert f"{name}: epoch 1, train " in run.stdout
    for figure in ("training_curves.png", "confusion_matrix.png"):
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
