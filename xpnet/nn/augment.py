"""Random shifts of the training images: drawn on the host, applied on the device.

Each epoch draws, right after its permutation and dropout codes, one (dy, dx) pair per
example position, each uniform on [-s, s], from the run's host generator, and moves them to
the device in one copy (int8, 2 bytes an image). A step slices its rows (a view, no transfer)
and moves each image down by dy and right by dx: pixels pushed out of the frame are lost and
those that come in are 0, the background of MNIST-style images. This is torchvision's
``RandomCrop(28, padding=s)``. The same images reach every backend for a seed, and a resumed
run redraws the same shifts.

The move is one gather: for every output pixel of every image, the index of its source pixel
in the batch flattened is computed on the device from the pairs (integer arithmetic on the
batch's (m, h*w*c) grid), read with ``xp.take``, and pixels with no source are multiplied by
0. No scatter, no padding function, no host copy inside the step: a compiled step traces it
like any other operation.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .checks import ParameterError, whole
from .ops import device_constant


def shift_size(shift, image_shape=None) -> int:
    """``shift`` if it is a usable largest shift in pixels (0: none), smaller than the image
    (:class:`~xpnet.nn.checks.ParameterError` otherwise)."""
    shift = whole("shift", shift, 0, label="the largest")
    if image_shape is not None and shift >= min(image_shape[0], image_shape[1]):
        raise ParameterError("shift", lambda name: f"{name} must be smaller than the images "
                             f"({image_shape[0]}x{image_shape[1]}), got {shift}", "the largest shift")
    return shift


class EpochShifts:
    """Shifts of one epoch: a (n, 2) int8 (int32 beyond 127) device array of (dy, dx), each on [-shift, shift],
    for images of ``image_shape`` (height, width, channels), stored flat and channels last."""

    def __init__(self, rng: np.random.Generator, n: int, shift: int, image_shape, to_device):
        self.shift = shift_size(shift, image_shape)
        self.image_shape = tuple(int(size) for size in image_shape)
        # int8 holds shifts up to 127 (and keeps the draws of earlier runs); larger images may shift further.
        dtype = np.int8 if self.shift <= np.iinfo(np.int8).max else np.int32
        self.codes = to_device(rng.integers(-self.shift, self.shift + 1, size=(n, 2), dtype=dtype))

    def rows(self, start: int, stop: int):
        """The (stop - start, 2) shifts of rows ``start:stop``."""
        return self.codes[start:stop, :]

    def apply(self, X, pairs, xp=None):
        """``X`` (m, h*w*c) with image i moved by ``pairs[i]`` (m, 2) int8 (dy down, dx right); new pixels 0."""
        xp = xp or array_namespace(X)
        return shift_images(X, pairs, self.image_shape, xp=xp)


def shift_images(X, pairs, image_shape, *, xp=None):
    """``X`` (m, h*w*c), flat channels-last images, each moved by its (dy, dx) in ``pairs`` (m, 2):
    output pixel (r, c) is input pixel (r - dy, c - dx), or 0 where that lies outside the image."""
    xp = xp or array_namespace(X, pairs)
    height, width, channels = image_shape
    m, size = X.shape
    grid = _pixel_grid(xp, device_of(X), image_shape)
    row, column, channel = grid[0, :], grid[1, :], grid[2, :]
    pairs = xp.astype(pairs, xp.int64)
    source_row, source_column = row - pairs[:, 0:1], column - pairs[:, 1:2]  # (m, size) each
    inside = (source_row >= 0) & (source_row < height) & (source_column >= 0) & (source_column < width)
    source = xp.where(inside, (source_row * width + source_column) * channels + channel, 0)
    image_start = xp.reshape(xp.arange(m, dtype=xp.int64, device=device_of(X)) * size, (m, 1))
    moved = xp.take(xp.reshape(X, (m * size,)), xp.reshape(source + image_start, (m * size,)))
    return xp.reshape(moved, (m, size)) * xp.astype(inside, X.dtype)


def _pixel_grid(xp, device, image_shape):
    """Row, column and channel (the rows) of each flat pixel position, (3, h*w*c) int64, kept per device."""
    height, width, channels = image_shape

    def make(where):
        grid = np.indices((height, width, channels)).reshape(3, -1).astype(np.int64)
        return xp.asarray(grid, device=where)

    return device_constant(xp, device, ("pixel-grid", height, width, channels), make)
