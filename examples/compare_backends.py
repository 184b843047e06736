"""Train the same model on every installed backend from the same seed and show that they agree.

Each backend starts from identical weights (drawn on the host) and visits the same batches, so
only rounding differs: the loss and accuracy match, and the weights stay within float32
rounding of NumPy's (about 1e-15 with --dtype float64).

    python examples/compare_backends.py --data-dir /path/holding/mnist
    python examples/compare_backends.py --dataset synthetic --backends numpy,torch --dtype float64
"""

import sys

import numpy as np

import xpnet
from xpnet.cli import add_shared, example_parser, positive_int
from xpnet.data import load_dataset

parser = example_parser("Train one model on several backends and compare them.", backend=False)
parser.add_argument("--backends", default=",".join(xpnet.available_backends()),
                    help="comma-separated, the first is the reference (default: every installed one, here %(default)s)")
parser.add_argument("--epochs", type=positive_int, default=2, help="(default: 2)")
add_shared(parser, "--dtype", "float32")
args = parser.parse_args()

try:
    data = load_dataset(args.dataset, args.data_dir)
    results = {name: xpnet.fit(preset="seed001", dataset=data, backend=name, epochs=args.epochs, dtype=args.dtype,
                               log=None)
               for name in args.backends.split(",")}
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
reference_name, reference = next(iter(results)), next(iter(results.values())).host_params()
for name, result in results.items():
    gap = max(float(np.max(np.abs(W - W_ref))) for (W, _), (W_ref, _) in zip(result.host_params(), reference))
    print(f"{name:<17} train loss {result.history[-1]['train_loss']:.6f}  test accuracy "
          f"{100 * result.test_accuracy:.2f}%  max |W - W_{reference_name}| = {gap:.1e}  "
          f"{result.summary['train_seconds']:.1f} s")
