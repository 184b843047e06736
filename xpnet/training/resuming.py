"""Resuming: a checkpoint's state put back into a run, checked first, and the epoch it stopped in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint
from .checkpoint_folder import BEST_NAME, INTERRUPTED_BEST_NAME, INTERRUPTED_NAME
from .epoch import EpochTotals, batch_count
from .run_state import RunState, warn

IN_PROGRESS_KEYS = ("epoch_rng_state", "steps", "seen", "loss_sum", "correct", "seconds")


def restore(run: RunState, checkpoint: Checkpoint) -> list:
    """Put ``checkpoint``'s optimiser state, generator, history and position into ``run``; its parameters."""
    _check_resumable(checkpoint, run.resumed_from, run)
    try:
        run.optimizer.load_state_dict(checkpoint.optimizer_state, run.backend.asarray)
    except ValueError as error:
        raise CheckpointError(f"the checkpoint's optimiser state does not fit --optimizer {run.config.optimizer} "
                              f"({error}); resume with the optimiser it was trained with") from None
    run.rng.bit_generator.state = checkpoint.rng_state
    run.history, run.first_epoch = list(checkpoint.history), checkpoint.epoch + 1
    run.seconds_dropped = checkpoint.progress.get("train_seconds", run.train_seconds()) - run.train_seconds()
    run.in_progress = checkpoint.in_progress
    return checkpoint.params


def continued_totals(run: RunState) -> tuple[EpochTotals | None, float]:
    """The totals and seconds of the epoch a resumed run stopped in (None, 0.0 for a fresh epoch);
    rewinds the generator to that epoch's start so it draws the same permutation and masks."""
    if run.in_progress is None:
        return None, 0.0
    state, run.in_progress = run.in_progress, None
    run.rng.bit_generator.state = state["epoch_rng_state"]
    totals = EpochTotals(run.backend.asarray(np.asarray(state["loss_sum"], dtype=run.config.dtype)),
                         run.backend.asarray(np.asarray(state["correct"], dtype=np.int64)),
                         state["seen"], state["steps"])
    return totals, state["seconds"]


def kept_best(run: RunState) -> Checkpoint | None:
    """A resumed run's best epoch so far, from ``best.npz`` in its checkpoint folder (None if not kept)."""
    epoch = run.watch.best_epoch
    if epoch is None:
        return None
    if run.outputs.checkpoint_dir:
        path = Path(run.outputs.checkpoint_dir) / BEST_NAME
    elif run.resumed_from is not None and run.resumed_from.name == INTERRUPTED_NAME:
        path = run.resumed_from.parent / INTERRUPTED_BEST_NAME
    else:
        path = None
    try:
        best = load_checkpoint(path) if path is not None and path.is_file() else None
    except CheckpointError:
        best = None
    if best is None or best.epoch != epoch or not best.history or run.watch.monitor not in best.history[-1]:
        warn(f"the weights of the best epoch so far ({epoch}) were not kept (no {path or BEST_NAME} of that "
             "epoch); the best epoch from here on will be")
        return None
    return best


def _check_resumable(checkpoint: Checkpoint, path, run: RunState) -> None:
    """CheckpointError unless ``checkpoint`` holds what continuing its run needs: its generator, its
    history's seconds (and dev metric, when the run watches it), and a place inside an epoch of this
    run's data (loading checked their types and ranges)."""
    missing = ["rng_state"] if checkpoint.rng_state is None else []
    if checkpoint.in_progress is not None:
        missing += [f"in_progress.{key}" for key in IN_PROGRESS_KEYS if key not in checkpoint.in_progress]
    needed = ["seconds"] + ([run.config.monitor] if run.config.early_stopping or run.config.keep_best else [])
    for key in needed:
        lacking = next((record["epoch"] for record in checkpoint.history if key not in record), None)
        if lacking is not None:
            missing.append(f"the {key!r} of its history's epoch {lacking}")
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it lacks {', '.join(missing)}; resume from a checkpoint "
                              "written by --checkpoint-dir or Ctrl-C")
    if checkpoint.in_progress is not None:
        _check_place_in_epoch(checkpoint, path, run)


def _check_place_in_epoch(checkpoint: Checkpoint, path, run: RunState) -> None:
    """CheckpointError unless the steps and examples a run stopped inside an epoch at fit this run's epochs."""
    steps, seen = checkpoint.in_progress["steps"], checkpoint.in_progress["seen"]
    train_size = run.data.train.size
    step_size = run.batch_size or train_size
    steps_per_epoch = batch_count(train_size, run.batch_size)
    if steps > steps_per_epoch or seen != min(steps * step_size, train_size):
        raise CheckpointError(f"{path} cannot be resumed: its in_progress.steps and .seen ({steps:,} step(s), "
                              f"{seen:,} example(s) into epoch {checkpoint.epoch + 1}) do not fit this run's epochs of "
                              f"{steps_per_epoch:,} step(s) of {step_size:,} of {train_size:,} examples; the file "
                              "was edited, or the data differ from the run's")
