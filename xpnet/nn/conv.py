"""Convolution and pooling layers, each backward pass beside its forward pass, written against
the Array API alone, from static slices, concatenations and matrix products: no scatter-add and
no ``pad`` (the standard has neither), and no gather (XLA runs one element at a time on a CPU).

Layout: images are (n, height, width, channels), NHWC. The k x k patches of every output
position (im2col) are k*k static slices, the window ``X[:, i:i + oh, j:j + ow, :]`` of each
kernel offset (i, j), stacked next to the channels: rows whose entries run over (row in patch,
column in patch, channel), the order of a (k, k, c_in, c_out) kernel reshaped to a
(k*k*c_in, c_out) matrix. One matrix product then yields the output already in NHWC, and
flattening it for a Dense layer is a reshape. Only the small kernel is ever transposed.

- :class:`Conv2d` (stride 1, square kernels, ``valid`` or ``same`` padding, a bias) goes one of
  two ways, whichever keeps fewer values per position:

  - *whole patches* (k*k*c_in values: a first layer on few channels): ``Z = patches @ W``, and
    the kernel's gradient is ``patches.T @ dZ``.
  - *kernel rows* (k*c_in + k*c_out values: wider layers): a k x k convolution is the sum over
    the kernel's k rows of 1 x k convolutions, row i's output moved up by i. So the 1 x k
    patches (the windows along the columns alone) times all k kernel rows at once, a
    (k*c_in, k*c_out) matrix, give k partial outputs; each moved into place (sliced, padded
    with zeros by concatenation) and added up, they are ``Z``. The kernel's gradient is the
    same patches times ``dZ`` moved by each row, ``patches.T @ [dZ moved by i for each i]``.

  The input's gradient, either way, is the *full* correlation of the padded ``dZ`` with the
  kernel flipped in space, computed row by row as well: the windows along the columns of ``dZ``
  times every flipped kernel row at once, each row's partial gradient moved back and added
  up. No gradient is ever scattered and added, and no (n*h*w, k*k*c_out) patch matrix of
  ``dZ`` is built: k*c_out + k*c_in values a position instead.
- :class:`MaxPool2d`: 2 x 2 windows, stride 2, by reshaping: the maximum of a window's four
  corners, each a strided view. The gradient goes to the window's maximum, and where several
  entries tie for it, to the first in row-major order (PyTorch's rule): each corner equal to
  the maximum takes what gradient is left, and the last corner takes the rest.
- :class:`AvgPool2d`: the mean of the same four corners; a quarter of the gradient to each.
- :class:`Flatten`: (n, h, w, c) -> (n, h*w*c).

Each layer takes its input shape when built, so the first one also accepts flat images
(n, h*w*c), which it reshapes; each gives back its input gradient in its input's shape.
"""

from __future__ import annotations

