"""Building blocks against NumPy float64 references, on every backend."""

import numpy as np
import pytest
from optim_steps import take_step

from xpnet.nn import ops
from xpnet.backend import to_numpy


def test_one_hot(backend):
    y = backend.asarray(np.array([2, 0, 1, 2], dtype=np.int64))
    Y = ops.one_hot(y, 3, backend.dtype("float32"))
    assert Y.dtype == backend.dtype("float32")
    np.testing.assert_array_equal(to_numpy(Y), np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])


def test_log_softmax_and_softmax_are_stable_and_match(backend):
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0], [-5.0, -5.0, -5.0]])
    expected = logits - logits.max(axis=1, keepdims=True)
    expected = expected - np.log(np.exp(expected).sum(axis=1, keepdims=True))
    got = to_numpy(ops.log_softmax(backend.asarray(logits)))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(ops.softmax(backend.asarray(logits))), np.exp(expected), rtol=1e-12,
                               atol=1e-300)


def test_cross_entropy_and_accuracy(backend):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4))
    y = np.array([0, 1, 2, 3, 1, 1])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected_loss = -log_probs[np.arange(6), y].mean()
    Y = np.eye(4)[y]
    got = float(to_numpy(ops.cross_entropy(backend.asarray(logits), backend.asarray(Y))))
    assert got == pytest.approx(expected_loss, rel=1e-12)
    expected_accuracy = np.mean(logits.argmax(axis=1) == y)
    got_accuracy = float(to_numpy(ops.accuracy(backend.asarray(logits), backend.asarray(y))))
    assert got_accuracy == pytest.approx(expected_accuracy)


def test_relu_and_its_backward(backend):
    Z = backend.asarray(np.array([[-1.0, 0.0, 2.0]], dtype=np.float32))
    dH = backend.asarray(np.array([[5.0, 6.0, 7.0]], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(ops.relu(Z)), [[0.0, 0.0, 2.0]])
    assert ops.relu(Z).dtype == backend.dtype("float32")
    back = ops.relu_backward(dH, Z)
    assert back.dtype == backend.dtype("float32")
    np.testing.assert_array_equal(to_numpy(back), [[0.0, 0.0, 7.0]])


def test_float32_stays_float32(backend):
    from xpnet.nn.network import loss_and_grads
    from xpnet.nn.optim import SGD

    rng = np.random.default_rng(1)
    params = [(backend.asarray(rng.normal(size=(5, 4)).astype(np.float32)),
               backend.asarray(np.zeros(4, np.float32))),
              (backend.asarray(rng.normal(size=(4, 3)).astype(np.float32)),
               backend.asarray(np.zeros(3, np.float32)))]
    X = backend.asarray(rng.normal(size=(8, 5)).astype(np.float32))
    Y = ops.one_hot(backend.asarray(rng.integers(0, 3, 8)), 3, backend.dtype("float32"))
    loss, logits, grads = loss_and_grads(params, X, Y)
    new = take_step(SGD(0.1), params, grads)
    float32 = backend.dtype("float32")
    assert loss.dtype == float32 and logits.dtype == float32
    assert all(a.dtype == float32 for pair in grads + new for a in pair)
