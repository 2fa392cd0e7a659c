# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 01 — Fine-tuning ResNet18 to recognise four plants
#
# Before we can ask *where* a classifier looks (lessons 02–05), we need a classifier. In this
# lesson you train one: a ResNet18 that tells apart four kinds of house plant.
#
# | label | name | plant kind | what tells it apart |
# | --- | --- | --- | --- |
# | 0 | **Rudo** | fern | fronds of many small paired leaflets |
# | 1 | **Baya** | heart-leaf vine | heart-shaped leaves on a trailing stem, pale veins, cream marbling |
# | 2 | **Greg** | succulent rosette | thick rounded leaves in a spiral, darker tips |
# | 3 | **Yuki** | snake plant | tall sword leaves with dark cross-bands and yellow margins |
#
# **By the end you can**
# - read labels from file names and build a `Dataset` and `DataLoader`;
# - explain why pretrained weights, ImageNet normalisation and data augmentation help;
# - replace the head of a pretrained network, and freeze or unfreeze its backbone;
# - write a training epoch and an evaluation pass in plain PyTorch;
# - keep the best and the final checkpoint, and judge a model by per-class accuracy and a
#   confusion matrix rather than one number.
#
# **Exercises** (12 points)
#
# | # | you write | points |
# | --- | --- | --- |
# | 1 | `label_from_filename` | 2 |
# | 2 | `replace_head` | 2 |
# | 3 | `freeze_backbone` | 1 |
# | 4 | `train_one_epoch` | 3 |
# | 5 | `evaluate` | 2 |
# | 6 | `confusion_matrix` | 2 |
#
# **How to work.** Each exercise is a function with its signature and docstring given; replace
# `raise NotImplementedError()` with your code and run the test cell below it. The visible tests
# catch the common mistakes; when you submit, hidden tests compare your function with the reference
# on random inputs. Run the cells from top to bottom.

# %%
# Setup, part 1: let this notebook find the course's helpers (utils/ at the top of the course
# folder). The nearest one above this notebook wins, so a student bundle uses its own copy.
import os
import sys
from pathlib import Path

for folder in [Path.cwd(), *Path.cwd().parents]:
    if (folder / "utils" / "datasets.py").exists():
        sys.path.insert(0, str(folder))
        break

# %% tags=["export"]
# Setup, part 2: the imports that the functions you write use.
from pathlib import Path

import torch
from torch import nn
from torchvision import transforms

from utils.datasets import CLASS_NAMES, IMAGENET_MEAN, IMAGENET_STD

# %%
# Setup, part 3: tools for this notebook, the fast-mode switch and the device.
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader

from utils.datasets import DataCells, ImageDataset, balanced_subset, load_rgb, split_dir
from utils.models import build_resnet18, save_checkpoint
from utils.plots import plot_confusion_matrix, plot_training_curves
from utils.visualise import to_display_image

# Fast mode: when the grader runs this notebook (nbgrader sets NBGRADER_EXECUTION), or when you set
# COURSE_FAST=1, we train on a tiny subset for one epoch at low resolution. The tests are the same.
FAST = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("COURSE_FAST"))
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
OUTPUT_DIR = Path("outputs")  # your own checkpoints; the course's shipped ones are not touched
# With your own photos (PLANTS_DATA), a data problem stops the first cell that meets it with a
# message naming the file; the cells after it that need data repeat that message.
data_cells = DataCells()
torch.manual_seed(0)
print(f"fast mode: {FAST}, device: {DEVICE}, torch {torch.__version__}")

