"""Scoring a network on a split: mean loss and accuracy, read back to the host once."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from ..backend import to_numpy
from ..nn.network import predict_logits
from ..nn.ops import cross_entropy, one_hot, predictions
from .device_data import DeviceSplit
from .epoch import EpochTotals


def loss_and_accuracy(params, data: DeviceSplit, num_classes: int, batch_size: int = 10000,
                      network=None) -> tuple[float, float]:
    """Mean loss and accuracy (a fraction) of ``params`` (of ``network``; None: an MLP) on ``data``."""
    loss, accuracy, _ = _score(params, data, num_classes, batch_size, network, keep_predictions=False)
    return loss, accuracy


def loss_accuracy_and_predictions(params, data: DeviceSplit, num_classes: int, batch_size: int = 10000,
                                  network=None) -> tuple[float, float, np.ndarray]:
    """As :func:`loss_and_accuracy`, plus the predicted class of every row, (n,) int64 on the host,
    from the same forward pass."""
    return _score(params, data, num_classes, batch_size, network, keep_predictions=True)


def _score(params, data: DeviceSplit, num_classes: int, batch_size: int, network, keep_predictions: bool):
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
