"""Every hand-written gradient against central finite differences, in float64, on every backend."""

import numpy as np
import pytest
import reference

from xpnet.backend import to_numpy
from xpnet.nn.network import forward, loss_and_grads
from xpnet.nn.ops import cross_entropy, one_hot


def _host_params(sizes, rng):
    return [(rng.normal(0, 0.7, size=(a, b)), rng.normal(0, 0.3, size=b)) for a, b in zip(sizes[:-1], sizes[1:])]


@pytest.mark.parametrize("hidden", [(), (6,), (6, 5)], ids=["depth0", "depth1", "depth2"])
def test_gradients_match_finite_differences(backend, hidden):
    rng = np.random.default_rng(len(hidden))
    n, d, k = 7, 5, 4
    sizes = [d, *hidden, k]
    host = _host_params(sizes, rng)
    X = backend.asarray(rng.normal(size=(n, d)))
    Y = one_hot(backend.asarray(rng.integers(0, k, n)), k, backend.dtype("float64"))

    def loss_at(host_params):
        params = [(backend.asarray(W), backend.asarray(b)) for W, b in host_params]
        return float(to_numpy(cross_entropy(forward(params, X)[0], Y)))

    params = [(backend.asarray(W), backend.asarray(b)) for W, b in host]
    loss_sum, _, grads = loss_and_grads(params, X, Y)
    assert float(to_numpy(loss_sum)) / n == pytest.approx(loss_at(host), rel=1e-13)

    for layer, (pair, numeric) in enumerate(zip(grads, reference.central_differences(loss_at, host))):
        for name, analytic, estimate in zip(("dW", "db"), pair, numeric):
            assert analytic.shape == estimate.shape
            np.testing.assert_allclose(to_numpy(analytic), estimate, rtol=1e-6, atol=1e-9,
                                       err_msg=f"layer {layer} {name}")


def test_gradients_match_the_numpy_oracle(backend):
    rng = np.random.default_rng(7)
    host = _host_params([9, 8, 7, 3], rng)
    X = rng.normal(size=(11, 9))
    y = rng.integers(0, 3, 11)
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in host]
    _, _, grads = loss_and_grads(params, backend.asarray(X), one_hot(backend.asarray(y), 3, backend.dtype("float64")))
    for (dW, db), (rW, rb) in zip(grads, reference.grads(host, X, y)):
        np.testing.assert_allclose(to_numpy(dW), rW, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(to_numpy(db), rb, rtol=1e-12, atol=1e-14)