# %% [markdown]
# ## 1. Why fine-tuning works
#
# A network trained on ImageNet's 1.2 million photos has learned, layer by layer, a vocabulary of
# visual features: edges and colour blobs in the first layers, textures and simple parts in the
# middle, object parts near the end. Those features are useful far beyond ImageNet's 1000 classes.
# *Fine-tuning* keeps that vocabulary and learns only what is new:
#
# 1. take the pretrained network and **replace its last layer** (the *head*, here `fc`, a
#    512 → 1000 linear map) by a fresh 512 → 4 layer for our plants;
# 2. train on our small dataset, either **only the head** (the backbone is *frozen*: fast, needs
#    little data, but the features cannot adapt) or **the whole network** with a small learning
#    rate (slower, adapts the features, needs more data or care to avoid overfitting).
#
# With 800 training images, training from random weights usually overfits; starting from ImageNet
# weights gets to high accuracy in a few epochs. This machine may be offline: `build_resnet18`
# then tells you so and starts from random weights, and the lesson still works (the shipped
# checkpoint in `checkpoints/` records which start it had).
#
# ## 2. The data: labels in file names
#
# The images live in `data/plants/{train,val,test}/` (800 / 200 / 80 images, 25% per class), and
# each file name starts with its label: `2_a94fd0c3e1b27f6655e0.jpg` is a Greg.

# %% nbgrader={"grade": false, "grade_id": "label_from_filename", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def label_from_filename(path):
    """The class label encoded at the start of an image's file name.

    path: a str or Path such as 'data/plants/train/2_a94fd0c3e1b27f6655e0.jpg'.
    Returns the integer before the first '_' of the file's *name* (here 2), which must be a
    label 0..3 (len(CLASS_NAMES) - 1).
    Raises ValueError (with the path in the message) when the name has no '_', when the part
    before it is not a whole number, or when the number is not a valid label.
    """
    ### BEGIN SOLUTION
    name = Path(path).name
    head, separator, _ = name.partition("_")
    if not separator or not head.isdigit():
        raise ValueError(f"{path}: expected a file name like '{{label}}_{{unique_id}}.jpg'")
    label = int(head)
    if label >= len(CLASS_NAMES):
        raise ValueError(f"{path}: label {label} is not one of 0..{len(CLASS_NAMES) - 1}")
    return label
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_label_from_filename", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert label_from_filename("0_cafefa5f668e62183b8f.jpg") == 0
assert label_from_filename(Path("data/plants/train/3_0123456789abcdef0123.jpg")) == 3
for bad_name in ["cafefa5f668e62183b8f.jpg", "x_cafefa5f668e62183b8f.jpg"]:
    try:
        label_from_filename(bad_name)
    except ValueError:
        pass
    else:
        raise AssertionError(f"label_from_filename({bad_name!r}) should raise ValueError")
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import finetune_resnet as hidden_checks
hidden_checks.check_label_from_filename(label_from_filename)
### END HIDDEN TESTS

# %% [markdown]
# The course's `utils.datasets.ImageDataset` reads labels by the same rule (and adds clear errors
# for broken files). Let us check that your parser agrees with it on every training image, and
# look at the data.

# %%
with data_cells.cell("the training images"):
    train_folder = split_dir("train")  # generates the dataset on first use (about 15 s)
    plain_train = ImageDataset(train_folder)
disagreements = [p.name for p, y in zip(plain_train.paths, plain_train.labels)
                 if label_from_filename(p) != y]
print(f"{len(plain_train)} training images; your parser disagrees on {len(disagreements)}")
counts = torch.bincount(torch.tensor(plain_train.labels), minlength=len(CLASS_NAMES))
print(dict(zip(CLASS_NAMES, counts.tolist())))
for name, count in zip(CLASS_NAMES, counts.tolist()):
    if count == 0:
        print(f"Warning: no training images of {name} in {train_folder}: the model cannot "
              "learn this class.")

with data_cells.cell("the training images"):
    fig, axes = plt.subplots(2, 4, figsize=(10, 5))
    two_per_class = balanced_subset(plain_train, 8)
    for ax, (image, label) in zip(axes.T.flat, two_per_class):
        ax.imshow(image.permute(1, 2, 0))
        ax.set_title(f"{label}: {CLASS_NAMES[label]}")
        ax.axis("off")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## 3. Transforms: what the network sees
#
# **Normalisation.** The pretrained backbone learned on images whose channels were standardised
# with ImageNet's mean and standard deviation, $x' = (x - \mu)/\sigma$ with
# $\mu = (0.485, 0.456, 0.406)$ and $\sigma = (0.229, 0.224, 0.225)$. Feeding it differently scaled
# inputs shifts every activation it learned to expect, so we normalise the same way, even for
# plants.
#
# **Augmentation.** 800 images are few. Random crops, flips, small rotations and colour jitter
# show the network a slightly different image each epoch, so it must learn the plant, not the
# exact pixels. We augment the training split only: validation and test images are only resized,
# so that their scores measure the model, not the luck of a crop.

