"""The two plain functions a run is built from: ``train_epoch`` and ``evaluate``.

Data live on the device (``DeviceSplit``); an epoch gathers its batches there and
keeps its totals there (``EpochTotals``), so no step waits for the host.
:mod:`xpnet.training.run` drives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ..backend import Backend, to_numpy
from ..nn.network import loss_and_grads, predict_logits
from ..nn.ops import count_correct, cross_entropy, one_hot, predictions


@dataclass
class DeviceSplit:
    """Images ``X`` (n, d) of the run's dtype, labels ``y`` (n,) int64 and, for training,
    their one-hot ``Y`` (n, k) of the run's dtype, all on the device."""

    X: object
    y: object
    Y: object = None

    def with_one_hot(self, num_classes: int) -> "DeviceSplit":
        """This split with ``Y`` filled in, made once so that batches gather rows of it."""
        return DeviceSplit(self.X, self.y, one_hot(self.y, num_classes, self.X.dtype))

    @property
    def size(self) -> int:
        return self.X.shape[0]


def images_to_device(images: np.ndarray, backend: Backend, dtype: str, normalize: bool):
    """uint8 images (n, rows, cols) -> (n, rows*cols) ``dtype`` on the device, scaled to [0, 1] if ``normalize``.

    The uint8 pixels travel (a quarter of the float32 bytes) and are converted on the device.
    """
    xp = backend.xp
    flat = backend.asarray(np.ascontiguousarray(images.reshape(images.shape[0], -1)))
    X = xp.astype(flat, backend.dtype(dtype))
    if normalize:
        # In place: ``X / 255.0`` would leave a second float copy of the data in CuPy's memory pool.
        X /= 255.0
    return X


def labels_to_device(labels: np.ndarray, backend: Backend):
    """Integer labels (n,) -> int64 (n,) on the device."""
    return backend.asarray(np.asarray(labels, dtype=np.int64))


@dataclass
class EpochTotals:
    """Running totals of an epoch: summed loss (0-d, the run's dtype) and correct count
    (0-d int64) on the device; examples ``seen`` and ``steps`` done, on the host."""

    loss_sum: object
    correct: object
    seen: int = 0
    steps: int = 0

    @classmethod
    def zeros(cls, like) -> "EpochTotals":
        """Fresh totals on the device and in the dtype of array ``like``."""
        xp = array_namespace(like)
        return cls(xp.zeros((), dtype=like.dtype, device=device_of(like)),
                   xp.zeros((), dtype=xp.int64, device=device_of(like)))

    def read(self, *extra) -> tuple[float, ...]:
        """``(loss_sum, correct, *extra)`` copied to the host in one transfer; ``extra`` are 0-d
        arrays of the loss's dtype."""
        xp = array_namespace(self.loss_sum)
        values = xp.stack([self.loss_sum, xp.astype(self.correct, self.loss_sum.dtype), *extra])
        return tuple(float(v) for v in to_numpy(values))


