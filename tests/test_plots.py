"""utils.plots: the training figures, and balanced subsets used by the fast mode."""
import io

import pytest
import torch

from utils.datasets import ImageDataset, balanced_subset
from utils.plots import plot_confusion_matrix, plot_training_curves

HISTORY = {"train_loss": [1.2, 0.8, 0.5], "val_loss": [1.3, 0.9, 0.7],
           "train_acc": [0.4, 0.7, 0.85], "val_acc": [0.35, 0.6, 0.8]}


def test_training_curves_plot_every_epoch():
    fig = plot_training_curves(HISTORY)
    loss_ax, acc_ax = fig.axes
    assert [list(line.get_ydata()) for line in loss_ax.lines] == [HISTORY["train_loss"],
                                                                 HISTORY["val_loss"]]
    assert list(acc_ax.lines[1].get_xdata()) == [1, 2, 3]
    fig.savefig(io.BytesIO(), format="png")


def test_training_curves_name_a_missing_key():
    with pytest.raises(ValueError, match="val_acc"):
        plot_training_curves({k: v for k, v in HISTORY.items() if k != "val_acc"})


def test_confusion_matrix_figure_writes_every_count():
    matrix = torch.tensor([[5, 1, 0, 0], [0, 6, 0, 0], [2, 0, 3, 1], [0, 0, 0, 7]])
    fig = plot_confusion_matrix(matrix, ["Rudo", "Baya", "Greg", "Yuki"])
    texts = sorted(int(t.get_text()) for t in fig.axes[0].texts)
    assert texts == sorted(matrix.flatten().tolist())
    with pytest.raises(ValueError, match="expected shape \\(3, 3\\)"):
        plot_confusion_matrix(matrix, ["a", "b", "c"])


def test_balanced_subset_takes_every_class(plants):
    dataset = ImageDataset(plants / "train")
    subset = balanced_subset(dataset, 12)
    labels = [dataset.labels[i] for i in subset.indices]
    assert sorted(labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
