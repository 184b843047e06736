"""Your own extension of xpnet's training loop: each layer's weight norm after every epoch.

An extension overrides the hook points it needs (here ``epoch_end``); ``run`` is the run's
state (``run.params``, ``run.history``, ``run.config``...) and ``record`` the epoch's metrics,
to which it may add (what it adds reaches the metrics file and the checkpoints).

    python examples/custom_extension.py --data-dir /path/holding/mnist
    python examples/custom_extension.py --dataset synthetic --epochs 2
"""

import sys

import numpy as np

import xpnet
from xpnet.backend import to_numpy
from xpnet.cli import example_parser, positive_int
from xpnet.data import load_dataset


class WeightNorms(xpnet.Extension):
    """Prints each layer's weight norm after every epoch, and keeps them in the epoch's record."""

    def epoch_end(self, run, record):
        norms = [float(np.linalg.norm(to_numpy(W))) for W, _ in run.params]  # once an epoch: a host read is fine
        record["weight_norms"] = norms
        print(f"epoch {record['epoch']}: lr {record['lr']:.3f}, weight norms "
              + ", ".join(f"{norm:.3f}" for norm in norms))


parser = example_parser("Train seed notebook 001's MLP with an extension that prints the weights' norms.")
parser.add_argument("--epochs", type=positive_int, default=3, help="(default: 3)")
args = parser.parse_args()
try:
    result = xpnet.fit(preset="seed001", dataset=load_dataset(args.dataset, args.data_dir), backend=args.backend,
                       device=args.device, epochs=args.epochs, schedule="cosine", log=None,
                       extensions=[WeightNorms()])
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
print(f"test accuracy {100 * result.test_accuracy:.2f}%")
