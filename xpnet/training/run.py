"""``fit``: a whole run, as ``python -m xpnet.train`` and notebook users start it.

It checks the arguments and every output, plans the start (fresh, continued from the checkpoint
folder, or resumed), chooses the backend, loads the data, makes the run ready
(:func:`~xpnet.training.preparing.prepare_run`), assembles the extensions, and hands all of it
to :func:`xpnet.training.loop.train`.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

from ..arguments import a_path, a_switch, option, passing, shown
from ..backend import Backend, cpu_flags, limit_threads, placement, resolve
from ..data import Dataset, load_dataset
from ..data.load import DataNotFound, name_to_load
from ..errors import UsageError, XpnetError
from ..nn.checks import whole
from .checkpoint_folder import locked
from .config import Config, as_usage_errors
from .extensions.batch_lines import BatchLines
from .extensions.best_epoch import BestEpoch
from .extensions.checkpoints import Checkpoints
from .extensions.dev_split import DevEvaluation
from .extensions.divergence import DivergenceCheck
from .extensions.metrics_file import MetricsFile
from .extensions.progress import ProgressBar
from .extensions.save_model import SaveModel
from .extensions.schedule_note import ScheduleNote
from .extensions.signals import Signals
from .extensions.terminal import TerminalReport
from .final_test import FitResult
from .interrupt import InterruptRequest
from .loop import Extension, TrainingInterrupted, train
from .outputs import check_outputs, claim_outputs
from .preparing import prepare_run
from .run_state import RunState, warn
from .starting import Outputs, Start, plan

__all__ = ["FitResult", "RunOptions", "TrainingInterrupted", "fit"]

#: fit's keywords named as the command's flags (``save=`` as ``--save``) -> the older names they
#: replace, kept as aliases: each pair fills one :class:`RunOptions` field.
ALIASES = {"save": "save_path", "metrics": "metrics_path"}


@dataclass
class RunOptions:
    """The keywords of :func:`fit` that are not settings of the network's training (:class:`Config`):
    where the run writes, how it starts, and whether it shows a progress bar."""

    resume: str | os.PathLike | None = None
    metrics_path: str | None = None
    save_path: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None
    restart: bool = False
    progress: bool | None = None
    quiet: bool | None = None

    @classmethod
    def taken_from(cls, keywords: dict) -> "RunOptions":
        """The options among ``keywords``, removed from it (what is left are settings); ``save``
        and ``metrics`` fill ``save_path`` and ``metrics_path`` (UsageError when both of a pair differ)."""
        for name, older in ALIASES.items():
            if name in keywords:
                value = keywords.pop(name)
                if older in keywords and not _same_path(value, keywords[older]):
                    raise UsageError(f"{name}= and {older}= name one setting (--{name}) and differ; pass {name}= alone")
                keywords[older] = value
        return cls(**{option.name: keywords.pop(option.name) for option in fields(cls) if option.name in keywords})

    @classmethod
    def keywords(cls) -> set[str]:
        """The names :meth:`taken_from` takes, aliases included."""
        return {option.name for option in fields(cls)} | set(ALIASES)

    def outputs(self) -> dict:
        return dict(metrics_path=self.metrics_path, save_path=self.save_path, checkpoint_dir=self.checkpoint_dir,
                    checkpoint_every=self.checkpoint_every)


def _same_path(one, other) -> bool:
    """Whether two values given for one path keyword agree (any other values: only when identical)."""
    if one is other:
        return True
    paths = (str, os.PathLike)
    return isinstance(one, paths) and isinstance(other, paths) and os.fspath(one) == os.fspath(other)


def _log_for(log, quiet: bool | None):
    """The function receiving the report's lines (None: silence), from ``log`` and ``quiet`` (the
    flag's name for ``log=None``); UsageError when they disagree."""
    a_switch("quiet", quiet, optional=True)
    if quiet and log is not None and log is not print:
        raise UsageError("quiet=True silences the report that log= would receive; pass one of them")
    if quiet is False and log is None:
        raise UsageError("quiet=False and log=None disagree (log=None is quiet=True); pass one of them")
    return None if quiet else log


