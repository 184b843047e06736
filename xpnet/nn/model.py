"""The multilayer perceptron: forward pass, loss, and the hand-written backward pass.

Parameters are a plain list ``[(W1, b1), ..., (WL, bL)]`` with ``W`` of shape
(fan_in, fan_out) and ``b`` of shape (fan_out,); no hidden layer is softmax
regression. Hidden layers use ReLU; the last layer's output is the logits.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from .ops import relu, relu_backward, softmax_cross_entropy


def forward(params, X, *, keep=None, xp=None):
    """Logits (n, k) for inputs ``X`` (n, d), and the cache the backward pass needs.

    The cache holds, per layer, its input ``H`` (n, fan_in) and output ``A`` (n, fan_out):
    the ReLU activation for hidden layers, the logits for the last. ``keep`` (dropout
    while training) holds per hidden layer a (n, fan_out) factor, 0 or 1 / (1 - p), that
    multiplies its activation.
    """
    xp = xp or array_namespace(X)
    H = X
    cache = []
    last = len(params) - 1
    for layer, (W, b) in enumerate(params):
        Z = H @ W
        Z += b  # in place: Z is a fresh product, and one temporary fewer per layer adds up
        A = Z if layer == last else relu(Z, xp=xp)
        if keep is not None and layer < last:
            A *= keep[layer]
        cache.append((H, A))
        H = A
    return H, cache


def backward(params, cache, dlogits, *, keep=None, xp=None):
    """Gradients ``[(dW1, db1), ...]`` of the loss, given ``dlogits`` = dLoss/dlogits (n, k).

    ``dW = H.T @ dZ`` and ``db = sum(dZ)`` per layer; ``dZ`` flows down through ``W.T``,
    the dropout factors ``keep`` of the forward pass, and the ReLU, whose derivative is 1
    where its output is positive (a dropped unit's output is 0, its gradient already 0).
    """
    xp = xp or array_namespace(dlogits)
    grads = []
    dZ = dlogits
    for layer in range(len(params) - 1, -1, -1):
        H, _ = cache[layer]
        grads.append((H.T @ dZ, xp.sum(dZ, axis=0)))
        if layer > 0:
            W, _ = params[layer]
            dH = dZ @ W.T
            if keep is not None:
                dH *= keep[layer - 1]
            dZ = relu_backward(dH, H, xp=xp)
    return grads[::-1]


def loss_and_grads(params, X, Y, scale: float = 1.0, *, keep=None, xp=None):
    """Summed cross-entropy (0-d), logits (n, k), and the gradients of ``scale`` x the mean loss.

    ``X`` (n, d), one-hot ``Y`` (n, k). For softmax followed by cross-entropy,
    dLoss/dlogits = (softmax(logits) - Y) / n; ``scale`` multiplies this small (n, k)
    array once instead of every gradient later (SGD passes its learning rate). ``keep``:
    dropout factors, as in :func:`forward`.
    """
    xp = xp or array_namespace(X, Y)
    logits, cache = forward(params, X, keep=keep, xp=xp)
    loss_sum, probs = softmax_cross_entropy(logits, Y, xp=xp)
    dlogits = (probs - Y) * (scale / X.shape[0])
    return loss_sum, logits, backward(params, cache, dlogits, keep=keep, xp=xp)


def predict_logits(params, X, *, xp=None):
    """Logits (n, k) for ``X`` (n, d), without keeping a cache."""
    return forward(params, X, xp=xp)[0]
