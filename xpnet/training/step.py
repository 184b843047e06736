"""The training step, written once: every run calls it, eagerly per batch or compiled.

One step is a function of arrays::

    step(carry, data, rows, codes, c) -> carry
    carry = (params, optimizer state, loss sum, correct count)

It gathers the batch's rows of the data (``xp.take``; ``rows`` None: the data as given),
shifts its images and makes its dropout factors from the epoch's codes (each batch's rows of
them, in ``codes``), runs the forward pass, the loss and the hand-written backward pass
(:func:`xpnet.nn.network.loss_and_grads`), and the optimiser's arithmetic
(:meth:`update`, with the step's coefficients ``c``: a dict of Python floats eagerly, of 0-d
arrays when compiled). :mod:`xpnet.training.epoch` calls it batch after batch;
:mod:`xpnet.training.compiled` hands the very same function to ``jax.jit`` (inside a
``lax.scan`` over the epoch) or ``torch.compile``.
"""

from __future__ import annotations

from dataclasses import dataclass

from array_api_compat import array_namespace

from ..arguments import shown
from ..nn.architecture import Architecture
from ..nn.augment import EpochShifts
from ..nn.dropout import EpochDropout
from ..nn.network import loss_and_grads
from ..nn.ops import count_correct

# What the step calls on its optimiser (every optimiser of xpnet.nn.optim has them).
OPTIMIZER_METHODS = ("state_for", "coefficients", "update", "adopt")


@dataclass(frozen=True)
class Step:
    """The batch body of a run's epoch: ``optimizer`` (its hyperparameters; the state travels in
    the carry), ``network`` (an :class:`~xpnet.nn.architecture.Architecture`; None: the MLP of the
    parameters), and the epoch's ``dropout`` (an :class:`~xpnet.nn.dropout.EpochDropout`) and
    ``shifts`` (an :class:`~xpnet.nn.augment.EpochShifts`), of which the step uses the settings;
    their per-row codes arrive in ``codes``: the dropout layers' (m, h) first, then the shifts' (m, 2).
    """

    optimizer: object
    network: object = None
    dropout: object = None
    shifts: object = None

    def __post_init__(self):
        """TypeError naming the field that cannot take part in a step, now rather than inside a batch."""
        if not all(callable(getattr(self.optimizer, method, None)) for method in OPTIMIZER_METHODS):
            raise TypeError(f"Step's optimizer must be an optimiser of xpnet.nn.optim (SGD(0.1), Adam(0.001)...), "
                            f"got {shown(self.optimizer)}")
        for name, kind in (("network", Architecture), ("dropout", EpochDropout), ("shifts", EpochShifts)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"Step's {name} must be an {kind.__module__}.{kind.__name__} or None, "
                                f"got {shown(value)}")

    def __call__(self, carry, data, rows, codes, c):
        """``carry`` after one step on the batch ``rows`` (m,) of ``data`` ``(X, Y, y)``."""
        params, state, loss_sum, correct = carry
        xp = array_namespace(data[0])
        X, Y, y = data if rows is None else (xp.take(array, rows, axis=0) for array in data)
        layers = self.dropout_layers
        if self.shifts is not None:
            X = self.shifts.apply(X, codes[layers], xp=xp)
        dropout = None if self.dropout is None else self.dropout.factors(codes[:layers], X.dtype, xp)
        loss, logits, grads = loss_and_grads(params, X, Y, scale=c.get("scale", 1.0), dropout=dropout,
                                             network=self.network)
        params, state = self.optimizer.update(params, grads, state, c, xp=xp)
        return params, state, loss_sum + loss, correct + count_correct(logits, y, xp=xp)

    @property
    def dropout_layers(self) -> int:
        """How many of ``codes`` are dropout codes (one per hidden layer with dropout)."""
        return 0 if self.dropout is None else len(self.dropout.codes)

    def codes(self, start: int, stop: int) -> tuple:
        """The per-row codes of rows ``start:stop`` of the epoch: dropout layers', then the shifts'."""
        dropout = () if self.dropout is None else tuple(self.dropout.rows(start, stop))
        return dropout + (() if self.shifts is None else (self.shifts.rows(start, stop),))

    def epoch_codes(self) -> tuple:
        """The whole epoch's per-row codes, in the order of :meth:`codes`."""
        dropout = () if self.dropout is None else tuple(self.dropout.codes)
        return dropout + (() if self.shifts is None else (self.shifts.codes,))
