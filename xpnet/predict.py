"""``python -m xpnet.predict CHECKPOINT``: what a saved model says about one image.

``--index I`` takes image I of the test set (``--split train`` for the training set), as
seed notebook 004's ``test_prediction`` did; ``--image FILE`` takes any picture and
prepares it the MNIST way (:func:`xpnet.inference.images.mnist_style`). Prints the digit in shades
of ' ░▒▓█' (' .:+#' where stdout's encoding lacks those), the predicted class, the top-3
probabilities and, for ``--index``, the label; ``--out FILE.png`` also saves the 28x28 input
with the prediction as its caption. Names that come from files are printed escaped
(:func:`xpnet.inference.terminal.printable`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .cli import CommandParser, add_backend_arguments, add_data_arguments, model_options, non_negative_int, run_command
from .errors import UsageError, XpnetError
from .files import check_output_file
from .inference.images import ASCII_SHADES, SHADES, draw, mnist_style, pillow, read_grey, save_png
from .inference.terminal import can_show, echo, escaped_errors, printable
from .inference import load_model

TOP = 3


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m xpnet.predict",
        description="Classify one image with a checkpoint: an image of the test set, or any picture of a digit.",
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a .npz or .safetensors checkpoint, or a folder of them (the newest is used)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=non_negative_int, metavar="I",
                       help="classify image I of the split (default: none; this or --image is required)")
    which.add_argument("--image", metavar="FILE",
                       help="classify a picture (PNG, JPEG..., any size, dark or light background; needs Pillow) "
                            "converted to 28x28 the MNIST way (default: none)")
    parser.add_argument("--out", metavar="FILE.png", default=None,
                        help="save the 28x28 input, enlarged, with the prediction as caption (needs Pillow) "
                             "(default: none)")
    add_data_arguments(parser, split_help="with --index, the split the image comes from")
    add_backend_arguments(parser)
    return parser


def _class_namer(model):
    """A function from a class number to how the output names it: 'Sneaker (7)' where the
    dataset names its classes (Fashion-MNIST), the bare number otherwise."""
    names = model.class_names
    if names is None:
        return str
    return lambda k: f"{printable(names[k])} ({k})"


def _run(args: argparse.Namespace) -> None:
    if args.out is not None:
        check_output_file(args.out, "--out", (".png",))
    if args.image is not None or args.out is not None:
        pillow()  # before loading anything: without Pillow the answer is the same one line
    # A picture too large, blank, damaged or not a file is refused before the model is loaded.
    picture = mnist_style(read_grey(args.image)) if args.image is not None else None
    model = load_model(args.checkpoint, with_data=args.index is not None, **model_options(args))
    named = _class_namer(model)
    if args.index is not None:
        images, labels = model.split(args.split)
        if args.index >= images.shape[0]:
            raise UsageError(f"--index {args.index} is out of range: the {args.split} split of "
                             f"{model.dataset.name} has {images.shape[0]:,} images (0..{images.shape[0] - 1})")
        image, label = images[args.index], int(labels[args.index])
        what = f"{args.split} image {args.index} of {printable(model.dataset.name)} (label {named(label)})"
    else:
        if tuple(model.checkpoint.image_shape) != (28, 28):
            raise XpnetError(f"--image makes 28x28 digits but this model takes "
                             f"{'x'.join(map(str, model.checkpoint.image_shape))} images; use --index")
        image, label = picture, None
        what = f"{printable(args.image)}, as the model sees it (28x28, MNIST-style)"
    probabilities = model.class_probabilities(image[None])[0]
    ranked = np.argsort(-probabilities, kind="stable")
    predicted = int(ranked[0])
    verdict = "" if label is None else f" (label {named(label)}: {'correct' if predicted == label else 'wrong'})"
    echo(f"checkpoint {printable(model.source)}: {model.contents()}; backend {model.backend.name} on "
         f"{model.backend.device_name}")
    echo(f"{what}:")
    echo(draw(image, SHADES if can_show(SHADES) else ASCII_SHADES))
    echo(f"predicted {named(predicted)}{verdict}")
    echo(f"top {TOP}: " + "  ".join(f"{named(int(k))} {100 * probabilities[k]:.2f}%" for k in ranked[:TOP]))
    if args.out is not None:
        caption = f"predicted {named(predicted)} ({100 * probabilities[predicted]:.1f}%)" + (
            "" if label is None else f", label {named(label)}")
        save_png(args.out, image, caption)
        echo(f"picture written to {printable(args.out)}")


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), escaped_errors(_run), argv)


if __name__ == "__main__":
    sys.exit(main())
