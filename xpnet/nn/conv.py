"""Convolution and pooling layers, each backward pass beside its forward pass, written against
the Array API alone: no scatter-add and no ``pad`` (the standard has neither).

Layout: images are (n, height, width, channels), NHWC. With the channels last, gathering the
k x k patches of every output position (im2col) gives rows whose entries run over
(row in patch, column in patch, channel), the order of a (k, k, c_in, c_out) kernel reshaped
to a (k*k*c_in, c_out) matrix: one matrix product then yields the output already in NHWC,
and flattening it for a Dense layer is a reshape. No transpose anywhere in a convolution.

- :class:`Conv2d` (stride 1, square kernels, ``valid`` or ``same`` padding, a bias): the
  forward pass is a gather of patches with ``xp.take``, indices computed once on the host,
  then a matrix product. The kernel's gradient is ``patches.T @ d_output``; the input's is a
  *full* correlation of the padded output gradient with the flipped kernel: again a gather
  of patches and a matrix product, so no gradient is ever scattered and added.
- :class:`MaxPool2d`: 2 x 2 windows, stride 2, by reshaping: the maximum of a window's four
  corners, each a strided view. The gradient goes to the window's maximum, and where several
  entries tie for it, to the first in row-major order (PyTorch's rule), through equality
  masks of the corners against the maximum, each masking out the ones before it.
- :class:`AvgPool2d`: the mean of the same four corners; a quarter of the gradient to each.
- :class:`Flatten`: (n, h, w, c) -> (n, h*w*c).

Each layer takes its input shape when built, so the first one also accepts flat images
(n, h*w*c), which it reshapes; each gives back its input gradient in its input's shape.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import device as device_of

from .ops import device_constant

PADDINGS = ("valid", "same")


class Conv2d:
    """``Z = conv(H, W) + b``: H (n, h, w, c_in) (or flat), W (k, k, c_in, c_out), b (c_out,)
    -> Z (n, h', w', c_out), with h' = h - k + 1 (``valid``) or h (``same``, odd k)."""

    has_params = True

    def __init__(self, in_shape: tuple[int, int, int], out_channels: int, kernel: int, padding: str = "valid"):
        height, width, channels = in_shape
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if padding == "same" and kernel % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel, got {kernel}")
        self.in_shape, self.out_channels, self.kernel = (height, width, channels), out_channels, kernel
        self.pad = (kernel - 1) // 2 if padding == "same" else 0
        self.out_shape = (height + 2 * self.pad - kernel + 1, width + 2 * self.pad - kernel + 1, out_channels)
        if min(self.out_shape[:2]) < 1:
            raise ValueError(f"a {kernel}x{kernel} kernel does not fit a {height}x{width} input without padding")

    def forward(self, params, H, *, dropout, xp):
        W, b = params
        X = xp.reshape(H, (H.shape[0], *self.in_shape))
        patches = _patches(_padded(X, self.pad, xp), self.kernel, self.out_shape[:2], xp)
        Z = patches @ xp.reshape(W, (-1, self.out_channels))
        Z += b
        return xp.reshape(Z, (H.shape[0], *self.out_shape)), (patches, H.shape)

    def backward(self, params, saved, dZ, *, input_grad, xp):
        """``dW = patches.T @ dZ``, ``db`` = sums of ``dZ`` over examples and positions, and ``dH``
        the full correlation of ``dZ`` (padded by k - 1 - pad) with the kernel flipped in space."""
        W, _ = params
        patches, input_shape = saved
        k = self.kernel
        dZ_rows = xp.reshape(dZ, (-1, self.out_channels))
        grads = (xp.reshape(patches.T @ dZ_rows, W.shape), xp.sum(dZ_rows, axis=0))
        if not input_grad:
            return None, grads
        flipped = xp.permute_dims(xp.flip(W, axis=(0, 1)), (0, 1, 3, 2))  # (k, k, c_out, c_in)
        d_patches = _patches(_padded(dZ, k - 1 - self.pad, xp), k, self.in_shape[:2], xp)
        dX = d_patches @ xp.reshape(flipped, (-1, self.in_shape[2]))
        return xp.reshape(dX, input_shape), grads