from array_api_compat import device as device_of

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
        # The way with fewer values a position: whole patches' k*k*c_in, or the 1 x k patches'
        # k*c_in and their products' k*c_out (module docstring).
        self.im2col = kernel * kernel * channels <= kernel * (channels + out_channels)

    def forward(self, params, H, *, dropout, xp):
        W, b = params
        n, k, (h, w, c), (oh, ow, f) = H.shape[0], self.kernel, self.in_shape, self.out_shape
        X = _placed(xp.reshape(H, (n, h, w, c)), self.pad, w + 2 * self.pad, 2, xp)
        if self.im2col:
            padded = _placed(X, self.pad, h + 2 * self.pad, 1, xp)  # (n, h + 2 pad, w + 2 pad, c)
            windows = _windows(_windows(padded, k, ow, 2, xp), k, oh, 1, xp)  # (n, oh, ow, k, k, c)
            patches = xp.reshape(windows, (n * oh * ow, k * k * c))  # (row in patch, column in patch, channel)
            Z = patches @ xp.reshape(W, (-1, f))
        else:
            patches = xp.reshape(_windows(X, k, ow, 2, xp), (n * h * ow, k * c))  # (column in patch, channel)
            partial = xp.reshape(patches @ _by_kernel_row(W, xp), (n, h, ow, k, f))
            Z = _added([_placed(partial[:, :, :, i, :], self.pad - i, oh, 1, xp) for i in range(k)])
        Z = xp.reshape(Z, (n, oh, ow, f))
        Z += b
        return Z, (patches, H.shape)

    def backward(self, params, saved, dZ, *, input_grad, xp):
        """``dW = patches.T @ dZ`` (kernel rows: against ``dZ`` moved by each row), ``db`` = sums
        of ``dZ`` over examples and positions, and ``dH`` the full correlation of ``dZ`` with the
        kernel flipped in space, row by row: ``dZ``'s windows along the columns times every
        flipped kernel row, each row's partial gradient moved back to its row and added up."""
        W, _ = params
        patches, input_shape = saved
        n, k, (h, w, c), f, pad = dZ.shape[0], self.kernel, self.in_shape, self.out_channels, self.pad
        dZ_rows = xp.reshape(dZ, (-1, f))
        if self.im2col:
            dW = xp.reshape(patches.T @ dZ_rows, W.shape)
        else:
            shifted = _windows(_placed(dZ, k - 1 - pad, h + k - 1, 1, xp), k, h, 1, xp)  # (n, h, ow, k, f)
            dW_rows = xp.reshape(patches.T @ xp.reshape(shifted, (-1, k * f)), (k, c, k, f))  # (j, c, k-1-i, f)
            dW = xp.flip(xp.permute_dims(dW_rows, (2, 0, 1, 3)), axis=0)
        grads = (dW, xp.sum(dZ_rows, axis=0))
        if not input_grad:
            return None, grads
        oh = dZ.shape[1]
        shifted = _windows(_placed(dZ, k - 1 - pad, w + k - 1, 2, xp), k, w, 2, xp)  # (n, oh, w, k, f)
        flipped = xp.permute_dims(xp.flip(W, axis=1), (1, 3, 0, 2))  # (k-1-j, f, i, c)
        partial = xp.reshape(xp.reshape(shifted, (-1, k * f)) @ xp.reshape(flipped, (k * f, k * c)), (n, oh, w, k, c))
        dX = _added([_placed(partial[:, :, :, i, :], i - pad, h, 1, xp) for i in range(k)])
        return xp.reshape(dX, input_shape), grads


def _by_kernel_row(W, xp):
    """The kernel (k, k, c_in, c_out) as a (k * c_in, k * c_out) matrix: (column, channel) by
    (row, output channel), to multiply 1 x k patches by every kernel row at once."""
    k, _, c_in, c_out = W.shape
    return xp.reshape(xp.permute_dims(W, (1, 2, 0, 3)), (k * c_in, k * c_out))


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
        routed, rest = [], dA  # rest: the gradient no corner has taken yet
        for corner in _window_corners(H, self.out_shape, xp)[:3]:  # row-major: the first maximum wins
            taken = rest * xp.astype(corner == A, dA.dtype)
            routed.append(taken)
            rest = rest - taken  # exactly 0 where taken, else unchanged
        routed.append(rest)  # the last corner is the maximum wherever none before it was
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


def _placed(T, offset: int, size: int, axis: int, xp):
    """``T`` (n, ...) placed ``offset`` entries along ``axis`` into ``size`` entries of zeros: what
    falls before 0 or past ``size`` is cut off (slicing), the rest padded by concatenation."""
    first, last = max(0, -offset), min(T.shape[axis], size - offset)  # T's entries that land inside
    index = [slice(None)] * T.ndim
    index[axis] = slice(first, last)
    before, after = max(0, offset), size - max(0, offset) - (last - first)
    parts = [_zeros_like_along(T, before, axis, xp), T[tuple(index)], _zeros_like_along(T, after, axis, xp)]
    parts = [part for part in parts if part is not None]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=axis)


def _zeros_like_along(T, count: int, axis: int, xp):
    """Zeros shaped like ``T`` but ``count`` long along ``axis``; None for none."""
    if count == 0:
        return None
    shape = list(T.shape)
    shape[axis] = count
    return xp.zeros(tuple(shape), dtype=T.dtype, device=device_of(T))


def _windows(T, k: int, length: int, axis: int, xp):
    """The k windows ``length`` long that slide along ``axis`` of ``T`` (n, ...), stacked on a new
    axis 3: columns (axis 2) of (n, rows, wp, c) give (n, rows, length, k, c); rows (axis 1) of
    those give (n, length, ow, k, k, c)."""
    index = [slice(None)] * T.ndim

    def window(start):
        index[axis] = slice(start, start + length)
        return T[tuple(index)]

    return xp.stack([window(start) for start in range(k)], axis=3)


def _added(terms: list):
    """The sum of ``terms``: the first two added into a new array, the others into it in place."""
    total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    for term in terms[2:]:
        total += term
    return total
