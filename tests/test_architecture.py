"""Architectures in one line (``--arch``): parsing, shapes, an MLP exactly as before, and a whole
convolutional network's gradients against finite differences on every backend (float64)."""

import numpy as np
import pytest
import reference
from optim_steps import take_step

from xpnet.backend import to_numpy
from xpnet.nn.architecture import Architecture, parse_arch
from xpnet.nn.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from xpnet.nn.init import init_params, init_shaped
from xpnet.nn.layers import Dense, Dropout, ReLU
from xpnet.nn.network import loss_and_grads, mlp_layers
from xpnet.nn.ops import one_hot


def test_tokens_are_read_with_commas_or_spaces_in_any_case():
    assert parse_arch(" Conv32k5, pool  conv64K5v,fc256 ") == ("conv32k5", "pool", "conv64k5v", "fc256")
    assert parse_arch("") == ()


@pytest.mark.parametrize("text, message", [
    ("conv32", "unknown layer 'conv32'"),
    ("fc0", "at least 1"),
    ("conv32k5,avg", "unknown layer 'avg'"),
    ("fc16,avgpool", "avgpool must come before the fc layers"),
    ("conv8k4v,avgpool", "2x2 average pooling needs an even height and width"),
    ("fc128,conv8k3", "conv layers must come before the fc layers"),
    ("fc128,pool", "pool must come before the fc layers"),
    ("conv8k4", "odd kernel"),
    ("conv8k29v", "does not fit"),
    ("pool,pool,pool", "even height and width"),
])
def test_a_bad_architecture_is_one_line_naming_it(text, message):
    with pytest.raises(ValueError, match=message):
        Architecture.of(text, (28, 28), 10)


def test_an_mlp_is_its_fc_layers_with_the_same_parameters_and_draws():
    arch = Architecture.mlp((128, 64), (28, 28), 10)
    assert arch.text == "fc128-fc64" and not arch.is_convolutional and arch.hidden_units == (128, 64)
    assert [type(layer) for layer in arch.layers()] == [type(layer) for layer in mlp_layers(3)]
    assert [type(layer) for layer in arch.layers(dropout=True)] == [type(layer) for layer in mlp_layers(3, True)]
    expected = init_params([784, 128, 64, 10], np.random.default_rng(1), "he", "same", "float32")
    drawn = init_shaped(arch.fans(), arch.param_shapes(), np.random.default_rng(1), "he", "same", "float32")
    for (W, b), (W_ref, b_ref) in zip(drawn, expected, strict=True):
        np.testing.assert_array_equal(W, W_ref)
        np.testing.assert_array_equal(b, b_ref)
    assert Architecture.mlp((), (28, 28), 10).param_shapes() == [((784, 10), (10,))]


@pytest.mark.parametrize("text, shapes", [
    ("conv32k5,pool,conv64k5,pool,fc256",
     [(5, 5, 1, 32), (32,), (5, 5, 32, 64), (64,), (7 * 7 * 64, 256), (256,), (256, 10), (10,)]),
    ("conv6k5,pool,conv16k5v,pool,fc120,fc84",  # LeNet-5: 28 -> 28 -> 14 -> 10 -> 5
     [(5, 5, 1, 6), (6,), (5, 5, 6, 16), (16,), (400, 120), (120,), (120, 84), (84,), (84, 10), (10,)]),
    ("conv4k3v,pool", [(3, 3, 1, 4), (4,), (13 * 13 * 4, 10), (10,)]),
    ("conv4k3,avgpool,fc8", [(3, 3, 1, 4), (4,), (14 * 14 * 4, 8), (8,), (8, 10), (10,)]),
])
def test_convolutional_shapes(text, shapes):
    arch = Architecture.of(text, (28, 28), 10)
    assert [shape for pair in arch.param_shapes() for shape in pair] == shapes
    assert arch.parameter_count() == sum(int(np.prod(shape)) for shape in shapes)
    kinds = [type(layer) for layer in arch.layers()]
    assert kinds[0] is Conv2d and kinds[-1] is Dense and Flatten in kinds
    assert (AvgPool2d if "avgpool" in text else MaxPool2d) in kinds
    with_dropout = [type(layer) for layer in arch.layers(dropout=True)]
    assert Dropout not in kinds and with_dropout.count(Dropout) == len(arch.hidden_units)


