"""Train the same model on two backends from the same host draws and check they agree.

    python ci/parity.py --backends numpy,cupy         # the GPU lane
    python ci/parity.py --backends numpy,torch        # runs anywhere

Exit status 1 when a backend's per-epoch loss differs by more than 1% or an
accuracy by more than 0.5 points from the first backend's, or its final
parameters differ by more than rtol 1e-3 / atol 1e-4 (float32).
"""

import argparse
import sys

import numpy as np

import xpnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="numpy,cupy", help="comma-separated (default: numpy,cupy)")
    parser.add_argument("--dataset", default="synthetic:12000", help="(default: synthetic:12000)")
    parser.add_argument("--epochs", type=int, default=2, help="(default: 2)")
    parser.add_argument("--hidden", default="128", help="(default: 128)")
    args = parser.parse_args(argv)
    hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    names = args.backends.split(",")
    results = {}
    for name in names:
        try:
            results[name] = xpnet.fit(backend=name, dataset=args.dataset, hidden=hidden, epochs=args.epochs,
                                      log=None)
        except xpnet.XpnetError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    reference_name, reference = names[0], results[names[0]]
    failed = False
    print(f"{'backend':<18} {'epoch':>5} {'train loss':>11} {'train acc':>9} {'s/epoch':>8}")
    for name, result in results.items():
        for record, base in zip(result.history, reference.history):
            loss_ok = abs(record["train_loss"] - base["train_loss"]) <= 0.01 * abs(base["train_loss"])
            accuracy_ok = abs(record["train_accuracy"] - base["train_accuracy"]) <= 0.005
            failed |= not (loss_ok and accuracy_ok)
            print(f"{name:<18} {record['epoch']:>5} {record['train_loss']:>11.5f} "
                  f"{100 * record['train_accuracy']:>8.2f}% {record['seconds']:>8.3f}"
                  + ("" if loss_ok and accuracy_ok else "  <- differs"))
        for (W, b), (rW, rb) in zip(result.host_params(), reference.host_params()):
            if not (np.allclose(W, rW, rtol=1e-3, atol=1e-4) and np.allclose(b, rb, rtol=1e-3, atol=1e-4)):
                print(f"{name}: final parameters differ from {reference_name}'s beyond rtol 1e-3 / atol 1e-4")
                failed = True
        print(f"{name:<18} test accuracy {100 * result.test_accuracy:.2f}%")
    print("parity: FAILED" if failed else f"parity: {', '.join(names)} agree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
