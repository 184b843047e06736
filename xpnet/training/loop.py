"""The training loop, in one screen: epochs of steps, with extensions called at fixed points.

:func:`train` is all of it. Everything else a run does (checkpoints, the metrics file, the
best epoch and early stopping, the divergence check, dev metrics, what it prints, signals)
is an :class:`Extension`, in :mod:`xpnet.training.extensions`, called at these points::

    run_start                      once, data and model ready
    for each epoch left:
        epoch_start
        steps                      step_end after each, for extensions with per_step = True
        epoch_end(record)          in the order of the list; one may set run.stop_reason
    run_end(summary)               after the test split is scored
    interrupted(stop)              instead, when a signal stopped the run at a safe point

:func:`xpnet.fit` assembles the extensions; pass your own with ``fit(extensions=[...])``.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from array_api_compat import array_namespace

from ..nn.augment import EpochShifts
from ..nn.dropout import EpochDropout
from .epoch import EpochHooks, EpochPlan
from .final_test import FitResult, score_test_split
from .interrupt import Interrupted, signal_name
from .resuming import continued_totals
from .run_state import RunState
from .step import Step


class TrainingInterrupted(Interrupted):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run at a safe point; the message says
    where its checkpoint is and how to resume."""


class Extension:
    """Tooling hung on :func:`train`: override the hook points you need (each does nothing here).

    Each hook gets the :class:`~xpnet.training.run_state.RunState`; ``record`` is the epoch's
    metrics (a dict, already last in ``run.history``) and ``summary`` the run's last record
    (test metrics, settings). An extension may add keys to ``record`` and may end the run after
    this epoch by setting ``run.stop_reason``. ``step_end`` is called only when ``per_step`` is
    True, with ``run.params`` as the step left them and ``run.epoch_totals`` the epoch's running
    totals (device scalars: reading them makes the step wait for the device); a compiled epoch
    calls it for each of its steps once the epoch is done, each with the epoch's last parameters and totals.
    """

    per_step = False

    def run_start(self, run: RunState) -> None: ...

    def epoch_start(self, run: RunState, epoch: int) -> None: ...

    def step_end(self, run: RunState) -> None: ...

    def epoch_end(self, run: RunState, record: dict) -> None: ...

    def interrupted(self, run: RunState, stop: "Stop") -> None: ...

    def run_end(self, run: RunState, summary: dict) -> None: ...


@dataclass
class Stop:
    """Where a signal stopped a run: after epoch ``epoch``, or inside it (``in_progress``: its
    steps so far). The checkpoint extension fills in ``checkpoint`` and ``resume``; it comes after
    a user's extensions, whose ``interrupted`` hooks see them empty (the TrainingInterrupted
    message names them)."""

    signum: int
    epoch: int
    in_progress: dict | None = None
    checkpoint: Path | None = None
    resume: str = ""


def train(run: RunState, extensions: list[Extension], signals) -> FitResult:
    """Train ``run`` from ``run.first_epoch`` to ``run.epochs`` (``signals()``: stop now?), then test it."""
    for extension in extensions:
        extension.run_start(run)
    for epoch in range(run.first_epoch, run.epochs + 1):
        if run.stop_reason is not None:
            break
        record = _train_one_epoch(run, epoch, extensions, signals)
        run.history.append(record)
        for extension in extensions:
            extension.epoch_end(run, record)
        if signals.signum is not None:  # it came during the epoch's last step, or a compiled epoch
            _stop(run, extensions, Stop(signals.signum, epoch))
        if run.config.dry_run:
            break
    result = score_test_split(run)
    if signals.signum is not None:  # it came while the test split was scored
        _stop(run, extensions, Stop(signals.signum, run.epochs_done))
    for extension in extensions:
        extension.run_end(run, result.summary)
    return result


def _train_one_epoch(run: RunState, epoch: int, extensions: list[Extension], signals) -> dict:
    """Epoch ``epoch`` (or the rest of the one a resumed run stopped in), and its record."""
    totals, seconds_before = continued_totals(run)
    epoch_rng_state = run.rng.bit_generator.state
    started = time.perf_counter()  # an epoch's time counts its draws (permutation, masks, shifts) too
    step, plan = _draws(run, epoch, totals)
    for extension in extensions:
        extension.epoch_start(run, epoch)
    per_step = [extension for extension in extensions if extension.per_step]

    def step_end(params, totals):
        run.params = params  # those the step left: the run's own may be spent (JAX donates them)
        run.epoch_totals = totals
        for extension in per_step:
            extension.step_end(run)
    # A dry run takes one step from where the run stands (a resumed run: inside its epoch).
    hooks = EpochHooks(stop=signals, on_step=step_end if per_step else None,
                       max_steps=(totals.steps if totals else 0) + 1 if run.config.dry_run else None)
    run.params, totals, finished = run.epoch_function(step, run.params, run.data.train, run.batch_size, plan, hooks)
    loss_sum, correct, run.params_sum = totals.read(_params_sum(run.params))
    seconds = seconds_before + time.perf_counter() - started
    if not finished:
        _stop(run, extensions, Stop(signals.signum or signal.SIGINT, epoch, {
            "epoch_rng_state": epoch_rng_state, "steps": totals.steps, "seen": totals.seen,
            "loss_sum": loss_sum, "correct": int(correct), "seconds": seconds}))
    return {"epoch": epoch, "lr": run.schedule.lr_at(epoch - 1, 0), "train_loss": loss_sum / totals.seen,
            "train_accuracy": correct / totals.seen, "seconds": seconds,
            "examples_per_second": totals.seen / seconds if seconds > 0 else math.inf}


def _draws(run: RunState, epoch: int, totals) -> tuple[Step, EpochPlan]:
    """The epoch's step and plan, drawn from the run's generator in this order: the permutation,
    the dropout codes, the shifts (the same draws on every backend, and again when resumed)."""
    config, train = run.config, run.data.train
    order = None if run.batch_size is None else run.backend.asarray(run.rng.permutation(train.size))
    hidden = run.network.hidden_units
    dropout = (EpochDropout(run.rng, train.size, hidden, config.dropout, run.backend.asarray)
               if config.dropout and hidden else None)
    shifts = (EpochShifts(run.rng, train.size, config.shift, run.network.image_shape, run.backend.asarray)
              if config.shift else None)
    plan = EpochPlan(order, lambda step: run.schedule.lr_at(epoch - 1, step), totals)
    return Step(run.optimizer, run.network, dropout, shifts), plan


def _stop(run: RunState, extensions: list[Extension], stop: Stop):
    """End the run stopped by a signal: its checkpoint written (none in a dry run), then TrainingInterrupted."""
    signal_text = signal_name(stop.signum)
    if run.config.dry_run:
        raise TrainingInterrupted(f"stopped by {signal_text} during a dry run, which writes nothing; "
                                  "nothing to resume", stop.signum)
    for extension in extensions:
        extension.interrupted(run, stop)
    where = (f"in epoch {stop.epoch} after {stop.in_progress['steps']} step(s)" if stop.in_progress
             else f"after epoch {stop.epoch} of {run.epochs}")
    raise TrainingInterrupted(f"stopped by {signal_text} {where}; checkpoint written to {stop.checkpoint}; "
                              f"to resume, {stop.resume}", stop.signum)


def _params_sum(params):
    """Sum of every parameter, a 0-d device array: not finite as soon as any parameter is not."""
    xp = array_namespace(params[0][0])
    total = xp.sum(params[0][0]) + xp.sum(params[0][1])
    for W, b in params[1:]:
        total = total + xp.sum(W) + xp.sum(b)
    return total
