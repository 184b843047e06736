"""Layers: each one's forward pass and, right beside it, its backward pass.

A layer's forward pass turns its input ``H`` into its output and keeps what its backward
pass will need (``saved``). Its backward pass turns the gradient of the loss with respect
to its output into the gradient with respect to its input and the gradients of its own
parameters::

    forward(params, H, *, dropout, xp) -> (output, saved)
    backward(params, saved, d_output, *, input_grad, xp) -> (d_input, grads)

``params`` is the layer's own entry of the model's plain parameter list (``(W, b)`` for
:class:`Dense`, ``()`` for the others), so checkpoints, optimisers and the tests read
parameters as plain arrays. ``dropout`` holds the step's dropout factors, one array per
:class:`Dropout` layer (None without dropout). ``input_grad=False`` (the first layer) skips
a gradient nobody uses. Shapes: ``n`` examples.

Each pass works in place on arrays it has just made (``Z += b``, ``dH *= factor``): NumPy,
CuPy and PyTorch skip a temporary, and a library whose arrays never change (JAX) rebinds
the name to a new array, which is what the pass returns.
"""

from __future__ import annotations

from .ops import relu, relu_backward, softmax_cross_entropy


class Dense:
    """``Z = H @ W + b``: H (n, fan_in), W (fan_in, fan_out), b (fan_out,) -> Z (n, fan_out)."""

    has_params = True

    def forward(self, params, H, *, dropout, xp):
        W, b = params
        Z = H @ W
        Z += b
        return Z, H

    def backward(self, params, H, dZ, *, input_grad, xp):
        """``dW = H.T @ dZ``, ``db`` = column sums of ``dZ``, and ``dH = dZ @ W.T``."""
        W, _ = params
        grads = (H.T @ dZ, xp.sum(dZ, axis=0))
        return (dZ @ W.T if input_grad else None), grads


class ReLU:
    """``A = max(Z, 0)``, elementwise."""

    has_params = False

    def forward(self, params, Z, *, dropout, xp):
        A = relu(Z, xp=xp)
        return A, A

    def backward(self, params, A, dA, *, input_grad, xp):
        """The gradient passes where the output is positive: ``dZ = dA * (A > 0)``."""
        return relu_backward(dA, A, xp=xp), ()


class Dropout:
    """Inverted dropout: ``H * factor``, with the step's factor (n, units) 0 or 1 / (1 - p).

    ``index`` says which of the step's ``dropout`` arrays is this layer's.
    """

    has_params = False

    def __init__(self, index: int):
        self.index = index

    def forward(self, params, H, *, dropout, xp):
        factor = dropout[self.index]
        # In place: the ReLU before it then keeps the dropped output, whose mask also drops
        # the dropped units; their gradient is already 0 from the factor, so nothing changes.
        H *= factor
        return H, factor

    def backward(self, params, factor, dH, *, input_grad, xp):
        """A dropped unit passes no gradient, a kept one its gradient times 1 / (1 - p)."""
        dH *= factor
        return dH, ()


class SoftmaxCrossEntropy:
    """The loss: cross-entropy of ``softmax(logits)`` against one-hot ``Y``, both (n, k), summed over rows."""

    def forward(self, logits, Y, *, xp):
        """The summed loss (0-d) and the probabilities (n, k) its backward pass needs."""
        return softmax_cross_entropy(logits, Y, xp=xp)

    def backward(self, probs, Y, scale: float = 1.0):
        """dLoss/dlogits of ``scale`` x the *mean* loss: ``(probs - Y) * scale / n``, (n, k).

        ``scale`` multiplies this small array once instead of every gradient later (SGD
        passes its learning rate).
        """
        return (probs - Y) * (scale / Y.shape[0])
