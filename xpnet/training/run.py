"""``fit``: a whole run, as ``python -m xpnet.train`` and notebook users start it.

Loads the data, moves it to the device once, draws the initial weights on the host,
trains epoch by epoch with :func:`xpnet.training.loop.train_epoch`, reads the metrics
once per epoch, and keeps the run safe: outputs checked before the first step, a locked
checkpoint folder, exact resume (rerun the same command), Ctrl-C, SIGTERM and SIGHUP at
a safe point, a rescued model when a disk fills, and a clear stop when training diverges.
"""

from __future__ import annotations

import copy
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from array_api_compat import array_namespace

from .. import __version__
from ..arguments import a_path, a_switch, shown
from ..backend import Backend, cpu_flags, limit_threads, resolve, to_numpy
from ..data import Dataset, load_dataset
from ..errors import UsageError, XpnetError
from ..files import check_output_file, remove_temporaries_of
from ..inference.terminal import printable
from ..nn.architecture import Architecture
from ..nn.augment import EpochShifts, shift_size
from ..nn.checks import whole
from ..nn.dropout import EpochDropout
from ..nn.init import init_shaped
from .compiled import CompiledTraining
from .checkpoint import EXTENSIONS, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .checkpoint_folder import (BEST_NAME, INTERRUPTED_BEST_NAME, INTERRUPTED_NAME, check_checkpoint_folder,
                                check_not_xpnets, checkpoint_name, folder_identity, locked, prune,
                                remove_stale_temporaries)
from .config import Config, as_usage_errors
from .early_stopping import DevWatch
from .memory import check_fits, memory_line, run_bytes
from .interrupt import InterruptRequest, Interrupted, signal_name
from .loop import (
    DeviceSplit,
    EpochHooks,
    EpochTotals,
    batch_count,
    evaluate,
    images_to_device,
    labels_to_device,
    train_epoch,
)
from .metrics_log import MetricsLog
from .report import epoch_line, progress_bar, report_header
from .starting import Outputs, Start, plan

KEEP_CHECKPOINTS = 3
# A checkpoint carries the last HISTORY_KEPT epochs' records (the metrics file has them all), so
# writing one costs the same in epoch 10 and in epoch 10,000.
HISTORY_KEPT = 100


class TrainingInterrupted(Interrupted):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run at a safe point; the message says
    where its checkpoint is and how to resume."""


@dataclass
class FitResult:
    """What :func:`fit` returns: device parameters ``[(W, b), ...]``, per-epoch history, summary."""

    params: list
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    backend: Backend | None = None

    @property
    def test_accuracy(self) -> float:
        return self.summary["test_accuracy"]

    def host_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The parameters copied to the host as NumPy arrays."""
        return [(to_numpy(W), to_numpy(b)) for W, b in self.params]


def fit(config: Config | None = None, *, preset: str | None = None, dataset: Dataset | str | None = None,
        resume: str | Path | None = None, metrics_path: str | None = None, save_path: str | None = None,
        checkpoint_dir: str | None = None, checkpoint_every: int | None = None, restart: bool = False,
        log: Callable[[str], None] | None = print, progress: bool | None = None, **overrides) -> FitResult:
    """Train a network (an MLP, a CNN) as ``config`` (or ``preset`` plus keyword ``overrides``) says.

    ``dataset`` is a name or folder to load, or a :class:`xpnet.data.Dataset` in memory.
    ``save_path`` writes the final model; ``checkpoint_dir`` keeps the last checkpoints,
    one every ``checkpoint_every`` epochs (default 1). Run again with the same
    ``checkpoint_dir``, the same run continues from its newest usable checkpoint
    (``restart=True`` starts it over). ``resume`` continues from a checkpoint file or folder,
    with its settings, and the outputs inside its checkpoint folder when it lies in the folder
    that wrote it (others are named in a note); ``overrides`` that differ from its settings are refused,
    except those in :data:`xpnet.training.starting.MAY_CHANGE` (``epochs``, ``device``...).
    ``dry_run=True`` takes one step from where the run stands and writes and deletes nothing.
    ``log`` receives each line of the report (None for silence); ``progress`` shows a bar
    per epoch (default: on a terminal).
    Raises :class:`XpnetError` for expected failures (a diverging run included) and
    :class:`TrainingInterrupted` after Ctrl-C, SIGTERM or SIGHUP, once a checkpoint is written (a dry run
    writes none).
    """
    _check_arguments(config, dataset, log, checkpoint_every, metrics_path, save_path, checkpoint_dir, resume)
    _check_switches(config, overrides, restart, progress)
    if isinstance(dataset, (str, os.PathLike)):
        overrides["dataset"], dataset = os.fspath(dataset), None
    say = log if log is not None else (lambda line: None)
    if progress is None:
        progress = log is not None and sys.stderr.isatty()
    given = dict(metrics_path=metrics_path, save_path=save_path, checkpoint_dir=checkpoint_dir,
                 checkpoint_every=checkpoint_every)
    with ExitStack() as stack:
        locked_now = None
        _check_outputs(Outputs(metrics_path, save_path, checkpoint_dir))  # before --restart deletes anything
        if checkpoint_dir is not None:
            if Path(checkpoint_dir).is_dir():  # held before it is read, so no other run changes it meanwhile
                locked_now = stack.enter_context(locked(checkpoint_dir))
        start = plan(config, preset, overrides, resume, given, restart=restart,
                     dataset_in_memory=dataset is not None, skipped=_warn)
        if start.config.dry_run:  # it writes and deletes nothing: its outputs are checked, not claimed
            _check_outputs(start.outputs)
        else:
            _claim_outputs(start.outputs, stack, already_locked=locked_now)
        backend = _backend_for(start, overrides)
        _check_compiler(start, backend, overrides)
        for note in start.notes:
            say(note)
        interrupt = stack.enter_context(InterruptRequest())
        stack.enter_context(limit_threads(start.config.threads))
        stack.enter_context(backend.activate())
        return _fit(start, backend, dataset, say, progress, interrupt)


