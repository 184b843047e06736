"""Seed notebook 004 through xpnet: a tiny MLP 784-10-10 with a dev split (85.6% dev in the notebook).

Weights and biases uniform(-0.5, 0.5), full-batch gradient descent, lr 0.2, 500 iterations, the
first 1,000 shuffled training images held out as a dev set. Like the notebook, it then shows a
few single predictions, computed here with NumPy from the trained parameters, and one digit.

    python examples/seed004_tiny_net_dev_split.py --data-dir /path/holding/mnist
    python examples/seed004_tiny_net_dev_split.py --dataset synthetic:600 --dev-size 100 --epochs 50
"""

import sys

import numpy as np

import xpnet
from xpnet.cli import example_parser, non_negative_int, positive_int
from xpnet.data import load_dataset

PRESET = xpnet.PRESETS["seed004"].settings
parser = example_parser("Seed notebook 004 (784-10-10, dev split) through xpnet.")
parser.add_argument("--epochs", type=positive_int, default=PRESET["epochs"],
                    help=f"iterations (default: {PRESET['epochs']}, as the notebook)")
parser.add_argument("--dev-size", type=non_negative_int, default=PRESET["dev_size"],
                    help=f"(default: {PRESET['dev_size']}, as the notebook)")
parser.add_argument("--quiet", action="store_true", help="print only the results (default: off)")
args = parser.parse_args()

try:
    dataset = load_dataset(args.dataset, args.data_dir)
    result = xpnet.fit(preset="seed004", dataset=dataset, backend=args.backend, device=args.device,
                       epochs=args.epochs, dev_size=args.dev_size, log=None if args.quiet else print)
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
print(f"seed004: dev accuracy {100 * result.summary['dev_accuracy']:.2f}%, test accuracy "
      f"{100 * result.test_accuracy:.2f}% after {args.epochs} iteration(s) "
      f"(notebook 004 on MNIST: 85.6% dev after 500)")

(W1, b1), (W2, b2) = result.host_params()
X = dataset.test_images[:4].reshape(4, -1) / 255.0
logits = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
for index, (predicted, label) in enumerate(zip(np.argmax(logits, axis=1), dataset.test_labels[:4])):
    print(f"test image {index}: predicted {predicted}, label {label}")

SHADES = " ░▒▓█"
print("test image 0:")
for row in dataset.test_images[0]:
    print("".join(SHADES[int(pixel) * len(SHADES) // 256] * 2 for pixel in row))