# %% tags=["export"]
def make_transforms(image_size=224):
    """(train_transform, eval_transform): augmentation + ImageNet normalisation, and resize only."""
    normalise = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_transform = transforms.Compose([
        transforms.RandomResizedCrop(image_size, scale=(0.6, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(15),
        transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.2, hue=0.03),
        transforms.ToTensor(),
        normalise,
    ])
    eval_transform = transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.ToTensor(),
        normalise,
    ])
    return train_transform, eval_transform


# %%
# Training settings: a real run, or a tiny one in fast mode. Change epochs or the learning rate
# here if you like; the tests do not depend on them.
if FAST:
    IMAGE_SIZE, EPOCHS, BATCH_SIZE, PRETRAINED, SUBSET = 64, 1, 16, False, 32
else:
    # 160 px keeps a CPU run to a few minutes; the shipped checkpoints were trained at 224 px
    IMAGE_SIZE, EPOCHS, BATCH_SIZE, PRETRAINED, SUBSET = 160, 5, 32, "auto", None
LEARNING_RATE = 1e-3
train_transform, eval_transform = make_transforms(IMAGE_SIZE)

with data_cells.cell("the splits"):
    train_set = ImageDataset(split_dir("train"), transform=train_transform)
    val_set = ImageDataset(split_dir("val"), transform=eval_transform)
    test_set = ImageDataset(split_dir("test"), transform=eval_transform)
    if SUBSET:  # an equal number of each class, so even the tiny run sees all four
        train_set = balanced_subset(train_set, SUBSET)
        val_set = balanced_subset(val_set, SUBSET // 2)
        test_set = balanced_subset(test_set, SUBSET // 2)
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=BATCH_SIZE)
    test_loader = DataLoader(test_set, batch_size=BATCH_SIZE)
    print(f"train {len(train_set)}, val {len(val_set)}, test {len(test_set)} images "
          f"at {IMAGE_SIZE}px")

    # One training image through six random augmentations (un-normalised for display):
    example_label = 1 if 1 in plain_train.labels else plain_train.labels[0]
    example_image = plain_train.paths[plain_train.labels.index(example_label)]
    fig, axes = plt.subplots(1, 6, figsize=(12, 2.3))
    for ax in axes:
        ax.imshow(to_display_image(train_transform(load_rgb(example_image))))
        ax.axis("off")
    fig.suptitle(f"six augmentations of one {CLASS_NAMES[example_label]}")
    plt.show()

# %% [markdown]
# ## 4. The model and its new head
#
# `torchvision.models.resnet18` ends with global average pooling and `fc = nn.Linear(512, 1000)`.
# For our four plants we swap in a new `nn.Linear(512, 4)`: its weights start random, so at
# first it predicts at chance (25%), and training teaches it which of the 512 backbone features
# mean which plant.

# %% nbgrader={"grade": false, "grade_id": "replace_head", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def replace_head(model, num_classes):
    """Give a torchvision ResNet a fresh last layer for `num_classes` classes.

    model: a torchvision ResNet (its last layer is `model.fc`, an nn.Linear).
    Replaces `model.fc` with a new nn.Linear(in_features, num_classes) (with bias), where
    in_features is the old layer's input size (512 for ResNet18). Every other module stays the
    same object. Returns the same model object, modified in place.
    """
    ### BEGIN SOLUTION
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_replace_head", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from torchvision.models import resnet18 as _resnet18

_model = _resnet18(weights=None)
_backbone_layer = _model.layer4
assert replace_head(_model, 4) is _model, "replace_head should return the model it was given"
assert isinstance(_model.fc, torch.nn.Linear), f"model.fc should be nn.Linear, got {type(_model.fc)}"
assert (_model.fc.in_features, _model.fc.out_features) == (512, 4), "expected Linear(512, 4)"
assert _model.layer4 is _backbone_layer, "only the head should change"
assert _model(torch.randn(2, 3, 64, 64)).shape == (2, 4)
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import finetune_resnet as hidden_checks
hidden_checks.check_replace_head(replace_head)
### END HIDDEN TESTS

# %% [markdown]
# ### Freezing the backbone
#
# A parameter with `requires_grad = False` gets no gradient, so the optimiser leaves it alone and
# backpropagation can stop early: training is faster and cannot damage the pretrained features.
# Freezing everything but the head turns fine-tuning into training a linear classifier on fixed
# features ("linear probing"). It shines with pretrained weights and little data; from random
# weights it is hopeless, because random features describe nothing.

# %% nbgrader={"grade": false, "grade_id": "freeze_backbone", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def freeze_backbone(model, freeze=True):
    """Freeze (or unfreeze) every parameter except those of the head `model.fc`.

    freeze=True: backbone parameters get requires_grad=False; freeze=False: requires_grad=True.
    The head's parameters always end with requires_grad=True.
    Returns the number of trainable parameters (elements, i.e. sum of p.numel()) afterwards.
    """
    ### BEGIN SOLUTION
    head = {id(p) for p in model.fc.parameters()}
    for parameter in model.parameters():
        parameter.requires_grad = (id(parameter) in head) or not freeze
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_freeze_backbone", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_model = replace_head(_resnet18(weights=None), 4)
assert freeze_backbone(_model) == 512 * 4 + 4, "frozen: only the head's 2052 parameters train"
assert not _model.conv1.weight.requires_grad and _model.fc.weight.requires_grad
assert freeze_backbone(_model, freeze=False) == sum(p.numel() for p in _model.parameters())
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import finetune_resnet as hidden_checks
hidden_checks.check_freeze_backbone(freeze_backbone)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Training and evaluation
#
# One **epoch** is one pass over the training set. For every batch: move it to the device, clear
# old gradients (`optimizer.zero_grad()`), compute the logits and the cross-entropy loss,
# backpropagate (`loss.backward()`), update (`optimizer.step()`). Put the model in training mode
# first (`model.train()`): batch normalisation then uses the batch's statistics and updates its
# running averages.
#
# Report the **mean loss per image** (weight each batch's mean loss by its size, because the last
# batch may be smaller) and the **accuracy** (the fraction of images whose largest logit is the
# true class).

# %% nbgrader={"grade": false, "grade_id": "train_one_epoch", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def train_one_epoch(model, loader, criterion, optimizer, device):
    """Train `model` for one pass over `loader`; return (mean_loss, accuracy) as Python floats.

    loader yields (images (B, 3, H, W), labels (B,) int64); criterion is a loss whose value is the
    batch mean (e.g. nn.CrossEntropyLoss()). mean_loss = sum over batches of loss * B, divided by
    the number of images seen; accuracy = correct predictions (argmax of the logits) / images seen.
    The model must be in training mode while it trains.
    """
    ### BEGIN SOLUTION
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * labels.shape[0]
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += labels.shape[0]
    return total_loss / seen, correct / seen
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_train_one_epoch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4))
_data = [(torch.randn(5, 3, 4, 4), torch.randint(0, 4, (5,))) for _ in range(3)]
_before = [p.detach().clone() for p in _model.parameters()]
_loss, _acc = train_one_epoch(_model, _data, torch.nn.CrossEntropyLoss(),
                              torch.optim.SGD(_model.parameters(), lr=0.1), torch.device("cpu"))
