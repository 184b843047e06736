"""Compiled training: the epoch of :func:`xpnet.training.epoch.train_epoch`, with the same
:class:`~xpnet.training.step.Step` traced once by the library's compiler (``jax.jit``,
``torch.compile``) instead of run operation by operation.

The compiler wraps the step a reader checks by hand; it does not restate it. What changes is
how the step is called:

- Everything that varies from step to step enters as arrays: the batch's rows of the epoch's
  permutation, its dropout codes and image shifts, and the optimiser's coefficients (learning rate from the
  schedule, bias corrections from the step count), computed on the host in Python floats for
  the whole epoch and moved in one transfer. Nothing retraces when the learning rate changes.
- With JAX the epoch is one call: a ``lax.scan`` over its full batches, then the last,
  partial batch, in one compiled function whose parameter, optimiser-state and totals
  buffers are donated. With PyTorch, one compiled call per batch.
- Compilations are counted (:attr:`CompiledEpochs.compilations`): one per epoch shape with
  JAX (one more when a run resumes inside an epoch or a dry run stops after a step), one per
  batch shape with PyTorch (a full batch and the last, partial one).

With JAX a compiled epoch cannot stop between its steps: Ctrl-C is answered at the end of the
epoch (a second Ctrl-C at once); with PyTorch between steps, as eagerly. A compilation runs in a
worker thread while the run waits in Python, so a signal stops the run at once, before the epoch's
first step, even while the compiler's C++ code holds back signal handlers for minutes.
"""

from __future__ import annotations

import threading
from typing import Callable, NamedTuple

import numpy as np
from array_api_compat import array_namespace

from ..backend import Backend
from ..nn.network import loss_and_grads
from .device_data import DeviceSplit
from .epoch import EpochHooks, EpochPlan, EpochTotals, batch_count, check_epoch_arguments
from .interrupt import end_at_exit_unless
from .step import Step

LONG_COMPILATION_LAYERS = 16  # from this many layers on, a run says that compiling takes a while
_LOOK_UP_SECONDS = 0.02  # how often a run waiting for a compilation lets signal handlers run


