"""Seed notebook 003 through xpnet: an MLP 784-128-10, uniform(-0.5, 0.5) weights, full-batch gradient descent.

Pixels scaled to [0, 1], zero biases, lr 0.1, 500 epochs of one step over all 60,000 images. The
notebook defined the model and its gradients but never showed training, so there is no figure
to match; this shows what the recipe reaches. Takes minutes on a CPU.

    python examples/seed003_uniform_init_full_batch.py --data-dir /path/holding/mnist
    python examples/seed003_uniform_init_full_batch.py --epochs 100 --quiet
"""

import sys

import xpnet
from xpnet.cli import example_parser, positive_int

PRESET = xpnet.PRESETS["seed003"].settings
parser = example_parser("Seed notebook 003 (uniform init, full batch) through xpnet.")
parser.add_argument("--epochs", type=positive_int, default=PRESET["epochs"], help=f"(default: {PRESET['epochs']})")
parser.add_argument("--quiet", action="store_true", help="print only the final result (default: off)")
args = parser.parse_args()

try:
    result = xpnet.fit(preset="seed003", dataset=args.dataset, data_dir=args.data_dir, backend=args.backend,
                       device=args.device, epochs=args.epochs, log=None if args.quiet else print)
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
print(f"seed003: train accuracy {100 * result.history[-1]['train_accuracy']:.2f}%, test accuracy "
      f"{100 * result.test_accuracy:.2f}% after {args.epochs} epoch(s) (notebook 003: training not shown)")
