"""Seed notebook 001 through xpnet: an MLP 784-128-10 on MNIST (96.33% test in the notebook).

Weights normal(0, 0.02) from default_rng(0), zero biases, ReLU, SGD lr 0.1, batch 128, 8 epochs;
replayed draw for draw. Training accuracy in the notebook reached 96.74% (first 10,000 images).

    python examples/seed001_mlp128.py --data-dir /path/holding/mnist
    python examples/seed001_mlp128.py --backend torch        # the same lines on PyTorch
"""

import sys

import xpnet
from xpnet.cli import example_parser, positive_int

PRESET = xpnet.PRESETS["seed001"].settings
parser = example_parser("Seed notebook 001 (MLP 784-128-10) through xpnet.")
parser.add_argument("--epochs", type=positive_int, default=PRESET["epochs"],
                    help=f"(default: {PRESET['epochs']}, as the notebook)")
parser.add_argument("--quiet", action="store_true", help="print only the final comparison (default: off)")
args = parser.parse_args()

try:
    result = xpnet.fit(preset="seed001", dataset=args.dataset, data_dir=args.data_dir, backend=args.backend,
                       device=args.device, epochs=args.epochs, log=None if args.quiet else print)
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
print(f"seed001: test accuracy {100 * result.test_accuracy:.2f}% after {args.epochs} epoch(s) "
      f"(notebook 001 on MNIST: 96.33% after 8)")
