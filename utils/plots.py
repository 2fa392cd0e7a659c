"""Figures for training: learning curves and a confusion matrix.

Both return a ``NotebookFigure`` (utils/figures.py): a matplotlib Figure that a notebook shows as
an image, with or without pyplot.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from utils.figures import NotebookFigure


def plot_training_curves(history: dict) -> Figure:
    """Loss and accuracy per epoch.

    history: lists of equal length under ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``.
    """
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        if key not in history:
            raise ValueError(f"history: missing {key!r}; expected lists train_loss, val_loss, "
                             "train_acc and val_acc")
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig = NotebookFigure(figsize=(9, 3.2))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, metric, label in ((loss_ax, "loss", "cross-entropy loss"), (acc_ax, "acc", "accuracy")):
        ax.plot(epochs, history[f"train_{metric}"], "o-", label="train")
        ax.plot(epochs, history[f"val_{metric}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    acc_ax.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix, class_names, title: str = "Confusion matrix") -> Figure:
    """A (C, C) count matrix (rows: true class, columns: predicted) with counts in each cell."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(class_names):
        raise ValueError(f"matrix: expected shape ({len(class_names)}, {len(class_names)}) "
                         f"for {len(class_names)} classes, got {matrix.shape}")
    fig = NotebookFigure(figsize=(4.6, 4))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Greens")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in ticks:
        for j in ticks:
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > threshold else "black")
    fig.tight_layout()
    return fig