def _claim_outputs(outputs: Outputs, stack: ExitStack, already_locked) -> None:
    """Check every output before any work, lock the checkpoint folder (for as long as ``stack``),
    and remove the temporaries that killed writes of these outputs left."""
    _check_outputs(outputs)
    folder = outputs.checkpoint_dir
    if folder is not None:
        if already_locked is None or Path(folder).absolute() != already_locked:
            stack.enter_context(locked(folder))
        outputs.folder_id = folder_identity(folder)  # each checkpoint carries it: proof it lies in its folder
        remove_stale_temporaries(folder)
    for output in (outputs.save_path, outputs.metrics_path):
        if output is not None:
            remove_temporaries_of(output)


def _check_arguments(config, dataset, log, checkpoint_every, *paths) -> None:
    """UsageError for arguments of the wrong type, before they fail somewhere deeper."""
    if checkpoint_every is not None:
        with as_usage_errors():
            whole("checkpoint_every (--checkpoint-every)", checkpoint_every, 1)
    if config is not None and not isinstance(config, Config):
        raise UsageError(f"config must be an xpnet.Config, got {shown(config)}; pass a preset by name with preset=")
    if dataset is not None and not isinstance(dataset, (str, os.PathLike, Dataset)):
        raise UsageError(f"dataset must be a name, a folder or an xpnet.data.Dataset, got {shown(dataset)}")
    if not isinstance(dataset, Dataset):
        a_path("dataset", dataset, optional=True)
    if log is not None and not callable(log):
        raise UsageError(f"log must be a function taking a line (such as print) or None, got {shown(log)}")
    for flag, path in zip(("--metrics", "--save", "--checkpoint-dir", "--resume"), paths):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise UsageError(f"paths must be strings or os.PathLike, got {shown(path)}")
        if path is not None and not os.fspath(path).strip():
            raise UsageError(f"{flag} needs a path, and {os.fspath(path)!r} is none; give one, or leave {flag} out")
        a_path(flag, path, optional=True)


def _check_switches(config, overrides: dict, restart, progress) -> None:
    """UsageError for a switch that is not one, or for --restart with --dry-run (which deletes nothing)."""
    a_switch("restart", restart)
    a_switch("progress", progress, optional=True)
    if restart and (config.dry_run if config is not None else overrides.get("dry_run")):
        raise UsageError("--restart deletes the checkpoints of the folder's run, and a dry run writes and deletes "
                         "nothing; leave out --restart or --dry-run")


