"""Optimisers: they turn parameters and gradients into new parameters."""

from __future__ import annotations


class SGD:
    """Plain stochastic gradient descent, ``W <- W - lr * dW``.

    The learning rate is folded into the backward pass (``gradient_scale``), so the
    gradients arrive as ``lr * dW`` and the update is one in-place subtraction per
    parameter. ``lr`` stays a Python float, so float32 is never promoted.
    """

    def __init__(self, lr: float):
        self.lr = float(lr)

    @property
    def gradient_scale(self) -> float:
        """The factor the gradients passed to :meth:`step` must already carry."""
        return self.lr

    def step(self, params, grads):
        """Update ``params`` ``[(W, b), ...]`` in place by ``grads`` scaled by ``gradient_scale``; return them."""
        for (W, b), (dW, db) in zip(params, grads):
            W -= dW
            b -= db
        return params

    def state_dict(self) -> dict:
        """The optimiser's state as host arrays, for a checkpoint (plain SGD has none)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output."""
        if state:
            raise ValueError(f"SGD keeps no state, got {sorted(state)}")
