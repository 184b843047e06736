"""Seed notebook 000 through xpnet: softmax regression on MNIST (91.58% test in the notebook).

784-10, weights normal(0, 0.01) from default_rng(42), SGD lr 0.1, batch 256, 8 epochs. The
preset replays the notebook draw for draw (same generator, same order of draws and shuffles).

    python examples/seed000_softmax_regression.py --data-dir /path/holding/mnist
    python examples/seed000_softmax_regression.py --dataset synthetic --epochs 2 --quiet
"""

import sys

import xpnet
from xpnet.cli import example_parser, positive_int

PRESET = xpnet.PRESETS["seed000"].settings
parser = example_parser("Seed notebook 000 (softmax regression) through xpnet.")
parser.add_argument("--epochs", type=positive_int, default=PRESET["epochs"],
                    help=f"(default: {PRESET['epochs']}, as the notebook)")
parser.add_argument("--quiet", action="store_true", help="print only the final comparison (default: off)")
args = parser.parse_args()

try:
    result = xpnet.fit(preset="seed000", dataset=args.dataset, data_dir=args.data_dir, backend=args.backend,
                       device=args.device, epochs=args.epochs, log=None if args.quiet else print)
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
print(f"seed000: test accuracy {100 * result.test_accuracy:.2f}% after {args.epochs} epoch(s) "
      f"(notebook 000 on MNIST: 91.58% after 8)")
