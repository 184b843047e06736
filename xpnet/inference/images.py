"""Single digit images: reading any picture and preparing it the MNIST way, drawing one in
the terminal, and saving one as a PNG.

Reading, resizing and writing pictures use Pillow (``pip install -e '.[plot]'``), imported
only by the functions that need it; drawing in the terminal needs nothing.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ..errors import XpnetError
from ..files import write_output

SHADES = " ░▒▓█"
SIDE = 28
INK_BOX = 20
INK_THRESHOLD = 0.1
PNG_SCALE = 8
INSTALL_HINT = "pip install -e '.[plot]'"


def pillow():
    """The ``PIL.Image`` module, or a one-line :class:`XpnetError` saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise XpnetError(f"reading or writing pictures needs Pillow: {INSTALL_HINT}") from None
    return Image


def read_grey(path: str | os.PathLike) -> np.ndarray:
    """The picture at ``path`` (PNG, JPEG... any size, greyscale or colour) as greyscale (h, w) uint8.

    Transparent pixels count as white paper, where a drawing program leaves them.
    """
    Image = pillow()
    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                paper = Image.new("RGBA", picture.size, "white")
                picture = Image.alpha_composite(paper, picture.convert("RGBA"))
            return np.asarray(picture.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise XpnetError(f"image {path} not found; pass the path of a PNG or JPEG file") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise XpnetError(f"cannot read image {path} ({error}); pass a PNG or JPEG file") from None


def mnist_style(grey: np.ndarray) -> np.ndarray:
    """A greyscale picture (h, w) uint8 -> a 28x28 uint8 digit prepared as MNIST's were.

    Light ink on a dark background, as MNIST stores digits (a picture whose border is
    mostly light is inverted); cropped to the ink's bounding box; scaled so its longer
    side is 20 pixels, keeping the aspect ratio; placed in the 28x28 frame so that its
    centre of mass is at the frame's centre (index 13.5), as near as the frame allows.
    """
    Image = pillow()
    ink = grey.astype(np.float64)
    border = np.concatenate([ink[0, :], ink[-1, :], ink[:, 0], ink[:, -1]])
    background = np.median(border)
    if background > 127:
        ink, background = 255.0 - ink, 255.0 - background
    ink = np.clip(ink - background, 0.0, None)
    if ink.max() <= 0:
        raise XpnetError("the image is blank (no ink stands out from its background); pass a picture of a digit")
    # Faint specks (JPEG noise, paper texture) stay out of the bounding box but not out of the digit.
    rows, cols = np.nonzero(ink > INK_THRESHOLD * ink.max())
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = ink.shape
    scale = INK_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = np.clip(np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)),
                     0.0, None)
    # Full-strength strokes, as MNIST's: the darkest ink becomes 255 whatever the pen and the scaling.
    return _centred(np.round(fitted * (255.0 / fitted.max())).astype(np.uint8))


def _centred(digit: np.ndarray) -> np.ndarray:
    """``digit`` (h, w) with h, w <= 28 placed in a 28x28 frame, its centre of mass moved to the
    frame's centre by whole pixels, without cutting any of it off."""
    height, width = digit.shape
    weights = digit.astype(np.float64)
    total = weights.sum()
    frame = np.zeros((SIDE, SIDE), dtype=np.uint8)
    if total == 0:
        top, left = (SIDE - height) // 2, (SIDE - width) // 2
    else:
        centre_row = (weights.sum(axis=1) @ np.arange(height)) / total
        centre_col = (weights.sum(axis=0) @ np.arange(width)) / total
        centre = (SIDE - 1) / 2
        top = min(max(round(centre - centre_row), 0), SIDE - height)
        left = min(max(round(centre - centre_col), 0), SIDE - width)
    frame[top:top + height, left:left + width] = digit
    return frame


def draw(image: np.ndarray) -> str:
    """A uint8 image (rows, cols) as text: one line per row, one shade of ' ░▒▓█' per pixel."""
    levels = (image.astype(np.int64) * len(SHADES)) // 256
    return "\n".join("".join(SHADES[level] for level in row) for row in levels)


def save_png(path: str | os.PathLike, image: np.ndarray, caption: str) -> None:
    """Write ``image`` (rows, cols) uint8, enlarged 8 times, under a one-line ``caption``, as a PNG
    (atomically); the caption is also stored as the PNG's Title."""
    Image = pillow()
    from PIL import ImageDraw, PngImagePlugin

    rows, cols = image.shape
    bar = 16
    picture = Image.new("L", (cols * PNG_SCALE, rows * PNG_SCALE + bar), 255)
    picture.paste(Image.fromarray(image).resize((cols * PNG_SCALE, rows * PNG_SCALE), Image.Resampling.NEAREST),
                  (0, bar))
    ImageDraw.Draw(picture).text((4, 2), caption, fill=0)
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", caption)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    write_output(path, buffer.getvalue(), fix="choose a writable path for --out")
