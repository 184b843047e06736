"""``python -m xpnet.plot``: PNG pictures of a run, drawn headless, into ``--out-dir``.

From ``--metrics RUN.jsonl`` (written by ``python -m xpnet.train --metrics``):
``RUN-curves.png``, loss and accuracy per epoch. From ``--checkpoint MODEL.npz``:
``MODEL-confusion.png``, ``MODEL-misclassified.png`` (test images the model gets wrong)
and ``MODEL-weights.png`` (the first layer's weights as images). Each file is written
atomically. From Python: :func:`plot_metrics` and :func:`plot_checkpoint`.

A metrics file is read line by line and checked (:func:`read_metrics`): anything but the
records train writes (a value of the wrong type or not finite, JSON nested too deeply, a line
over 1 MiB, a file over 100 MiB, a FIFO) is one line naming the file and the line. Names from
files are printed escaped (:func:`xpnet.inference.terminal.printable`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .arguments import a_path
from .cli import CommandParser, add_backend_arguments, add_data_arguments, model_options, run_command
from .errors import UsageError, XpnetError
from .evaluate import evaluate_model
from .inference.figures import (MAX_UNITS, class_labels, confusion_png, curves_png, misclassified_png,
                               require_matplotlib, weights_png)
from .files import check_output_file, check_output_folder, write_output
from .nn.network import mlp_title
from .inference import load_model
from .inference.inputs import open_regular
from .inference.terminal import echo, escaped_errors, printable


MAX_METRICS_BYTES = 100 * 2**20  # about 180 bytes an epoch: half a million epochs
MAX_LINE_BYTES = 2**20  # a record is a few hundred bytes, a summary a few kilobytes
WRITTEN_BY = "pass the file python -m xpnet.train --metrics wrote"


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], dict | None]:
    """The per-epoch records of a ``--metrics`` file, in epoch order, and its summary (None when
    the run did not finish). Raises a one-line :class:`XpnetError` naming the file and the line for
    a missing, damaged or foreign file: not JSON, nested too deeply, a value of the wrong type or
    not finite, a line over :data:`MAX_LINE_BYTES` or a file over :data:`MAX_METRICS_BYTES`, or
    not a regular file (a FIFO would block)."""
    shown = printable(path)
    epochs, summary = {}, None
    with open_regular(path, "metrics file", WRITTEN_BY) as stream:
        size = os.fstat(stream.fileno()).st_size
        if size > MAX_METRICS_BYTES:
            raise XpnetError(f"metrics file {shown} is {size / 2**20:,.0f} MiB, more than the "
                             f"{MAX_METRICS_BYTES // 2**20} MiB plot reads; {WRITTEN_BY}")
        total = 0
        for number in itertools.count(1):
            try:
                line = stream.readline(MAX_LINE_BYTES + 2)
            except OSError as error:
                raise XpnetError(f"cannot read metrics file {shown} ({printable(error.strerror or error)}); "
                                 f"{WRITTEN_BY}") from None
            total += len(line)
            if not line:
                break
            if len(line.rstrip(b"\r\n")) > MAX_LINE_BYTES or total > MAX_METRICS_BYTES:
                what = f"line {number} is longer than {MAX_LINE_BYTES // 2**20} MiB" if total <= MAX_METRICS_BYTES \
                    else f"it grew past {MAX_METRICS_BYTES // 2**20} MiB"
                raise XpnetError(f"cannot read metrics file {shown}: {what}; {WRITTEN_BY}")
            record = _parse_line(line, number, shown)
            if record is None:
                continue
            if "epoch" in record and "train_loss" in record:
                epochs[record["epoch"]] = record  # a resumed run's file repeats no epoch, but a later one would win
            else:
                summary = record
    if not epochs:
        raise XpnetError(f"{shown} holds no epoch records; pass the metrics of a run that finished an epoch")
    return [epochs[epoch] for epoch in sorted(epochs)], summary


def _parse_line(line: bytes, number: int, shown: str) -> dict | None:
    """The checked epoch record or summary on ``line`` (None for a blank line)."""
    where = f"line {number} of {shown}"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise XpnetError(f"{where} is not UTF-8 text; {WRITTEN_BY}") from None
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except RecursionError:
        raise XpnetError(f"{where} is JSON nested too deeply; {WRITTEN_BY}") from None
    except ValueError:  # JSONDecodeError, or an integer of thousands of digits
        raise XpnetError(f"{where} is not JSON; {WRITTEN_BY}") from None
    if isinstance(record, dict) and "epoch" in record and "train_loss" in record:
        _check_fields(record, where, EPOCH_FIELDS)
    elif isinstance(record, dict) and "test_accuracy" in record:
        _check_fields(record, where, SUMMARY_FIELDS)
    else:
        raise XpnetError(f"{where} is neither an epoch record nor a summary; {WRITTEN_BY}")
    return record


def _epoch_number(value) -> bool:
    return type(value) is int and 1 <= value <= 10**9


def _fraction(value) -> bool:
    return _number(value) and 0.0 <= value <= 1.0


def _number(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _layer_sizes(value) -> bool:
    return (isinstance(value, list) and 2 <= len(value) <= 1000
            and all(type(size) is int and 1 <= size <= 10**9 for size in value))


def _short_text(value) -> bool:
    return isinstance(value, str) and len(value) <= 200


# What each field the pictures use must be: a test, and its description for the message.
EPOCH_FIELDS = {"epoch": (_epoch_number, "a whole number from 1"), "train_loss": (_number, "a finite number"),
                "train_accuracy": (_fraction, "a number from 0 to 1"), "dev_loss": (_number, "a finite number"),
                "dev_accuracy": (_fraction, "a number from 0 to 1")}
SUMMARY_FIELDS = {"test_accuracy": (_fraction, "a number from 0 to 1"), "test_loss": (_number, "a finite number"),
                  "layer_sizes": (_layer_sizes, "a list of layer sizes"), "dataset": (_short_text, "a name"),
                  "backend": (_short_text, "a name"), "dtype": (_short_text, "a name")}


def _check_fields(record: dict, where: str, fields: dict) -> None:
    for name, (test, expected) in fields.items():
        if name in record and not test(record[name]):
            shown = repr(record[name])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise XpnetError(f"{where}: {name} must be {expected}, got {printable(shown)}; {WRITTEN_BY}")


def plot_metrics(path: str | os.PathLike, out_dir: str | os.PathLike = ".") -> list[Path]:
    """Write ``<out_dir>/<stem>-curves.png`` from the metrics file ``path``; return its path."""
    path, out_dir = a_path("path", path), a_path("out_dir", out_dir)
    stem = Path(path).stem
    curves = _checked_outputs(out_dir, stem, ("curves",))[0]
    epochs, summary = read_metrics(path)
    title = _title(stem)
    if summary is not None and "layer_sizes" in summary:
        title += _title(f": {mlp_title(summary['layer_sizes'])} on {summary.get('dataset', '?')}, "
                        f"{summary.get('backend', '?')} {summary.get('dtype', '')}")
    return [_write(curves, curves_png(epochs, summary, title))]


def plot_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike = ".", *, split: str = "test",
                    **options) -> list[Path]:
    """Write ``<stem>-confusion.png``, ``<stem>-misclassified.png`` and ``<stem>-weights.png`` into
    ``out_dir`` for the checkpoint at ``checkpoint`` evaluated on ``split``; return their paths.

    ``options`` are those of :func:`xpnet.inference.load_model` (backend, device, dataset...).
    """
    out_dir = a_path("out_dir", out_dir)
    require_matplotlib()
    model = load_model(checkpoint, **{"with_data": True, **options})
    stem = Path(model.source).stem
    confusion, wrong, weights = _checked_outputs(out_dir, stem, ("confusion", "misclassified", "weights"))
    report, predicted = evaluate_model(model, split)
    images, labels = model.split(split)
    name = _title(stem)
    accuracy = 100 * report[f"{split}_accuracy"]
    W, shape = model.checkpoint.params[0][0], model.checkpoint.image_shape
    names = model.class_names
    names = names and tuple(_title(n) for n in names)  # escaped, and no $ for mathtext
    if W.ndim == 4:  # a convolution's kernels (k, k, c_in, filters): the first input channel of each
        k, _, channels, filters = W.shape
        W, shape = W[:, :, 0, :].reshape(k * k, filters), (k, k)
        weights_title = (f"{name}: the first layer's {min(filters, MAX_UNITS)} of {filters} {k}x{k} filters"
                         + (f" (input channel 0 of {channels})" if channels > 1 else "")
                         + "\n(red excites, blue inhibits)")
    elif len(model.params) == 1:
        weights_title = (f"{name}: the {W.shape[1]} class templates of softmax regression\n"
                         "(red raises the class's score, blue lowers it)")
    else:
        weights_title = (f"{name}: input weights of the first {min(W.shape[1], MAX_UNITS)} of "
                         f"{W.shape[1]} hidden units\n(red excites, blue inhibits)")
    return [
        _write(confusion, confusion_png(np.array(report["confusion_matrix"]),
                                        f"{name}, {split} split: {accuracy:.2f}% correct", names)),
        _write(wrong, misclassified_png(images, labels, predicted, f"{name}, misclassified {split} images", names)),
        _write(weights, weights_png(W, shape, class_labels(W.shape[1], names) if len(model.params) == 1 else None,
                                    weights_title)),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m xpnet.plot",
        description="Draw PNG pictures of a run: learning curves from a metrics file; the confusion matrix, "
                    "misclassified images and first-layer weights from a checkpoint. Needs matplotlib "
                    "(pip install -e '.[plot]').",
    )
    parser.add_argument("--metrics", metavar="FILE.jsonl", default=None,
                        help="a metrics file of python -m xpnet.train --metrics: draws STEM-curves.png "
                             "(default: none)")
    parser.add_argument("--checkpoint", metavar="FILE", default=None,
                        help="a checkpoint (or folder of them): draws STEM-confusion.png, STEM-misclassified.png "
                             "and STEM-weights.png (default: none)")
    parser.add_argument("--out-dir", metavar="DIR", default=".", help="where the PNG files go (default: .)")
    add_data_arguments(parser, split_help="with --checkpoint, the split of the confusion matrix and the "
                                          "misclassified images")
    add_backend_arguments(parser)
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.metrics is None and args.checkpoint is None:
        raise UsageError("nothing to draw: pass --metrics FILE.jsonl, --checkpoint FILE, or both")
    check_output_folder(args.out_dir, "--out-dir")
    require_matplotlib()
    written = []
    if args.metrics is not None:
        written += plot_metrics(args.metrics, args.out_dir)
    if args.checkpoint is not None:
        written += plot_checkpoint(args.checkpoint, args.out_dir, split=args.split, **model_options(args))
    for path in written:
        echo(f"wrote {printable(path)}")


def _title(text: str) -> str:
    """``text`` from a file (its name, a summary's fields) as matplotlib shows it literally: escaped,
    and with no ``$`` to start mathematical notation (which fails to draw on a stray backslash)."""
    return printable(text).replace("$", r"\$")


def _checked_outputs(out_dir, stem: str, kinds: tuple[str, ...]) -> list[Path]:
    """``<out_dir>/<stem>-<kind>.png`` for each kind, each refused before drawing (UsageError) where
    it cannot be written, or is a symbolic link, which xpnet never writes through."""
    paths = [Path(out_dir) / f"{stem}-{kind}.png" for kind in kinds]
    for path in paths:
        check_output_file(path, "--out-dir", (".png",))
    return paths


def _write(path: Path, png: bytes) -> Path:
    return write_output(path, png, fix="choose a writable --out-dir")


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), escaped_errors(_run), argv)


if __name__ == "__main__":
    sys.exit(main())
