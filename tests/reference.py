"""An independent NumPy float64 oracle: the MLP written the obvious way, as the seed notebooks do.

Nothing here imports xpnet, so a bug in xpnet's math cannot hide in its reference.
"""

import numpy as np


def forward(params, X):
    """Logits (n, k) and the list of pre-activations, for host params [(W, b), ...]."""
    H = X
    pre = []
    for i, (W, b) in enumerate(params):
        Z = H @ W + b
        pre.append(Z)
        H = np.maximum(Z, 0) if i < len(params) - 1 else Z
    return H, pre


def loss(params, X, y):
    logits, _ = forward(params, X)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean()


def grads(params, X, y):
    """Backpropagation for mean softmax cross-entropy, layer by layer."""
    logits, pre = forward(params, X)
    n, k = logits.shape
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Y = np.eye(k)[y]
    dZ = (P - Y) / n
    out = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        H = X if i == 0 else np.maximum(pre[i - 1], 0)
        out[i] = (H.T @ dZ, dZ.sum(axis=0))
        if i > 0:
            dZ = (dZ @ params[i][0].T) * (pre[i - 1] > 0)
    return out


def sgd_steps(params, X, y, order, batch_size, lr, steps):
    """Params after each of ``steps`` SGD steps over batches taken from ``order``."""
    params = [(W.copy(), b.copy()) for W, b in params]
    history = []
    for step in range(steps):
        rows = order[step * batch_size:(step + 1) * batch_size]
        g = grads(params, X[rows], y[rows])
        params = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, g)]
        history.append(params)
    return history


def central_differences(loss_at, host_params, eps=1e-6):
    """[(dW, db), ...] of ``loss_at(params)`` by central finite differences, one entry at a time."""
    flat = [array for pair in host_params for array in pair]
    estimates = numeric_gradients(lambda arrays: loss_at(list(zip(arrays[0::2], arrays[1::2]))), flat, eps)
    return list(zip(estimates[0::2], estimates[1::2]))


def numeric_gradients(f, arrays, eps=1e-6):
    """The gradient of the scalar ``f(arrays)`` with respect to each array, by central differences."""
    estimates = []
    for which, array in enumerate(arrays):
        estimate = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[which][index] += eps
            minus[which][index] -= eps
            estimate[index] = (f(plus) - f(minus)) / (2 * eps)
        estimates.append(estimate)
    return estimates


def assert_same_params(result, expected, rtol, atol):
    """Every (W, b) of fit result ``result`` within ``rtol``/``atol`` of ``expected``'s."""
    for (W, b), (W_ref, b_ref) in zip(result.host_params(), expected.host_params(), strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
