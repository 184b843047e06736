"""``python -m xpnet.plot``: PNG pictures of a run, drawn headless, into ``--out-dir``.

From ``--metrics RUN.jsonl`` (written by ``python -m xpnet.train --metrics``):
``RUN-curves.png``, loss and accuracy per epoch. From ``--checkpoint MODEL.npz``:
``MODEL-confusion.png``, ``MODEL-misclassified.png`` (test images the model gets wrong)
and ``MODEL-weights.png`` (the first layer's weights as images). Each file is written
atomically. From Python: :func:`plot_metrics` and :func:`plot_checkpoint`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from .cli import CommandParser, add_backend_arguments, add_data_arguments, model_options, run_command
from .errors import UsageError, XpnetError
from .evaluate import evaluate_model
from .inference.figures import MAX_UNITS, confusion_png, curves_png, misclassified_png, require_matplotlib, weights_png
from .files import check_output_folder, write_output
from .nn.model import describe
from .inference import load_model


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], dict | None]:
    """The per-epoch records of a ``--metrics`` file, in epoch order, and its summary (None when
    the run did not finish). Raises a one-line :class:`XpnetError` for a missing or damaged file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise XpnetError(f"metrics file {path} not found; pass the file python -m xpnet.train --metrics wrote") \
            from None
    except (OSError, UnicodeDecodeError) as error:
        raise XpnetError(f"cannot read metrics file {path} ({error}); pass a JSON Lines file") from None
    epochs, summary = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise XpnetError(f"line {number} of {path} is not JSON; pass the file python -m xpnet.train "
                             "--metrics wrote") from None
        if isinstance(record, dict) and isinstance(record.get("epoch"), int) and "train_loss" in record:
            epochs[record["epoch"]] = record  # a resumed run's file repeats no epoch, but a later one would win
        elif isinstance(record, dict) and "test_accuracy" in record:
            summary = record
        else:
            raise XpnetError(f"line {number} of {path} is neither an epoch record nor a summary; "
                             "pass the file python -m xpnet.train --metrics wrote")
    if not epochs:
        raise XpnetError(f"{path} holds no epoch records; pass the metrics of a run that finished an epoch")
    return [epochs[epoch] for epoch in sorted(epochs)], summary


def plot_metrics(path: str | os.PathLike, out_dir: str | os.PathLike = ".") -> list[Path]:
    """Write ``<out_dir>/<stem>-curves.png`` from the metrics file ``path``; return its path."""
    epochs, summary = read_metrics(path)
    stem = Path(path).stem
    title = stem
    if summary is not None and "layer_sizes" in summary:
        title += (f": {describe(summary['layer_sizes'])} on {summary.get('dataset', '?')}, "
                  f"{summary.get('backend', '?')} {summary.get('dtype', '')}")
    return [_write(Path(out_dir) / f"{stem}-curves.png", curves_png(epochs, summary, title))]


def plot_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike = ".", *, split: str = "test",
                    **options) -> list[Path]:
    """Write ``<stem>-confusion.png``, ``<stem>-misclassified.png`` and ``<stem>-weights.png`` into
    ``out_dir`` for the checkpoint at ``checkpoint`` evaluated on ``split``; return their paths.

    ``options`` are those of :func:`xpnet.inference.load_model` (backend, device, dataset...).
    """
    require_matplotlib()
    model = load_model(checkpoint, **options)
    report, predicted = evaluate_model(model, split)
    images, labels = model.split(split)
    stem = Path(model.source).stem
    accuracy = 100 * report[f"{split}_accuracy"]
    W = model.checkpoint.params[0][0]
    if len(model.params) == 1:
        weights_title = (f"{stem}: the {W.shape[1]} class templates of softmax regression\n"
                         "(red raises the class's score, blue lowers it)")
    else:
        weights_title = (f"{stem}: input weights of the first {min(W.shape[1], MAX_UNITS)} of "
                         f"{W.shape[1]} hidden units\n(red excites, blue inhibits)")
    out = Path(out_dir)
    return [
        _write(out / f"{stem}-confusion.png", confusion_png(np.array(report["confusion_matrix"]),
                                                           f"{stem}, {split} split: {accuracy:.2f}% correct")),
        _write(out / f"{stem}-misclassified.png", misclassified_png(images, labels, predicted,
                                                                    f"{stem}, misclassified {split} images")),
        _write(out / f"{stem}-weights.png", weights_png(W, model.checkpoint.image_shape, len(model.params) == 1,
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
        print(f"wrote {path}")


def _write(path: Path, png: bytes) -> Path:
    return write_output(path, png, fix="choose a writable --out-dir")


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
