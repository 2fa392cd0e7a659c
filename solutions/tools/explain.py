"""Explain the plant classifier's predictions on your own images.

Loads a checkpoint (default: the course's final classifier), predicts the class of every image
and writes ``<out>/<image stem>_<method>_<layer>.png``: the image next to its explanation by
Grad-CAM, Guided Backpropagation or Guided Grad-CAM (``--method all``: the three side by side),
titled with the prediction. One line per image is printed: path, class, probability, output.
Two images never share a figure: when stems clash (``a/photo.jpg``, ``b/photo.jpg``) the folders
name them (``a_photo_...``, ``b_photo_...``), then the extension, then a number. A figure already
in ``--out`` is kept: the command refuses before writing anything unless ``--overwrite`` is given.
Images are read as a viewer shows them (see utils/images.py: EXIF orientation, 16-bit, alpha).

Usage::

    python -m solutions.tools.explain photo.jpg
    python -m solutions.tools.explain data/plants/test/*.jpg --out my_explanations
    python -m solutions.tools.explain photo.jpg --target Greg          # why (not) Greg? also: --target 2
    python -m solutions.tools.explain photo.jpg --layer layer3         # or e.g. layer4.1.conv2
    python -m solutions.tools.explain photo.jpg --method guided-gradcam   # or guided-backprop, all
    python -m solutions.tools.explain photo.jpg --checkpoint checkpoints/best_plant_classifier.pth

Bad input (a missing, unreadable, tiny or huge image, a missing or unsafe checkpoint, an unknown
layer or class, an ``--out`` that is a file, a figure that exists) gives a one-line error naming
it and exit status 2, before any file is written.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from solutions import GradCAM, GuidedBackprop, GuidedGradCAM
from utils.datasets import eval_transform, load_rgb
from utils.models import SHIPPED_CHECKPOINT, load_checkpoint
from utils.visualise import overlay_heatmap, process_attributions

PROG = "python -m solutions.tools.explain"
LAYER_TYPES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Sequential, BasicBlock, Bottleneck)


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr, exit status 2."""


# Each method: (model, layer module, x (1, 3, H, W), target index, image HxWx3 uint8) -> the
# picture to show, HxWx3 float in [0, 1] at the image's own size.
def gradcam(model, layer, x, target, image):
    return overlay_heatmap(image, GradCAM(model, layer)(x, targets=target)[0].cpu())


def _attribution_picture(attribution, image):
    picture = process_attributions(attribution[0].cpu())  # HxW magnitude in [0, 1]
    picture = cv2.resize(picture.astype(np.float32), (image.shape[1], image.shape[0]))
    return np.repeat(np.clip(picture, 0, 1)[..., None], 3, axis=2)


def guided_backprop(model, layer, x, target, image):
    return _attribution_picture(GuidedBackprop(model)(x, targets=target), image)


def guided_gradcam(model, layer, x, target, image):
    return _attribution_picture(GuidedGradCAM(model, layer)(x, targets=target), image)


METHODS = {"gradcam": gradcam, "guided-backprop": guided_backprop,
           "guided-gradcam": guided_gradcam}


def layer_choices(model, device="cpu"):
    """Names of the conv, batch-norm and ReLU layers and blocks that run exactly once per
    forward pass (Grad-CAM needs that; ResNet's block ReLUs run twice, so they are left out)."""
    candidates = {n: m for n, m in model.named_modules() if n and isinstance(m, LAYER_TYPES)}
    calls = Counter()
    hooks = [m.register_forward_hook(lambda *_, name=n: calls.update([name]))
             for n, m in candidates.items()]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return [name for name in candidates if calls[name] == 1]


def resolve_target(target, class_names):
    """A class name (any case) or an index -> the class index; None stays None (= predicted)."""
    if target is None:
        return None
    lowered = [name.lower() for name in class_names]
    if target.lower() in lowered:
        return lowered.index(target.lower())
    if target.isdigit() and int(target) < len(class_names):
        return int(target)
    choices = ", ".join(f"{i}={name}" for i, name in enumerate(class_names))
    raise UsageError(f"--target: unknown class {target!r}; choose a name or index: {choices}")


def figure_stems(images):
    """One distinct name per image path (compared ignoring case, as macOS and Windows disks do):
    its stem; where stems clash, the folders above it from the images' common folder
    (``a/photo.jpg`` -> ``a_photo``), then its extension (``photo_png``), then a number."""
    paths = [Path(os.path.abspath(p)) for p in images]
    common = Path(os.path.commonpath([str(p.parent) for p in paths]))
    tails = [p.relative_to(common).with_suffix("").parts for p in paths]  # e.g. ('a', 'photo')
    names = [p.stem for p in paths]
    for depth in range(2, max(map(len, tails)) + 1):  # add one folder at a time
        clashing = _clashing(names)
        names = [("_".join(t[-depth:]) if i in clashing else n)
                 for i, (n, t) in enumerate(zip(names, tails))]
    groups = {}
    for i, name in enumerate(names):
        groups.setdefault(name.casefold(), []).append(i)
    for group in groups.values():  # the extension, where it tells a clashing group apart
        if len({paths[i].suffix.casefold() for i in group}) > 1:
            for i in group:
                names[i] += "_" + paths[i].suffix.lstrip(".")
    taken = set()
    for i, name in enumerate(names):  # the same file twice, or a name made above that exists
        number, candidate = 1, name
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{name}-{number}"
        names[i] = candidate
        taken.add(candidate.casefold())
    return names


