"""One epoch, eagerly: :class:`~xpnet.training.step.Step` called batch after batch.

Data live on the device (:class:`~xpnet.training.device_data.DeviceSplit`); an epoch gathers
its batches there and keeps its totals there (:class:`EpochTotals`), so no step waits for the
host. :class:`~xpnet.training.compiled.CompiledEpochs` trains the same epoch with the same step,
compiled, and takes the same arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ..arguments import shown
from ..backend import to_numpy
from ..nn.checks import whole
from .device_data import DeviceSplit
from .step import Step


@dataclass
class EpochTotals:
    """Running totals of an epoch: summed loss (0-d, the run's dtype) and correct count
    (0-d int64) on the device; examples ``seen`` and ``steps`` done, on the host. An eager epoch
    keeps them current after each step without reading them (:meth:`read` waits for the device)."""

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
class EpochPlan:
    """What an epoch follows besides its step, each optional: ``order`` (n,) int64 on the device,
    its permutation (None: the data in their order); ``lr_at(step)``, the learning rate of each of
    its steps (a schedule; None: the optimiser's ``lr``); ``totals`` of an epoch stopped part-way,
    which it continues at its next step."""

    order: object = None
    lr_at: Callable[[int], float] | None = None
    totals: EpochTotals | None = None

    def __post_init__(self):
        if self.lr_at is not None and not callable(self.lr_at):
            raise TypeError(f"EpochPlan's lr_at must be a function of the step (a schedule's) or None, "
                            f"got {shown(self.lr_at)}")
        if self.totals is not None and not isinstance(self.totals, EpochTotals):
            raise TypeError(f"EpochPlan's totals must be the EpochTotals of an unfinished epoch or None, "
                            f"got {shown(self.totals)}")


@dataclass
class EpochHooks:
    """What a run's tooling may ask of an epoch, beside the math; each is optional.

    ``stop()`` is asked between steps (a host flag, never the device): yes ends the epoch
    early, unfinished (Ctrl-C). ``on_step(params, totals)`` is called after each step with the
    parameters it left and the epoch's :class:`EpochTotals` so far (a progress bar, an extension's ``step_end``).
    ``max_steps`` ends the epoch once its step count (those of ``totals`` carried in included)
    reaches it, on purpose (a dry run); the epoch then reads as finished, and only its caller
    knows that it is not whole (``totals.steps`` < :func:`batch_count`).
    """

    stop: Callable[[], bool] | None = None
    on_step: Callable[[list, EpochTotals], None] | None = None
    max_steps: int | None = None


def train_epoch(step, params, data: DeviceSplit, batch_size: int | None, plan: EpochPlan | None = None,
                hooks: EpochHooks | None = None):
    """One pass over ``data`` with ``step`` (a :class:`~xpnet.training.step.Step`); returns
    ``(params, totals, finished)``, ``params`` as the optimiser left them.

    ``data`` needs its one-hot ``Y`` (:meth:`DeviceSplit.with_one_hot`); ``batch_size=None``
    (full batch) uses the data as they are. ``finished`` is False when ``hooks.stop()`` ended
    the epoch early.
    """
    check_epoch_arguments(step, params, data, batch_size, plan, hooks)
    plan, hooks, optimizer = plan or EpochPlan(), hooks or EpochHooks(), step.optimizer
    n = data.size
    step_size = n if batch_size is None else min(batch_size, n)
    totals = plan.totals if plan.totals is not None else EpochTotals.zeros(data.X)
    carry = (params, optimizer.state_for(params), totals.loss_sum, totals.correct)
    finished = True
    for start in range(totals.steps * step_size, n, step_size):
        if hooks.max_steps is not None and totals.steps >= hooks.max_steps:
            break
        if hooks.stop is not None and hooks.stop():
            finished = False
            break
        if plan.lr_at is not None:
            optimizer.lr = plan.lr_at(totals.steps)
        stop = min(start + step_size, n)
        rows = None if plan.order is None else plan.order[start:stop]
        batch = (data.X, data.Y, data.y) if rows is not None else (
            data.X[start:stop, :], data.Y[start:stop, :], data.y[start:stop])
        carry = step(carry, batch, rows, step.codes(start, stop), optimizer.coefficients(optimizer.lr,
                                                                                           optimizer.steps + 1))
        optimizer.adopt(carry[1], optimizer.steps + 1)
        totals.loss_sum, totals.correct = carry[2], carry[3]  # device scalars, not read
        totals.seen += stop - start
        totals.steps += 1
        if hooks.on_step is not None:
            hooks.on_step(carry[0], totals)
    params, _, totals.loss_sum, totals.correct = carry
    return params, totals, finished


def check_epoch_arguments(step, params, data, batch_size, plan, hooks) -> None:
    """TypeError or ValueError naming the argument of an epoch (eager or compiled) that it cannot
    take, before its first step rather than deep inside one."""
    for name, value, kind in (("step", step, Step), ("data", data, DeviceSplit),
                              ("plan", plan, EpochPlan), ("hooks", hooks, EpochHooks)):
        optional = name in ("plan", "hooks")
        if not isinstance(value, kind) and not (optional and value is None):
            raise TypeError(f"{name} must be an {kind.__module__}.{kind.__name__}{' or None' if optional else ''}, "
                            f"got {shown(value)}")
    pairs = isinstance(params, (list, tuple)) and params and all(isinstance(pair, (list, tuple)) and len(pair) == 2
                                                                 for pair in params)
    if not pairs:
        raise TypeError(f"params must be a list of (W, b) pairs, one a layer, got {shown(params)}")
    if data.Y is None:
        raise ValueError("train_epoch needs the one-hot labels: pass data.with_one_hot(num_classes)")
    if batch_size is not None:
        whole("batch_size", batch_size, 1)
    order = None if plan is None else plan.order
    if order is not None and tuple(getattr(order, "shape", ())) != (data.size,):
        got = f"shape {tuple(order.shape)}" if hasattr(order, "shape") else shown(order)
        raise ValueError(f"plan.order must be a permutation of the data's {data.size} rows, an array of shape "
                         f"({data.size},), got {got}")
