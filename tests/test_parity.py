"""Parity: every backend follows a NumPy float64 reference, step by step and over a whole epoch.

Tolerances: float64 rtol 1e-10 / atol 1e-12 elementwise after each of 20 SGD steps;
float32 rtol 1e-4 / atol 1e-5. After one full float32 epoch, the loss within 1% and
the accuracy within 0.5 points of the reference.
"""

import numpy as np
import pytest

import reference
from xpnet.backend import to_numpy
from xpnet.nn.init import init_params
from xpnet.nn.optim import SGD
from xpnet.training.run import fit
from xpnet.training.device_data import DeviceSplit, images_to_device, labels_to_device
from xpnet.training.epoch import EpochPlan, train_epoch
from xpnet.training.step import Step

TOLERANCES = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_first_20_sgd_steps_match_the_float64_reference(backend, tiny_dataset, dtype):
    batch_size, lr, steps = 16, 0.1, 20
    rng = np.random.default_rng(5)
    host = init_params([784, 32, 16, 10], rng, "he", "zeros", "float64")
    order = rng.permutation(tiny_dataset.train_images.shape[0])
    X_host = tiny_dataset.train_images.reshape(-1, 784).astype(np.float64) / 255.0
    y_host = tiny_dataset.train_labels
    expected = reference.sgd_steps(host, X_host, y_host, order, batch_size, lr, steps)

    data = DeviceSplit(images_to_device(tiny_dataset.train_images, backend, dtype, normalize=True),
                       labels_to_device(y_host, backend))
    params = [(backend.asarray(W, dtype=dtype), backend.asarray(b, dtype=dtype)) for W, b in host]
    device_order = backend.asarray(order)
    optimizer = SGD(lr)
    for step in range(steps):
        window = device_order[step * batch_size:(step + 1) * batch_size]
        batch = DeviceSplit(backend.xp.take(data.X, window, axis=0), backend.xp.take(data.y, window, axis=0))
        params, totals, _ = train_epoch(Step(optimizer), params, batch.with_one_hot(10), batch_size)
        assert totals.seen == batch_size
        for (W, b), (rW, rb) in zip(params, expected[step]):
            assert W.dtype == backend.dtype(dtype)
            np.testing.assert_allclose(to_numpy(W), rW, **TOLERANCES[dtype], err_msg=f"W after step {step + 1}")
            np.testing.assert_allclose(to_numpy(b), rb, **TOLERANCES[dtype], err_msg=f"b after step {step + 1}")


def test_train_epoch_gathers_batches_in_the_permutation_order(backend, tiny_dataset):
    """Twenty steps inside one train_epoch call equal the reference's twenty steps."""
    rng = np.random.default_rng(6)
    host = init_params([784, 10], rng, "normal:0.01", "zeros", "float64")
    order = rng.permutation(600)
    X_host = tiny_dataset.train_images.reshape(-1, 784) / 255.0
    expected = reference.sgd_steps(host, X_host, tiny_dataset.train_labels, order, 30, 0.5, 20)[-1]
    data = DeviceSplit(images_to_device(tiny_dataset.train_images, backend, "float64", True),
                       labels_to_device(tiny_dataset.train_labels, backend))
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in host]
    params, totals, _ = train_epoch(Step(SGD(0.5)), params, data.with_one_hot(10), 30, EpochPlan(backend.asarray(order)))
    assert totals.seen == 600
    for (W, b), (rW, rb) in zip(params, expected):
        np.testing.assert_allclose(to_numpy(W), rW, **TOLERANCES["float64"])
        np.testing.assert_allclose(to_numpy(b), rb, **TOLERANCES["float64"])


def test_one_float32_epoch_matches_the_reference_loss_and_accuracy(backend, tiny_dataset):
    result = fit(dataset=tiny_dataset, backend=backend.name, device=backend.device_name, hidden=(32,),
                 batch_size=20, epochs=1, lr=0.1, seed=11, log=None)
    rng = np.random.default_rng(11)
    host = init_params([784, 32, 10], rng, "he", "zeros", "float64")
    order = rng.permutation(600)
    X_host = tiny_dataset.train_images.reshape(-1, 784) / 255.0
    y_host = tiny_dataset.train_labels
    losses, correct, params = [], 0, host
    for start in range(0, 600, 20):
        rows = order[start:start + 20]
        logits, _ = reference.forward(params, X_host[rows])
        losses.append(reference.loss(params, X_host[rows], y_host[rows]))
        correct += int(np.sum(logits.argmax(axis=1) == y_host[rows]))
        grads = reference.grads(params, X_host[rows], y_host[rows])
        params = [(W - 0.1 * dW, b - 0.1 * db) for (W, b), (dW, db) in zip(params, grads)]
    record = result.history[0]
    assert record["train_loss"] == pytest.approx(np.mean(losses), rel=0.01)
    assert abs(record["train_accuracy"] - correct / 600) <= 0.005
    X_test = tiny_dataset.test_images.reshape(-1, 784) / 255.0
    test_accuracy = np.mean(reference.forward(params, X_test)[0].argmax(axis=1) == tiny_dataset.test_labels)
    assert abs(result.test_accuracy - test_accuracy) <= 0.005
