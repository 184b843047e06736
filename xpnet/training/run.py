"""``fit``: a whole run, as ``python -m xpnet.train`` and notebook users start it.

Loads the data, moves it to the device once, draws the initial weights on the host,
trains epoch by epoch with :func:`xpnet.trainer.train_epoch`, reads the metrics once
per epoch, and keeps the run safe: checkpoints, exact resume, Ctrl-C at a safe point,
and a clear stop when training diverges.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from array_api_compat import array_namespace

from .. import __version__
from ..backend import Backend, cpu_flags, limit_threads, resolve, to_numpy
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_name,
    latest_in,
    load_checkpoint,
    prune,
    save_checkpoint,
)
from .config import Config, from_preset
from ..data import Dataset, load_dataset
from ..nn.dropout import EpochDropout
from ..errors import UsageError, XpnetError
from ..nn.init import init_params
from ..nn.model import describe, sizes_text
from .interrupt import InterruptRequest
from .metrics_log import MetricsLog
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

KEEP_CHECKPOINTS = 3
INTERRUPTED_NAME = "xpnet-interrupted.npz"


class TrainingInterrupted(XpnetError):
    """Ctrl-C stopped the run at a safe point; the message says where its checkpoint is."""


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


@dataclass
class Outputs:
    """Where a run writes: metrics (JSON Lines), the final model, periodic checkpoints."""

    metrics_path: str | None = None
    save_path: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1


def fit(config: Config | None = None, *, preset: str | None = None, dataset: Dataset | str | None = None,
        resume: str | Path | None = None, metrics_path: str | None = None, save_path: str | None = None,
        checkpoint_dir: str | None = None, checkpoint_every: int = 1,
        log: Callable[[str], None] | None = print, progress: bool | None = None, **overrides) -> FitResult:
    """Train an MLP as ``config`` (or ``preset`` plus keyword ``overrides``) says.

    ``dataset`` is a name or folder to load, or a :class:`xpnet.data.Dataset` in memory.
    ``resume`` continues from a checkpoint file or folder (its settings, then ``overrides``).
    ``save_path`` writes the final model; ``checkpoint_dir`` keeps the last checkpoints,
    one every ``checkpoint_every`` epochs. ``log`` receives each line of the report (None
    for silence); ``progress`` shows a bar per epoch (default: on a terminal).
    Raises :class:`XpnetError` for expected failures (a diverging run included) and
    :class:`TrainingInterrupted` after Ctrl-C, once a checkpoint is written.
    """
    if isinstance(dataset, str):
        overrides["dataset"], dataset = dataset, None
    resume_path = latest_in(resume) if resume is not None else None
    checkpoint = load_checkpoint(resume_path) if resume_path is not None else None
    if config is None:
        if checkpoint is not None:
            config = Config().replace(**checkpoint.config).replace(**overrides)
        else:
            config = from_preset(preset, **overrides)
    elif preset is not None or overrides or checkpoint is not None:
        raise UsageError("pass either a Config, or a preset or checkpoint with overrides, not both")
    config.validate()
    if checkpoint_every < 1:
        raise UsageError(f"checkpoint-every must be at least 1, got {checkpoint_every}")
    say = log if log is not None else (lambda line: None)
    if progress is None:
        progress = log is not None and sys.stderr.isatty()
    outputs = Outputs(metrics_path, save_path, checkpoint_dir, checkpoint_every)
    try:
        backend = resolve(config.backend, config.device)
    except XpnetError as error:
        if checkpoint is None or ("device" in overrides and "backend" in overrides):
            raise
        trained = f"--backend {checkpoint.config.get('backend')} --device {checkpoint.config.get('device')}"
        asked = f"--backend {config.backend} --device {config.device}"
        problem = ("which resuming keeps, and that is" if asked == trained
                   else f"which resuming keeps unless overridden, and {asked} is")
        raise type(error)(f"{resume_path} was trained with {trained}, {problem} not usable here ({error}); "
                          f"to resume on this machine add {cpu_flags(config.backend)}") from None
    with limit_threads(config.threads), InterruptRequest() as interrupt, backend.activate():
        return _fit(config, backend, dataset, checkpoint, outputs, say, progress, interrupt)


@dataclass
class _Run:
    """Everything a run carries from one epoch to the next: its data on the device, its
    model and optimiser, its host generator, its history and where it stands."""

    config: Config
    backend: Backend
    dataset: Dataset
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
    last_saved: Path | None = None

    def snapshot(self, epoch: int, in_progress: dict | None = None) -> Checkpoint:
        """The run after ``epoch`` epochs (and ``in_progress``: the steps of the next), on the host."""
        return Checkpoint(params=[(to_numpy(W), to_numpy(b)) for W, b in self.params],
                          config=self.config.to_dict(), epoch=epoch, history=copy.deepcopy(self.history),
                          rng_state=self.rng.bit_generator.state, optimizer_state=self.optimizer.state_dict(),
                          in_progress=in_progress, num_classes=self.dataset.num_classes,
                          image_shape=self.dataset.image_shape)


def _fit(config: Config, backend: Backend, dataset, checkpoint: Checkpoint | None, outputs: Outputs,
         say, progress: bool, interrupt: InterruptRequest) -> FitResult:
    """The run, step by step: data to the device, the model, then epoch after epoch, then the test."""
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir, download=config.download)
    run = _start(config, backend, dataset, checkpoint)
    _report_header(say, run)
    if checkpoint is not None:
        say(f"resumed after epoch {checkpoint.epoch}"
            + (f", {run.in_progress['steps']} step(s) into epoch {run.first_epoch}" if run.in_progress else ""))
    metrics = MetricsLog(outputs.metrics_path, run.history) if outputs.metrics_path else None
    for epoch in range(run.first_epoch, run.epochs + 1):
        record = _train_one_epoch(run, epoch, interrupt, progress, outputs)
        _keep_epoch(run, record, metrics, outputs, say)
    return _finish(run, metrics, outputs, say)


def _start(config: Config, backend: Backend, dataset: Dataset, checkpoint: Checkpoint | None) -> _Run:
    """The data on the device and the model: drawn afresh, or as ``checkpoint`` left it."""
    rng = np.random.default_rng(config.seed)
    train, dev, test = _device_splits(dataset, config, backend, rng)
    layer_sizes = [train.X.shape[1], *config.hidden, dataset.num_classes]
    batch_size = None if config.batch_size is None or config.batch_size >= train.size else config.batch_size
    run = _Run(config, backend, dataset, rng, train, dev, test, layer_sizes, batch_size, config.make_optimizer(),
               config.make_schedule(batch_count(train.size, batch_size)), 1 if config.dry_run else config.epochs)
    if checkpoint is None:
        host_params = init_params(layer_sizes, rng, config.init, config.bias_init, config.dtype)
    else:
        host_params = _restore(run, checkpoint)
    run.params = [(backend.asarray(W), backend.asarray(b)) for W, b in host_params]
    return run


def _restore(run: _Run, checkpoint: Checkpoint) -> list:
    """Put ``checkpoint``'s optimiser state, generator, history and position into ``run``; its parameters."""
    _check_compatible(checkpoint, run.layer_sizes, run.config)
    try:
        run.optimizer.load_state_dict(checkpoint.optimizer_state, run.backend.asarray)
    except ValueError as error:
        raise CheckpointError(f"the checkpoint's optimiser state does not fit --optimizer {run.config.optimizer} "
                              f"({error}); resume with the optimiser it was trained with") from None
    run.rng.bit_generator.state = checkpoint.rng_state
    run.history, run.first_epoch = list(checkpoint.history), checkpoint.epoch + 1
    run.in_progress = checkpoint.in_progress
    return checkpoint.params


