"""The contact sheet: a few images per class, each beside its ground-truth mask."""
from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from data import CLASS_NAMES  # noqa: E402


def save_overview(root: Path, out_path: Path, split: str = "train", per_class: int = 4) -> Path:
    root = Path(root)
    fig, axes = plt.subplots(len(CLASS_NAMES), 2 * per_class,
                             figsize=(2 * per_class * 1.6, len(CLASS_NAMES) * 1.75))
    for label, name in enumerate(CLASS_NAMES):
        paths = sorted((root / split).glob(f"{label}_*.jpg"))[:per_class]
        for k, path in enumerate(paths):
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            mask = cv2.imread(str(root / "masks" / split / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE)
            axes[label, 2 * k].imshow(image)
            axes[label, 2 * k + 1].imshow(mask, cmap="gray", vmin=0, vmax=255)
            if label == 0:
                axes[label, 2 * k].set_title("image", fontsize=9)
                axes[label, 2 * k + 1].set_title("mask", fontsize=9)
        axes[label, 0].set_ylabel(f"{label}: {name}", fontsize=11)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("The plant dataset: four kinds, each image with its ground-truth plant mask")
    fig.tight_layout()
    # no "Software" metadata, so the same matplotlib writes the same bytes
    fig.savefig(out_path, dpi=72, metadata={"Software": None})
    plt.close(fig)
    return Path(out_path)
