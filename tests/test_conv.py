"""Conv2d, MaxPool2d and Flatten on every backend, in float64: each backward pass against
central finite differences of its own forward pass (odd sizes, several channels, both
paddings; tolerance rtol 1e-6, atol 1e-7: a sum of ~100 terms of size ~5 differenced at
eps 1e-6 carries ~1e-8 of rounding), the forward pass against a NumPy convolution written as
nested loops, and the
pooling rule for ties (the gradient goes to the first maximum of a window, as PyTorch's).
"""

import importlib.util
import re

import conv_reference
import numpy as np
import pytest
import reference

from xpnet.backend import to_numpy
from xpnet.nn.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d

N = 2


def loop_convolution(X, W, b, pad):
    """The textbook definition: Z[n, i, j, f] = b[f] + sum over a, b, c of Xp[n, i + a, j + b, c] W[a, b, c, f]."""
    n, h, w, c = X.shape
    k, _, _, f = W.shape
    Xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c))
    Xp[:, pad:pad + h, pad:pad + w, :] = X
    out_h, out_w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    Z = np.zeros((n, out_h, out_w, f))
    for example in range(n):
        for i in range(out_h):
            for j in range(out_w):
                for out in range(f):
                    Z[example, i, j, out] = b[out] + np.sum(Xp[example, i:i + k, j:j + k, :] * W[:, :, :, out])
    return Z


def by_patches(layer: Conv2d, im2col: bool) -> Conv2d:
    """``layer`` made to take the given one of its two ways (whole k x k patches, or 1 x k rows)."""
    layer.im2col = im2col
    return layer