assert isinstance(_loss, float) and isinstance(_acc, float), "return two Python floats"
assert 0.0 <= _acc <= 1.0 and _loss > 0, f"got loss {_loss}, accuracy {_acc}"
assert any(not torch.equal(a, b) for a, b in zip(_before, _model.parameters())), "weights should change"
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import finetune_resnet as hidden_checks
hidden_checks.check_train_one_epoch(train_one_epoch)
### END HIDDEN TESTS

# %% [markdown]
# Evaluation is the same pass without learning: `model.eval()` (batch norm uses its running
# averages, dropout is off) and `torch.no_grad()` (no graph is built: faster, less memory).
# We also keep every prediction, for the per-class analysis below.

# %% nbgrader={"grade": false, "grade_id": "evaluate", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def evaluate(model, loader, criterion, device):
    """Score `model` on `loader` without changing it.

    Returns (mean_loss, accuracy, predictions, labels): mean_loss and accuracy as Python floats
    defined as in train_one_epoch; predictions and labels as 1-D int64 CPU tensors holding every
    image's predicted class (argmax) and true class, in the loader's order.
    The model must be in evaluation mode, and no gradients may be computed.
    """
    ### BEGIN SOLUTION
    model.eval()
    total_loss, predictions, targets = 0.0, [], []
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            total_loss += criterion(logits, labels).item() * labels.shape[0]
            predictions.append(logits.argmax(dim=1).cpu())
            targets.append(labels.cpu())
    predictions, targets = torch.cat(predictions), torch.cat(targets)
    accuracy = (predictions == targets).float().mean().item()
    return total_loss / len(targets), accuracy, predictions, targets
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_evaluate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4))
_data = [(torch.randn(5, 3, 4, 4), torch.randint(0, 4, (5,))) for _ in range(2)]
_loss, _acc, _pred, _true = evaluate(_model, _data, torch.nn.CrossEntropyLoss(), torch.device("cpu"))
assert _pred.shape == (10,) and torch.equal(_true, torch.cat([y for _, y in _data]))
assert abs(_acc - (_pred == _true).float().mean().item()) < 1e-9, "accuracy should match predictions"
assert all(p.grad is None for p in _model.parameters()), "evaluation must not compute gradients"
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import finetune_resnet as hidden_checks
hidden_checks.check_evaluate(evaluate)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The training loop, with checkpoints
#
# `fit` runs the epochs with a progress bar, validates after each one, and keeps a copy of the
# weights with the best validation accuracy: later epochs can overfit, and the validation split
# tells us when. It is given (read it!), built from your two functions.

