"""Reproduce seed notebooks 000 and 001 through xpnet's Python API and print their accuracy.

    python examples/train_seed_presets.py                      # real MNIST (found or downloaded)
    python examples/train_seed_presets.py --dataset synthetic  # no download
"""

import argparse

import xpnet

PUBLISHED = {"seed000": "91.58%", "seed001": "96.33%"}

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="mnist", help="(default: mnist)")
parser.add_argument("--backend", default="auto", help="(default: auto)")
args = parser.parse_args()

for preset, published in PUBLISHED.items():
    result = xpnet.fit(preset=preset, dataset=args.dataset, backend=args.backend, log=None)
    print(f"{preset}: {100 * result.test_accuracy:.2f}% test accuracy on {args.dataset} "
          f"(notebook on MNIST: {published}), {result.summary['train_seconds']:.1f} s on {result.backend.name}")