def _train_one_epoch(run: _Run, epoch: int, interrupt: InterruptRequest, progress: bool, outputs: Outputs) -> dict:
    """Train epoch ``epoch`` (continuing one stopped part-way) and return its record; on Ctrl-C
    write the interrupted checkpoint and raise :class:`TrainingInterrupted`."""
    totals, seconds_before = _continued_totals(run)
    epoch_rng_state = run.rng.bit_generator.state
    # The epoch's time counts all of its work: its permutation and dropout masks, drawn and moved, too.
    started = time.perf_counter()
    order = None if run.batch_size is None else run.backend.asarray(run.rng.permutation(run.train.size))
    dropout = (EpochDropout(run.rng, run.train.size, run.config.hidden, run.config.dropout, run.backend.asarray)
               if run.config.dropout and run.config.hidden else None)
    bar = _progress_bar(progress, batch_count(run.train.size, run.batch_size), epoch, run.epochs)
    hooks = EpochHooks(stop=interrupt, on_step=bar.update if bar is not None else None,
                       max_steps=1 if run.config.dry_run else None)
    run.params, totals, finished = train_epoch(
        run.params, run.optimizer, run.train, run.batch_size, order, totals=totals, dropout=dropout,
        lr_at=lambda step: run.schedule.lr_at(epoch - 1, step), hooks=hooks)
    loss_sum, correct, params_sum = totals.read(_params_sum(run.params))
    seconds = seconds_before + time.perf_counter() - started
    if bar is not None:
        bar.close()
    if not finished:
        _stop_interrupted(run, epoch, outputs, {
            "epoch_rng_state": epoch_rng_state, "steps": totals.steps, "seen": totals.seen,
            "loss_sum": loss_sum, "correct": int(correct), "seconds": seconds})
    record = {"epoch": epoch, "lr": run.schedule.lr_at(epoch - 1, 0), "train_loss": loss_sum / totals.seen,
              "train_accuracy": correct / totals.seen, "seconds": seconds,
              "examples_per_second": totals.seen / seconds if seconds > 0 else float("inf")}
    if not (math.isfinite(record["train_loss"]) and math.isfinite(params_sum)):
        _diverged(epoch, record, run.history, run.config, run.last_saved)
    if run.dev is not None:
        record["dev_loss"], record["dev_accuracy"] = evaluate(run.params, run.dev, run.dataset.num_classes,
                                                              run.config.eval_batch_size)
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