def _check_outputs(outputs: Outputs) -> None:
    """Refuse, before any work, an output that could not be written, or must not be: a file xpnet
    keeps for a run, one file for both --save and --metrics, a checkpoint folder that is a
    system or shared folder (exit status 2)."""
    if outputs.checkpoint_dir is not None:
        check_checkpoint_folder(outputs.checkpoint_dir, "--checkpoint-dir")
    if outputs.save_path is not None:
        check_output_file(outputs.save_path, "--save", EXTENSIONS)
        check_not_xpnets(outputs.save_path, "--save", outputs.checkpoint_dir)
    if outputs.metrics_path is not None:
        check_output_file(outputs.metrics_path, "--metrics")
        check_not_xpnets(outputs.metrics_path, "--metrics", outputs.checkpoint_dir)
    if outputs.save_path is not None and outputs.metrics_path is not None and _same_file(outputs.save_path,
                                                                                        outputs.metrics_path):
        raise UsageError(f"--save {outputs.save_path} and --metrics {outputs.metrics_path} name the same file, "
                         "and each would overwrite the other; give each its own")


def _same_file(first, second) -> bool:
    """Whether two paths name one file: the same path, links resolved, or two names (hard links) of it."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _backend_for(start: Start, overrides: dict) -> Backend:
    """The backend the run asks for; resuming, an unusable one says how to resume here instead."""
    config, checkpoint = start.config, start.checkpoint
    try:
        return resolve(config.backend, config.device)
    except XpnetError as error:
        if checkpoint is None or ("device" in overrides and "backend" in overrides):
            raise
        trained = f"--backend {checkpoint.config.get('backend')} --device {checkpoint.config.get('device')}"
        asked = f"--backend {config.backend} --device {config.device}"
        problem = ("which resuming keeps, and that is" if asked == trained
                   else f"which resuming keeps unless overridden, and {asked} is")
        raise type(error)(f"{start.path} was trained with {trained}, {problem} not usable here ({error}); "
                          f"to resume on this machine add {cpu_flags(config.backend)}") from None


def _check_compiler(start: Start, backend: Backend, overrides: dict) -> None:
    """Refuse ``--compile`` on a library that cannot compile, before any data is read; a resumed
    compiled run moved to such a library (without asking for --compile) goes on eagerly."""
    if not start.config.compile:
        return
    try:
        backend.compiler()
    except UsageError:
        if start.checkpoint is None or "compile" in overrides:
            raise
        start.config.compile = None
        start.notes.append(f"note: {start.path} was trained compiled; {backend.name} runs each operation as it is "
                           "called, so the run goes on eagerly")


def _warn(line: str) -> None:
    print(f"warning: {printable(line)}", file=sys.stderr, flush=True)  # a path in it may hold an escape sequence


@dataclass
class _Run:
    """Everything a run carries from one epoch to the next: its data on the device, its
    model and optimiser, its host generator, its history, where it stands and where it writes."""

    config: Config
    backend: Backend
    dataset: Dataset
    outputs: Outputs
    rng: np.random.Generator
    train: DeviceSplit
    dev: DeviceSplit | None
    test: DeviceSplit
    layer_sizes: list[int]
    batch_size: int | None
    optimizer: object
    schedule: object
    epochs: int
    params: list = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    first_epoch: int = 1
    in_progress: dict | None = None
    resumed_from: Path | None = None
    last_saved: Path | None = None
    watch: DevWatch | None = None
    best: Checkpoint | None = None
    seconds_dropped: float = 0.0  # training seconds of the epochs before those in ``history``
    arch: Architecture | None = None  # the network (an MLP's too)
    compiled: CompiledTraining | None = None  # None: the step runs eagerly, operation by operation
    memory: str = ""  # the header's line of what the run takes, of the memory available

    @property
    def train_epoch(self):
        """The epoch function this run trains with: compiled, or :func:`~xpnet.training.loop.train_epoch`."""
        return train_epoch if self.compiled is None else self.compiled.train_epoch

    def train_seconds(self) -> float:
        return self.seconds_dropped + sum(record["seconds"] for record in self.history)

    @property
    def epochs_done(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0

    def snapshot(self, epoch: int, in_progress: dict | None = None) -> Checkpoint:
        """The run after ``epoch`` epochs (and ``in_progress``: the steps of the next), on the host."""
        progress = {"train_seconds": self.train_seconds(), **({"watch": self.watch.state()} if self.watch else {})}
        history = copy.deepcopy(self.history[-HISTORY_KEPT:])
        return Checkpoint(params=[(to_numpy(W), to_numpy(b)) for W, b in self.params],
                          config=self.config.to_dict(), epoch=epoch, history=history,
                          rng_state=self.rng.bit_generator.state, optimizer_state=self.optimizer.state_dict(),
                          in_progress=in_progress, num_classes=self.dataset.num_classes,
                          image_shape=self.dataset.image_shape, outputs=self.outputs.to_dict(), progress=progress)


def _fit(start: Start, backend: Backend, dataset, say, progress: bool, interrupt: InterruptRequest) -> FitResult:
    """The run, step by step: data to the device, the model, then epoch after epoch, then the test."""
    config, checkpoint = start.config, start.checkpoint
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir, download=config.download)
    run = _start(start, backend, dataset, say)
    report_header(say, run)
    say(run.memory)
    if checkpoint is not None:
        say(f"resuming from {start.path}: epoch {checkpoint.epoch} of {run.epochs} done"
            + (f", {run.in_progress['steps']} step(s) into epoch {run.first_epoch}" if run.in_progress else ""))
        if checkpoint.epoch > run.epochs:
            say(f"note: the run has done {checkpoint.epoch} epochs, more than --epochs {run.epochs}: nothing to "
                "train; it is tested and saved as it is")
    metrics = MetricsLog(run.outputs.metrics_path, run.history) if run.outputs.metrics_path else None
    if metrics is not None and metrics.start_error is not None:
        _warn(f"{metrics.start_error}; training goes on, and the metrics are kept in every checkpoint")
    if config.dry_run:
        step = f"one step of epoch {run.first_epoch}" if run.first_epoch <= run.epochs else "no step (none is left)"
        say(f"dry run: {step}, then the test; no checkpoint, model or metrics file is written or deleted")
    interrupt.arm()
    if run.compiled is not None:
        interrupt.on_first_signal = run.compiled.answer_signal
    for epoch in range(run.first_epoch, run.epochs + 1):
        if run.watch is not None and run.watch.should_stop:
            break
        record = _train_one_epoch(run, epoch, interrupt, progress)
        _keep_epoch(run, record, metrics, say)
        if interrupt.signum is not None:  # it came while the epoch's last step, or a compiled epoch, ran
            _stop_after_epoch(run, epoch, interrupt.signum)
        if config.dry_run:
            break
    return _finish(run, metrics, say, interrupt)


def _start(start: Start, backend: Backend, dataset: Dataset, say) -> _Run:
    """The data on the device and the model: drawn afresh, or as the checkpoint left it."""
    config = start.config
    with as_usage_errors():
        shift_size(config.shift, dataset.image_shape)  # a shift as large as the image leaves nothing
    arch = config.network(dataset.image_shape, dataset.num_classes)
    if start.checkpoint is not None:  # before the memory check: an edited config may ask for huge layers
        _check_compatible(start.checkpoint, start.path, arch, config)
    memory = _check_memory(config, backend, dataset, arch)
    rng = np.random.default_rng(config.seed)
    train, dev, test = _device_splits(dataset, config, backend, rng)
    layer_sizes = [train.X.shape[1], *arch.hidden_units, dataset.num_classes]
    batch_size = None if config.batch_size is None or config.batch_size >= train.size else config.batch_size
    run = _Run(config, backend, dataset, start.outputs, rng, train, dev, test, layer_sizes, batch_size,
               config.make_optimizer(), config.make_schedule(batch_count(train.size, batch_size)),
               config.epochs, arch=arch, memory=memory)
    if config.compile or (config.compile is None and backend.compiles_by_default):
        run.compiled = CompiledTraining(backend, say)
    if start.checkpoint is None:
        host_params = init_shaped(arch.fans(), arch.param_shapes(), rng, config.init, config.bias_init, config.dtype)
    else:
        run.resumed_from = start.path
        host_params = _restore(run, start.checkpoint, say)
    run.params = [(backend.asarray(W), backend.asarray(b)) for W, b in host_params]
    if config.early_stopping or config.keep_best:
        kept = start.checkpoint.progress.get("watch") if start.checkpoint is not None else None
        run.watch = DevWatch.resumed(config.monitor, config.early_stopping, kept, run.history)
        run.best = _kept_best(run)
    if config.dry_run:  # its one step is no epoch: it must never replace a checkpoint, a model or metrics
        run.outputs = Outputs(checkpoint_every=start.outputs.checkpoint_every)
    return run


def _check_memory(config: Config, backend: Backend, dataset: Dataset, arch: Architecture) -> str:
    """UsageError, before anything is moved, when the run of ``arch`` cannot fit in the device's free
    memory; else the header's line saying how much it takes."""
    train, test = dataset.train_images.shape[0], dataset.test_images.shape[0]
    sizes = [int(np.prod(dataset.image_shape)), *arch.hidden_units, dataset.num_classes]
    # No batch holds more than its split: the train split (the dev split is cut from it), or the test split.
    parts = run_bytes(sizes, examples=train + test, batch=min(config.batch_size or train, train),
                      eval_batch=min(config.evaluation_batch(arch), max(train, test)),
                      itemsize=np.dtype(config.dtype).itemsize,
                      optimizer_slots=len(getattr(config.make_optimizer(), "slots", ())), network=arch)
    available = backend.available_bytes()
    check_fits(parts, available, f"{backend.name} {backend.device_name}")
    return memory_line(parts, available)


