"""Optimisers: they turn parameters and gradients into new parameters."""

from __future__ import annotations


class SGD:
    """Plain stochastic gradient descent, ``W <- W - lr * dW``.

    ``lr`` stays a Python float so a float32 model is never promoted to float64.
    """

    def __init__(self, lr: float):
        self.lr = float(lr)

    def step(self, params, grads):
        """New parameters ``[(W, b), ...]`` after one step along ``grads`` (same structure)."""
        lr = self.lr
        return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]
