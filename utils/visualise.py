"""Plotting helpers for the lessons: turn tensors, gradients and CAMs into pictures.

Every function returns a numpy array or a matplotlib ``Figure`` (never ``plt.show()``), so
results can be tested and saved. Figures are ``NotebookFigure``s (utils/figures.py), built
without pyplot: a notebook shows each one once, as a PNG, when it is displayed or is the value of
its cell, and a long session does not pile up open figures.
"""

from functools import lru_cache

import cv2
import matplotlib
import numpy as np
import torch

from utils.datasets import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported)
from utils.figures import NotebookFigure

_TOL = 1e-6  # float round-off allowed on values that should lie in [0, 1]


def _in_unit_range(a):
    return a.size == 0 or bool(np.all((a >= -_TOL) & (a <= 1 + _TOL)))


def _to_numpy(x):
    """float64 numpy copy of a tensor (on any device, with or without grad) or array-like."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def to_display_image(x):
    """Return an image ready for ``imshow``: float32 HxWx3 in [0, 1].

    ``x`` is either a torch tensor (3,H,W) or (1,3,H,W) normalised with
    IMAGENET_MEAN / IMAGENET_STD (what the model sees), which is un-normalised,
    or a numpy HxWx3 array: uint8 in [0, 255] or float in [0, 1].
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().double()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 3:
            raise ValueError(f"x: expected a tensor of shape (3,H,W) or (1,3,H,W), got {tuple(x.shape)}")
        mean = torch.tensor(IMAGENET_MEAN, dtype=t.dtype).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=t.dtype).view(3, 1, 1)
        # Clipping only removes values a real photo cannot have; imshow would clip them anyway.
        return (t * std + mean).clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)
    if isinstance(x, np.ndarray):
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"x: expected a numpy array of shape (H,W,3), got {x.shape}")
        if x.dtype == np.uint8:
            return x.astype(np.float32) / 255.0
        if np.issubdtype(x.dtype, np.floating):
            # A float array outside [0, 1] is most likely still normalised: say so, don't guess.
            if not _in_unit_range(x):
                raise ValueError("x: a float numpy image must lie in [0, 1]; pass normalised ones as tensors")
            return np.clip(x, 0, 1).astype(np.float32)
        raise ValueError(f"x: a numpy image must be uint8 or float, got dtype {x.dtype}")
    raise ValueError(f"x: expected a tensor (3,H,W)/(1,3,H,W) or a numpy array (H,W,3), got {type(x)}")


