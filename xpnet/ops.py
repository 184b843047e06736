"""Elementwise and row-wise building blocks, written once against the Array API.

Every function takes arrays and finds their namespace; nothing here knows
which library it runs on. Shapes: ``n`` examples, ``k`` classes.
"""

from __future__ import annotations

from array_api_compat import array_namespace
from array_api_compat import device as device_of


def one_hot(y, num_classes: int, dtype):
    """Labels ``y`` (n,) integer -> one-hot ``Y`` (n, k) of ``dtype``."""
    xp = array_namespace(y)
    classes = xp.arange(num_classes, dtype=y.dtype, device=device_of(y))
    return xp.astype(y[:, None] == classes[None, :], dtype)


def relu(Z):
    """max(Z, 0) elementwise; same shape and dtype as ``Z``."""
    xp = array_namespace(Z)
    return xp.maximum(Z, 0.0)


def relu_backward(dH, Z):
    """Gradient through ReLU: ``dH`` where ``Z > 0``, else 0 (the subgradient at 0 is 0)."""
    xp = array_namespace(dH, Z)
    return xp.where(Z > 0, dH, 0.0)


def log_softmax(logits):
    """Row-wise log-softmax of ``logits`` (n, k), shifted by the row max so exp never overflows."""
    xp = array_namespace(logits)
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(logits):
    """Row-wise softmax of ``logits`` (n, k); rows sum to 1."""
    xp = array_namespace(logits)
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    unnormalized = xp.exp(shifted)
    return unnormalized / xp.sum(unnormalized, axis=1, keepdims=True)


def cross_entropy(logits, Y):
    """Mean cross-entropy between ``softmax(logits)`` and one-hot ``Y``, both (n, k); a 0-d array."""
    xp = array_namespace(logits, Y)
    return -xp.sum(Y * log_softmax(logits)) / logits.shape[0]


def predictions(logits):
    """Predicted class per row of ``logits`` (n, k) -> (n,) integer indices."""
    xp = array_namespace(logits)
    return xp.argmax(logits, axis=1)


def count_correct(logits, y, dtype):
    """Number of rows whose argmax equals label ``y`` (n,), as a 0-d array of ``dtype``.

    Kept on the device so a training loop can add it up without a host sync.
    """
    xp = array_namespace(logits, y)
    return xp.sum(xp.astype(predictions(logits) == y, dtype))


def accuracy(logits, y):
    """Fraction of rows of ``logits`` (n, k) whose argmax equals ``y`` (n,); a 0-d array."""
    return count_correct(logits, y, logits.dtype) / logits.shape[0]