CASES = {
    # name: (layer, input shape per example, host parameter shapes)
    "conv valid 3x3, 2->3 channels, 7x6": (lambda: Conv2d((7, 6, 2), 3, 3), (7, 6, 2), [(3, 3, 2, 3), (3,)]),
    "conv valid 3x3, 2->3 channels, 7x6, whole patches": (lambda: by_patches(Conv2d((7, 6, 2), 3, 3), True),
                                                          (7, 6, 2), [(3, 3, 2, 3), (3,)]),
    "conv same 5x5, 1->2 channels, 6x5, whole patches": (lambda: by_patches(Conv2d((6, 5, 1), 2, 5, "same"), True),
                                                         (6, 5, 1), [(5, 5, 1, 2), (2,)]),
    "conv same 3x3, 1->4 channels, 5x4, kernel rows": (lambda: by_patches(Conv2d((5, 4, 1), 4, 3, "same"), False),
                                                       (5, 4, 1), [(3, 3, 1, 4), (4,)]),
    "conv same 3x3, 2->3 channels, 5x4": (lambda: Conv2d((5, 4, 2), 3, 3, "same"), (5, 4, 2), [(3, 3, 2, 3), (3,)]),
    "conv same 5x5, 1->2 channels, 5x5": (lambda: Conv2d((5, 5, 1), 2, 5, "same"), (5, 5, 1), [(5, 5, 1, 2), (2,)]),
    "conv 1x1, 3->2 channels": (lambda: Conv2d((3, 3, 3), 2, 1), (3, 3, 3), [(1, 1, 3, 2), (2,)]),
    "max-pool 2x2, 3 channels, 6x4": (lambda: MaxPool2d((6, 4, 3)), (6, 4, 3), []),
    "average pool 2x2, 3 channels, 4x6": (lambda: AvgPool2d((4, 6, 3)), (4, 6, 3), []),
    "flatten": (lambda: Flatten(), (3, 2, 2), []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_layer_s_backward_matches_finite_differences(backend, name):
    make, in_shape, param_shapes = CASES[name]
    layer = make()
    rng = np.random.default_rng(5)
    H = rng.normal(size=(N, *in_shape))  # continuous values: no ties in a pooling window
    host_params = [rng.normal(size=shape) for shape in param_shapes]
    xp = backend.xp

    def run(arrays):
        H_host, *params = arrays
        params = tuple(backend.asarray(p) for p in params)
        return params, layer.forward(params, backend.asarray(H_host), dropout=None, xp=xp)

    params, (output, saved) = run([H, *host_params])
    G = rng.normal(size=tuple(output.shape))

    def scalar(arrays):
        _, (out, _) = run(arrays)
        return float(to_numpy(xp.sum(out * backend.asarray(G))))

    d_input, grads = layer.backward(params, saved, backend.asarray(G), input_grad=True, xp=xp)
    numeric = reference.numeric_gradients(scalar, [H, *host_params])
    analytic = [d_input, *grads]
    assert len(analytic) == len(numeric)
    for which, (got, estimate) in enumerate(zip(analytic, numeric)):
        assert tuple(got.shape) == estimate.shape
        np.testing.assert_allclose(to_numpy(got), estimate, rtol=1e-6, atol=1e-7, err_msg=f"{name}, gradient {which}")


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_the_convolution_is_the_textbook_one(backend, padding):
    rng = np.random.default_rng(6)
    X, W, b = rng.normal(size=(3, 9, 8, 2)), rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4)
    layer = Conv2d((9, 8, 2), 4, 3, padding)
    Z, _ = layer.forward((backend.asarray(W), backend.asarray(b)), backend.asarray(X), dropout=None, xp=backend.xp)
    expected = loop_convolution(X, W, b, 1 if padding == "same" else 0)
    assert tuple(Z.shape) == expected.shape == (3, *layer.out_shape)
    np.testing.assert_allclose(to_numpy(Z), expected, rtol=1e-12, atol=1e-12)


GEOMETRIES = [  # (in_shape, out_channels, kernel, padding)
    ((7, 6, 3), 4, 3, "valid"), ((6, 7, 2), 5, 5, "same"), ((5, 5, 4), 3, 1, "valid"), ((8, 5, 2), 3, 5, "valid"),
    ((4, 6, 3), 2, 3, "same"),
]


@pytest.mark.parametrize("im2col", [True, False], ids=["whole patches", "kernel rows"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}->{g[1]} k{g[2]} {g[3]}")
def test_both_ways_of_a_convolution_agree_with_the_scattering_oracle(backend, geometry, im2col):
    """Output, kernel, bias and input gradients of either way (whole k x k patches, or 1 x k rows
    with the row shifts after the product) against conv_reference, which scatters and adds the
    input gradient patch by patch: float64, to rounding."""
    in_shape, out_channels, k, padding = geometry
    layer = by_patches(Conv2d(in_shape, out_channels, k, padding), im2col)
    rng = np.random.default_rng(8)
    X, W, b = rng.normal(size=(3, *in_shape)), rng.normal(size=(k, k, in_shape[2], out_channels)), rng.normal(size=out_channels)
    params = (backend.asarray(W), backend.asarray(b))
    Z, saved = layer.forward(params, backend.asarray(X), dropout=None, xp=backend.xp)
    expected_Z, oracle_saved = conv_reference.conv_forward(X, W, b, layer.pad)
    np.testing.assert_allclose(to_numpy(Z), expected_Z, rtol=1e-12, atol=1e-12)
    dZ = rng.normal(size=expected_Z.shape)
    dX, (dW, db) = layer.backward(params, saved, backend.asarray(dZ), input_grad=True, xp=backend.xp)
    for got, expected in zip((dX, dW, db), conv_reference.conv_backward(W, oracle_saved, dZ)):
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-12, atol=1e-12)


def test_each_convolution_takes_the_narrower_way():
    """A first layer on one channel builds whole patches (k*k*c_in = 25 values a position, fewer than
    the k*(c_in + c_out) = 165 of kernel rows); a wide second layer goes row by row (800 > 480)."""
    assert Conv2d((28, 28, 1), 32, 5, "same").im2col
    assert not Conv2d((14, 14, 32), 64, 5, "same").im2col


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_compiled_cnn_step_has_no_gather_or_scatter():
    """XLA runs gathers and scatters on a CPU one element at a time: the patches are slices and
    their gradients pads and sums, so the compiled gradients of a CNN contain neither."""
    import jax

    from xpnet.backend import resolve
    from xpnet.nn.architecture import Architecture
    from xpnet.nn.init import init_shaped
    from xpnet.nn.network import loss_and_grads

    backend = resolve("jax", "cpu")
    arch = Architecture.of("conv4k3,pool,conv6k3,pool,fc8", (8, 8, 1), 3)
    params = [(backend.asarray(W), backend.asarray(b))
              for W, b in init_shaped(arch.fans(), arch.param_shapes(), np.random.default_rng(0))]
    X = backend.asarray(np.random.default_rng(1).random((4, 64), dtype=np.float32))
    Y = backend.asarray(np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    lowered = jax.jit(lambda p, X, Y: loss_and_grads(p, X, Y, network=arch)).lower(params, X, Y)
    operation = re.compile(r"stablehlo\.(gather|scatter)|\b(gather|scatter)\(")  # StableHLO, then XLA's HLO
    for text in (lowered.as_text(), lowered.compile().as_text()):
        assert operation.search(text) is None, operation.search(text)


def test_a_first_layer_takes_flat_images_and_returns_their_gradient_flat(backend):
    rng = np.random.default_rng(7)
    layer = Conv2d((4, 4, 1), 2, 3)
    flat, W, b = rng.normal(size=(N, 16)), rng.normal(size=(3, 3, 1, 2)), rng.normal(size=2)
    params = (backend.asarray(W), backend.asarray(b))
    Z, saved = layer.forward(params, backend.asarray(flat), dropout=None, xp=backend.xp)
    np.testing.assert_allclose(to_numpy(Z), loop_convolution(flat.reshape(N, 4, 4, 1), W, b, 0), rtol=1e-12)
    d_input, _ = layer.backward(params, saved, Z, input_grad=True, xp=backend.xp)
    assert tuple(d_input.shape) == (N, 16)
    assert layer.backward(params, saved, Z, input_grad=False, xp=backend.xp)[0] is None


def test_pooling_ties_send_the_gradient_to_the_first_maximum(backend):
    """A window whose entries tie (ReLU's zeros, say) passes its gradient to one entry, the
    first in row-major order, as ``torch.nn.functional.max_pool2d`` does; never to all of them."""
    H = np.zeros((1, 2, 4, 1))
    H[0, :, 2:, 0] = [[1.0, 3.0], [3.0, 2.0]]  # the second window's maximum, 3, twice
    layer = MaxPool2d((2, 4, 1))
    A, saved = layer.forward((), backend.asarray(H), dropout=None, xp=backend.xp)
    np.testing.assert_array_equal(to_numpy(A)[0, 0, :, 0], [0.0, 3.0])
    dH, _ = layer.backward((), saved, backend.asarray(np.array([[[[5.0], [7.0]]]])), input_grad=True, xp=backend.xp)
    expected = np.zeros((2, 4))
    expected[0, 0] = 5.0  # all four zeros tie: the first takes it
    expected[0, 3] = 7.0  # 3 at (0, 3) comes before 3 at (1, 2)
    np.testing.assert_array_equal(to_numpy(dH)[0, :, :, 0], expected)


def test_average_pooling_is_the_mean_of_each_window(backend):
    H = np.random.default_rng(2).normal(size=(2, 4, 6, 3))
    A, _ = AvgPool2d((4, 6, 3)).forward((), backend.asarray(H), dropout=None, xp=backend.xp)
    np.testing.assert_allclose(to_numpy(A), H.reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4)), rtol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2d((5, 5, 1), 2, 4, "same"), "odd kernel"),
    (lambda: Conv2d((5, 5, 1), 2, 3, "full"), "padding must be one of"),
    (lambda: Conv2d((2, 2, 1), 2, 3), "does not fit"),
    (lambda: MaxPool2d((5, 4, 1)), "even height and width"),
])
def test_impossible_geometry_is_refused_when_built(make, message):
    with pytest.raises(ValueError, match=message):
        make()