def _kept_best(run: _Run) -> Checkpoint | None:
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
        _warn(f"the weights of the best epoch so far ({epoch}) were not kept (no {path or BEST_NAME} of that "
              "epoch); the best epoch from here on will be")
        return None
    return best


def _restore(run: _Run, checkpoint: Checkpoint, say) -> list:
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
    planned = checkpoint.config.get("epochs")
    if (planned != run.config.epochs and checkpoint.epoch < run.config.epochs
            and (run.config.schedule != "constant" or run.config.warmup_epochs)):
        was = replace(run.config, epochs=planned).make_schedule(run.schedule.steps_per_epoch)
        step = (run.in_progress or {}).get("steps", 0)
        if checkpoint.epoch < planned:
            before = f"{was.lr_at(checkpoint.epoch, step):.3g} as planned"
        else:
            before = f"{was.lr_at(planned - 1, was.steps_per_epoch - 1):.3g} where the planned run ended"
        say(f"note: the {run.config.schedule} schedule was planned for {planned} epochs and now spans "
            f"{run.config.epochs}: the learning rate at epoch {run.first_epoch} is "
            f"{run.schedule.lr_at(checkpoint.epoch, step):.3g}, not {before}")
    return checkpoint.params


def _train_one_epoch(run: _Run, epoch: int, interrupt: InterruptRequest, progress: bool) -> dict:
    """Train epoch ``epoch`` (continuing one stopped part-way) and return its record; on a signal
    write the interrupted checkpoint and raise :class:`TrainingInterrupted`."""
    totals, seconds_before = _continued_totals(run)
    epoch_rng_state = run.rng.bit_generator.state
    # The epoch's time counts all of its work: its permutation, dropout masks and shifts, drawn and moved, too.
    started = time.perf_counter()
    order = None if run.batch_size is None else run.backend.asarray(run.rng.permutation(run.train.size))
    hidden = run.arch.hidden_units
    dropout = (EpochDropout(run.rng, run.train.size, hidden, run.config.dropout, run.backend.asarray)
               if run.config.dropout and hidden else None)
    shifts = (EpochShifts(run.rng, run.train.size, run.config.shift, run.arch.image_shape, run.backend.asarray)
              if run.config.shift else None)
    bar = progress_bar(progress, batch_count(run.train.size, run.batch_size), epoch, run.epochs)
    # A dry run takes one step from where the run stands (a resumed run: inside its epoch).
    hooks = EpochHooks(stop=interrupt, on_step=bar.update if bar is not None else None,
                       max_steps=(totals.steps if totals else 0) + 1 if run.config.dry_run else None)
    run.params, totals, finished = run.train_epoch(
        run.params, run.optimizer, run.train, run.batch_size, order, totals=totals, dropout=dropout, shifts=shifts,
        lr_at=lambda step: run.schedule.lr_at(epoch - 1, step), hooks=hooks, network=run.arch)
    loss_sum, correct, params_sum = totals.read(_params_sum(run.params))
    seconds = seconds_before + time.perf_counter() - started
    if bar is not None:
        bar.close()
    if not finished:
        _stop_interrupted(run, epoch, interrupt.signum or signal.SIGINT, {
            "epoch_rng_state": epoch_rng_state, "steps": totals.steps, "seen": totals.seen,
            "loss_sum": loss_sum, "correct": int(correct), "seconds": seconds})
    record = {"epoch": epoch, "lr": run.schedule.lr_at(epoch - 1, 0), "train_loss": loss_sum / totals.seen,
              "train_accuracy": correct / totals.seen, "seconds": seconds,
              "examples_per_second": totals.seen / seconds if seconds > 0 else float("inf")}
    if not (math.isfinite(record["train_loss"]) and math.isfinite(params_sum)):
        _diverged(epoch, record, run.history, run.config, run.last_saved)
    if run.dev is not None:
        record["dev_loss"], record["dev_accuracy"] = evaluate(run.params, run.dev, run.dataset.num_classes,
                                                              run.config.evaluation_batch(run.arch), network=run.arch)
    return record


