"""Tests for the map helpers of utils/visualise.py: to_display_image, get_edge,
process_attributions, add_edge_to_attributions and overlay_heatmap (value ranges, shapes, error
messages). The figure helpers are tested in test_visualise_figures.py."""

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils.visualise import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    add_edge_to_attributions,
    get_edge,
    overlay_heatmap,
    process_attributions,
    to_display_image,
)

def normalise(image_hwc):
    """What the course's transforms do: HxWx3 in [0, 1] -> normalised (3,H,W) tensor."""
    t = torch.from_numpy(image_hwc).permute(2, 0, 1).double()
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1)
    return ((t - mean) / std).float()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def square():
    """A 32x32 black image with a white 16x16 square at rows/cols 8..23."""
    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = 255
    return img


# ---------------------------------------------------------------- to_display_image


def test_unnormalising_gives_back_the_original_image(rng):
    image = rng.random((12, 10, 3)).astype(np.float32)
    for x in (normalise(image), normalise(image)[None]):
        out = to_display_image(x)
        assert out.shape == (12, 10, 3) and out.dtype == np.float32
        np.testing.assert_allclose(out, image, atol=1e-6)


def test_numpy_images_are_scaled_to_unit_range(rng):
    u8 = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    out = to_display_image(u8)
    assert out.dtype == np.float32 and out.shape == (5, 6, 3)
    np.testing.assert_allclose(out, u8 / 255.0, atol=1e-7)
    f = rng.random((5, 6, 3))
    np.testing.assert_allclose(to_display_image(f), f, atol=1e-7)


def test_unnormalised_values_outside_a_photo_are_clipped():
    out = to_display_image(torch.full((3, 4, 4), 100.0))
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(4, 8, 8),
        torch.zeros(2, 3, 8, 8),
        torch.zeros(8, 8, 3),
        np.zeros((8, 8)),
        np.zeros((3, 8, 8)),
        np.full((8, 8, 3), 2.0),
        np.zeros((8, 8, 3), np.int64),
        [[0.0, 0.0, 0.0]],
    ],
)
def test_to_display_image_rejects_bad_input(bad):
    with pytest.raises(ValueError, match=r"^x:"):
        to_display_image(bad)


def test_to_display_image_error_names_expected_shapes():
    with pytest.raises(ValueError, match=r"\(3,H,W\) or \(1,3,H,W\)"):
        to_display_image(torch.zeros(4, 8, 8))


# ---------------------------------------------------------------- get_edge


def test_canny_finds_the_square_border_and_nothing_else(square):
    edges = get_edge(square)
    assert edges.shape == (32, 32) and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    mask = square[:, :, 0] > 0
    kernel = np.ones((3, 3), np.uint8)
    # Pixels with both black and white among their 8 neighbours: the one-pixel band either side of the border.
    border = cv2.dilate(mask.astype(np.uint8), kernel) != cv2.erode(mask.astype(np.uint8), kernel)
    assert not edges[~border].any(), "edges found in a flat region"
    # Every side of the square is traced along (almost) its whole length.
    on = edges > 0
    assert on[7:9, 8:24].any(axis=0).sum() >= 14  # top
    assert on[23:25, 8:24].any(axis=0).sum() >= 14  # bottom
    assert on[8:24, 7:9].any(axis=1).sum() >= 14  # left
    assert on[8:24, 23:25].any(axis=1).sum() >= 14  # right


def test_canny_accepts_float_images_and_flat_images_have_no_edges(square):
    np.testing.assert_array_equal(get_edge(square / 255.0), get_edge(square))
    assert not get_edge(np.full((16, 16, 3), 0.7)).any()


def test_get_edge_rejects_bad_thresholds_and_images(square):
    with pytest.raises(ValueError, match="low, high"):
        get_edge(square, low=200, high=100)
    with pytest.raises(ValueError, match=r"^x:"):
        get_edge(square[:, :, 0])


# ---------------------------------------------------------------- process_attributions


def test_magnitude_is_max_abs_over_channels_clipped_at_percentile():
    values = np.arange(1, 101, dtype=np.float64).reshape(10, 10)
    attr = np.zeros((3, 10, 10))
    attr[1] = -values  # the sign must not matter for the magnitude
    attr[2] = values / 2  # smaller than channel 1 everywhere, so it must not matter either
    out = process_attributions(attr, mode="magnitude", percentile=50)
    assert out.shape == (10, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.clip(values / np.percentile(values, 50), 0, 1), rtol=1e-6)
    assert (out == 1).sum() == 50  # the top half is saturated
    full = process_attributions(attr, mode="magnitude", percentile=100)
    np.testing.assert_allclose(full, values / 100, rtol=1e-6)


