"""Elementwise and row-wise building blocks, written once against the Array API.

Every function takes arrays and finds their namespace, or takes it as ``xp=``
from a caller that already knows it (finding it costs microseconds, and a training
step calls these functions dozens of times). Nothing here knows which library it
runs on. Shapes: ``n`` examples, ``k`` classes.
"""

from __future__ import annotations

from array_api_compat import array_namespace
from array_api_compat import device as device_of


def one_hot(y, num_classes: int, dtype, *, xp=None):
    """Labels ``y`` (n,) integer -> one-hot ``Y`` (n, k) of ``dtype``."""
    xp = xp or array_namespace(y)
    classes = xp.arange(num_classes, dtype=y.dtype, device=device_of(y))
    return xp.astype(y[:, None] == classes[None, :], dtype)


def relu(Z, *, xp=None):
    """max(Z, 0) elementwise; same shape and dtype as ``Z``."""
    xp = xp or array_namespace(Z)
    # One 0-d zero per namespace, dtype and device: a Python 0.0 would be turned into a tensor on
    # every call by array-api-compat's PyTorch wrapper, and a fresh zero per call costs an
    # allocation (a kernel launch on a GPU) per layer per step.
    zero = device_constant(xp, device_of(Z), ("zero", Z.dtype), lambda where: xp.zeros((), dtype=Z.dtype, device=where))
    return xp.maximum(Z, zero)


# Constants made once per namespace, device and key (a list, not a dict: not every library's
# device objects are hashable), each on the device it is filed under.
_CONSTANTS: list = []


def device_constant(xp, device, key, make):
    """The array ``make(device)`` returns, made on first use for ``xp``, ``device`` and ``key`` and
    kept. Inside a compiler's trace (JAX's tracers have no device: ``device`` is None) it is made
    afresh, a constant of the trace, and never kept."""
    if device is None:
        return make(None)
    for namespace, where, known, constant in _CONSTANTS:
        if namespace is xp and where == device and known == key:
            return constant
    constant = make(device)
    if device_of(constant) != device:
        # CuPy outside its device context makes it on the current GPU, whatever device= says; asarray
        # moves it, so that it is filed (and found again) under the device asked for.
        constant = xp.asarray(constant, device=device)
    _CONSTANTS.append((xp, device, key, constant))
    return constant


def relu_backward(dH, H, *, xp=None):
    """Gradient through ReLU, given its output ``H``: ``dH`` where ``H > 0``, else 0.

    Multiplying by the mask cast to floats is the portable form of ``dH * (H > 0)``,
    and several times faster in NumPy than ``where`` on an unpredictable mask.
    ``dH`` is overwritten: callers pass a fresh product.
    """
    xp = xp or array_namespace(dH, H)
    dH *= xp.astype(H > 0, dH.dtype)
    return dH


def log_softmax(logits, *, xp=None):
    """Row-wise log-softmax of ``logits`` (n, k), shifted by the row max so exp never overflows."""
    xp = xp or array_namespace(logits)
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(logits, *, xp=None):
    """Row-wise softmax of ``logits`` (n, k); rows sum to 1."""
    xp = xp or array_namespace(logits)
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    unnormalized = xp.exp(shifted)
    return unnormalized / xp.sum(unnormalized, axis=1, keepdims=True)


def softmax_cross_entropy(logits, Y, *, xp=None):
    """Summed cross-entropy over the rows (0-d) and the softmax probabilities (n, k).

    With ``shifted = logits - rowmax`` and ``total = sum(exp(shifted))`` per row, an
    example's loss is ``log(total) - shifted[true class]``: one exp serves both results.
    """
    xp = xp or array_namespace(logits, Y)
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    unnormalized = xp.exp(shifted)
    total = xp.sum(unnormalized, axis=1, keepdims=True)
    loss_sum = xp.sum(xp.log(total)) - xp.sum(Y * shifted)
    return loss_sum, unnormalized / total


def cross_entropy(logits, Y, *, xp=None):
    """Mean cross-entropy between ``softmax(logits)`` and one-hot ``Y``, both (n, k); a 0-d array."""
    xp = xp or array_namespace(logits, Y)
    return -xp.sum(Y * log_softmax(logits, xp=xp)) / logits.shape[0]


def predictions(logits, *, xp=None):
    """Predicted class per row of ``logits`` (n, k) -> (n,) integer indices."""
    xp = xp or array_namespace(logits)
    return xp.argmax(logits, axis=1)


def count_correct(logits, y, *, xp=None):
    """Number of rows whose argmax equals label ``y`` (n,), as a 0-d int64 array.

    Kept on the device so a training loop can add it up without a host sync.
    """
    xp = xp or array_namespace(logits, y)
    return xp.count_nonzero(predictions(logits, xp=xp) == y)


def accuracy(logits, y, *, xp=None):
    """Fraction of rows of ``logits`` (n, k) whose argmax equals ``y`` (n,); a 0-d array."""
    xp = xp or array_namespace(logits, y)
    return xp.astype(count_correct(logits, y, xp=xp), logits.dtype) / logits.shape[0]