def batch_count(n: int, batch_size: int | None) -> int:
    """Steps in an epoch of ``n`` examples (the last batch may be partial; None is full batch)."""
    return 1 if batch_size is None else -(-n // batch_size)


@dataclass
class EpochHooks:
    """What a run's tooling may ask of an epoch, beside the math; each is optional.

    ``stop()`` is asked between steps (a host flag, never the device): yes ends the epoch
    early, unfinished (Ctrl-C). ``on_step()`` is called after each step (a progress bar).
    ``max_steps`` ends the epoch once its step count (those of ``totals`` carried in included)
    reaches it, on purpose (a dry run); the epoch then reads as finished, and only its caller
    knows that it is not whole (``totals.steps`` < :func:`batch_count`).
    """

    stop: Callable[[], bool] | None = None
    on_step: Callable[[], None] | None = None
    max_steps: int | None = None


def train_epoch(params, optimizer, data: DeviceSplit, batch_size: int | None, order=None, *,
                lr_at: Callable[[int], float] | None = None, dropout=None, shifts=None,
                totals: EpochTotals | None = None, hooks: EpochHooks | None = None, network=None):
    """One pass over ``data``; returns ``(params, totals, finished)``, ``params`` as the optimiser left them.

    ``data`` needs its one-hot ``Y`` (:meth:`DeviceSplit.with_one_hot`). ``order`` (n,)
    int64 on the device is the epoch's permutation; each batch is gathered from it with
    ``xp.take``. ``batch_size=None`` (full batch) uses the data as they are.
    ``lr_at(step)`` sets the optimiser's learning rate before each step (a schedule);
    ``dropout`` (an :class:`xpnet.nn.dropout.EpochDropout`) gives each step's dropout factors;
    ``shifts`` (an :class:`xpnet.nn.augment.EpochShifts`) moves each batch's images.
    ``totals`` from an epoch stopped part-way continue it at its next step; ``finished`` is
    False when ``hooks.stop()`` ended the epoch early. ``arch``: the network
    (:class:`xpnet.nn.architecture.Architecture`; None: the MLP of ``params``).
    """
    xp = array_namespace(data.X)
    if data.Y is None:
        raise ValueError("train_epoch needs the one-hot labels: pass data.with_one_hot(num_classes)")
    hooks = hooks if hooks is not None else EpochHooks()
    n = data.size
    step_size = n if batch_size is None else min(batch_size, n)
    totals = totals if totals is not None else EpochTotals.zeros(data.X)
    state, steps = optimizer.state_for(params), optimizer.steps
    for start in range(totals.steps * step_size, n, step_size):
        if hooks.max_steps is not None and totals.steps >= hooks.max_steps:
            break
        if hooks.stop is not None and hooks.stop():
            optimizer.adopt(state, steps)
            return params, totals, False
        if lr_at is not None:
            optimizer.lr = lr_at(totals.steps)
        stop_row = min(start + step_size, n)
        if order is None:
            X, Y, y = data.X[start:stop_row, :], data.Y[start:stop_row, :], data.y[start:stop_row]
        else:
            batch = order[start:stop_row]
            X, Y, y = (xp.take(array, batch, axis=0) for array in (data.X, data.Y, data.y))
        if shifts is not None:
            X = shifts.apply(X, shifts.rows(start, stop_row), xp=xp)
        keep = None if dropout is None else dropout.factors(dropout.rows(start, stop_row), X.dtype, xp)
        steps += 1
        c = optimizer.coefficients(optimizer.lr, steps)
        batch_loss, logits, grads = loss_and_grads(params, X, Y, scale=c.get("scale", 1.0), dropout=keep, xp=xp,
                                                     network=network)
        params, state = optimizer.update(params, grads, state, c, xp=xp)
        totals.loss_sum += batch_loss
        totals.correct += count_correct(logits, y, xp=xp)
        totals.seen += X.shape[0]
        totals.steps += 1
        if hooks.on_step is not None:
            hooks.on_step()
    optimizer.adopt(state, steps)
    return params, totals, True


def evaluate(params, data: DeviceSplit, num_classes: int, batch_size: int = 10000, network=None) -> tuple[float, float]:
    """Mean loss and accuracy (a fraction) of ``params`` (of network ``arch``; None: an MLP) on
    ``data``, read back to the host once."""
    loss, accuracy, _ = _evaluate(params, data, num_classes, batch_size, keep_predictions=False, network=network)
    return loss, accuracy


def evaluate_with_predictions(params, data: DeviceSplit, num_classes: int, batch_size: int = 10000,
                              network=None) -> tuple[float, float, np.ndarray]:
    """As :func:`evaluate`, plus the predicted class of every row, (n,) int64 on the host,
    from the same forward pass."""
    return _evaluate(params, data, num_classes, batch_size, keep_predictions=True, network=network)


def _evaluate(params, data: DeviceSplit, num_classes: int, batch_size: int, keep_predictions: bool, network=None):
    xp = array_namespace(data.X)
    totals = EpochTotals.zeros(data.X)
    kept = []
    for start in range(0, data.size, batch_size):
        stop = min(start + batch_size, data.size)
        X, y = data.X[start:stop, :], data.y[start:stop]
        logits = predict_logits(params, X, xp=xp, network=network)
        totals.loss_sum += cross_entropy(logits, one_hot(y, num_classes, X.dtype, xp=xp), xp=xp) * X.shape[0]
        predicted = predictions(logits, xp=xp)
        totals.correct += xp.count_nonzero(predicted == y)
        if keep_predictions:
            kept.append(predicted)
    loss_sum, correct = totals.read()
    predicted = to_numpy(xp.concat(kept)).astype(np.int64, copy=False) if keep_predictions else None
    return loss_sum / data.size, correct / data.size, predicted
