"""The training loop: data onto the device once, minibatch SGD, metrics read once per epoch.

``fit`` is the Python API that ``python -m xpnet.train`` drives; ``train_epoch``
and ``evaluate`` are the two plain functions it is built from.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import __version__
from .backend import Backend, limit_threads, resolve, to_numpy
from .config import Config, from_preset
from .data import Dataset, load_dataset
from .errors import UsageError, XpnetError
from .init import init_params
from .metrics import MetricsLog
from .model import loss_and_grads, predict_logits
from .ops import count_correct, cross_entropy, one_hot
from .optim import SGD


@dataclass
class DeviceSplit:
    """Images ``X`` (n, d) of the run's dtype, labels ``y`` (n,) int64 and, for training,
    their one-hot ``Y`` (n, k) of the run's dtype, all on the device."""

    X: object
    y: object
    Y: object = None

    def with_one_hot(self, num_classes: int) -> "DeviceSplit":
        """This split with ``Y`` filled in, made once so that batches gather rows of it."""
        return DeviceSplit(self.X, self.y, one_hot(self.y, num_classes, self.X.dtype))

    @property
    def size(self) -> int:
        return self.X.shape[0]


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


def images_to_device(images: np.ndarray, backend: Backend, dtype: str, normalize: bool):
    """uint8 images (n, rows, cols) -> (n, rows*cols) ``dtype`` on the device, scaled to [0, 1] if ``normalize``.

    The uint8 pixels travel (a quarter of the float32 bytes) and are converted on the device.
    """
    xp = backend.xp
    flat = backend.asarray(np.ascontiguousarray(images.reshape(images.shape[0], -1)))
    X = xp.astype(flat, backend.dtype(dtype))
    return X / 255.0 if normalize else X


def labels_to_device(labels: np.ndarray, backend: Backend):
    """Integer labels (n,) -> int64 (n,) on the device."""
    return backend.asarray(np.asarray(labels, dtype=np.int64))


def train_epoch(params, optimizer, data: DeviceSplit, num_classes: int, batch_size: int | None,
                order=None, max_steps: int | None = None, on_step: Callable[[], None] | None = None):
    """One pass over ``data``; returns ``(params, loss_sum, correct, seen)``.

    ``order`` (n,) int64 on the device is the epoch's permutation; each batch is
    gathered from it with ``xp.take``. ``batch_size=None`` (full batch) uses the data
    as they are. ``loss_sum`` and ``correct`` stay 0-d device arrays so no step waits
    for the host; ``seen`` is the number of examples trained on. ``params`` are
    updated in place.
    """
    xp = array_namespace(data.X)
    dtype = data.X.dtype
    n = data.size
    if data.Y is None:
        data = data.with_one_hot(num_classes)
    step_size = n if batch_size is None else min(batch_size, n)
    loss_sum = xp.zeros((), dtype=dtype, device=device_of(data.X))
    correct = xp.zeros((), dtype=xp.int64, device=device_of(data.X))
    seen = 0
    for step, start in enumerate(range(0, n, step_size)):
        if max_steps is not None and step >= max_steps:
            break
        stop = min(start + step_size, n)
        if order is None:
            X, Y, y = data.X[start:stop, :], data.Y[start:stop, :], data.y[start:stop]
        else:
            batch = order[start:stop]
            X, Y, y = (xp.take(array, batch, axis=0) for array in (data.X, data.Y, data.y))
        batch_loss, logits, grads = loss_and_grads(params, X, Y, scale=optimizer.gradient_scale, xp=xp)
        params = optimizer.step(params, grads)
        loss_sum += batch_loss
        correct += count_correct(logits, y, xp=xp)
        seen += X.shape[0]
        if on_step is not None:
            on_step()
    return params, loss_sum, correct, seen


def evaluate(params, data: DeviceSplit, num_classes: int, batch_size: int = 10000) -> tuple[float, float]:
    """Mean loss and accuracy (a fraction) of ``params`` on ``data``, read back to the host once."""
    xp = array_namespace(data.X)
    dtype = data.X.dtype
    loss_sum = xp.zeros((), dtype=dtype, device=device_of(data.X))
    correct = xp.zeros((), dtype=xp.int64, device=device_of(data.X))
    for start in range(0, data.size, batch_size):
        stop = min(start + batch_size, data.size)
        X, y = data.X[start:stop, :], data.y[start:stop]
        logits = predict_logits(params, X, xp=xp)
        loss_sum += cross_entropy(logits, one_hot(y, num_classes, dtype, xp=xp), xp=xp) * X.shape[0]
        correct += count_correct(logits, y, xp=xp)
    loss_total, correct_total = (float(v) for v in to_numpy(xp.stack([loss_sum, xp.astype(correct, dtype)])))
    return loss_total / data.size, correct_total / data.size


def fit(config: Config | None = None, *, preset: str | None = None, dataset: Dataset | str | None = None,
        metrics_path: str | None = None, log: Callable[[str], None] | None = print,
        progress: bool | None = None, **overrides) -> FitResult:
    """Train an MLP as ``config`` (or ``preset`` plus keyword ``overrides``) says.

    ``dataset`` is a name or folder to load, or a :class:`xpnet.data.Dataset` in memory. ``log`` receives
    each line of the report (None for silence); ``progress`` shows a bar per epoch
    (default: when stderr is a terminal and ``log`` is set). Returns a :class:`FitResult`.
    Raises :class:`XpnetError` for expected failures, including a diverging run.
    """
    if isinstance(dataset, str):
        overrides["dataset"], dataset = dataset, None
    if config is None:
        config = from_preset(preset, **overrides)
    elif preset is not None or overrides:
        raise UsageError("pass either a Config or a preset and overrides, not both")
    config.validate()
    say = log if log is not None else (lambda line: None)
    if progress is None:
        progress = log is not None and sys.stderr.isatty()

    backend = resolve(config.backend, config.device)
    with limit_threads(config.threads):
        return _fit(config, backend, dataset, metrics_path, say, progress)


