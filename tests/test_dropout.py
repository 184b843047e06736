"""Dropout: its hand-written backward pass under a fixed mask, its statistics, and its masks
identical on every backend for a seed, with no host conversion inside an epoch."""

import numpy as np
import pytest
import reference

import xpnet
from xpnet.backend import to_numpy
from xpnet.nn.dropout import EpochDropout
from xpnet.nn.network import forward, loss_and_grads
from xpnet.nn.ops import cross_entropy, one_hot


def test_gradients_under_a_fixed_mask_match_finite_differences(backend):
    rng = np.random.default_rng(4)
    n, sizes = 6, [5, 7, 6, 3]
    host = [(rng.normal(0, 0.7, size=(a, b)), rng.normal(0, 0.3, size=b)) for a, b in zip(sizes[:-1], sizes[1:])]
    dropout = EpochDropout(np.random.default_rng(1), n, (7, 6), 0.4, backend.asarray)
    keep = dropout.factors(dropout.rows(0, n), backend.dtype("float64"), backend.xp)
    assert any(float(to_numpy(backend.xp.min(k))) == 0.0 for k in keep)
    X = backend.asarray(rng.normal(size=(n, sizes[0])))
    Y = one_hot(backend.asarray(rng.integers(0, 3, n)), 3, backend.dtype("float64"))

    def loss_at(host_params):
        params = [(backend.asarray(W), backend.asarray(b)) for W, b in host_params]
        return float(to_numpy(cross_entropy(forward(params, X, dropout=keep)[0], Y)))

    params = [(backend.asarray(W), backend.asarray(b)) for W, b in host]
    _, _, grads = loss_and_grads(params, X, Y, dropout=keep)
    for pair, numeric in zip(grads, reference.central_differences(loss_at, host)):
        for analytic, estimate in zip(pair, numeric):
            np.testing.assert_allclose(to_numpy(analytic), estimate, rtol=1e-6, atol=1e-9)


def test_masks_keep_the_right_fraction_and_scale():
    dropout = EpochDropout(np.random.default_rng(0), 4000, (50,), 0.25, np.asarray)
    keep = dropout.factors(dropout.rows(0, 4000), np.float64, xpnet.resolve("numpy").xp)[0]
    kept = keep > 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(keep[kept], 256 / (256 - 64))
    assert abs(keep.mean() - 1.0) < 0.02


def test_the_same_seed_gives_the_same_training_on_every_backend(backend, tiny_dataset):
    settings = dict(dataset=tiny_dataset, hidden=(32, 16), dropout=0.3, batch_size=50, epochs=2, dtype="float64",
                    seed=9, log=None)
    reference = xpnet.fit(backend="numpy", **settings).host_params()
    result = xpnet.fit(backend=backend.name, device=backend.device_name, **settings).host_params()
    for (W, b), (rW, rb) in zip(result, reference):
        np.testing.assert_allclose(W, rW, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, rb, rtol=1e-10, atol=1e-12)


def test_dropout_changes_training_but_not_evaluation(tiny_dataset):
    plain = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(32,), epochs=1, log=None)
    dropped = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(32,), epochs=1, dropout=0.5, log=None)
    assert plain.history[0]["train_loss"] != dropped.history[0]["train_loss"]
    with pytest.raises(xpnet.XpnetError, match="dropout"):
        xpnet.fit(dataset=tiny_dataset, dropout=1.0, log=None)