def _continued_totals(run: _Run) -> tuple[EpochTotals | None, float]:
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


def _stop_interrupted(run: _Run, epoch: int, signum: int, in_progress: dict):
    _stop_dry_run(run, signum)
    path = _write_interrupted(run, run.snapshot(epoch - 1, in_progress))
    raise TrainingInterrupted(f"stopped by {signal_name(signum)} in epoch {epoch} after {in_progress['steps']} "
                              f"step(s); checkpoint written to {path}; to resume, {_resume_hint(run, path)}", signum)


def _stop_after_epoch(run: _Run, epoch: int, signum: int):
    """Stop with epoch ``epoch`` kept: in its own checkpoint if it just got one, else in the interrupted one."""
    _stop_dry_run(run, signum)
    folder = run.outputs.checkpoint_dir
    if folder and run.last_saved is not None and run.last_saved.name == checkpoint_name(epoch):
        path = run.last_saved
    else:
        path = _write_interrupted(run, run.snapshot(epoch))
    raise TrainingInterrupted(f"stopped by {signal_name(signum)} after epoch {epoch} of {run.epochs}; checkpoint "
                              f"written to {path}; to resume, {_resume_hint(run, path)}", signum)


def _stop_dry_run(run: _Run, signum: int) -> None:
    """A dry run stopped by a signal writes nothing: there is nothing to resume."""
    if run.config.dry_run:
        raise TrainingInterrupted(f"stopped by {signal_name(signum)} during a dry run, which writes nothing; "
                                  "nothing to resume", signum)