# %% tags=["export"]
def fit(model, train_loader, val_loader, epochs, lr, device, progress=True):
    """Train with Adam; return (history, best_state_dict, best_epoch).

    history: lists train_loss, val_loss, train_acc, val_acc (one entry per epoch).
    best_state_dict: a CPU copy of the weights at the epoch with the best validation accuracy.
    """
    from tqdm.auto import tqdm

    model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    history = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": []}
    best_state, best_epoch, best_acc = None, 0, -1.0
    for epoch in range(1, epochs + 1):
        batches = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False,
                       disable=not progress)
        train_loss, train_acc = train_one_epoch(model, batches, criterion, optimizer, device)
        val_loss, val_acc, _, _ = evaluate(model, val_loader, criterion, device)
        scheduler.step()
        for key, value in zip(history, (train_loss, val_loss, train_acc, val_acc)):
            history[key].append(value)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if progress:
            print(f"epoch {epoch}/{epochs}: train loss {train_loss:.3f} acc {train_acc:.1%} | "
                  f"val loss {val_loss:.3f} acc {val_acc:.1%}")
    return history, best_state, best_epoch


# %%
with data_cells.cell("training"):  # training reads every image: a bad file stops it here
    model = build_resnet18(num_classes=len(CLASS_NAMES), pretrained=PRETRAINED)
    print(f"starting from {model.init_weights} weights; "
          f"{freeze_backbone(model, freeze=False):,} trainable parameters")
    history, best_state, best_epoch = fit(model, train_loader, val_loader, EPOCHS,
                                          LEARNING_RATE, DEVICE, progress=not FAST)
display(plot_training_curves(history))  # display(): show a figure object in the notebook

# %% [markdown]
# ## 7. How good is it? Per class, not just overall
#
# One accuracy number hides which plants the model confuses. A **confusion matrix** $M$ counts,
# for every true class $i$ and predicted class $j$, the images of class $i$ predicted as $j$. Its
# diagonal holds the correct predictions; the accuracy of class $i$ is $M_{ii} / \sum_j M_{ij}$.

