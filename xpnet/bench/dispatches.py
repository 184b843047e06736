"""Host dispatches per epoch of eager training, counted by PyTorch's dispatcher.

The training step is written once, so one eager epoch issues the same operations on every
backend: counting them on one library that can count (PyTorch, through a
``TorchDispatchMode`` that sees every operation, views included) gives the figure for all.
A GPU pays a kernel launch for nearly each of them; a compiled epoch replaces them with a few
calls. This module, as a measurement tool, may name PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..backend import resolve
from ..errors import XpnetError
from ..nn.optim import SGD
from ..training.device_data import DeviceSplit
from ..training.epoch import EpochPlan, train_epoch
from ..training.step import Step
from .references import fit_draws


def eager_dispatches_per_epoch(layer_sizes: list[int], batch_size: int, X: np.ndarray, y: np.ndarray,
                               lr: float, arch=None) -> int | None:
    """Operations one eager SGD epoch of xpnet dispatches on ``X`` (n, d), ``y`` (n,); None without PyTorch.

    ``arch`` (an :class:`xpnet.nn.architecture.Architecture`): a convolutional network's epoch
    instead of the MLP of ``layer_sizes`` [d, ..., k]."""
    try:
        from torch.utils._python_dispatch import TorchDispatchMode

        backend = resolve("torch", "cpu")
    except (ImportError, XpnetError):
        return None

    class Counting(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Counting.count += 1
            return func(*args, **(kwargs or {}))

    params, (order,) = fit_draws(layer_sizes if arch is None else arch, X.shape[0], 0, str(X.dtype), epochs=1)
    data = DeviceSplit(backend.asarray(X), backend.asarray(y)).with_one_hot(layer_sizes[-1])
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in params]
    order = backend.asarray(order)
    with Counting():
        train_epoch(Step(SGD(lr), arch), params, data, batch_size, EpochPlan(order))
    return Counting.count
