"""Tests for the figure helpers of utils/visualise.py: compare_grid, top_k and
display_imagenet_output (layout, titles, saving, error messages)."""

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from test_visualise import normalise  # noqa: E402
from utils.visualise import compare_grid, display_imagenet_output, top_k  # noqa: E402

CATEGORIES = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- compare_grid


def test_compare_grid_layout_titles_labels_and_saving(rng, tmp_path):
    image = rng.random((16, 16, 3))
    tensor = normalise(image.astype(np.float32))
    rows = [[image, rng.random((16, 16)), tensor], [tensor[None], torch.rand(16, 16), image]]
    fig = compare_grid(rows, titles=["image", "map", "tensor"], row_labels=["a", "b"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "map", "tensor"]
    assert all(ax.get_title() == "" for ax in fig.axes[3:])
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["a", "b"]
    assert all(ax.get_xticks().size == 0 and ax.get_yticks().size == 0 for ax in fig.axes)
    grey = fig.axes[1].get_images()[0]
    assert grey.get_clim() == (0, 1)  # shared scale, not autoscaled per cell
    path = tmp_path / "grid.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(path)).shape[:2] == (fig.canvas.get_width_height()[::-1])


def test_compare_grid_ragged_rows_leave_empty_cells_blank(rng):
    fig = compare_grid([[rng.random((8, 8))], [rng.random((8, 8)), rng.random((8, 8))]])
    assert len(fig.axes) == 4
    assert not fig.axes[1].axison and not fig.axes[1].get_images()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"rows": []}, "rows"),
        ({"rows": [[]]}, "rows"),
        ({"rows": [[np.zeros((4, 4))]], "titles": ["a", "b"]}, "titles"),
        ({"rows": [[np.zeros((4, 4))]], "row_labels": ["a", "b"]}, "row_labels"),
    ],
)
def test_compare_grid_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        compare_grid(**kwargs)


# ---------------------------------------------------------------- top_k / display_imagenet_output


def test_top_k_uses_torchvision_names_in_descending_order():
    logits = torch.zeros(1000)
    logits[1], logits[7], logits[3] = 5.0, 4.0, 3.0
    top = top_k(logits, k=3)
    assert [name for name, _ in top] == [CATEGORIES[1], CATEGORIES[7], CATEGORIES[3]]
    assert top[0][0] == "goldfish"
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True)
    expected = torch.softmax(logits.double(), 0)[[1, 7, 3]].tolist()
    np.testing.assert_allclose(probs, expected, rtol=1e-9)
    assert all(isinstance(name, str) and isinstance(p, float) for name, p in top)


def test_top_k_probabilities_sum_to_one_over_all_classes(rng):
    logits = rng.standard_normal((1, 1000)) * 5
    everything = top_k(logits, k=1000)
    assert sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-9)
    assert sum(p for _, p in top_k(logits, k=5)) < 1.0
    assert sorted(name for name, _ in everything) == sorted(CATEGORIES)


def test_top_k_with_probabilities_and_own_class_names():
    probs = torch.tensor([[0.1, 0.6, 0.3]])
    top = top_k(probs, k=2, class_names=["rose", "tulip", "daisy"], are_probabilities=True)
    assert top == [("tulip", pytest.approx(0.6)), ("daisy", pytest.approx(0.3))]
    # The default k=5 is more than three classes: all of them come back rather than an error.
    everything = top_k(probs, class_names=["rose", "tulip", "daisy"], are_probabilities=True)
    assert [name for name, _ in everything] == ["tulip", "daisy", "rose"]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"logits": torch.zeros(2, 1000)}, "logits"),
        ({"logits": torch.zeros(1, 1, 1000)}, "logits"),
        ({"logits": torch.zeros(10)}, "class_names"),
        ({"logits": torch.zeros(3), "class_names": ["a", "b"]}, "class_names"),
        ({"logits": torch.zeros(1000), "k": 0}, "k"),
        ({"logits": torch.zeros(1000), "k": 2.5}, "k"),
        ({"logits": torch.randn(1000), "are_probabilities": True}, "logits"),
        ({"logits": torch.full((4,), 0.5), "class_names": list("abcd"), "are_probabilities": True}, "logits"),
        ({"logits": torch.tensor([1.5, -0.5]), "class_names": list("ab"), "are_probabilities": True}, "logits"),
    ],
)
def test_top_k_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        top_k(**kwargs)


def test_display_imagenet_output_draws_a_ranked_bar_chart(tmp_path):
    logits = torch.zeros(1, 1000)
    logits[0, 1], logits[0, 2] = 6.0, 5.0
    fig = display_imagenet_output(logits, k=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:2] == [CATEGORIES[1], CATEGORIES[2]]
    # The y axis is inverted, so the most likely class is drawn on top.
    assert ax.yaxis_inverted()
    widths = [bar.get_width() for bar in ax.patches]
    np.testing.assert_allclose(widths, [p for _, p in top_k(logits, k=4)])
    path = tmp_path / "top5.png"
    fig.savefig(path)
    assert path.stat().st_size > 0 and cv2.imread(str(path)) is not None


def test_display_imagenet_output_with_fewer_classes_than_k():
    probs = torch.tensor([0.2, 0.8])
    fig = display_imagenet_output(probs, class_names=["healthy", "rust"], are_probabilities=True)
    assert len(fig.axes[0].patches) == 2