@pytest.mark.parametrize("pool, dropout", [("pool", False), ("pool", True), ("avgpool", False)],
                         ids=["plain", "dropout", "average-pool"])
def test_a_convolutional_network_s_gradients_match_finite_differences(backend, pool, dropout):
    """conv(3 filters, 3x3, same) -> ReLU -> pool -> conv(2, 3x3, valid) -> ReLU -> fc5 -> ReLU -> 4 classes,
    on 6x6 images with 2 channels, given flat: every parameter's gradient of the mean loss."""
    arch = Architecture.of(f"conv3k3,{pool},conv2k3v,fc5", (6, 6, 2), 4)
    rng = np.random.default_rng(8)
    n = 5
    host = init_shaped(arch.fans(), arch.param_shapes(), rng, "he", "same", "float64")
    X = rng.normal(size=(n, 72))
    y = rng.integers(0, 4, n)
    Y = one_hot(backend.asarray(y), 4, backend.dtype("float64"))
    keep = [backend.asarray(np.where(rng.random((n, 5)) < 0.3, 0.0, 1 / 0.7))] if dropout else None

    def mean_loss(arrays):
        params = [(backend.asarray(W), backend.asarray(b)) for W, b in zip(arrays[0::2], arrays[1::2])]
        loss_sum, _, _ = loss_and_grads(params, backend.asarray(X), Y, dropout=keep, network=arch)
        return float(to_numpy(loss_sum)) / n

    params = [(backend.asarray(W), backend.asarray(b)) for W, b in host]
    _, logits, grads = loss_and_grads(params, backend.asarray(X), Y, dropout=keep, network=arch)
    assert tuple(logits.shape) == (n, 4)
    flat_host = [array for pair in host for array in pair]
    numeric = reference.numeric_gradients(mean_loss, flat_host)
    analytic = [to_numpy(g) for pair in grads for g in pair]
    for which, (got, estimate) in enumerate(zip(analytic, numeric, strict=True)):
        np.testing.assert_allclose(got, estimate, rtol=1e-6, atol=1e-8, err_msg=f"parameter {which}")
    assert any(isinstance(layer, ReLU) for layer in arch.layers(dropout))


def test_twenty_sgd_steps_of_a_conv_net_follow_an_independent_numpy_oracle(backend):
    """conv(4, 3x3, same) -> pool -> conv(3, 3x3, valid) -> pool -> fc6 -> 3 classes on 12x12 images with
    2 channels, batches of 8: after 20 SGD steps every parameter equals the oracle's
    (``tests/conv_reference.py``: sliding windows, einsum, a scattered input gradient, looped pooling)
    within float64 rounding (rtol 1e-10, atol 1e-12), and so does each step's loss."""
    import conv_reference as oracle

    from xpnet.nn.optim import SGD

    arch = Architecture.of("conv4k3,pool,conv3k3v,pool,fc6", (12, 12, 2), 3)
    network = [("conv", 1), ("pool",), ("conv", 0), ("pool",), ("flatten",), ("dense", True), ("dense", False)]
    rng = np.random.default_rng(9)
    host = init_shaped(arch.fans(), arch.param_shapes(), rng, "he", "same", "float64")
    images, labels = rng.normal(size=(40, 12, 12, 2)), rng.integers(0, 3, 40)
    expected = [(W.copy(), b.copy()) for W, b in host]
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in host]
    optimizer, lr = SGD(0.05), 0.05
    for step in range(20):
        rows = np.arange(step * 8, step * 8 + 8) % 40
        X, y = images[rows], labels[rows]
        loss_ref, grads_ref = oracle.loss_and_grads(network, expected, X, y, 3)
        expected = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(expected, grads_ref)]
        Y = one_hot(backend.asarray(y), 3, backend.dtype("float64"))
        loss, _, grads = loss_and_grads(params, backend.asarray(X.reshape(8, -1)), Y, scale=lr, network=arch)
        params = take_step(optimizer, params, grads)
        assert abs(float(to_numpy(loss)) - loss_ref) <= 1e-10 * abs(loss_ref)
    for (W, b), (W_ref, b_ref) in zip(params, expected, strict=True):
        np.testing.assert_allclose(to_numpy(W), W_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(to_numpy(b), b_ref, rtol=1e-10, atol=1e-12)
