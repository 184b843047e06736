"""What a run prints: its first lines, a line per epoch, and a progress bar on a terminal."""

from __future__ import annotations

import sys

from .. import __version__
from ..backend import float32_matmul
from .config import Config


def report_header(say, run) -> None:
    """The three lines a run starts with: the backend (on a GPU, how it multiplies float32 matrices,
    and its notes), the data, the model and its training."""
    config, backend, dataset, dev = run.config, run.backend, run.dataset, run.dev
    count = run.arch.parameter_count()
    compiled = f", compiled by {run.compiled.compiler.name}" if run.compiled is not None else ""
    on_gpu = backend.device_name.startswith("cuda")
    products = f" (matmuls {float32_matmul(backend)})" if on_gpu and config.dtype == "float32" else ""
    say(f"xpnet {__version__}: backend {backend.name} on {backend.device_name}, {config.dtype}{products}{compiled} "
        f"({backend.reason})")
    for note in backend.notes:
        say(note)
    say(f"data: {dataset.name} from {dataset.source}: {run.train.size:,} train"
        + (f", {dev.size:,} dev" if dev is not None else "")
        + f", {run.test.size:,} test, {dataset.num_classes} classes")
    say(f"model: {run.arch.title()} ({count:,} parameters), init {config.init}"
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
    """One epoch's line: losses, accuracies, seconds, examples per second, and whether it is the best."""
    width = len(str(epochs))
    line = (f"epoch {record['epoch']:>{width}}/{epochs}  " + (f"lr {record['lr']:.4g}  " if show_lr else "")
            + f"train loss {record['train_loss']:.4f}  "
            f"train acc {100 * record['train_accuracy']:6.2f}%")
    if "dev_accuracy" in record:
        line += f"  dev acc {100 * record['dev_accuracy']:6.2f}%"
    line += f"  {record['seconds']:.2f} s  {record['examples_per_second']:,.0f} ex/s"
    return line + ("  (best)" if record.get("best") else "")


def progress_bar(enabled: bool, steps: int, epoch: int, epochs: int):
    """A tqdm bar of the epoch's steps on stderr, or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False, file=sys.stderr)
