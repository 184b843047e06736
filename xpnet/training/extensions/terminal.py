"""What a run prints: its first lines, a line per epoch, and the test line."""

from __future__ import annotations

from ... import __version__
from ...arguments import passing
from ...backend import float32_matmul
from ..config import Config
from ..loop import Extension


class TerminalReport(Extension):
    """Prints through ``run.say``: the header, where a resumed run stands, the epochs' lines, and
    the test result. Each epoch has a line when ``--log-interval`` is not given; with it (N
    batches), each epoch in whose steps the run's step count reached a multiple of N (with full
    batches: every N epochs) has one, and the last, the one that stops the run, and a dry run's.
    ``checkpoint`` is the one a resumed run started from (None: a fresh run)."""

    def __init__(self, checkpoint=None, resumed_from=None):
        self.checkpoint, self.resumed_from = checkpoint, resumed_from

    def run_start(self, run) -> None:
        report_header(run.say, run)
        run.say(run.memory)
        checkpoint = self.checkpoint
        if checkpoint is not None:
            run.say(f"resuming from {self.resumed_from}: epoch {checkpoint.epoch} of {run.epochs} done"
                    + (f", {run.in_progress['steps']} step(s) into epoch {run.first_epoch}" if run.in_progress
                       else ""))
            if checkpoint.epoch > run.epochs:
                run.say(f"note: the run has done {checkpoint.epoch} epochs, more than "
                        f"{passing('--epochs', str(run.epochs))}: nothing to train; it is tested and saved as it is")
        if run.config.dry_run:
            step = f"one step of epoch {run.first_epoch}" if run.first_epoch <= run.epochs else "no step (none is left)"
            run.say(f"dry run: {step}, then the test; no checkpoint, model or metrics file is written or deleted")

    def epoch_end(self, run, record: dict) -> None:
        config, epoch = run.config, record["epoch"]
        stopping = run.stop_reason is not None
        if logged(epoch, run.steps_per_epoch, config.log_interval) or epoch == run.epochs or stopping or config.dry_run:
            run.say(epoch_line(record, run.epochs, show_lr=config.schedule != "constant" or config.warmup_epochs > 0))
        if stopping:
            run.say(run.stop_reason)

    def run_end(self, run, summary: dict) -> None:
        with_best = ""
        if run.best is not None:
            with_best = (f" with the best epoch's weights (epoch {run.best.epoch}, "
                         f"{run.watch.monitor} {run.best.history[-1][run.watch.monitor]:.4f})")
        run.say(f"test accuracy {100 * summary['test_accuracy']:.2f}% (loss {summary['test_loss']:.4f}){with_best} "
                f"after {run.epochs_done} epoch(s), {summary['train_seconds']:.1f} s of training")


def logged(epoch: int, steps_per_epoch: int, log_interval: int | None) -> bool:
    """Whether epoch ``epoch``'s steps (the run's steps after ``(epoch - 1) * steps_per_epoch``)
    reach a multiple of ``log_interval``; every epoch when it is None."""
    if log_interval is None:
        return True
    return epoch * steps_per_epoch // log_interval > (epoch - 1) * steps_per_epoch // log_interval


def report_header(say, run) -> None:
    """The three lines a run starts with: the backend (on a GPU, how it multiplies float32 matrices,
    and its notes), the data, the model and its training."""
    config, backend, dataset, data = run.config, run.backend, run.dataset, run.data
    count = run.network.parameter_count()
    compiled = f", compiled by {run.compiled.compiler.name}" if run.compiled is not None else ""
    on_gpu = backend.device_name.startswith("cuda")
    products = f" (matmuls {float32_matmul(backend)})" if on_gpu and config.dtype == "float32" else ""
    say(f"xpnet {__version__}: backend {backend.name} on {backend.device_name}, {config.dtype}{products}{compiled} "
        f"({backend.reason})")
    for note in backend.notes:
        say(note)
    say(f"data: {dataset.name} from {dataset.source}: {data.train.size:,} train"
        + (f", {data.dev.size:,} dev" if data.dev is not None else "")
        + f", {data.test.size:,} test, {dataset.num_classes} classes")
    say(f"model: {run.network.title()} ({count:,} parameters), init {config.init}"
        + (", biases drawn too" if config.bias_init == "same" else "")
        + f"; {optimizer_text(config)}, batch {'full' if run.batch_size is None else run.batch_size}, "
        + f"{run.epochs} epoch(s), seed {config.seed}")


def optimizer_text(config: Config) -> str:
    """``'AdamW lr 0.002 weight decay 0.05 dropout 0.3 (cosine schedule)'``."""
    text = {"sgd": "SGD", "momentum": f"SGD momentum {config.momentum}", "nesterov": f"Nesterov {config.momentum}",
            "adam": "Adam", "adamw": "AdamW", "rmsprop": f"RMSprop rho {config.rho}",
            "adagrad": "Adagrad"}[config.optimizer] + f" lr {config.lr}"
    if config.weight_decay:
        text += f" weight decay {config.weight_decay}"
    if config.dropout:
        text += f" dropout {config.dropout}"
    if config.shift:
        text += f" shifts up to {config.shift} px"
    if config.schedule != "constant" or config.warmup_epochs:
        text += f" ({config.schedule} schedule" + (f", {config.warmup_epochs} warmup epoch(s))"
                                                   if config.warmup_epochs else ")")
    return text


def epoch_line(record: dict, epochs: int, show_lr: bool = False) -> str:
    """One epoch's line: train and (with a dev split) dev loss and accuracy, seconds, examples per second,
    and whether it is the best."""
    width = len(str(epochs))
    line = (f"epoch {record['epoch']:>{width}}/{epochs}  " + (f"lr {record['lr']:.4g}  " if show_lr else "")
            + f"train loss {record['train_loss']:.4f}  "
            f"train acc {100 * record['train_accuracy']:6.2f}%")
    if "dev_accuracy" in record:
        line += f"  dev loss {record['dev_loss']:.4f}  dev acc {100 * record['dev_accuracy']:6.2f}%"
    line += f"  {record['seconds']:.2f} s  {record['examples_per_second']:,.0f} ex/s"
    return line + ("  (best)" if record.get("best") else "")
