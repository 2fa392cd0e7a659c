"""Bad and unusual image files, as a user would hand them to the course: through the loader
(utils/images.py, which ImageDataset uses) and through the explain command. Each case checks the
message the user sees and that the user's files are byte-for-byte unchanged afterwards.

The Hypothesis test draws a mode, a size and an EXIF orientation, writes a real file, and expects
either the picture a viewer shows (computed here with numpy from the pixel values written, not
with the loader's code) or a clear ValueError."""
from __future__ import annotations

import hashlib
import io
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from solutions.tools.explain import main
from test_explain import checkpoint  # noqa: F401  (a fixture: a tiny checkpoint in the course format)
from utils.datasets import ImageDataset, load_rgb
from utils.images import MAX_PIXELS, MIN_SIDE, WORKING_SIDE

ORIENTATION = 0x0112
# what each EXIF orientation asks a viewer to do with the stored pixels (rows, columns, channels)
VIEWER = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1],
          4: lambda a: a[::-1], 5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
          7: lambda a: np.rot90(a, 2).transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}


def snapshot(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[ORIENTATION] = orientation
    return tags


def over_white(colour, alpha):
    """A pixel's colour composited over a white page, as viewers show transparency."""
    a = alpha[..., None].astype(float) / 255
    return colour.astype(float) * a + 255 * (1 - a)


# --- files the loader must refuse, each with its own message --------------------------------

def tiny_png(folder):
    path = folder / "0_icon.png"
    Image.new("RGB", (8, 8), "green").save(path)
    return path, ["8x8 pixels", f"at least {MIN_SIDE} px", "full-size photo"]


def one_pixel_jpeg(folder):
    path = folder / "1_dot.jpg"
    Image.new("RGB", (1, 1), "green").save(path)
    return path, ["1x1 pixels", f"at least {MIN_SIDE} px"]


def bomb_png(folder):
    """10000 x 10000 (100 million pixels, over the limit), only a few kB on disk."""
    path = folder / "2_bomb.png"
    Image.new("1", (10_000, 10_000)).save(path)
    return path, ["10000x10000 pixels (100 million)", "at most 89 million", "smaller copy"]


def jpeg_claiming(folder, width, height, name):
    """A real small JPEG whose header claims width x height: only a decoder that read the
    header alone, as the loader must, can refuse it for its size rather than its data."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")  # baseline start-of-frame: length, precision, height, width
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def huge_jpeg(folder):  # between Pillow's warning and its error: the loader's own check
    return jpeg_claiming(folder, 12_000, 9_000, "3_pano.jpg"), [
        "12000x9000 pixels (108 million)", "at most 89 million", "smaller copy"]


def bomb_jpeg(folder):  # over twice the limit: Pillow refuses at open, the loader explains
    return jpeg_claiming(folder, 14_000, 14_000, "0_huge.jpg"), [
        "196 million pixels", "at most 89 million", "smaller copy"]


def float_tiff(folder):
    path = folder / "1_depth.tif"
    Image.fromarray(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)).save(path)
    return path, ["floating-point image (Pillow mode F)", "8- or 16-bit PNG or as a JPEG"]


def int32_tiff(folder):
    path = folder / "2_counts.tif"
    Image.fromarray(np.arange(64 * 64, dtype=np.int32).reshape(64, 64)).save(path)
    return path, ["32-bit integer image (Pillow mode I)", "8- or 16-bit PNG"]


def truncated_png(folder):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(
        buffer, "PNG")
    path = folder / "3_cut.png"
    path.write_bytes(buffer.getvalue()[:2000])
    return path, ["cannot read this image", "complete JPEG/PNG"]


def text_named_jpg(folder):
    path = folder / "0_notes.jpg"
    path.write_text("shopping list: soil, pots")
    return path, ["cannot read this image", "complete JPEG/PNG"]


REFUSED = [tiny_png, one_pixel_jpeg, bomb_png, huge_jpeg, bomb_jpeg, float_tiff, int32_tiff,
           truncated_png, text_named_jpg]


@pytest.mark.parametrize("make", REFUSED, ids=[f.__name__ for f in REFUSED])
def test_loader_refuses_with_a_message_naming_the_file(make, tmp_path):
    path, phrases = make(tmp_path)
    before = snapshot(tmp_path)
    started = time.perf_counter()
    with pytest.raises(ValueError) as err:
        load_rgb(path)
    assert time.perf_counter() - started < 2, "refused from the header, before decoding"
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for phrase in phrases:
        assert phrase in message, message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("make", [tiny_png, bomb_jpeg, float_tiff],
                         ids=["tiny", "bomb", "float"])
def test_dataset_names_the_bad_file(make, tmp_path):
    path, phrases = make(tmp_path)
    path = path.rename(tmp_path / f"0_{path.stem.split('_', 1)[1]}.png")  # a name the set reads
    before = snapshot(tmp_path)
    dataset = ImageDataset(tmp_path)
    with pytest.raises(ValueError, match=str(path)):
        dataset[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("make", [tiny_png, bomb_png, bomb_jpeg, float_tiff, truncated_png],
                         ids=["tiny", "bomb-png", "bomb-jpeg", "float", "truncated"])
def test_explain_refuses_in_one_line_and_writes_nothing(make, checkpoint, tmp_path,  # noqa: F811
                                                        capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    path, phrases = make(folder)
    before = snapshot(folder)
    out = tmp_path / "explanations"
    assert main([str(path), "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and all(phrase in err for phrase in phrases), err
    assert snapshot(folder) == before and not out.exists()


# --- files read as a person sees them -------------------------------------------------------

def test_16_bit_png_is_scaled_not_white(tmp_path):
    values = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    path = tmp_path / "0_scan.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    before = snapshot(tmp_path)
    rgb = np.asarray(load_rgb(path)).astype(int)
    assert rgb.shape == (48, 64, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    assert np.abs(rgb[..., 0] - values / 257).max() <= 0.5 + 1e-9
    assert rgb.min() == 0 and rgb.max() == 255 and 120 < rgb.mean() < 135
    assert snapshot(tmp_path) == before


def test_phone_photo_is_turned_upright(tmp_path):
    """Stored sideways (landscape) with orientation 6: a viewer shows it portrait."""
    stored = np.zeros((60, 80, 3), np.uint8)
    stored[:20, :20] = 255  # white in the stored top-left corner
    path = tmp_path / "2_phone.jpg"
    Image.fromarray(stored).save(path, exif=exif(6), quality=95)
    image = np.asarray(load_rgb(path))
    assert image.shape == (80, 60, 3)  # portrait
    assert image[:15, -15:].mean() > 240 and image[-15:, :15].mean() < 15  # now top-right


def test_transparent_palette_image_shows_the_page(tmp_path):
    indices = np.zeros((40, 40), np.uint8)
    indices[10:30, 10:30] = 1
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    path = tmp_path / "1_logo.png"
    image.save(path, transparency=0)  # index 0 (black) is transparent
    rgb = np.asarray(load_rgb(path))
    assert (rgb[0, 0] == 255).all(), "transparent pixels show the white page, not black"
    assert rgb[20, 20].tolist() == [0, 128, 0]


@pytest.mark.parametrize("size, fmt, expected", [
    ((6000, 6000), "JPEG", (1500, 1500)),  # decoded at 1/4 scale (draft), no full decode
    ((6000, 4000), "JPEG", (3000, 2000)),  # 1/4 would leave the shorter side under 1024
    ((4000, 3000), "JPEG", (2000, 1500)),
    ((3000, 2100), "PNG", (1500, 1050)),  # decoded, then reduced by 2
    ((2000, 2040), "PNG", (2000, 2040)),  # shorter side under 2 * WORKING_SIDE: kept
])
def test_large_images_are_read_at_bounded_size(size, fmt, expected, tmp_path):
    path = tmp_path / f"0_big.{fmt.lower()}"
    gradient = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :, None]
    Image.fromarray(np.broadcast_to(gradient, (size[1], size[0], 3)).copy()).save(path, fmt)
    started = time.perf_counter()
    image = load_rgb(path)
    assert image.size == expected
    assert WORKING_SIDE <= min(image.size) < 2 * WORKING_SIDE or image.size == size
    row = np.asarray(image)[0, :, 0].astype(int)
    assert abs(row[0] - 0) <= 3 and abs(row[-1] - 255) <= 3, "the same picture, smaller"
    assert time.perf_counter() - started < 5


def test_the_limits_are_pillows_and_the_courses():
    assert MAX_PIXELS == 89_478_485 and MIN_SIDE == 32


# --- any mode, size and orientation: the viewer's picture or a clear ValueError ---------------

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16", "I", "F"]


def pixels_for(mode, height, width, rng):
    """(the PIL image to save, what a viewer shows as an RGB uint8 array, or None = refuse)."""
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    if mode == "1":
        bits = gray > 127
        return Image.fromarray(bits), np.repeat(bits[..., None] * 255, 3, 2).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(gray, "L"), np.repeat(gray[..., None], 3, 2)
    if mode == "LA":
        shown = over_white(np.repeat(gray[..., None], 3, 2), alpha)
        return Image.fromarray(np.dstack([gray, alpha]), "LA"), shown
    if mode in ("P", "PA"):
        image = Image.fromarray(gray, "P")
        image.putpalette(palette.tobytes())
        if mode == "P":
            return image, palette[gray]
        image = image.convert("PA")
        image.putalpha(Image.fromarray(alpha, "L"))
        return image, over_white(palette[gray], alpha)
    if mode == "RGB":
        return Image.fromarray(rgb, "RGB"), rgb
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), over_white(rgb, alpha)
    if mode == "I;16":
        values = rng.integers(0, 65536, (height, width), dtype=np.uint16)
        return Image.fromarray(values), np.repeat(np.round(values / 257)[..., None], 3, 2)
    if mode == "I":
        return Image.fromarray(rng.integers(0, 2**31, (height, width), dtype=np.int32)), None
    return Image.fromarray(rng.random((height, width), dtype=np.float32)), None  # F


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(MODES), width=st.integers(1, 96), height=st.integers(1, 96),
       orientation=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_any_image_reads_as_a_viewer_shows_it_or_says_why_not(mode, width, height,
                                                             orientation, seed):
    image, shown = pixels_for(mode, height, width, np.random.default_rng(seed))
    fmt = "TIFF" if mode in ("PA", "I", "F") else "PNG"  # where Pillow can write the mode
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"0_drawn.{fmt.lower()}"
        image.save(path, fmt, exif=exif(orientation))
        data = path.read_bytes()
        if shown is None or min(width, height) < MIN_SIDE:
            with pytest.raises(ValueError) as err:
                load_rgb(path)
            message = str(err.value)
            assert message.startswith(f"{path}: ") and "\n" not in message
            sizes = (f"{width}x{height} pixels", f"{height}x{width} pixels")  # TIFF: as shown
            assert (any(size in message for size in sizes) if min(width, height) < MIN_SIDE
                    else f"(Pillow mode {mode})" in message), message
        else:
            result = load_rgb(path)
            assert result.mode == "RGB"
            expected = VIEWER[orientation](np.asarray(shown, dtype=float))
            got = np.asarray(result).astype(float)
            assert got.shape == expected.shape, (mode, orientation, got.shape, expected.shape)
            assert np.abs(got - expected).max() <= 1, (mode, orientation)  # compositing rounds
        assert path.read_bytes() == data
