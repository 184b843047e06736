"""Seed notebook 002 through xpnet: an MLP 784-128-10 on raw 0..255 pixels, full-batch gradient descent.

Weights normal(0, 0.01), lr 0.001, 200 epochs, every epoch one step over all 60,000 images. The
notebook's output was cut off at epoch 35 (0-based), with 85.51% training accuracy; it drew from
NumPy's unseeded global generator, so only the recipe can be replayed. Takes minutes on a CPU.

    python examples/seed002_raw_pixels_full_batch.py --data-dir /path/holding/mnist
    python examples/seed002_raw_pixels_full_batch.py --epochs 36    # just up to the notebook's last line
"""

import sys

import xpnet
from xpnet.cli import example_parser, positive_int

PRESET = xpnet.PRESETS["seed002"].settings
parser = example_parser("Seed notebook 002 (raw pixels, full batch) through xpnet.")
parser.add_argument("--epochs", type=positive_int, default=PRESET["epochs"],
                    help=f"(default: {PRESET['epochs']}, as the notebook)")
parser.add_argument("--quiet", action="store_true", help="print only the final comparison (default: off)")
args = parser.parse_args()

try:
    result = xpnet.fit(preset="seed002", dataset=args.dataset, data_dir=args.data_dir, backend=args.backend,
                       device=args.device, epochs=args.epochs, log=None if args.quiet else print)
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
# The notebook's "Epoch 35" is its 36th step, scored (as xpnet's train accuracy is) before that step's update.
if len(result.history) >= 36:
    print(f"seed002: train accuracy {100 * result.history[35]['train_accuracy']:.2f}% at epoch 36 "
          f"(notebook 002 on MNIST: 85.51% at its 'Epoch 35')")
print(f"seed002: train accuracy {100 * result.history[-1]['train_accuracy']:.2f}%, test accuracy "
      f"{100 * result.test_accuracy:.2f}% after {args.epochs} epoch(s) (notebook: cut off before the end)")