def _write_interrupted(run: _Run, checkpoint: Checkpoint) -> Path:
    """The interrupted checkpoint written (rescued if it cannot be), with the best epoch's beside it
    when there is no checkpoint folder (with one, best.npz already holds it); its path."""
    folder = run.outputs.checkpoint_dir
    path = _save_or_rescue(Path(folder or ".") / INTERRUPTED_NAME, checkpoint, run)
    if run.best is not None and folder is None:
        _save_or_warn(path.parent / INTERRUPTED_BEST_NAME, run.best, run)
    return path


def _resume_hint(run: _Run, path: Path) -> str:
    """How to resume: the same command, or --resume with the output flags spelled out (resuming
    adopts only outputs inside the checkpoint folder, and none without one)."""
    outputs = run.outputs
    flags = "".join(f" {flag} {shlex.quote(str(value))}" for flag, value in
                    (("--save", outputs.save_path), ("--metrics", outputs.metrics_path)) if value)
    resume = "python -m xpnet.train --resume "
    if outputs.checkpoint_dir is not None:
        return f"rerun the same command, or: {resume}{shlex.quote(outputs.checkpoint_dir)}{flags}"
    return f"{resume}{shlex.quote(str(path))}{flags}"


def _keep_epoch(run: _Run, record: dict, metrics: MetricsLog | None, say) -> None:
    """Add ``record`` to the history and the metrics file, print it, and checkpoint when it is time."""
    epoch, config, outputs = record["epoch"], run.config, run.outputs
    run.history.append(record)
    stopping = False
    if run.watch is not None:
        if run.watch.update(record):
            record["best"] = True
            run.best = run.snapshot(epoch)
            if outputs.checkpoint_dir:
                _save_or_warn(Path(outputs.checkpoint_dir) / BEST_NAME, run.best, run)
        stopping = run.watch.should_stop
    if metrics is not None:
        _append_metrics(metrics, record)
    if epoch % config.log_interval == 0 or epoch == run.epochs or stopping or config.dry_run:
        say(epoch_line(record, run.epochs, show_lr=config.schedule != "constant" or config.warmup_epochs > 0))
    if stopping:
        say(run.watch.stop_line())
    if outputs.checkpoint_dir and (epoch % outputs.checkpoint_every == 0 or epoch == run.epochs or stopping):
        saved = _save_or_warn(Path(outputs.checkpoint_dir) / checkpoint_name(epoch), run.snapshot(epoch), run)
        if saved is not None:
            run.last_saved = saved
            prune(outputs.checkpoint_dir, KEEP_CHECKPOINTS)
            _forget_interrupted(run, Path(outputs.checkpoint_dir) / INTERRUPTED_NAME)