def test_an_outlier_does_not_wash_out_the_map(rng):
    attr = rng.random((3, 20, 20))
    attr[0, 0, 0] = 1e6
    out = process_attributions(attr, percentile=99)
    assert out[0, 0] == 1
    assert np.median(out) > 0.3  # with percentile=100 everything else would be ~1e-6
    assert np.median(process_attributions(attr, percentile=100)) < 1e-5


def test_channels_keep_sign_centred_at_half_and_clip_symmetrically():
    attr = np.zeros((2, 2, 3))
    attr[0, 0] = [1.0, -1.0, 0.0]
    attr[1, 1] = [10.0, -10.0, 0.5]
    out = process_attributions(attr, mode="channels", percentile=100)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [0.55, 0.45, 0.5], atol=1e-6)
    np.testing.assert_allclose(out[1, 1], [1.0, 0.0, 0.525], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [0.5, 0.5, 0.5])
    # Clipping at a lower percentile saturates both signs equally.
    low = process_attributions(attr, mode="channels", percentile=90)
    p = np.percentile(np.abs(attr), 90)
    np.testing.assert_allclose(low[0, 0], 0.5 + 0.5 * np.clip([1 / p, -1 / p, 0], -1, 1), atol=1e-6)
    np.testing.assert_allclose(low[1, 1, :2], [1.0, 0.0])


@pytest.mark.parametrize("mode, fill", [("magnitude", 0.0), ("channels", 0.5)])
def test_all_zero_attribution_gives_a_blank_map_without_nan(mode, fill):
    out = process_attributions(torch.zeros(1, 3, 8, 8), mode=mode)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out, np.full(out.shape, fill, np.float32))


def test_sparse_attribution_falls_back_to_the_max():
    attr = torch.zeros(3, 20, 20)  # 99th percentile is 0 here
    attr[0, 5, 5] = 3.0
    out = process_attributions(attr)
    assert out[5, 5] == 1 and out.sum() == 1


def test_all_layouts_give_the_same_map(rng):
    chw = rng.standard_normal((3, 6, 7))
    expected = process_attributions(chw, mode="channels")
    for attr in (torch.from_numpy(chw), torch.from_numpy(chw)[None], chw.transpose(1, 2, 0)):
        np.testing.assert_allclose(process_attributions(attr, mode="channels"), expected, atol=1e-6)
    assert ((expected >= 0) & (expected <= 1)).all()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"attr": np.zeros((3, 4, 4)), "mode": "abs"}, "mode"),
        ({"attr": np.zeros((3, 4, 4)), "percentile": 0}, "percentile"),
        ({"attr": np.zeros((3, 4, 4)), "percentile": 101}, "percentile"),
        ({"attr": np.zeros((4, 4))}, "attr"),
        ({"attr": torch.zeros(2, 3, 4, 4)}, "attr"),
        ({"attr": torch.zeros(4, 4, 3)}, "attr"),
        ({"attr": np.full((3, 4, 4), np.nan)}, "attr"),
        ({"attr": [[1.0, 2.0, 3.0]]}, "attr"),
    ],
)
def test_process_attributions_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        process_attributions(**kwargs)


# ---------------------------------------------------------------- add_edge_to_attributions


def test_edges_are_painted_in_colour_and_the_rest_is_untouched(rng):
    attr = rng.random((8, 8, 3))
    edges = np.zeros((8, 8), np.uint8)
    edges[3, :] = 255
    out = add_edge_to_attributions(attr, edges, color=(1.0, 0.0, 0.0), alpha=1.0)
    assert out.shape == (8, 8, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[3], np.tile([1.0, 0.0, 0.0], (8, 1)))
    np.testing.assert_allclose(np.delete(out, 3, axis=0), np.delete(attr, 3, axis=0), atol=1e-6)
    half = add_edge_to_attributions(attr, edges, color=(1.0, 0.0, 0.0), alpha=0.5)
    np.testing.assert_allclose(half[3], 0.5 * attr[3] + 0.5 * np.array([1.0, 0.0, 0.0]), atol=1e-6)
    np.testing.assert_allclose(add_edge_to_attributions(attr, edges, alpha=0.0), attr, atol=1e-6)


