"""``python -m xpnet.evaluate CHECKPOINT``: accuracy, loss, per-class scores and the confusion
matrix of a saved model, as text and, with ``--json PATH``, as JSON.

The accuracy and loss come from :func:`xpnet.training.evaluation.loss_and_accuracy` with the run's
``eval_batch_size``, the very computation that training reported, so on the same backend
they are equal to the run's ``test_accuracy`` and ``test_loss`` bit for bit.
From Python: :func:`evaluate_checkpoint`. What comes from files (the checkpoint's path and
metadata, the data's names) is printed escaped (:func:`xpnet.inference.terminal.printable`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import __version__
from .backend import limit_threads
from .training.checkpoint import Checkpoint
from .cli import CommandParser, add_backend_arguments, add_data_arguments, model_options, run_command
from .inference.scores import class_scores, confusion_matrix, confusion_table, scores_table
from .inference.terminal import echo, escaped_errors, printable
from .files import check_output_file, write_output
from .inference import Model, load_model
from .training.device_data import DeviceSplit, labels_to_device
from .training.evaluation import loss_accuracy_and_predictions


def evaluate_model(model: Model, split: str = "test") -> tuple[dict, np.ndarray]:
    """The report of ``model`` on ``split`` (see :func:`evaluate_checkpoint`) and its predicted
    classes (n,) int64 on the host, in the split's order."""
    images, labels = model.split(split)
    with model.backend.activate():
        data = DeviceSplit(model.images_to_device(images), labels_to_device(labels, model.backend))
        loss, accuracy, predicted = loss_accuracy_and_predictions(model.params, data, model.num_classes,
                                                                  model.eval_batch_size, network=model.network)
    confusion = confusion_matrix(labels, predicted, model.num_classes)
    report = {
        "checkpoint": model.source,
        "split": split,
        "examples": int(labels.shape[0]),
        f"{split}_accuracy": accuracy,
        f"{split}_loss": loss,
        **class_scores(confusion, model.dataset.class_names),
        "confusion_matrix": confusion.tolist(),
        "dataset": model.dataset.name,
        "data_source": model.dataset.source,
        "backend": model.backend.name,
        "device": model.backend.device_name,
        "dtype": model.checkpoint.dtype,
        "layer_sizes": model.checkpoint.layer_sizes,
        "model": model.network.title(),
        "epoch": model.checkpoint.epoch,
        "eval_batch_size": model.eval_batch_size,
        "xpnet_version": __version__,
    }
    return report, predicted


def evaluate_checkpoint(checkpoint: str | os.PathLike | Checkpoint, *, split: str = "test", backend: str = "auto",
                        device: str = "auto", threads: int | None = None, **data) -> dict:
    """Evaluate a checkpoint (a path, a folder of checkpoints, or a loaded :class:`Checkpoint`).

    Returns a JSON-ready dict: ``{split}_accuracy`` (a fraction) and ``{split}_loss``, e.g.
    ``test_accuracy``; ``classes``, one dict per class with ``precision``, ``recall``, ``f1``
    and ``support``; ``macro_avg``; ``confusion_matrix`` (k lists of k counts, rows the true
    class); and where it ran (``backend``, ``device``, ``dataset``...). The data default to
    the checkpoint's own (``data``: ``dataset``, ``data_dir``, ``download``, as
    :func:`~xpnet.inference.trained_model.load_model` takes them), the backend to ``auto``.
    """
    with limit_threads(threads):
        model = load_model(checkpoint, with_data=True, backend=backend, device=device, **data)
        return evaluate_model(model, split)[0]


def format_report(report: dict, model: Model) -> str:
    """The report as the text ``python -m xpnet.evaluate`` prints; what comes from files (the
    checkpoint's path and metadata, the data's name and source) escaped by :func:`printable`."""
    split = report["split"]
    return "\n".join([
        f"xpnet {__version__}: backend {model.backend.name} on {model.backend.device_name} ({model.backend.reason})",
        f"checkpoint {printable(report['checkpoint'])}: {model.contents()}",
        f"data: {printable(report['dataset'])} from {printable(report['data_source'])}: {split} split, "
        f"{report['examples']:,} examples",
        f"{split} accuracy {100 * report[f'{split}_accuracy']:.2f}% (loss {report[f'{split}_loss']:.4f})",
        "",
        scores_table(report),
        "",
        "confusion matrix (rows: true class, columns: predicted class)",
        confusion_table(np.array(report["confusion_matrix"])),
    ])


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m xpnet.evaluate",
        description="Accuracy, loss, per-class precision / recall / F1 and the confusion matrix of a "
                    "checkpoint written by python -m xpnet.train --save or --checkpoint-dir.",
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a .npz or .safetensors checkpoint, or a folder of them (the newest is used)")
    add_data_arguments(parser, split_help="evaluate on the test set or the whole training set")
    add_backend_arguments(parser)
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the report as JSON to PATH (default: none)")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.json is not None:
        check_output_file(args.json, "--json")
    model = load_model(args.checkpoint, with_data=True, **model_options(args))
    report, _ = evaluate_model(model, args.split)
    echo(format_report(report, model))
    if args.json is not None:
        write_output(args.json, json.dumps(report, indent=2) + "\n", fix="choose a writable path for --json")
        echo(f"report written to {printable(args.json)}")


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), escaped_errors(_run), argv)


if __name__ == "__main__":
    sys.exit(main())