def get_edge(image, low=50, high=150):
    """Canny edges of ``image`` (anything ``to_display_image`` accepts).

    ``low`` and ``high`` are Canny's hysteresis thresholds on the 0-255 grey scale.
    Returns a uint8 HxW array whose pixels are 0 or 255 (255 = edge).
    """
    if not 0 <= low <= high:
        raise ValueError(f"low, high: expected 0 <= low <= high, got low={low}, high={high}")
    rgb = to_display_image(image)
    # Canny needs 8-bit input, and its thresholds are defined on that scale.
    grey = cv2.cvtColor(np.round(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.Canny(grey, low, high)


def _as_hwc(attr):
    """Attribution as float64 HxWx3 numpy, from a tensor (3,H,W)/(1,3,H,W) or numpy HxWx3/3xHxW."""
    if not isinstance(attr, (torch.Tensor, np.ndarray)):
        raise ValueError(f"attr: expected a torch tensor or numpy array, got {type(attr).__name__}")
    a = _to_numpy(attr)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[2] == 3 and isinstance(attr, np.ndarray):
        pass  # numpy HxWx3 wins when ambiguous: that is how numpy images are laid out
    elif a.ndim == 3 and a.shape[0] == 3:
        a = a.transpose(1, 2, 0)
    else:
        raise ValueError(f"attr: expected shape (3,H,W) or (1,3,H,W), or (H,W,3) for numpy, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("attr: contains NaN or inf")
    return a


def _robust_max(values, percentile):
    # The top percent of gradient pixels is often a few extreme outliers; scaling by a high
    # percentile instead of the max keeps the rest of the map visible. Sparse maps (mostly
    # zeros) can have a zero percentile, so fall back to the max; 0 means an all-zero map.
    hi = np.percentile(values, percentile)
    return hi if hi > 0 else values.max()


def process_attributions(attr, mode="magnitude", percentile=99):
    """Turn a gradient/attribution into an image.

    ``attr``: tensor (3,H,W) or (1,3,H,W), or numpy HxWx3 or 3xHxW (any real values).
    ``mode="magnitude"``: HxW float32 in [0, 1], the max |attr| over channels divided by
    its ``percentile``-th percentile and clipped to 1.
    ``mode="channels"``: HxWx3 float32 in [0, 1] keeping the sign: 0.5 is zero, values are
    divided by the ``percentile``-th percentile of |attr| (clipped to [-1, 1]) and mapped to [0, 1].
    An all-zero ``attr`` gives all zeros (magnitude) or all 0.5 (channels).
    """
    if mode not in ("magnitude", "channels"):
        raise ValueError(f"mode: expected 'magnitude' or 'channels', got {mode!r}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile: expected a number in (0, 100], got {percentile}")
    a = _as_hwc(attr)
    values = np.abs(a).max(axis=2) if mode == "magnitude" else a
    hi = _robust_max(np.abs(values), percentile)
    scaled = np.clip(values / hi, -1, 1) if hi > 0 else np.zeros_like(values)
    return (scaled if mode == "magnitude" else 0.5 + 0.5 * scaled).astype(np.float32)


def add_edge_to_attributions(attributions, edges, color=(0.0, 1.0, 0.0), alpha=1.0):
    """Draw ``edges`` on top of a processed attribution to show where it sits on the object.

    ``attributions``: HxW (shown as grey) or HxWx3, float in [0, 1], e.g. from
    ``process_attributions``. ``edges``: HxW, non-zero pixels are edges (as from ``get_edge``).
    ``color``: RGB in [0, 1]; ``alpha`` in [0, 1] is how opaque the edges are.
    Returns HxWx3 float32 in [0, 1].
    """
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"attributions: expected shape (H,W) or (H,W,3), got {np.shape(attributions)}")
    if not _in_unit_range(a):
        raise ValueError("attributions: values must lie in [0, 1]; run process_attributions first")
    e = np.asarray(edges)
    if e.shape != a.shape[:2]:
        raise ValueError(f"edges: expected shape {a.shape[:2]} to match attributions, got {e.shape}")
    c = np.asarray(color, dtype=np.float64)
    if c.shape != (3,) or not _in_unit_range(c):
        raise ValueError(f"color: expected 3 RGB values in [0, 1], got {color}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    # The default green is a hue that neither grey magnitude maps nor the mostly
    # mid-grey channel maps produce as a continuous line, so edges stay readable on both.
    weight = alpha * (e != 0)[:, :, None]
    return np.clip((1 - weight) * a + weight * c, 0, 1).astype(np.float32)


def overlay_heatmap(image, cam, alpha=0.5, colormap="jet"):
    """Blend a class activation map onto its image.

    ``image``: anything ``to_display_image`` accepts (H,W). ``cam``: tensor or numpy
    HxW in [0, 1] (leading size-1 dimensions are dropped); another size is resized to
    the image with bilinear interpolation. Returns HxWx3 float32 in [0, 1] equal to
    ``(1 - alpha) * image + alpha * colormap(cam)``, ``colormap`` a matplotlib name.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"colormap: {colormap!r} is not a matplotlib colormap name") from None
    img = to_display_image(image)
    c = _to_numpy(cam)
    while c.ndim > 2 and c.shape[0] == 1:
        c = c[0]
    if c.ndim != 2 or min(c.shape) == 0:
        raise ValueError(f"cam: expected shape (H,W) (optionally with leading 1s), got {np.shape(cam)}")
    if not _in_unit_range(c):
        raise ValueError("cam: values must lie in [0, 1]; normalise the CAM first")
    if c.shape != img.shape[:2]:
        # cv2 takes the target size as (width, height). Grad-CAM maps are coarse (7x7 for
        # ResNet18), so bilinear interpolation gives the smooth map people expect.
        c = cv2.resize(c, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cmap(np.clip(c, 0, 1))[:, :, :3]
    return np.clip((1 - alpha) * img + alpha * heat, 0, 1).astype(np.float32)


def compare_grid(rows, titles=None, row_labels=None, cell_size=2.5, cmap="gray"):
    """A Figure comparing images side by side: one row per input image, one column per method.

    ``rows``: list of lists of images. HxW arrays/tensors are drawn with ``cmap`` on a fixed
    0-1 scale; HxWx3 arrays and normalised tensors as in ``to_display_image``. Rows may
    differ in length. ``titles`` go above the top row, ``row_labels`` left of each row.
    """
    if not rows or not all(isinstance(r, (list, tuple)) and len(r) > 0 for r in rows):
        raise ValueError("rows: expected a non-empty list of non-empty lists of images")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    if titles is not None and len(titles) != n_cols:
        raise ValueError(f"titles: expected {n_cols} titles (one per column), got {len(titles)}")
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"row_labels: expected {n_rows} labels (one per row), got {len(row_labels)}")
    fig = NotebookFigure(figsize=(cell_size * n_cols, cell_size * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, row in enumerate(rows):
        for j, ax in enumerate(axes[i]):
            if j >= len(row):
                ax.set_axis_off()
                continue
            if np.ndim(row[j]) == 2:
                # A shared 0-1 scale: autoscaling each cell would make weak maps look as strong as others.
                ax.imshow(_to_numpy(row[j]), cmap=cmap, vmin=0, vmax=1)
            else:
                ax.imshow(to_display_image(row[j]))
            # Hide ticks and frame instead of axis("off") so that set_ylabel still shows the row label.
            ax.set(xticks=[], yticks=[])
            ax.spines[:].set_visible(False)
            if i == 0 and titles is not None:
                ax.set_title(titles[j])
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i])
    return fig


@lru_cache(maxsize=1)
def _imagenet_categories():
    import torchvision  # only here: the names ship with torchvision, no download needed

    return tuple(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def top_k(logits, k=5, class_names=None, are_probabilities=False):
    """The ``k`` most likely classes as ``[(class_name, probability), ...]``, most likely first.

    ``logits``: tensor or numpy of shape (C,) or (1,C); softmax is applied unless
    ``are_probabilities`` (then values must lie in [0, 1] and sum to 1).
    ``class_names`` defaults to the 1000 ImageNet names from torchvision. A ``k`` above
    the number of classes returns them all, so the default suits small datasets too.
    """
    x = torch.from_numpy(_to_numpy(logits))
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"logits: expected shape (C,) or (1,C), got {tuple(x.shape)}")
    names = _imagenet_categories() if class_names is None else list(class_names)
    if len(names) != x.numel():
        raise ValueError(f"class_names: expected {x.numel()} names (one per score), got {len(names)}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    if are_probabilities:
        # Logits passed by mistake almost never sum to 1, so this catches the wrong flag.
        if not _in_unit_range(x.numpy()) or abs(x.sum().item() - 1) > 1e-3:
            raise ValueError("logits: with are_probabilities=True values must lie in [0, 1] and sum to 1")
        probs = x
    else:
        probs = torch.softmax(x, dim=0)
    values, indices = probs.topk(min(k, x.numel()))
    return [(names[i], float(p)) for p, i in zip(values.tolist(), indices.tolist())]


def display_imagenet_output(logits_or_probs, k=5, class_names=None, are_probabilities=False):
    """A Figure with a horizontal bar chart of the ``top_k`` classes (arguments as there)."""
    top = top_k(logits_or_probs, k, class_names, are_probabilities)
    names, probs = [n for n, _ in top], [p for _, p in top]
    fig = NotebookFigure(figsize=(6, 0.4 * len(top) + 1), layout="constrained")
    ax = fig.subplots()
    ax.barh(range(len(top)), probs, color="tab:blue")
    ax.set_yticks(range(len(top)), labels=names)
    ax.invert_yaxis()  # most likely class on top, as people read a ranking
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    for y, p in enumerate(probs):
        ax.text(min(p + 0.01, 0.85), y, f"{p:.1%}", va="center")
    return fig