def _clashing(names):
    counts = Counter(name.casefold() for name in names)
    return {i for i, name in enumerate(names) if counts[name.casefold()] > 1}


def check_figures(figures, overwrite):
    """Refuse, before anything is written, to replace an existing figure unless ``overwrite``.
    (A figure never replaces an input image: its name is the image's stem plus a suffix.)"""
    existing = [figure for figure in figures if figure.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} already exists{more}: kept unchanged, nothing written. "
                         "Pass --overwrite to replace it, or choose another --out")


def save_figure(path, image, pictures, title, layer, overwrite=False):
    """The image and one panel per method (``pictures``: {method: HxWx3}), as a PNG.
    Without ``overwrite`` an existing file is never replaced (FileExistsError)."""
    fig = Figure(figsize=(4 * (1 + len(pictures)), 4.3), layout="constrained")
    FigureCanvasAgg(fig)  # render with Agg, whatever backend the rest of the process uses
    axes = fig.subplots(1, 1 + len(pictures))
    axes[0].imshow(image)
    axes[0].set_title("image")
    for ax, (method, picture) in zip(axes[1:], pictures.items()):
        ax.imshow(picture)
        ax.set_title(method if method == "guided-backprop" else f"{method} at {layer}")
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title)
    with open(path, "wb" if overwrite else "xb") as file:  # "x": fails if it appeared meanwhile
        fig.savefig(file, format="png", dpi=100)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="JPEG/PNG files")
    parser.add_argument("--method", choices=[*METHODS, "all"], default="gradcam",
                        help="explanation method, or all three side by side (default: gradcam)")
    parser.add_argument("--layer", default="layer4", help="layer to explain (default: layer4)")
    parser.add_argument("--target", help="class to explain, name or index (default: predicted)")
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT,
                        help=f"default: {SHIPPED_CHECKPOINT}")
    parser.add_argument("--out", type=Path, default=Path("explanations"),
                        help="output folder (default: ./explanations)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace figures that already exist in --out (default: keep them "
                             "and stop before writing anything)")
    return parser.parse_intermixed_args(argv)  # images may come before and after options


def run(args):
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out: {args.out} is a file, not a folder")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model, info = load_checkpoint(args.checkpoint, device=device)
    except (FileNotFoundError, ValueError) as err:  # its messages name the file and the problem
        raise UsageError(f"--checkpoint: {err}") from err
    class_names = list(info["class_names"])
    choices = layer_choices(model, device)
    if args.layer not in choices:
        raise UsageError(f"--layer: unknown layer {args.layer!r}; choose one of: "
                         + ", ".join(choices))
    layer = model.get_submodule(args.layer)
    target = resolve_target(args.target, class_names)
    for path in args.images:  # read all images first, so a bad one fails before any output
        if not path.is_file():
            raise UsageError(f"{path}: no such image file")
    try:
        images = [load_rgb(path) for path in args.images]
    except (OSError, ValueError) as err:  # load_rgb's ValueError names the file
        raise UsageError(str(err)) from err
    figures = [args.out / f"{stem}_{args.method}_{args.layer}.png"
               for stem in figure_stems(args.images)]
    check_figures(figures, args.overwrite)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create folder {args.out} ({err})") from err
    transform = eval_transform(info.get("image_size", 224))
    for path, image, out_file in zip(args.images, images, figures):
        x = transform(image).unsqueeze(0).to(device)
        with torch.no_grad():
            probs = torch.softmax(model(x), dim=1)[0]
        predicted = int(probs.argmax())
        explained = predicted if target is None else target
        methods = list(METHODS) if args.method == "all" else [args.method]
        pictures = {m: METHODS[m](model, layer, x, explained, np.asarray(image)) for m in methods}
        title = f"predicted {class_names[predicted]} ({probs[predicted]:.1%})"
        if explained != predicted:
            title += f", explaining {class_names[explained]} ({probs[explained]:.1%})"
        replaced = " (replaced the earlier figure)" if out_file.exists() else ""
        try:
            save_figure(out_file, np.asarray(image), pictures, title, args.layer, args.overwrite)
        except FileExistsError as err:  # made by someone else since the check above
            raise UsageError(f"{out_file} appeared while explaining: kept unchanged") from err
        print(f"{path}: {class_names[predicted]} {probs[predicted]:.1%} -> {out_file}{replaced}")


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (0 = done, 2 = bad input)."""
    args = parse_args(argv)
    try:
        run(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