def _stop_interrupted(run: _Run, epoch: int, outputs: Outputs, in_progress: dict):
    path = Path(outputs.checkpoint_dir or ".") / INTERRUPTED_NAME
    save_checkpoint(path, run.snapshot(epoch - 1, in_progress))
    raise TrainingInterrupted(f"interrupted in epoch {epoch} after {in_progress['steps']} step(s); "
                              f"checkpoint written to {path}; resume with: python -m xpnet.train --resume {path}")


def _keep_epoch(run: _Run, record: dict, metrics: MetricsLog | None, outputs: Outputs, say) -> None:
    """Add ``record`` to the history and the metrics file, print it, and checkpoint when it is time."""
    epoch, config = record["epoch"], run.config
    run.history.append(record)
    if metrics is not None:
        metrics.append(record)
    if epoch % config.log_interval == 0 or epoch == run.epochs:
        say(_epoch_line(record, run.epochs, show_lr=config.schedule != "constant" or config.warmup_epochs > 0))
    if outputs.checkpoint_dir and (epoch % outputs.checkpoint_every == 0 or epoch == run.epochs):
        run.last_saved = save_checkpoint(Path(outputs.checkpoint_dir) / checkpoint_name(epoch), run.snapshot(epoch))
        prune(outputs.checkpoint_dir, KEEP_CHECKPOINTS)


