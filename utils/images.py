"""Reading one image file as a person sees it, or refusing it with a message that says why.

``load_rgb`` is the one loader of the course (the datasets, the lessons and ``explain`` use it).
Errors are ``DataProblem`` subclasses, so a notebook can tell a data problem from a bug in code.
"""
from __future__ import annotations

import math
import re
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class DataProblem(Exception):
    """A data folder or file that cannot be used; the message names it and says what to do."""


class BadDataError(DataProblem, ValueError):
    """An image or file name the course cannot use (unreadable, too small, badly named...)."""


class MissingDataError(DataProblem, FileNotFoundError):
    """A data folder (or mask) that is not there."""


# What the loader accepts (checked from the file's header, before any pixel is decoded):
MIN_SIDE = 32  # ResNet18's last feature map is 1x1 at 32 px; smaller images carry no usable detail
MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb limit (about 9459 x 9459)
# Reading cost is bounded: an image whose shorter side is at least 2 * WORKING_SIDE is reduced by
# a whole factor, its shorter side staying >= WORKING_SIDE (far more than the 224 px the model
# sees). JPEGs are reduced inside the decoder (Image.draft: a 6000 x 6000 JPEG in 0.3 s and 35 MB
# instead of 1.1 s and 300 MB, measured on 2 CPU cores); other formats after decoding.
WORKING_SIDE = 1024
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def load_rgb(path: Path | str) -> Image.Image:
    """Open an image file as the RGB picture a person sees in an image viewer.

    EXIF orientation is applied; 16-bit grayscale is scaled to 8 bits (not clipped to white);
    palette images use their palette; transparency is composited over white. Very large images
    are read reduced (see WORKING_SIDE). Raises ValueError naming the file for an unreadable,
    tiny (< MIN_SIDE px on a side), huge (> MAX_PIXELS) or 32-bit/float image;
    FileNotFoundError if there is no such file.
    """
    try:
        with warnings.catch_warnings():  # MAX_PIXELS is checked below, with a clearer message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                check_image_size(image.size, path)
                _draft_large_jpeg(image)
                image.load()  # decode now, so a truncated file fails here and names itself
                return _reduced(to_viewer_rgb(ImageOps.exif_transpose(image), path))
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as err:  # over 2 * MAX_PIXELS: Pillow refuses to open
        pixels = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(pixels[1]) / 1e6:.0f} million pixels" if pixels else "too many pixels"
        raise BadDataError(f"{path}: image has {size}; {TOO_LARGE}") from err
    except (UnidentifiedImageError, OSError, SyntaxError, struct.error) as err:
        raise BadDataError(f"{path}: cannot read this image ({err}). "
                           "Is it a complete JPEG/PNG?") from err


TOO_LARGE = (f"expected at most {MAX_PIXELS / 1e6:.0f} million pixels: save a smaller copy "
             "(e.g. 4000 px on the long side) and use that")


def check_image_size(size, name) -> None:
    """BadDataError naming ``name`` when ``size`` (width, height) is too small or too large."""
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise BadDataError(f"{name}: image is {width}x{height} pixels; expected at least "
                           f"{MIN_SIDE} px on each side (a thumbnail or icon is too small to "
                           "classify): use the full-size photo")
    if width * height > MAX_PIXELS:
        raise BadDataError(f"{name}: image is {width}x{height} pixels "
                           f"({width * height / 1e6:.0f} million); {TOO_LARGE}")


def _draft_large_jpeg(image: Image.Image) -> None:
    # JPEG can decode at 1/2, 1/4 or 1/8 scale; draft picks the smallest scale that still covers
    # the requested size. Other formats ignore draft().
    width, height = image.size
    shorter = min(width, height)
    if image.format in ("JPEG", "MPO") and shorter >= 2 * WORKING_SIDE:
        scale = WORKING_SIDE / shorter
        image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _reduced(image: Image.Image) -> Image.Image:
    factor = min(image.size) // WORKING_SIDE
    return image.reduce(factor) if factor >= 2 else image


def to_viewer_rgb(image: Image.Image, name="image") -> Image.Image:
    """An RGB copy of a decoded PIL image as a viewer shows it (no EXIF or size handling).

    ``.convert("RGB")`` alone is wrong for several modes: 16-bit grayscale (I;16) comes out all
    white, and transparent pixels show their hidden colour (often black) instead of the
    background. 32-bit integer (I) and float (F) images have no agreed brightness scale, so they
    are refused rather than guessed.
    """
    mode = image.mode
    if mode.startswith("I;16"):
        values = np.asarray(image).astype(np.uint32)
        gray = (values * 255 + 32767) // 65535  # 0..65535 -> 0..255, rounded
        return Image.fromarray(gray.astype(np.uint8), "L").convert("RGB")
    if mode in ("I", "F"):
        kind = "32-bit integer" if mode == "I" else "floating-point"
        raise BadDataError(f"{name}: a {kind} image (Pillow mode {mode}) has no standard "
                           "brightness scale, so it cannot be shown as a viewer would; save it "
                           "as an 8- or 16-bit PNG or as a JPEG")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
