"""Your own extension of xpnet's training loop: each layer's weight norm after every epoch.

An extension overrides the hook points it needs (here ``epoch_end``); ``run`` is the run's
state (``run.params``, ``run.history``, ``run.config``...) and ``record`` the epoch's metrics,
to which it may add. Run it: ``python examples/custom_extension.py``.
"""

import numpy as np

import xpnet
from xpnet.backend import to_numpy
from xpnet.data import make_synthetic


class WeightNorms(xpnet.Extension):
    """Prints each layer's weight norm after every epoch, and keeps them in the epoch's record."""

    def epoch_end(self, run, record):
        norms = [float(np.linalg.norm(to_numpy(W))) for W, _ in run.params]  # once an epoch: a host read is fine
        record["weight_norms"] = norms
        print(f"epoch {record['epoch']}: lr {record['lr']:.3f}, weight norms "
              + ", ".join(f"{norm:.3f}" for norm in norms))


result = xpnet.fit(dataset=make_synthetic(600, 200, seed=0), backend="numpy", hidden=(32,), epochs=3,
                   schedule="cosine", log=None, extensions=[WeightNorms()])
print(f"test accuracy {100 * result.test_accuracy:.2f}%; norms kept: {result.history[-1]['weight_norms']}")
