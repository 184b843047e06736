"""Single digit images: reading any picture and preparing it the MNIST way, drawing one in
the terminal, and saving one as a PNG.

Reading, resizing and writing pictures use Pillow (``pip install -e '.[plot]'``), imported
only by the functions that need it; drawing in the terminal needs nothing.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np

from ..errors import XpnetError
from ..files import write_output
from .inputs import open_regular
from .terminal import printable

SHADES = " ░▒▓█"
ASCII_SHADES = " .:+#"
MAX_PIXELS = 50_000_000  # a 50-megapixel phone photo; a bomb of 12000x12000 pixels is refused unread
WORK_SIDE = 2048  # larger pictures are reduced to this many pixels a side before they are prepared
# Pillow's readers, but EPS: Pillow hands an EPS file to Ghostscript, a program xpnet does not run on a stranger's file.
EXTERNAL_READERS = ("EPS",)
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
    """The picture at ``path`` (PNG, JPEG... greyscale or colour) as greyscale (h, w) uint8.

    Transparent pixels count as white paper, where a drawing program leaves them. The size is
    read from the file's header first: a picture over :data:`MAX_PIXELS` is refused in one line
    before it is decoded, and one larger than :data:`WORK_SIDE` on a side is reduced (a box
    filter) to that, so memory stays bounded whatever the file declares. What is not a regular
    file (a FIFO, a device, a folder) is refused before it is opened for reading.
    """
    Image = pillow()
    shown = printable(path)
    with open_regular(path, "image", "pass the path of a PNG or JPEG file") as stream:
        try:
            with warnings.catch_warnings():
                # Pillow's own guard against decompression bombs warns from 89 megapixels; ours refuses earlier.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                warnings.simplefilter("ignore", DeprecationWarning)  # Pillow's notes on its own plugins (IM)
                picture = Image.open(stream, formats=readable_formats(Image))
        except Image.DecompressionBombError:
            raise XpnetError(_too_large(shown, f"over {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:,.0f} megapixels")) \
                from None
        except Image.UnidentifiedImageError:
            raise XpnetError(f"cannot read image {shown} (not a picture in a format Pillow reads); "
                             "pass a PNG or JPEG file") from None
        except Exception as error:  # a damaged header: each image plugin fails its own way
            raise XpnetError(f"cannot read image {shown} ({_reason(error)}); pass a PNG or JPEG file") from None
        with picture:
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise XpnetError(_too_large(shown, f"{width:,}x{height:,} pixels ({width * height / 1e6:,.0f} "
                                                   "megapixels)"))
            try:
                return _grey(picture, Image)
            except Exception as error:  # damaged image data, whatever the plugin raises
                raise XpnetError(f"cannot read image {shown} ({_reason(error)}); pass a PNG or JPEG file") \
                    from None


def readable_formats(Image) -> tuple[str, ...]:
    """The names of the formats Pillow opens here (its plugins registered), but :data:`EXTERNAL_READERS`.
    An MPO (a JPEG of several frames) is opened by the JPEG reader, and has no name of its own here."""
    Image.init()
    return tuple(name for name in Image.OPEN if name not in EXTERNAL_READERS)


def _grey(picture, Image) -> np.ndarray:
    """An opened picture decoded, reduced to at most WORK_SIDE a side and made greyscale on white paper."""
    picture.draft(picture.mode, _reduced(picture.size))  # a JPEG decodes straight at a reduced scale
    picture.load()
    transparent = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    if picture.mode != ("RGBA" if transparent else "L"):  # (convert copies even to the same mode)
        picture = picture.convert("RGBA" if transparent else "L")
    if max(picture.size) > WORK_SIDE:
        picture = picture.resize(_reduced(picture.size), Image.Resampling.BOX)  # RGBA: premultiplied by Pillow
    if transparent:
        picture = Image.alpha_composite(Image.new("RGBA", picture.size, "white"), picture).convert("L")
    return np.asarray(picture, dtype=np.uint8)


def _reduced(size: tuple[int, int]) -> tuple[int, int]:
    factor = max(1, -(-max(size) // WORK_SIDE))
    return tuple(max(1, -(-side // factor)) for side in size)


def _too_large(shown: str, size: str) -> str:
    return (f"image {shown} is too large to read: {size}, more than the {MAX_PIXELS / 1e6:g} megapixels xpnet "
            "reads; pass a smaller picture (a digit needs a few hundred pixels a side)")


def _reason(error: Exception) -> str:
    return printable((str(error).splitlines() or [type(error).__name__])[0][:200] or type(error).__name__)


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


def draw(image: np.ndarray, shades: str = SHADES) -> str:
    """A uint8 image (rows, cols) as text: one line per row, one of the five ``shades`` per pixel
    (' ░▒▓█', or :data:`ASCII_SHADES` ' .:+#' for a terminal that cannot show those)."""
    levels = (image.astype(np.int64) * len(shades)) // 256
    return "\n".join("".join(shades[level] for level in row) for row in levels)


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