# %% nbgrader={"grade": false, "grade_id": "confusion_matrix", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["export"]
def confusion_matrix(predictions, labels, num_classes):
    """Count matrix M of shape (num_classes, num_classes), dtype int64.

    predictions, labels: 1-D integer tensors of equal length with values in 0..num_classes-1.
    M[i, j] = number of images whose true class is i and predicted class is j.
    """
    ### BEGIN SOLUTION
    flat = labels.long() * num_classes + predictions.long()
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_confusion_matrix", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_m = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
assert _m.shape == (3, 3) and _m.dtype == torch.int64, f"got {tuple(_m.shape)} {_m.dtype}"
assert _m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]], f"got {_m.tolist()}"
print("Visible tests passed.")
### BEGIN HIDDEN TESTS
from autograder.checks import finetune_resnet as hidden_checks
hidden_checks.check_confusion_matrix(confusion_matrix)
### END HIDDEN TESTS

# %% [markdown]
# Now score the final model and the best one on the **test** split, which neither training nor
# model selection has seen, and save both in the course's checkpoint format (lessons 02–05 load
# this format; the course ships its own trained pair in `checkpoints/`).

# %%
with data_cells.cell("scoring"):
    criterion = torch.nn.CrossEntropyLoss()
    best_model = build_resnet18(len(CLASS_NAMES), pretrained=False)
    best_model.load_state_dict(best_state)
    best_model.init_weights = model.init_weights
    unaugmented_train = ImageDataset(split_dir("train"), transform=eval_transform)
    if SUBSET:
        unaugmented_train = balanced_subset(unaugmented_train, SUBSET)
    results = {}
    for name, candidate, epoch in (("plant_classifier_final", model, EPOCHS),
                                   ("best_plant_classifier", best_model, best_epoch)):
        _, train_acc, _, _ = evaluate(candidate, DataLoader(unaugmented_train,
                                                            batch_size=BATCH_SIZE),
                                      criterion, DEVICE)
        _, val_acc, _, _ = evaluate(candidate, val_loader, criterion, DEVICE)
        _, test_acc, test_pred, test_true = evaluate(candidate, test_loader, criterion, DEVICE)
        results[name] = (test_pred, test_true)
        path = save_checkpoint(OUTPUT_DIR / f"{name}.pth", candidate, train_acc=train_acc,
                               val_acc=val_acc, test_acc=test_acc, epoch=epoch,
                               image_size=IMAGE_SIZE, history=history)
        print(f"{path}: epoch {epoch}, train {train_acc:.1%}, val {val_acc:.1%}, "
              f"test {test_acc:.1%}")

test_pred, test_true = results["best_plant_classifier"]
matrix = confusion_matrix(test_pred, test_true, len(CLASS_NAMES))
for name, correct, total in zip(CLASS_NAMES, matrix.diag().tolist(), matrix.sum(dim=1).tolist()):
    # a class without test images has no accuracy: 0 of 0 is not 0%
    print(f"  {name}: {correct / total:.0%} of {total}" if total else
          f"  {name}: no test images, so no accuracy (add some to the test split)")
display(plot_confusion_matrix(matrix, CLASS_NAMES, title="best checkpoint, test split"))

# %% [markdown]
# ## Recap
#
# - Labels came from file names; a `Dataset` turns files into tensors and a `DataLoader` into
#   shuffled batches.
# - Pretrained features transfer: replace the head, then train the head alone (frozen backbone) or
#   everything with a small learning rate. Normalise inputs the way the backbone was trained.
# - Augment the training split only; validate every epoch; keep the best checkpoint by validation
#   accuracy and report the test accuracy once, at the end.
# - Look at per-class accuracy and the confusion matrix, not only at the overall accuracy.
#
# **Next:** lesson 02 opens up this classifier with Grad-CAM: which pixels made it say "Greg"?
#
# **Further reading**
# - K. He, X. Zhang, S. Ren, J. Sun. *Deep Residual Learning for Image Recognition.* CVPR 2016.
# - J. Yosinski, J. Clune, Y. Bengio, H. Lipson. *How transferable are features in deep neural
#   networks?* NeurIPS 2014.
# - S. Kornblith, J. Shlens, Q. V. Le. *Do Better ImageNet Models Transfer Better?* CVPR 2019.
