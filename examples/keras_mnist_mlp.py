"""Keras's ``mnist_mlp.py`` through xpnet: MLP 784-512-512-10 with RMSprop (98.40% test in Keras).

The recipe of the classic Keras example: pixels scaled to [0, 1], two hidden layers of 512
ReLU units, each followed by dropout 0.2, glorot-uniform weights (``xavier`` here) and zero
biases, RMSprop lr 0.001 rho 0.9 eps 1e-7 (Keras's defaults), batch 128, 20 epochs, shuffled
every epoch. It is the ``keras`` preset. What differs: xpnet's RMSprop is PyTorch's (eps
outside the square root, as the standalone Keras of that example had it; tf.keras and Keras 3
add it inside), and the random draws (weights, dropout masks, shuffles) are NumPy's, not
TensorFlow's, so a seed here is not a seed there.

    python examples/keras_mnist_mlp.py --data-dir /path/holding/mnist --threads 2
    python examples/keras_mnist_mlp.py --backend torch --quiet    # the same lines on PyTorch
"""

import sys

import xpnet
from xpnet.cli import add_shared, example_parser, positive_int

PRESET = xpnet.PRESETS["keras"].settings
parser = example_parser("Keras's mnist_mlp.py (784-512-512-10, RMSprop) through xpnet.")
add_shared(parser, "--threads", None)
parser.add_argument("--epochs", type=positive_int, default=PRESET["epochs"],
                    help=f"(default: {PRESET['epochs']}, as Keras's example)")
add_shared(parser, "--seed", PRESET["seed"])
parser.add_argument("--quiet", action="store_true", help="print only the final comparison (default: off)")
args = parser.parse_args()

try:
    result = xpnet.fit(preset="keras", dataset=args.dataset, data_dir=args.data_dir, backend=args.backend,
                       device=args.device, threads=args.threads, epochs=args.epochs, seed=args.seed,
                       log=None if args.quiet else print)
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
print(f"keras mnist_mlp: test accuracy {100 * result.test_accuracy:.2f}% after {args.epochs} epoch(s), "
      f"{result.summary['train_seconds']:.0f} s of training (Keras's example on MNIST: 98.40% after 20)")
