"""The multilayer perceptron: forward pass, loss, and the hand-written backward pass.

Parameters are a plain list ``[(W1, b1), ..., (WL, bL)]`` with ``W`` of shape
(fan_in, fan_out) and ``b`` of shape (fan_out,); no hidden layer is softmax
regression. Hidden layers use ReLU; the last layer's output is the logits.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from .ops import log_softmax, relu, relu_backward


def forward(params, X):
    """Logits (n, k) for inputs ``X`` (n, d), and the cache the backward pass needs.

    The cache holds, per layer, its input ``H`` (n, fan_in) and pre-activation ``Z`` (n, fan_out).
    """
    H = X
    cache = []
    last = len(params) - 1
    for layer, (W, b) in enumerate(params):
        Z = H @ W + b
        cache.append((H, Z))
        H = Z if layer == last else relu(Z)
    return H, cache


def backward(params, cache, dlogits):
    """Gradients ``[(dW1, db1), ...]`` of the loss, given ``dlogits`` = dLoss/dlogits (n, k)."""
    xp = array_namespace(dlogits)
    grads = []
    dZ = dlogits
    for layer in range(len(params) - 1, -1, -1):
        H, _ = cache[layer]
        grads.append((H.T @ dZ, xp.sum(dZ, axis=0)))
        if layer > 0:
            W, _ = params[layer]
            dZ = relu_backward(dZ @ W.T, cache[layer - 1][1])
    return grads[::-1]


def loss_and_grads(params, X, Y):
    """Mean cross-entropy loss (0-d), logits (n, k) and gradients for a batch ``X`` (n, d), one-hot ``Y`` (n, k).

    For softmax followed by cross-entropy, dLoss/dlogits = (softmax(logits) - Y) / n.
    """
    xp = array_namespace(X, Y)
    logits, cache = forward(params, X)
    log_probs = log_softmax(logits)
    n = X.shape[0]
    loss = -xp.sum(Y * log_probs) / n
    dlogits = (xp.exp(log_probs) - Y) / n
    return loss, logits, backward(params, cache, dlogits)


def predict_logits(params, X):
    """Logits (n, k) for ``X`` (n, d), without keeping a cache."""
    return forward(params, X)[0]