def fit(config: Config | None = None, *, preset: str | None = None, dataset: Dataset | str | None = None,
        log: Callable[[str], None] | None = print, extensions: list[Extension] = (), **keywords) -> FitResult:
    """Train a network (an MLP, a CNN) as ``config`` (or ``preset`` plus keyword settings) says.

    ``dataset`` is a name or folder to load, or a :class:`xpnet.data.Dataset` in memory.
    ``log`` receives each line of the report (None for silence). ``extensions`` are your own
    :class:`~xpnet.training.loop.Extension` objects, called at each hook point after xpnet's that
    measure (divergence, dev metrics, the best epoch) and before those that write (the metrics
    file, the terminal, checkpoints), so what yours add to an epoch's record is written too.
    The other keywords are :class:`Config` settings (``epochs=3``, ``lr=0.1``...) and these
    (:class:`RunOptions`), each named as the command's flag (``--checkpoint-dir``:
    ``checkpoint_dir``): ``save`` writes the final model; ``checkpoint_dir`` keeps the last
    checkpoints, one every ``checkpoint_every`` epochs (default 1). Run again with the same
    ``checkpoint_dir``, the same run continues from its newest usable checkpoint
    (``restart=True`` starts it over). ``resume`` continues from a checkpoint file or folder,
    with its settings, and the outputs inside its checkpoint folder when it lies in the folder
    that wrote it (others are named in a note); settings that differ from its settings are refused,
    except those in :data:`xpnet.training.starting.MAY_CHANGE` (``epochs``, ``device``...).
    ``metrics`` writes one JSON line per epoch; ``quiet=True`` is ``log=None``
    (``save_path`` and ``metrics_path`` are older names of ``save`` and ``metrics``); ``progress`` shows a bar per epoch
    (default: on a terminal); without one, ``log_interval=N`` prints the epoch's running loss and
    accuracy every N batches of an eager run (default None: a line per epoch). ``dry_run=True``
    takes one step from where the run stands and writes and deletes nothing.
    Raises :class:`XpnetError` for expected failures (a diverging run included) and
    :class:`TrainingInterrupted` after Ctrl-C, SIGTERM or SIGHUP, once a checkpoint is written (a dry run
    writes none).
    """
    options = RunOptions.taken_from(keywords)
    log = _log_for(log, options.quiet)
    _check_arguments(config, dataset, log, extensions, options)
    _check_switches(config, keywords, options)
    if isinstance(dataset, (str, os.PathLike)):
        keywords["dataset"], dataset = os.fspath(dataset), None
    say = log if log is not None else (lambda line: None)
    progress = options.progress if options.progress is not None else log is not None and sys.stderr.isatty()
    with ExitStack() as stack:
        locked_now = None
        check_outputs(Outputs(options.metrics_path, options.save_path, options.checkpoint_dir))  # before --restart
        if options.checkpoint_dir is not None and Path(options.checkpoint_dir).is_dir():
            locked_now = stack.enter_context(locked(options.checkpoint_dir))  # held before it is read
        start = plan(config, preset, keywords, options, dataset_in_memory=dataset is not None, skipped=warn)
        if start.config.dry_run:  # it writes and deletes nothing: its outputs are checked, not claimed
            check_outputs(start.outputs)
        else:
            claim_outputs(start.outputs, stack, already_locked=locked_now)
        backend = _backend_for(start, keywords)
        _check_compiler(start, backend, keywords)
        for note in start.notes:
            say(note)
        signals = Signals(stack.enter_context(InterruptRequest()))
        stack.enter_context(limit_threads(start.config.threads))
        stack.enter_context(backend.activate())
        in_memory = dataset.name if dataset is not None else None
        if dataset is None:
            dataset = _training_data(start, named="dataset" in keywords)
        run = prepare_run(start, backend, dataset, say)
        run.data_in_memory = in_memory
        shown = "bar" if progress else "lines" if log is not None else None
        return train(run, _extensions(run, start, shown, signals, extensions), signals)


def _training_data(start: Start, named: bool) -> Dataset:
    """The run's dataset; when a known one is not found, the error also offers generated data, which
    lets a run start without files (unlike evaluate, predict and plot, which need the model's data).
    A checkpoint of a run on arrays in memory needs them given again (DataError), unless ``named``
    (the caller named a dataset)."""
    config = start.config
    held = start.checkpoint.data_in_memory if start.checkpoint is not None and not named else None
    name = name_to_load(config.dataset, held, start.path, "fit(..., dataset=data)")
    try:
        return load_dataset(name, config.data_dir, download=config.download)
    except DataNotFound as error:
        raise DataNotFound(f"{error}; to try xpnet without data files: {passing('--dataset', 'synthetic')}") from None