def _finish(run: _Run, metrics: MetricsLog | None, outputs: Outputs, say) -> FitResult:
    """Evaluate on the test split, write the summary and the model, and return the result."""
    test_loss, test_accuracy = evaluate(run.params, run.test, run.dataset.num_classes, run.config.eval_batch_size)
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
        "epochs": len(history),
        "train_seconds": sum(r["seconds"] for r in history),
        "xpnet_version": __version__,
        "config": run.config.to_dict(),
    }
    if history and "dev_accuracy" in history[-1]:
        summary["dev_accuracy"] = history[-1]["dev_accuracy"]
    if metrics is not None:
        metrics.append(summary)
    say(f"test accuracy {100 * test_accuracy:.2f}% (loss {test_loss:.4f}) "
        f"after {len(history)} epoch(s), {summary['train_seconds']:.1f} s of training")
    if outputs.save_path:
        say(f"model saved to {save_checkpoint(outputs.save_path, run.snapshot(len(history)))}")
    return FitResult(run.params, history, summary, run.backend)


def _check_compatible(checkpoint: Checkpoint, layer_sizes: list[int], config: Config) -> None:
    if checkpoint.layer_sizes != layer_sizes or checkpoint.dtype != config.dtype:
        raise CheckpointError(
            f"the checkpoint holds a {sizes_text(checkpoint.layer_sizes)} {checkpoint.dtype} model "
            f"but this run asks for {sizes_text(layer_sizes)} {config.dtype}; "
            "resume without changing --hidden, --dtype or --dataset"
        )


def _diverged(epoch: int, record: dict, history: list[dict], config: Config, last_saved: Path | None):
    what = "the loss" if not math.isfinite(record["train_loss"]) else "a parameter"
    last = f"{history[-1]['train_loss']:.4f} in epoch {history[-1]['epoch']}" if history else "none"
    kept = f"; the last good checkpoint is {last_saved}" if last_saved is not None else ""
    raise XpnetError(f"training diverged in epoch {epoch}: {what} is not finite (last finite loss: {last}){kept}; "
                     f"lower the learning rate (now --lr {config.lr})")


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


def _report_header(say, run: _Run) -> None:
    config, backend, dataset, dev = run.config, run.backend, run.dataset, run.dev
    count = sum(a * b + b for a, b in zip(run.layer_sizes[:-1], run.layer_sizes[1:]))
    say(f"xpnet {__version__}: backend {backend.name} on {backend.device_name}, {config.dtype} ({backend.reason})")
    say(f"data: {dataset.name} from {dataset.source}: {run.train.size:,} train"
        + (f", {dev.size:,} dev" if dev is not None else "")
        + f", {run.test.size:,} test, {dataset.num_classes} classes")
    say(f"model: {describe(run.layer_sizes)} ({count:,} parameters), init {config.init}"
        + (", biases drawn too" if config.bias_init == "same" else "")
        + f"; {_optimizer_text(config)}, batch {'full' if run.batch_size is None else run.batch_size}, "
        + f"{run.epochs} epoch(s), seed {config.seed}")


def _optimizer_text(config: Config) -> str:
    text = {"sgd": "SGD", "momentum": f"SGD momentum {config.momentum}", "nesterov": f"Nesterov {config.momentum}",
            "adam": "Adam", "adamw": "AdamW"}[config.optimizer] + f" lr {config.lr}"
    if config.weight_decay:
        text += f" weight decay {config.weight_decay}"
    if config.dropout:
        text += f" dropout {config.dropout}"
    if config.schedule != "constant" or config.warmup_epochs:
        text += f" ({config.schedule} schedule" + (f", {config.warmup_epochs} warmup epoch(s))"
                                                   if config.warmup_epochs else ")")
    return text


def _epoch_line(record: dict, epochs: int, show_lr: bool = False) -> str:
    width = len(str(epochs))
    line = (f"epoch {record['epoch']:>{width}}/{epochs}  " + (f"lr {record['lr']:.4g}  " if show_lr else "")
            + f"train loss {record['train_loss']:.4f}  "
            f"train acc {100 * record['train_accuracy']:6.2f}%")
    if "dev_accuracy" in record:
        line += f"  dev acc {100 * record['dev_accuracy']:6.2f}%"
    return line + f"  {record['seconds']:.2f} s  {record['examples_per_second']:,.0f} ex/s"


def _progress_bar(enabled: bool, steps: int, epoch: int, epochs: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False, file=sys.stderr)
