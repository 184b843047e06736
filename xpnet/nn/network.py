"""A network as a sequence of layers (:mod:`xpnet.nn.layers`, :mod:`xpnet.nn.conv`): its forward
pass, its loss, and its backward pass, which runs the layers' backward passes in reverse.

Parameters are a plain list ``[(W1, b1), ..., (WL, bL)]``, one pair per :class:`Dense`
layer, with ``W`` of shape (fan_in, fan_out) and ``b`` of shape (fan_out,); with no hidden
layer the model is softmax regression. Hidden layers are Dense, ReLU and, while training
with dropout, Dropout; the last Dense layer's output is the logits.
"""

from __future__ import annotations

from functools import lru_cache

from array_api_compat import array_namespace

from .layers import Dense, Dropout, ReLU, SoftmaxCrossEntropy

LOSS = SoftmaxCrossEntropy()


def sizes_text(layer_sizes) -> str:
    """``[784, 128, 10]`` -> ``'784-128-10'``, the way xpnet writes a model's layer sizes."""
    return "-".join(str(size) for size in layer_sizes)


def mlp_title(layer_sizes) -> str:
    """``'MLP 784-128-10'``, or ``'softmax regression 784-10'`` for a model with no hidden layer."""
    kind = "MLP" if len(layer_sizes) > 2 else "softmax regression"
    return f"{kind} {sizes_text(layer_sizes)}"


@lru_cache(maxsize=None)
def mlp_layers(depth: int, dropout: bool = False) -> tuple:
    """The layers of an MLP with ``depth`` Dense layers: Dense, ReLU[, Dropout], ..., Dense."""
    layers = []
    for index in range(depth):
        layers.append(Dense())
        if index < depth - 1:
            layers.append(ReLU())
            if dropout:
                layers.append(Dropout(index))
    return tuple(layers)


def forward(params, X, *, dropout=None, xp=None, network=None):
    """Logits (n, k) for inputs ``X`` (n, d), and the cache the backward pass needs.

    ``dropout`` (while training) holds per hidden layer a (n, fan_out) factor, 0 or
    1 / (1 - p), that multiplies its activation. The cache holds, per layer, what its
    backward pass needs. ``network``: the layers to run (an :class:`~xpnet.nn.architecture.Architecture`),
    by default the MLP of ``params``.
    """
    xp = xp or array_namespace(X)
    H = X
    cache = []
    remaining = iter(params)
    layers = mlp_layers(len(params), dropout is not None) if network is None else network.layers(dropout is not None)
    for layer in layers:
        layer_params = next(remaining) if layer.has_params else ()
        H, saved = layer.forward(layer_params, H, dropout=dropout, xp=xp)
        cache.append((layer, layer_params, saved))
    return H, cache


def backward(cache, dlogits, *, xp=None):
    """Gradients ``[(dW1, db1), ...]`` of the loss, given ``dlogits`` = dLoss/dlogits (n, k):
    each layer's backward pass, from the last layer to the first."""
    xp = xp or array_namespace(dlogits)
    grads = []
    d_output = dlogits
    for position in range(len(cache) - 1, -1, -1):
        layer, layer_params, saved = cache[position]
        d_output, layer_grads = layer.backward(layer_params, saved, d_output, input_grad=position > 0, xp=xp)
        if layer.has_params:
            grads.append(layer_grads)
    return grads[::-1]


def loss_and_grads(params, X, Y, scale: float = 1.0, *, dropout=None, network=None):
    """Summed cross-entropy (0-d), logits (n, k), and the gradients of ``scale`` x the mean loss.

    ``X`` (n, d), one-hot ``Y`` (n, k). ``scale`` multiplies dLoss/dlogits once instead of
    every gradient later (SGD passes its learning rate). ``dropout`` and ``network``
    as in :func:`forward`; the namespace is the inputs' (once per call: microseconds in a step
    of milliseconds).
    """
    xp = array_namespace(X, Y)
    logits, cache = forward(params, X, dropout=dropout, xp=xp, network=network)
    loss_sum, probs = LOSS.forward(logits, Y, xp=xp)
    return loss_sum, logits, backward(cache, LOSS.backward(probs, Y, scale), xp=xp)


def predict_logits(params, X, *, xp=None, network=None):
    """Logits (n, k) for ``X`` (n, d), without keeping a cache."""
    return forward(params, X, xp=xp, network=network)[0]