def _fit(config: Config, backend: Backend, dataset, metrics_path, say, progress) -> FitResult:
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir, download=config.download)
    rng = np.random.default_rng(config.seed)
    train, dev, test = _device_splits(dataset, config, backend, rng)
    layer_sizes = [train.X.shape[1], *config.hidden, dataset.num_classes]
    params = [(backend.asarray(W), backend.asarray(b))
              for W, b in init_params(layer_sizes, rng, config.init, config.bias_init, config.dtype)]
    optimizer = SGD(config.lr)

    batch_size = None if config.batch_size is None or config.batch_size >= train.size else config.batch_size
    epochs = 1 if config.dry_run else config.epochs
    max_steps = 1 if config.dry_run else None
    _report_header(say, config, backend, dataset, layer_sizes, train, dev, test, batch_size)

    metrics = MetricsLog(metrics_path) if metrics_path else None
    history: list[dict] = []
    last_finite_loss = None
    for epoch in range(1, epochs + 1):
        order = None if batch_size is None else backend.asarray(rng.permutation(train.size))
        bar = _progress_bar(progress, train.size, batch_size, epoch, epochs)
        started = time.perf_counter()
        params, loss_sum, correct, seen = train_epoch(
            params, optimizer, train, dataset.num_classes, batch_size, order, max_steps,
            on_step=bar.update if bar is not None else None,
        )
        loss_total, correct_total, params_total = (
            float(v) for v in to_numpy(backend.xp.stack([loss_sum, backend.xp.astype(correct, loss_sum.dtype),
                                                         _params_sum(params)]))
        )
        seconds = time.perf_counter() - started
        if bar is not None:
            bar.close()
        record = {
            "epoch": epoch,
            "train_loss": loss_total / seen,
            "train_accuracy": correct_total / seen,
            "seconds": seconds,
            "examples_per_second": seen / seconds if seconds > 0 else float("inf"),
        }
        if not (math.isfinite(record["train_loss"]) and math.isfinite(params_total)):
            what = "the loss" if not math.isfinite(record["train_loss"]) else "a parameter"
            raise XpnetError(
                f"training diverged in epoch {epoch}: {what} is not finite "
                f"(last finite epoch loss: {last_finite_loss if last_finite_loss is not None else 'none'}); "
                f"lower the learning rate (now --lr {config.lr})"
            )
        last_finite_loss = record["train_loss"]
        if dev is not None:
            record["dev_loss"], record["dev_accuracy"] = evaluate(params, dev, dataset.num_classes,
                                                                  config.eval_batch_size)
        history.append(record)
        if metrics is not None:
            metrics.append(record)
        if epoch % config.log_interval == 0 or epoch == epochs:
            say(_epoch_line(record, epochs))

    test_loss, test_accuracy = evaluate(params, test, dataset.num_classes, config.eval_batch_size)
    summary = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "backend": backend.name,
        "device": backend.device_name,
        "dtype": config.dtype,
        "dataset": dataset.name,
        "data_source": dataset.source,
        "layer_sizes": layer_sizes,
        "train_seconds": sum(r["seconds"] for r in history),
        "xpnet_version": __version__,
        "config": config.to_dict(),
    }
    if history and "dev_accuracy" in history[-1]:
        summary["dev_accuracy"] = history[-1]["dev_accuracy"]
    if metrics is not None:
        metrics.append(summary)
    say(f"test accuracy {100 * test_accuracy:.2f}% (loss {test_loss:.4f}) "
        f"after {len(history)} epoch(s), {summary['train_seconds']:.1f} s of training")
    return FitResult(params, history, summary, backend)


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


def _report_header(say, config, backend, dataset, layer_sizes, train, dev, test, batch_size):
    count = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    model = "softmax regression" if not config.hidden else "MLP"
    say(f"xpnet {__version__}: backend {backend.name} on {backend.device_name}, {config.dtype} ({backend.reason})")
    say(f"data: {dataset.name} from {dataset.source}: {train.size:,} train"
        + (f", {dev.size:,} dev" if dev is not None else "")
        + f", {test.size:,} test, {dataset.num_classes} classes")
    say(f"model: {model} {'-'.join(map(str, layer_sizes))} ({count:,} parameters), init {config.init}"
        + (", biases drawn too" if config.bias_init == "same" else "")
        + f"; SGD lr {config.lr}, batch {'full' if batch_size is None else batch_size}, "
        + f"{1 if config.dry_run else config.epochs} epoch(s), seed {config.seed}")


def _epoch_line(record: dict, epochs: int) -> str:
    width = len(str(epochs))
    line = (f"epoch {record['epoch']:>{width}}/{epochs}  train loss {record['train_loss']:.4f}  "
            f"train acc {100 * record['train_accuracy']:6.2f}%")
    if "dev_accuracy" in record:
        line += f"  dev acc {100 * record['dev_accuracy']:6.2f}%"
    return line + f"  {record['seconds']:.2f} s  {record['examples_per_second']:,.0f} ex/s"


def _progress_bar(enabled: bool, n: int, batch_size: int | None, epoch: int, epochs: int):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    steps = 1 if batch_size is None else -(-n // batch_size)
    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False, file=sys.stderr)