class CompiledEpochs:
    """:func:`~xpnet.training.epoch.train_epoch` with its step compiled by ``backend``'s compiler; one per run.

    Called as ``train_epoch`` is, it trains the same steps in the same order with the same
    :class:`~xpnet.training.step.Step`. The ``params`` passed in must not be used again (JAX
    reuses their buffers): keep the ones returned.
    """

    def __init__(self, backend: Backend, say: Callable[[str], None] | None = None):
        self.backend = backend
        self.compiler = backend.compiler()
        self.say = say if say is not None else (lambda line: None)
        self.epoch_running = False  # a compiled epoch runs (JAX: one call, not stopped part-way)
        self.signalled = False  # a signal came: a compilation under way is left at once
        self._compiled: dict = {}
        self.calls = 0

    def answer_signal(self) -> str | None:
        """Called by the run when its first signal arrives: what the run does now, to print, while a
        compiled JAX epoch runs; at any other moment None, and a compilation under way is left at once."""
        if self.epoch_running and self.compiler.scan is not None:
            return ("the run stops at the end of this compiled epoch, with a checkpoint; "
                    "a second signal (Ctrl-C again) stops it at once, without one")
        self.signalled = True
        return None

    @property
    def compilations(self) -> int:
        """Traces compiled so far by this run."""
        return self.compiler.compilations

    def __call__(self, step: Step, params, data: DeviceSplit, batch_size: int | None, plan: EpochPlan | None = None,
                 hooks: EpochHooks | None = None):
        """One pass over ``data``, compiled; returns ``(params, totals, finished)`` as
        :func:`~xpnet.training.epoch.train_epoch` does."""
        check_epoch_arguments(step, params, data, batch_size, plan, hooks)
        plan, hooks, optimizer = plan or EpochPlan(), hooks or EpochHooks(), step.optimizer
        n = data.size
        step_size = n if batch_size is None else min(batch_size, n)
        totals = plan.totals
        if totals is None:  # made on the host and moved explicitly: no implicit transfer
            totals = EpochTotals(self.backend.asarray(np.zeros((), dtype=np.float64), dtype=data.X.dtype),
                                 self.backend.asarray(np.zeros((), dtype=np.int64)))
        first = totals.steps
        stop = batch_count(n, step_size) if hooks.max_steps is None else min(batch_count(n, step_size),
                                                                              max(first, hooks.max_steps))
        if first >= stop:
            return params, totals, True
        if hooks.stop is not None and hooks.stop():
            return params, totals, False
        rates = [optimizer.lr if plan.lr_at is None else plan.lr_at(index) for index in range(first, stop)]
        names, coefficients = self._coefficients(optimizer, rates, data.X.dtype)
        epoch = _Epoch(first, stop, step_size, n, plan.order is None)
        key = (epoch, names, _dropout_key(step.dropout), _shifts_key(step.shifts), type(optimizer),
               _hyperparameters(optimizer), step.network)
        if key not in self._compiled:
            if not self._warmed_up(params, data, step):
                return params, totals, False  # a signal while the operations warmed up: no step done
            self._compiled[key] = self._build(step, names, epoch, array_namespace(data.X))
        carry = (params, optimizer.state_for(params), totals.loss_sum, totals.correct)
        try:
            carry, done = self._compiled[key](carry, (data.X, data.Y, data.y), plan.order, step.epoch_codes(),
                                              coefficients, hooks.stop)
            params, state, totals.loss_sum, totals.correct = carry
            self.compiler.wait(totals.loss_sum)  # in Python, so that a second Ctrl-C acts at once
        finally:
            self.epoch_running = False
        optimizer.adopt(state, optimizer.steps + done)
        optimizer.lr = rates[done - 1] if done else optimizer.lr
        totals.seen += min((first + done) * step_size, n) - first * step_size
        totals.steps = first + done
        if hooks.on_step is not None:
            for _ in range(done):  # after the call: each sees the epoch's last parameters and totals
                hooks.on_step(params, totals)
        return params, totals, first + done == stop

    def _warmed_up(self, params, data: DeviceSplit, step: Step) -> bool:
        """Before a new compilation: say so when it will be long, and run :func:`_warm_up`; False
        when a signal came first."""
        if not self._compiled and len(params) >= LONG_COMPILATION_LAYERS:
            self.say(f"compiling the training step ({len(params)} layers; this can take a while)")
        return self._while_signals_are_answered(lambda: _warm_up(params, data, step)) is not None

    def _coefficients(self, optimizer, rates: list[float], dtype):
        """The optimiser's coefficients of the coming steps, (names, (len(names), steps) array on the device)."""
        rows = [optimizer.coefficients(rate, optimizer.steps + 1 + offset) for offset, rate in enumerate(rates)]
        names = tuple(sorted(rows[0]))
        table = np.array([[row[name] for row in rows] for name in names], dtype=np.float64)
        return names, self.backend.asarray(table, dtype=dtype)

    def _build(self, step: Step, names, epoch: "_Epoch", xp):
        """The compiled function that runs steps ``epoch.first`` to ``epoch.stop`` of an epoch: ``step``
        with its coefficients as arrays (one row of the epoch's table each)."""

        def compiled_step(carry, data_arrays, rows, codes, c):
            return step(carry, data_arrays, rows, codes, {name: c[index] for index, name in enumerate(names)})

        if self.compiler.scan is None:
            return self._step_by_step(compiled_step, epoch)
        return self._one_call(compiled_step, epoch, xp)

    def _one_call(self, step, epoch: "_Epoch", xp):
        """An epoch as one compiled call: its full batches scanned, then the last, partial one."""
        first, stop, step_size, n, whole_data = epoch
        full = (min(stop * step_size, n) - first * step_size) // step_size
        partial = stop * step_size > n
        scan = self.compiler.scan

        def batches(array, begin, finish, count):
            part = array[begin:finish, ...]
            return xp.reshape(part, (count, step_size, *part.shape[1:]))

        def whole_epoch(carry, data_arrays, order, codes, coefficients):
            start, end = first * step_size, (first + full) * step_size
            if full:
                rows = None if whole_data else batches(order, start, end, full)
                xs = (rows, tuple(batches(layer, start, end, full) for layer in codes),
                      xp.permute_dims(coefficients[:, :full], (1, 0)))
                carry, _ = scan(lambda carry, x: (step(carry, data_arrays, *x), None), carry, xs)
            if partial:
                rows = None if whole_data else order[end:n]
                carry = step(carry, data_arrays, rows, tuple(layer[end:n, :] for layer in codes),
                             coefficients[:, full])
            return carry

        compiled = self.compiler.compile(whole_epoch, donate=(0,))
        ahead = self.compiler.ahead or (lambda function, *args: function)
        executable = []

        def call(carry, data_arrays, order, codes, coefficients, stop_requested):
            args = (carry, data_arrays, order, codes, coefficients)
            if not executable:
                compiled_ahead = self._while_signals_are_answered(lambda: ahead(compiled, *args))
                if compiled_ahead is None:  # a signal while it compiled: no step done
                    return carry, 0
                executable.append(compiled_ahead)
            self.calls += 1
            self.epoch_running = True
            return executable[0](*args), stop - first  # one call: no stop part-way

        return call

    def _step_by_step(self, step, epoch: "_Epoch"):
        """An epoch as one compiled call per batch (a library without ``scan``)."""
        first, stop, step_size, n, whole_data = epoch
        compiled = self.compiler.compile(step)
        compiled_sizes = set()  # the first call with a batch of a new size compiles

        def steps(carry, data_arrays, order, codes, coefficients, stop_requested):
            for offset, index in enumerate(range(first, stop)):
                if offset and stop_requested is not None and stop_requested():  # between steps, as eagerly
                    return carry, offset
                start, end = index * step_size, min((index + 1) * step_size, n)
                rows = None if whole_data else order[start:end]
                args = (carry, data_arrays, rows, tuple(layer[start:end, :] for layer in codes),
                        coefficients[:, offset])
                if end - start in compiled_sizes:
                    carry = compiled(*args)
                else:
                    carry = self._while_signals_are_answered(lambda: compiled(*args))
                    if carry is None:  # a signal while it compiled: this step not done
                        return args[0], offset
                    compiled_sizes.add(end - start)
                self.calls += 1
            return carry, stop - first

        return steps

    def _while_signals_are_answered(self, work):
        """``work()`` (a compilation) run in a worker thread while this one waits in Python, where
        signal handlers run: its result, or None once a signal came (the worker is left behind)."""
        outcome, finished = {}, threading.Event()

        def compile_in_the_worker():
            try:
                with self.backend.activate():  # JAX's device scope belongs to a thread
                    outcome["value"] = work()
            except BaseException as error:  # raised again in the waiting thread
                outcome["error"] = error
            finally:
                finished.set()

        if self.signalled:  # it came already (during the warm-up step, or between steps)
            return None
        try:
            threading.Thread(target=compile_in_the_worker, name="xpnet compilation", daemon=True).start()
            while not finished.wait(_LOOK_UP_SECONDS):
                if self.signalled:
                    end_at_exit_unless(finished)
                    return None
        except BaseException:  # a second Ctrl-C, even while the worker starts: the same, raised at once
            end_at_exit_unless(finished)
            raise
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


def _warm_up(params, data: DeviceSplit, step: Step) -> bool:
    """One eager step's gradients (no update), so that the constants the operations keep (ReLU's
    zero, a convolution's patch indices) exist before a trace, which must not create them; True."""
    xp = array_namespace(data.X)
    loss_and_grads(params, data.X[:1, :], data.Y[:1, :], network=step.network)
    if step.shifts is not None:
        step.shifts.apply(data.X[:1, :], step.shifts.rows(0, 1), xp=xp)
    return True


class _Epoch(NamedTuple):
    """The steps ``first`` to ``stop`` of an epoch of ``n`` examples in batches of ``step_size``;
    ``whole_data``: no permutation (the data in their order)."""

    first: int
    stop: int
    step_size: int
    n: int
    whole_data: bool


def _dropout_key(dropout):
    return None if dropout is None else (dropout.threshold, dropout.scale, len(dropout.codes))


def _shifts_key(shifts):
    return None if shifts is None else (shifts.shift, shifts.image_shape)


def _hyperparameters(optimizer) -> tuple:
    """The optimiser's constant settings, which a trace bakes in (the learning rate is not one)."""
    return tuple(sorted((name, value) for name, value in vars(optimizer).items()
                        if isinstance(value, float) and name != "lr"))
