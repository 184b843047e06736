"""Each layer's backward pass against central finite differences of its own forward pass,
in float64, on every backend: the gradient with respect to its input and to its parameters.

The scalar differentiated is ``sum(G * output)`` for a random ``G``, so the backward pass
receives ``G`` as the gradient of its output.
"""

import numpy as np
import pytest
import reference

from xpnet.backend import to_numpy
from xpnet.nn.layers import Dense, Dropout, ReLU, SoftmaxCrossEntropy
from xpnet.nn.ops import one_hot

N, D, UNITS = 6, 5, 4


def _case(name, rng):
    """(layer, host parameters, output width, dropout factors or None)."""
    if name == "dense":
        return Dense(), [rng.normal(size=(D, UNITS)), rng.normal(size=UNITS)], UNITS, None
    if name == "relu":
        return ReLU(), [], D, None
    factor = np.where(rng.random((N, D)) < 0.3, 0.0, 1 / 0.7)
    return Dropout(0), [], D, factor


@pytest.mark.parametrize("name", ["dense", "relu", "dropout"])
def test_each_layer_s_backward_matches_finite_differences(backend, name):
    rng = np.random.default_rng(3)
    layer, host_params, width, factor = _case(name, rng)
    H = rng.normal(size=(N, D))
    H += np.sign(H) * 0.1  # away from ReLU's kink, where a difference quotient straddles it
    G = rng.normal(size=(N, width))
    keep = None if factor is None else [backend.asarray(factor)]
    xp = backend.xp

    def run(arrays):
        H_host, *params = arrays
        params = tuple(backend.asarray(p) for p in params)
        return params, layer.forward(params, backend.asarray(H_host), dropout=keep, xp=xp)

    def scalar(arrays):
        _, (output, _) = run(arrays)
        return float(to_numpy(xp.sum(output * backend.asarray(G))))

    params, (_, saved) = run([H, *host_params])
    d_input, grads = layer.backward(params, saved, backend.asarray(G), input_grad=True, xp=xp)
    numeric = reference.numeric_gradients(scalar, [H, *host_params])
    analytic = [d_input, *grads]
    assert len(analytic) == len(numeric)
    for which, (got, estimate) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(to_numpy(got), estimate, rtol=1e-7, atol=1e-9, err_msg=f"{name}, gradient {which}")


def test_the_loss_s_backward_matches_finite_differences(backend):
    rng = np.random.default_rng(4)
    loss = SoftmaxCrossEntropy()
    logits = rng.normal(size=(N, UNITS))
    Y = one_hot(backend.asarray(rng.integers(0, UNITS, N)), UNITS, backend.dtype("float64"))
    xp = backend.xp

    def mean_loss(arrays):
        return float(to_numpy(loss.forward(backend.asarray(arrays[0]), Y, xp=xp)[0])) / N

    _, probs = loss.forward(backend.asarray(logits), Y, xp=xp)
    for scale in (1.0, 0.1):
        np.testing.assert_allclose(to_numpy(loss.backward(probs, Y, scale)),
                                   scale * reference.numeric_gradients(mean_loss, [logits])[0], rtol=1e-7, atol=1e-10)