def test_grey_attributions_and_real_canny_edges(square):
    magnitude = process_attributions(torch.rand(3, 32, 32))
    out = add_edge_to_attributions(magnitude, get_edge(square))
    assert out.shape == (32, 32, 3) and out.min() >= 0 and out.max() <= 1
    flat = get_edge(square) == 0
    for c in range(3):
        np.testing.assert_allclose(out[:, :, c][flat], magnitude[flat], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"attributions": np.zeros((8, 8)), "edges": np.zeros((8, 9))}, "edges"),
        ({"attributions": np.zeros((8, 8, 3)), "edges": np.zeros((8, 8, 3))}, "edges"),
        ({"attributions": np.zeros((8, 8, 4)), "edges": np.zeros((8, 8))}, "attributions"),
        ({"attributions": np.full((8, 8), 1.5), "edges": np.zeros((8, 8))}, "attributions"),
        ({"attributions": np.zeros((8, 8)), "edges": np.zeros((8, 8)), "color": (1.0, 0.0)}, "color"),
        ({"attributions": np.zeros((8, 8)), "edges": np.zeros((8, 8)), "color": (255, 0, 0)}, "color"),
        ({"attributions": np.zeros((8, 8)), "edges": np.zeros((8, 8)), "alpha": 1.2}, "alpha"),
    ],
)
def test_add_edge_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        add_edge_to_attributions(**kwargs)


# ---------------------------------------------------------------- overlay_heatmap


def test_overlay_alpha_zero_is_the_image_and_one_is_the_colormap(rng):
    image = rng.random((9, 11, 3)).astype(np.float32)
    cam = rng.random((9, 11))
    np.testing.assert_allclose(overlay_heatmap(image, cam, alpha=0.0), image, atol=1e-6)
    jet = matplotlib.colormaps["jet"](cam)[:, :, :3]
    out = overlay_heatmap(image, cam, alpha=1.0)
    assert out.shape == (9, 11, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, jet, atol=1e-6)
    viridis = matplotlib.colormaps["viridis"](cam)[:, :, :3]
    blended = overlay_heatmap(image, cam, 0.25, "viridis")
    np.testing.assert_allclose(blended, 0.75 * image + 0.25 * viridis, atol=1e-6)


def test_overlay_accepts_tensors_and_resizes_a_small_cam(rng):
    image = rng.random((32, 48, 3)).astype(np.float32)
    cam = torch.tensor([[0.0, 1.0], [0.0, 1.0]])[None, None]  # (1,1,2,2), as Grad-CAM code often returns
    out = overlay_heatmap(normalise(image), cam, alpha=1.0)
    assert out.shape == (32, 48, 3) and out.min() >= 0 and out.max() <= 1
    resized = cv2.resize(np.array([[0.0, 1.0], [0.0, 1.0]]), (48, 32), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(out, matplotlib.colormaps["jet"](resized)[:, :, :3], atol=1e-6)
    # Bilinear: a smooth left-to-right ramp, identical down every column.
    assert resized[:, 0].max() == 0 and resized[:, -1].min() == 1
    assert np.all(np.diff(resized[0]) >= 0) and 0 < resized[0, 24] < 1


def test_overlay_tolerates_round_off_in_the_cam():
    out = overlay_heatmap(np.zeros((4, 4, 3)), np.full((4, 4), 1 + 1e-7), alpha=1.0)
    np.testing.assert_allclose(out, np.tile(matplotlib.colormaps["jet"](1.0)[:3], (4, 4, 1)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"cam": np.full((8, 8), 1.01)}, "cam"),
        ({"cam": np.full((8, 8), -0.01)}, "cam"),
        ({"cam": np.zeros((2, 8, 8))}, "cam"),
        ({"cam": np.zeros(8)}, "cam"),
        ({"colormap": "not-a-colormap"}, "colormap"),
        ({"image": np.zeros((8, 8))}, "x"),
    ],
)
def test_overlay_rejects_bad_input(kwargs, name):
    args = {"image": np.zeros((8, 8, 3)), "cam": np.zeros((8, 8))} | kwargs
    with pytest.raises(ValueError, match=rf"^{name}:"):
        overlay_heatmap(**args)