def _extensions(run: RunState, start: Start, shown: str | None, signals: Signals, yours) -> list[Extension]:
    """The run's extensions in the order they are called at each hook point: those that measure an
    epoch, then ``yours`` (which see what they measured and may add to the record or stop the run),
    then those that write it down. ``shown``: how an epoch's steps are shown: "bar" (a terminal),
    "lines" (every --log-interval batches of an eager run, none in a dry run's one step) or None (quiet)."""
    measuring = [ProgressBar()] if shown == "bar" else []
    measuring.append(DivergenceCheck())
    measuring += [DevEvaluation()] if run.data.dev is not None else []
    measuring += [BestEpoch()] if run.watch is not None else []
    writing = [MetricsFile(run.outputs.metrics_path)] if run.outputs.metrics_path else []
    if shown == "lines" and run.config.log_interval is not None and run.compiled is None and not run.config.dry_run:
        writing.append(BatchLines())
    writing.append(TerminalReport(start.checkpoint, start.path))
    writing += [ScheduleNote(start.checkpoint)] if start.checkpoint is not None else []
    writing.append(Checkpoints())
    writing += [SaveModel(run.outputs.save_path)] if run.outputs.save_path else []
    return measuring + list(yours) + writing + [signals]


def _check_arguments(config, dataset, log, extensions, options: RunOptions) -> None:
    """UsageError for arguments of the wrong type, before they fail somewhere deeper."""
    if options.checkpoint_every is not None:
        with as_usage_errors():
            whole("checkpoint_every (--checkpoint-every)", options.checkpoint_every, 1)
    if config is not None and not isinstance(config, Config):
        raise UsageError(f"config must be an xpnet.Config, got {shown(config)}; pass a preset by name with preset=")
    if dataset is not None and not isinstance(dataset, (str, os.PathLike, Dataset)):
        raise UsageError(f"dataset must be a name, a folder or an xpnet.data.Dataset, got {shown(dataset)}")
    if not isinstance(dataset, Dataset):
        a_path("dataset", dataset, optional=True)
    if log is not None and not callable(log):
        raise UsageError(f"log must be a function taking a line (such as print) or None, got {shown(log)}")
    if not isinstance(extensions, (list, tuple)) or not all(isinstance(one, Extension) for one in extensions):
        raise UsageError(f"extensions must be a list of xpnet.training.loop.Extension objects, got {shown(extensions)}")
    paths = (options.metrics_path, options.save_path, options.checkpoint_dir, options.resume)
    names = ("metrics", "save", "checkpoint_dir", "resume")  # the keywords as documented (the flags' names)
    for name, flag, path in zip(names, ("--metrics", "--save", "--checkpoint-dir", "--resume"), paths):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise UsageError(f"{name} ({flag}): paths must be strings or os.PathLike, got {shown(path)}")
        if path is not None and not os.fspath(path).strip():
            raise UsageError(f"{option(flag)} needs a path, and {os.fspath(path)!r} is none; give one, or leave "
                             f"{option(flag)} out")
        a_path(option(flag), path, optional=True)


def _check_switches(config, settings: dict, options: RunOptions) -> None:
    """UsageError for a switch that is not one, or for --restart with --dry-run (which deletes nothing)."""
    a_switch("restart", options.restart)
    a_switch("progress", options.progress, optional=True)
    if options.restart and (config.dry_run if config is not None else settings.get("dry_run")):
        raise UsageError(f"{option('--restart')} deletes the checkpoints of the folder's run, and a dry run writes "
                         f"and deletes nothing; leave out {option('--restart')} or {option('--dry-run')}")


def _backend_for(start: Start, settings: dict) -> Backend:
    """The backend the run asks for; resuming, an unusable one says how to resume here instead."""
    config, checkpoint = start.config, start.checkpoint
    try:
        return resolve(config.backend, config.device)
    except XpnetError as error:
        if checkpoint is None or ("device" in settings and "backend" in settings):
            raise
        trained = placement(str(checkpoint.config.get("backend")), str(checkpoint.config.get("device")))
        asked = placement(config.backend, config.device)
        problem = ("which resuming keeps, and that is" if asked == trained
                   else f"which resuming keeps unless overridden, and {asked} is")
        raise type(error)(f"{start.path} was trained with {trained}, {problem} not usable here ({error}); "
                          f"to resume on this machine add {cpu_flags(config.backend)}") from None


def _check_compiler(start: Start, backend: Backend, settings: dict) -> None:
    """Refuse ``--compile`` on a library that cannot compile, before any data is read; a resumed
    compiled run moved to such a library (without asking for --compile) goes on eagerly."""
    if not start.config.compile:
        return
    try:
        backend.compiler()
    except UsageError:
        if start.checkpoint is None or "compile" in settings:
            raise
        start.config.compile = None
        start.notes.append(f"note: {start.path} was trained compiled; {backend.name} runs each operation as it is "
                           "called, so the run goes on eagerly")