def _save_or_warn(path: Path, checkpoint: Checkpoint, run: _Run) -> Path | None:
    """Save a checkpoint while training goes on; a failure (a full disk) is a warning, not the end of the run."""
    try:
        return save_checkpoint(path, checkpoint)
    except CheckpointError as error:
        kept = f"the last checkpoint is {run.last_saved}" if run.last_saved else "no checkpoint was written yet"
        _warn(f"{error}; training goes on ({kept})")
        return None


def _append_metrics(metrics: MetricsLog, record: dict) -> None:
    try:
        metrics.append(record)
    except XpnetError as error:
        _warn(f"{error}; training goes on, and the metrics are kept in every checkpoint")


def _forget_interrupted(run: _Run, path: Path) -> None:
    """Delete an interrupted checkpoint once a newer checkpoint of the run holds all it held."""
    if path.is_file() and (path == run.resumed_from or path.parent == Path(run.outputs.checkpoint_dir or "")):
        for done in (path, path.parent / INTERRUPTED_BEST_NAME):
            try:
                done.unlink(missing_ok=True)
            except OSError as error:
                _warn(f"cannot delete {done}, which a newer checkpoint replaces ({error.strerror or error})")


def _save_or_rescue(path: Path, checkpoint: Checkpoint, run: _Run) -> Path:
    """Save ``checkpoint`` to ``path``; if that fails (a full disk), to a new folder of the temporary
    folder, raising XpnetError that names both places. Returns where it was saved."""
    try:
        return save_checkpoint(path, checkpoint)
    except CheckpointError as error:
        kept = f"; the last checkpoint is {run.last_saved}" if run.last_saved else ""
        try:
            # mkdtemp makes a folder of a name nobody can guess, that only this user can enter: no
            # link planted in the temporary folder can choose what the rescued model overwrites.
            rescue = Path(tempfile.mkdtemp(prefix="xpnet-rescued-")) / path.name
        except OSError as failure:
            raise XpnetError(f"{error}, and no folder can be made in {tempfile.gettempdir()} either "
                             f"({failure.strerror or failure}){kept}") from None
        try:
            save_checkpoint(rescue, checkpoint)
        except CheckpointError:
            shutil.rmtree(rescue.parent, ignore_errors=True)
            raise XpnetError(f"{error}, and no room in {rescue.parent.parent} either{kept}") from None
        raise XpnetError(f"{error}; the model was saved to {rescue} instead: move it where it belongs") from None


def _finish(run: _Run, metrics: MetricsLog | None, say, interrupt: InterruptRequest) -> FitResult:
    """Evaluate on the test split (with the best epoch's weights when the dev split is watched),
    write the summary and the model, and return the result. A signal that came before the test
    ended stops the run with its checkpoint (the rerun tests and saves it); one that comes during
    the model's save (atomic, and the last work) lets it finish."""
    params, final = run.params, run.snapshot(run.epochs_done)
    if run.best is not None:
        params, final = [(run.backend.asarray(W), run.backend.asarray(b)) for W, b in run.best.params], run.best
    test_loss, test_accuracy = evaluate(params, run.test, run.dataset.num_classes,
                                        run.config.evaluation_batch(run.arch), network=run.arch)
    if interrupt.signum is not None:
        _stop_after_epoch(run, run.epochs_done, interrupt.signum)
    summary = _summary(run, test_loss, test_accuracy)
    with_best = ""
    if run.best is not None:
        with_best = (f" with the best epoch's weights (epoch {run.best.epoch}, "
                     f"{run.watch.monitor} {run.best.history[-1][run.watch.monitor]:.4f})")
    if metrics is not None:
        _append_metrics(metrics, summary)
    say(f"test accuracy {100 * test_accuracy:.2f}% (loss {test_loss:.4f}){with_best} "
        f"after {run.epochs_done} epoch(s), {summary['train_seconds']:.1f} s of training")
    if run.outputs.save_path:
        say(f"model saved to {_save_or_rescue(Path(run.outputs.save_path), final, run)}")
        if run.resumed_from is not None and run.resumed_from.name == INTERRUPTED_NAME:
            _forget_interrupted(run, run.resumed_from)
    return FitResult(params, run.history, summary, run.backend)


