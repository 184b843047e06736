"""``python -m xpnet.train``: train an MLP, a CNN or softmax regression on MNIST-style data from
the command line.

Exit status: 0 on success, 2 on bad usage, 1 on any other expected error (one
line on stderr, no traceback), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .arguments import MAX_COUNT, shown, whole_number
from .cli import (CommandParser, add_shared, any_number, non_negative_int, positive_float, positive_int,
                  run_command)
from .errors import UsageError
from .cli import parse_hidden  # noqa: F401 (xpnet.train.parse_hidden, as before it moved to xpnet.cli)
from .inference.terminal import echo
from .training.config import PRESETS, Config
from .training.early_stopping import MONITORS
from .nn.init import BIAS_SCHEMES
from .nn.optim import OPTIMIZERS
from .training.checkpoint_folder import INTERRUPTED_NAME
from .training.extensions.checkpoints import KEEP_CHECKPOINTS
from .training.run import fit
from .nn.schedules import SCHEDULES

DEFAULTS = Config()


def parse_batch_size(text: str) -> int | None:
    """A positive integer (at most :data:`~xpnet.arguments.MAX_COUNT`), or ``full`` (None) for
    full-batch gradient descent."""
    if text.lower() == "full":
        return None
    try:
        return whole_number(text, "a batch size", MAX_COUNT, 1)
    except UsageError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full', got {shown(text)} "
                                         f"(the digits 0-9, at most {MAX_COUNT:,})") from None


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    presets = "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items()).replace("%", "%%")
    parser = CommandParser(
        prog="python -m xpnet.train",
        description="Train an MLP, a CNN or softmax regression on MNIST-style images with hand-written "
                    "backpropagation, on NumPy, CuPy, PyTorch, JAX or array-api-strict.",
        epilog="Flags given explicitly override the preset's settings.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help=f"a named recipe (default: none): {presets}")
    data = parser.add_argument_group("data")
    add_shared(data, "--dataset", shown=d.dataset)
    add_shared(data, "--data-dir")
    add_shared(data, "--no-download")
    data.add_argument("--dev-size", type=non_negative_int, metavar="N",
                      help=f"hold out N shuffled training examples as a dev set (default: {d.dev_size})")
    data.add_argument("--early-stopping", type=non_negative_int, metavar="PATIENCE",
                      help="stop when --monitor has not improved on the dev split for PATIENCE epochs, and test "
                           f"the best epoch's weights; needs --dev-size (default: {d.early_stopping}, never)")
    data.add_argument("--monitor", choices=tuple(MONITORS),
                      help=f"the dev metric --early-stopping and --keep-best watch (default: {d.monitor})")
    data.add_argument("--keep-best", action="store_true",
                      help="test and --save the best epoch's weights by --monitor, and keep them in "
                           "DIR/best.npz with --checkpoint-dir; needs --dev-size (default: off)")
    data.add_argument("--no-normalize", dest="normalize", action="store_false",
                      help="keep raw 0..255 pixels instead of scaling to [0, 1] (default: scale)")
    where = parser.add_argument_group("backend")
    add_shared(where, "--backend", shown=d.backend)
    add_shared(where, "--device", shown=d.device)
    add_shared(where, "--dtype", shown=d.dtype)
    add_shared(where, "--threads")
    model = parser.add_argument_group("model")
    add_shared(model, "--hidden", shown=d.hidden)
    add_shared(model, "--arch")
    model.add_argument("--init", metavar="SCHEME", help=f"weight init: normal:STD, uniform:A (on [-A, A)), "
                                                        f"xavier or he (default: {d.init})")
    model.add_argument("--bias-init", choices=BIAS_SCHEMES,
                       help=f"zeros, or 'same' to draw biases like the weights (default: {d.bias_init})")
    training = parser.add_argument_group("training")
    training.add_argument("--lr", type=positive_float, help=f"learning rate (default: {d.lr})")
    training.add_argument("--optimizer", choices=OPTIMIZERS,
                          help=f"sgd, momentum (heavy ball), nesterov, adam, adamw, rmsprop or adagrad "
                               f"(default: {d.optimizer})")
    training.add_argument("--momentum", type=any_number, metavar="MU",
                          help=f"momentum of momentum and nesterov (default: {d.momentum})")
    training.add_argument("--beta1", type=any_number, help=f"Adam's first-moment decay (default: {d.beta1})")
    training.add_argument("--beta2", type=any_number, help=f"Adam's second-moment decay (default: {d.beta2})")
    training.add_argument("--eps", type=positive_float,
                          help=f"the epsilon of adam, adamw, rmsprop and adagrad (default: {d.eps})")
    training.add_argument("--rho", type=any_number, help=f"RMSprop's mean-square decay (default: {d.rho})")
    training.add_argument("--weight-decay", type=any_number, metavar="WD",
                          help=f"L2 penalty, decoupled for adamw, coupled (added to the gradient) for the others "
                               f"(default: {d.weight_decay})")
    training.add_argument("--schedule", choices=SCHEDULES,
                          help=f"learning-rate schedule: constant, step (x0.1 every third of the run, per epoch) "
                               f"or cosine (per step, down to 0) (default: {d.schedule})")
    training.add_argument("--warmup-epochs", type=non_negative_int, metavar="N",
                          help=f"linear warmup of the learning rate over N epochs, per step "
                               f"(default: {d.warmup_epochs})")
    training.add_argument("--dropout", type=any_number, metavar="P",
                          help=f"drop each hidden unit with probability P while training (default: {d.dropout})")
    add_shared(training, "--shift", shown=f"{d.shift}, none")
    training.add_argument("--batch-size", type=parse_batch_size, metavar="N",
                          help=f"minibatch size, or 'full' for full-batch gradient descent (default: {d.batch_size})")
    training.add_argument("--epochs", type=positive_int, help=f"number of epochs (default: {d.epochs})")
    add_shared(training, "--seed", shown=d.seed)
    training.add_argument("--dry-run", action="store_true", help="quickly check a single step (default: off)")
    training.add_argument("--compile", action=argparse.BooleanOptionalAction,
                          help="compile the whole training step (jax: jax.jit, an epoch per call; torch: "
                               "torch.compile); --no-compile runs it operation by operation, for debugging "
                               "(default: on for jax, off for torch; numpy, cupy and array-api-strict never "
                               "compile)")
    output = parser.add_argument_group("output")
    output.add_argument("--log-interval", type=positive_int, metavar="N",
                        help="every N batches (steps, counted over the whole run), print the epoch's running train "
                             "loss and accuracy, as PyTorch's MNIST example does, when not on a terminal (a progress "
                             "bar shows there) and not compiled (a compiled epoch runs at once); an epoch's line "
                             "only when a multiple of N falls in it (full batch: every N epochs); --resume takes it "
                             "from the command, never the checkpoint (default: none, a line per epoch)")
    output.add_argument("--metrics", metavar="PATH", default=None,
                        help="write per-epoch metrics and a summary as JSON Lines (default: none)")
    output.add_argument("--quiet", action="store_true", default=False,
                        help="print nothing but errors (default: off)")
    keep = parser.add_argument_group("checkpoints")
    keep.add_argument("--save", metavar="PATH", default=None,
                      help="write the trained model to PATH, .npz or .safetensors (default: none)")
    keep.add_argument("--checkpoint-dir", metavar="DIR", default=None,
                      help=f"keep the last {KEEP_CHECKPOINTS} checkpoints of the run in DIR, and the one a signal "
                           f"makes; the same command run again continues from the newest (default: none; "
                           f"Ctrl-C writes ./{INTERRUPTED_NAME})")
    keep.add_argument("--checkpoint-every", type=positive_int, metavar="N", default=None,
                      help="with --checkpoint-dir, write a checkpoint every N epochs (default: 1, or the resumed "
                           "run's)")
    keep.add_argument("--restart", action="store_true", default=False,
                      help="with --checkpoint-dir, delete the run already there and start over (default: continue "
                           "it)")
    keep.add_argument("--resume", metavar="PATH_OR_DIR", default=None,
                      help="continue the run saved in a checkpoint, or the newest in a folder, with its settings "
                           "(and the outputs inside its checkpoint folder, when it lies there); flags that agree "
                           "with it, --epochs, --device and output flags may be given (default: none)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if argv is None and Path(sys.argv[0]).name == "xpnet-train":  # the installed command names itself
        parser.prog = "xpnet-train"

    def train(args) -> None:
        options = vars(args)
        quiet = options.pop("quiet")  # every other flag is fit's keyword of its name
        # echo: a path in a line (--save, --resume, --data-dir) may hold an escape sequence
        fit(log=None if quiet else echo, **options)

    # A diverging run overflows before the epoch-end check reports it in one line.
    warnings.filterwarnings("ignore", category=RuntimeWarning, message=".*(overflow|invalid value|divide by zero)")
    return run_command(parser, train, argv)


if __name__ == "__main__":
    sys.exit(main())
