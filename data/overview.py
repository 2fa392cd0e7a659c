"""The contact sheet: per class, plain and hard scenes, each beside its masks and scene facts."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from data import CLASS_NAMES  # noqa: E402

OTHER_COLOUR = np.array([255, 140, 0], np.uint8)  # the second plant's mask, in orange


def describe(facts: dict) -> str:
    """A short caption of a scene's facts, e.g. '+Greg, 40% hidden, dim'."""
    words = []
    if facts["other_label"] is not None:
        words.append(f"+{CLASS_NAMES[facts['other_label']]}")
    if facts["occluded"] > 0:
        words.append(f"{facts['occluded']:.0%} hidden")
    if facts["cut_by_frame"] >= 0.1:
        words.append(f"{facts['cut_by_frame']:.0%} cut")
    if facts["dim_light"]:
        words.append("dim")
    return ", ".join(words) or "plain"


def _pick(paths, scenes, split, per_class):
    """Half plain scenes, half with a second plant (then any other hard ones), in file order."""
    facts = [scenes[f"{split}/{p.name}"] for p in paths]
    two = [p for p, f in zip(paths, facts) if f["other_label"] is not None]
    plain = [p for p, f in zip(paths, facts) if describe(f) == "plain"]
    hard = [p for p, f in zip(paths, facts) if f["other_label"] is None and describe(f) != "plain"]
    picks = plain[:per_class // 2] + two[:(per_class + 1) // 4] + hard
    return picks[:per_class]


def _mask_panel(root, split, stem):
    main = cv2.imread(str(root / "masks" / split / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
    other = cv2.imread(str(root / "masks_other" / split / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
    panel = np.repeat(main[..., None], 3, axis=2)
    panel[other > 0] = OTHER_COLOUR
    return panel


def save_overview(root: Path, out_path: Path, split: str = "train", per_class: int = 4) -> Path:
    root = Path(root)
    scenes = json.loads((root / "scenes.json").read_text())
    fig, axes = plt.subplots(len(CLASS_NAMES), 2 * per_class,
                             figsize=(2 * per_class * 1.6, len(CLASS_NAMES) * 1.9))
    for label, name in enumerate(CLASS_NAMES):
        paths = _pick(sorted((root / split).glob(f"{label}_*.jpg")), scenes, split, per_class)
        for k, path in enumerate(paths):
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            axes[label, 2 * k].imshow(image)
            axes[label, 2 * k].set_title(describe(scenes[f"{split}/{path.name}"]), fontsize=8)
            axes[label, 2 * k + 1].imshow(_mask_panel(root, split, path.stem))
            axes[label, 2 * k + 1].set_title("masks", fontsize=8)
        axes[label, 0].set_ylabel(f"{label}: {name}", fontsize=11)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("The plant dataset: each image with the labelled plant's mask (white) and a "
                 "second plant's (orange)", fontsize=10)
    fig.tight_layout()
    # no "Software" metadata, so the same matplotlib writes the same bytes
    fig.savefig(out_path, dpi=72, metadata={"Software": None})
    plt.close(fig)
    return Path(out_path)
