"""Train one model on every installed backend from the same seed and show that they agree.

    python examples/compare_backends.py --dataset synthetic:6000
"""

import argparse

import numpy as np

import xpnet

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="synthetic:6000", help="(default: synthetic:6000)")
parser.add_argument("--epochs", type=int, default=2, help="(default: 2)")
args = parser.parse_args()

results = {name: xpnet.fit(dataset=args.dataset, backend=name, hidden=(64,), epochs=args.epochs, log=None)
           for name in xpnet.available_backends()}
reference = results["numpy"].host_params()
for name, result in results.items():
    gap = max(float(np.max(np.abs(W - rW))) for (W, _), (rW, _) in zip(result.host_params(), reference))
    print(f"{name:<17} loss {result.history[-1]['train_loss']:.6f}  test {100 * result.test_accuracy:.2f}%  "
          f"max |W - W_numpy| = {gap:.2e}")