class _Pool2x2:
    """2 x 2 windows, stride 2: H (n, h, w, c) with h, w even -> (n, h/2, w/2, c)."""

    has_params = False
    kind = "pooling"

    def __init__(self, in_shape: tuple[int, int, int]):
        height, width, channels = in_shape
        if height % 2 or width % 2:
            raise ValueError(f"2x2 {self.kind} needs an even height and width, got {height}x{width}")
        self.in_shape = in_shape
        self.out_shape = (height // 2, width // 2, channels)


class MaxPool2d(_Pool2x2):
    """``A`` = the maximum of each 2 x 2 window: H (n, h, w, c) with h, w even -> (n, h/2, w/2, c)."""

    kind = "max-pooling"

    def forward(self, params, H, *, dropout, xp):
        corners = _window_corners(H, self.out_shape, xp)
        A = xp.maximum(xp.maximum(corners[0], corners[1]), xp.maximum(corners[2], corners[3]))
        return A, (H, A)

    def backward(self, params, saved, dA, *, input_grad, xp):
        """Each window's gradient to its maximum, the first one where entries tie."""
        H, A = saved
        routed, taken = [], None
        for corner in _window_corners(H, self.out_shape, xp):  # row-major: the first maximum wins
            wins = corner == A if taken is None else (corner == A) & ~taken
            taken = wins if taken is None else taken | wins
            routed.append(xp.astype(wins, dA.dtype) * dA)
        rows = [xp.stack(routed[:2], axis=3), xp.stack(routed[2:], axis=3)]  # (n, h, w, 2, c) each
        return xp.reshape(xp.stack(rows, axis=2), H.shape), ()


class AvgPool2d(_Pool2x2):
    """``A`` = the mean of each 2 x 2 window: H (n, h, w, c) with h, w even -> (n, h/2, w/2, c)."""

    kind = "average pooling"

    def forward(self, params, H, *, dropout, xp):
        top_left, top_right, bottom_left, bottom_right = _window_corners(H, self.out_shape, xp)
        return (top_left + top_right + bottom_left + bottom_right) * 0.25, H.shape

    def backward(self, params, input_shape, dA, *, input_grad, xp):
        """A quarter of each window's gradient to each of its four entries."""
        quarter = dA * 0.25
        row = xp.stack([quarter, quarter], axis=3)  # (n, h, w, 2, c)
        return xp.reshape(xp.stack([row, row], axis=2), input_shape), ()


POOLS = (MaxPool2d, AvgPool2d)


def _window_corners(H, out_shape, xp) -> list:
    """The four entries of each 2 x 2 window of ``H`` (n, 2h, 2w, c) (or flat), as (n, h, w, c)
    views in row-major order: top left, top right, bottom left, bottom right."""
    h, w, c = out_shape
    X = xp.reshape(H, (H.shape[0], h, 2, w, 2, c))
    return [X[:, :, row, :, column, :] for row in (0, 1) for column in (0, 1)]


class Flatten:
    """(n, h, w, c) -> (n, h*w*c), and back for the gradient."""

    has_params = False

    def forward(self, params, H, *, dropout, xp):
        return xp.reshape(H, (H.shape[0], -1)), H.shape

    def backward(self, params, input_shape, dA, *, input_grad, xp):
        return xp.reshape(dA, input_shape), ()


def _padded(X, pad: int, xp):
    """``X`` (n, h, w, c) with ``pad`` zero rows and columns on every side, by concatenation."""
    if pad == 0:
        return X
    n, h, w, c = X.shape
    rows = xp.zeros((n, pad, w, c), dtype=X.dtype, device=device_of(X))
    X = xp.concat([rows, X, rows], axis=1)
    columns = xp.zeros((n, h + 2 * pad, pad, c), dtype=X.dtype, device=device_of(X))
    return xp.concat([columns, X, columns], axis=2)


def _patches(X, k: int, out_hw: tuple[int, int], xp):
    """The k x k patches of ``X`` (n, hp, wp, c) at each of the ``out_hw`` positions, as rows:
    (n * oh * ow, k * k * c), entries ordered (row in patch, column in patch, channel)."""
    n, hp, wp, c = X.shape
    indices = _patch_indices(xp, device_of(X), hp, wp, k, out_hw)
    gathered = xp.take(xp.reshape(X, (n, hp * wp, c)), indices, axis=1)  # (n, oh*ow*k*k, c)
    return xp.reshape(gathered, (n * out_hw[0] * out_hw[1], k * k * c))


def _patch_indices(xp, device, hp: int, wp: int, k: int, out_hw: tuple[int, int]):
    """Flat positions in an (hp, wp) grid of every patch element, in (oh, ow, row, column) order:
    computed on the host once per namespace, device and geometry, and moved once."""
    def make(where):
        oh, ow = out_hw
        rows = np.arange(oh)[:, None, None, None] + np.arange(k)[None, None, :, None]
        columns = np.arange(ow)[None, :, None, None] + np.arange(k)[None, None, None, :]
        return xp.asarray((rows * wp + columns).reshape(-1).astype(np.int64), device=where)

    return device_constant(xp, device, ("patches", hp, wp, k, out_hw), make)