def _summary(run: _Run, test_loss: float, test_accuracy: float) -> dict:
    """The run's last metrics record: test results, where and what it trained, its settings."""
    history = run.history
    summary = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "backend": run.backend.name,
        "device": run.backend.device_name,
        "dtype": run.config.dtype,
        "dataset": run.dataset.name,
        "data_source": run.dataset.source,
        "layer_sizes": run.layer_sizes,
        "model": run.arch.title(),
        "epochs": run.epochs_done,
        "train_seconds": run.train_seconds(),
        "xpnet_version": __version__,
        "config": run.config.to_dict(),
    }
    if history and "dev_accuracy" in history[-1]:
        summary["dev_accuracy"] = history[-1]["dev_accuracy"]
    if run.compiled is not None:
        summary["compiled"] = {"compiler": run.compiled.compiler.name, "compilations": run.compiled.compilations,
                               "calls": run.compiled.calls}
    if run.watch is not None:
        summary.update(monitor=run.watch.monitor, best_epoch=run.best.epoch if run.best else None,
                       stopped_early=run.watch.should_stop)
    return summary


IN_PROGRESS_KEYS = ("epoch_rng_state", "steps", "seen", "loss_sum", "correct", "seconds")


def _check_resumable(checkpoint: Checkpoint, path, run: _Run) -> None:
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


def _check_place_in_epoch(checkpoint: Checkpoint, path, run: _Run) -> None:
    """CheckpointError unless the steps and examples a run stopped inside an epoch at fit this run's epochs."""
    steps, seen = checkpoint.in_progress["steps"], checkpoint.in_progress["seen"]
    step_size = run.batch_size or run.train.size
    steps_per_epoch = batch_count(run.train.size, run.batch_size)
    if steps > steps_per_epoch or seen != min(steps * step_size, run.train.size):
        raise CheckpointError(f"{path} cannot be resumed: its in_progress.steps and .seen ({steps:,} step(s), "
                              f"{seen:,} example(s) into epoch {checkpoint.epoch + 1}) do not fit this run's epochs of "
                              f"{steps_per_epoch:,} step(s) of {step_size:,} of {run.train.size:,} examples; the file "
                              "was edited, or the data differ from the run's")


def _check_compatible(checkpoint: Checkpoint, path, arch: Architecture, config: Config) -> None:
    held = checkpoint.network()
    if held.param_shapes() != arch.param_shapes() or checkpoint.dtype != config.dtype:
        raise CheckpointError(
            f"the checkpoint {path} holds a {held.title()} {checkpoint.dtype} model "
            f"but this run asks for {arch.title()} {config.dtype}; "
            "resume without changing --hidden, --arch, --dtype or --dataset"
        )


def _diverged(epoch: int, record: dict, history: list[dict], config: Config, last_saved: Path | None):
    what = "the loss" if not math.isfinite(record["train_loss"]) else "a parameter"
    last = f"{history[-1]['train_loss']:.4f} in epoch {history[-1]['epoch']}" if history else "none"
    kept = f"; the last good checkpoint is {last_saved}" if last_saved is not None else ""
    lower = f"the learning rate (now --lr {config.lr})"
    if config.weight_decay > 1:
        lower = f"the weight decay (now --weight-decay {config.weight_decay}) or {lower}"
    raise XpnetError(f"training diverged in epoch {epoch}: {what} is not finite (last finite loss: {last}){kept}; "
                     f"lower {lower}")


def _params_sum(params):
    """Sum of every parameter, a 0-d device array: not finite as soon as any parameter is not."""
    xp = array_namespace(params[0][0])
    total = xp.sum(params[0][0]) + xp.sum(params[0][1])
    for W, b in params[1:]:
        total = total + xp.sum(W) + xp.sum(b)
    return total


def _device_splits(dataset: Dataset, config: Config, backend: Backend, rng: np.random.Generator):
    """Train, dev (or None) and test splits on the device; the dev split is drawn first, as seed 004 does."""
    images, labels = dataset.train_images, dataset.train_labels
    dev = None
    if config.dev_size:
        if config.dev_size >= images.shape[0]:
            raise UsageError(f"--dev-size {config.dev_size} leaves no training data "
                             f"(the training set has {images.shape[0]} examples)")
        shuffled = rng.permutation(images.shape[0])
        dev_rows, train_rows = shuffled[:config.dev_size], shuffled[config.dev_size:]
        dev = DeviceSplit(images_to_device(images[dev_rows], backend, config.dtype, config.normalize),
                          labels_to_device(labels[dev_rows], backend))
        images, labels = images[train_rows], labels[train_rows]
    train = DeviceSplit(images_to_device(images, backend, config.dtype, config.normalize),
                        labels_to_device(labels, backend)).with_one_hot(dataset.num_classes)
    test = DeviceSplit(images_to_device(dataset.test_images, backend, config.dtype, config.normalize),
                       labels_to_device(dataset.test_labels, backend))
    return train, dev, test
