"""Train one model on several backends from the same host draws; exit 1 if they disagree.

    python ci/parity.py --backends numpy,cupy                    # the GPU lane: float64, then float32
    python ci/parity.py --backends numpy,torch,array-api-strict  # runs anywhere (the CPU lane)
    python ci/parity.py --backends numpy,cupy@cuda:1 --dtype float32
    python ci/parity.py --backends numpy,jax@cuda --arch conv16k5,pool,conv32k5v,pool,fc128 --shift 2 \
        --dataset synthetic:2000 --epochs 1                      # the cnn preset's network, shifted images

The first backend is the reference; NAME@DEVICE picks a device. Each entry is resolved first,
and two that name the same backend on the same device (numpy and numpy@cpu, auto and what it
picks) are refused. Defaults: synthetic:60000, 2 epochs, 784-128-10, batch 128, lr 0.1, seed 1.
Nothing is written outside a temporary folder; Ctrl-C prints "interrupted" and exits 130.

float64: rounding differs by about 1e-16 and no ReLU changes sign, so runs agree closely:
  each epoch's train loss within 1e-12 (relative); each epoch's train accuracy and the test
  accuracy within 0.01 points or 1 example, whichever is more; every element of every final
  parameter within 1e-12 + 1e-9 * |reference|.
float32: two correct backends drift apart (a single ReLU changing sign at epoch 2 step 12
  moves W1 by 5e-4), so their outcomes are compared, not their elements: each epoch's train
  loss within 0.2% (relative); each epoch's train accuracy and the test accuracy within 0.2
  points or 3 examples; each final W and b within a relative distance ||P - P_ref|| / scale
  of 2e-2, and a relative norm gap | ||P|| - ||P_ref|| | / scale of 2e-3, where
  scale = max(||P_ref||, 1e-4 * sqrt(P.size)). The distance catches a parameter that went
  elsewhere (a wrong gradient, an untrained layer); drift rotates parameters without resizing
  them, so the norm gap catches a scale 1% off. The floor (an RMS of 1e-4) keeps a parameter
  that training never moved from being judged on its rounding noise: an output bias behind ten
  dead 3-unit layers holds values ~2e-9 on every backend, 80% apart relative to its own norm.
  Trained parameters sit far above the floor (the smallest RMS in the runs below is b1's 1.2e-2,
  120x; the initial weights' ~0.05), and float32 gaps far below it (NumPy and PyTorch: at most
  9e-5 RMS on the default command, 2e-9 on synthetic:3000), so the floor changes no verdict
  on a trained parameter and a parameter below it is checked to within 2e-6 RMS.

Measured on a 2-core Xeon (NumPy 2.4.6 with OpenBLAS, PyTorch 2.13.0 CPU) with the defaults
(`python ci/parity.py --backends numpy,torch,array-api-strict`), worst over epochs and
parameters:

| pair | loss | train acc | test acc | distance | norm gap | float64 max abs diff |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| numpy vs array-api-strict, either dtype | 0 | 0 | 0 | 0 | 0 | 0 |
| numpy vs torch, float64 | 2.1e-16 | 0 | 0 | | | 8.9e-16 |
| numpy vs torch, float32 | 9.9e-6 | 1 example | 1 example | 6.1e-4 | 8.9e-5 | |
| numpy vs torch, float32, worst of --seed 1..20 | 1.3e-4 | 7 examples | 4 examples | 3.8e-3 | 1.7e-4 | |
| numpy at lr 0.101 vs 0.1 (a bug), float32 | 1.1e-2 | 0.19 points | 0.09 points | 7.4e-3 | 3.4e-3 | |
| numpy, initial weights rounded to float32 (a bug), float64 | 4.8e-10 | | | | | 4.4e-8 |

Margins: float64 over 4,000x the CPU pair, since cuBLAS and CUDA's libm round differently
again, yet a float32 leak fails by 480x (loss) and 7,600x (parameters). float32, over the
worst of 20 seeds: loss 15x, accuracy 5x (test, 10,000 examples), distance 5x, norm gap 12x
(200x, 20x, 33x and 22x at the default seed); a learning rate 1% off fails the loss by 5x,
a parameter scaled by 1.01 fails the norm gap by 5x. One seed's distance comes near 4e-3, so
a distance tolerance 10x above it cannot also catch a 1% scale: the norm gap does.

A CNN (--arch with conv layers; --shift moves the images) is held to the same float64 criteria,
and in float32 to the loss and accuracy criteria only: its parameters drift apart more than an
MLP's (the 25 products of a 5x5 kernel summed per pixel, then over the batch's pixels, in each
backend's order), beyond the distance and norm-gap tolerances, while its loss stays close.
Measured on the same machine with the cnn preset's network (conv16k5,pool,conv32k5v,pool,fc128;
SGD lr 0.1, batch 128, seed 1), `--arch ... --dataset synthetic:2000 --epochs 1` with and
without `--shift 2` (2,000 train and 333 test examples), worst of the two:

| pair | loss | train acc | test acc | distance | norm gap | float64 max abs diff | float64 excess |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| numpy vs array-api-strict@device1, either dtype | 0 | 0 | 0 | 0 | 0 | 0 | 0 |
| numpy vs torch, float64 | 0 | 0 | 0 | | | 2.2e-16 | 4.6e-5 |
| numpy vs jax (compiled), float64 | 0 | 0 | 0 | | | 1.1e-16 | 4.2e-5 |
| numpy vs torch, float32 | 1.1e-5 | 1 example | 1 example | 1.8e-2 | 4.9e-3 | | |
| numpy vs jax (compiled), float32 | 1.7e-5 | 2 examples | 1 example | 3.5e-2 | 4.9e-3 | | |
| numpy at lr 0.101 vs 0.1 (a bug), float32, --shift 2 | 9.5e-5 | 5 examples | 0 | 7.8e-2 | 2.0e-2 | | |
| numpy vs torch, float64, synthetic:4000, 2 epochs, --shift 2 | 0 | 0 | 0 | | | 4.3e-16 | 3.0e-5 |
| numpy at lr 0.101 vs 0.1 (a bug), float64, the same | 3.3e-3 | 3 examples | 14 examples | | | 1.8e-2 | 4.8e9 |

"excess" is the largest |diff| / (atol + rtol |ref|), which fails above 1: float64 passes by
over 20,000x (atol 1e-12 sits 2,000x above the largest difference seen, for the elements near
0: a dead unit's bias is exactly 0 on every backend), and a learning rate 1% off fails by 5e9.
float32: the loss passes by 120x; the accuracies by 2x (train: 2 of the 4 examples allowed) and
3x (test); torch and jax's distances (3.5e-2) and norm gaps (4.9e-3) already exceed the MLP's
tolerances, while a bug's are only 2-4x larger, so no parameter criterion holds with margin.
The float32 CNN check therefore catches what moves the loss or the accuracy (a wrong gradient,
NaN, lost precision), not reliably a learning rate 1% off (loss 9.5e-5 passes; the train
accuracy, 5 examples, fails by one): float64 catches that by 5e9. Past the
plateau of the first epoch, float32 runs part: synthetic:4000, 2 epochs, --shift 2, numpy and
torch differ by 3.0e-4 in loss and 12 of 666 test examples (1.8 points), so a float32 CNN is
compared on one epoch (ci/gpu_report.py: synthetic:2000; float64 on synthetic:10000, 2 epochs).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

import xpnet
from xpnet.cli import (CommandParser, add_shared, backend_entries, positive_int, resolve_entries, run_command,
                       entry_compile, split_entry)
from xpnet.data import Dataset, load_dataset
from xpnet.errors import UsageError

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Tolerance:
    """What two runs in one dtype may differ by; a ``None`` criterion is not checked."""

    loss: float
    accuracy_points: float
    accuracy_examples: int
    param_atol: float | None = None
    param_rtol: float | None = None
    distance: float | None = None
    norm_gap: float | None = None
    rms_floor: float = 0.0


TOLERANCES = {
    "float64": Tolerance(loss=1e-12, accuracy_points=0.01, accuracy_examples=1, param_atol=1e-12, param_rtol=1e-9),
    "float32": Tolerance(loss=2e-3, accuracy_points=0.2, accuracy_examples=3, distance=2e-2, norm_gap=2e-3,
                         rms_floor=1e-4),
}


@dataclass
class Outcome:
    """What parity compares of one run: history records, test accuracy, host ``[(W, b)]``, split sizes."""

    history: list[dict]
    test_accuracy: float
    params: list[tuple[np.ndarray, np.ndarray]]
    n_train: int
    n_test: int

    @classmethod
    def of(cls, result: xpnet.FitResult, dataset: Dataset) -> Outcome:
        return cls(result.history, result.test_accuracy, result.host_params(),
                   dataset.train_labels.shape[0], dataset.test_labels.shape[0])


@dataclass(frozen=True)
class Check:
    """One criterion: the measured gap and what is allowed (NaN never passes)."""

    what: str
    gap: float
    allowed: float
    unit: str = ""

    @property
    def ok(self) -> bool:
        return self.gap <= self.allowed

    def describe(self) -> str:
        return f"{self.what}: {self.gap:.3g}{self.unit} (allowed {self.allowed:.3g}{self.unit})"


def tolerance_of(dtype: str, reference: Outcome) -> Tolerance:
    """``dtype``'s tolerance for the network of ``reference``: a float32 CNN's parameters are not compared."""
    convolutional = any(W.ndim == 4 for W, _ in reference.params)  # a Conv2d's W is (k, k, c_in, c_out)
    if dtype == "float32" and convolutional:
        return dataclasses.replace(TOLERANCES[dtype], distance=None, norm_gap=None)
    return TOLERANCES[dtype]


def checks(reference: Outcome, result: Outcome, dtype: str) -> list[Check]:
    """Every criterion of ``dtype`` (see the module docstring), measured for ``result`` against ``reference``."""
    tolerance = tolerance_of(dtype, reference)
    found = []
    if len(result.history) != len(reference.history):
        found.append(Check("epochs run", abs(len(result.history) - len(reference.history)), 0))
    train_points = max(tolerance.accuracy_points, 100 * tolerance.accuracy_examples / reference.n_train)
    for record, base in zip(result.history, reference.history):
        epoch = base["epoch"]
        found.append(Check(f"epoch {epoch} train loss (relative)",
                           _relative(record["train_loss"], base["train_loss"]), tolerance.loss))
        found.append(Check(f"epoch {epoch} train accuracy",
                           100 * abs(record["train_accuracy"] - base["train_accuracy"]), train_points, " points"))
    test_points = max(tolerance.accuracy_points, 100 * tolerance.accuracy_examples / reference.n_test)
    found.append(Check("test accuracy", 100 * abs(result.test_accuracy - reference.test_accuracy), test_points,
                       " points"))
    if len(result.params) != len(reference.params):
        found.append(Check("layers", abs(len(result.params) - len(reference.params)), 0))
    for layer, (pair, base_pair) in enumerate(zip(result.params, reference.params), start=1):
        for name, P, R in zip(("W", "b"), pair, base_pair):
            label = f"{name}{layer}"
            P, R = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64)
            if P.shape != R.shape:
                found.append(Check(f"{label} shape {P.shape} vs {R.shape}", math.inf, 0))
                continue
            if tolerance.param_atol is not None:
                allowance = tolerance.param_atol + tolerance.param_rtol * np.abs(R)
                excess = np.max(np.abs(P - R) / allowance, initial=0.0)
                found.append(Check(f"{label} elementwise |diff| / (atol + rtol |ref|)", float(excess), 1.0))
            if tolerance.distance is not None:
                norm = float(np.linalg.norm(R))
                scale = max(norm, tolerance.rms_floor * math.sqrt(R.size))
                found.append(Check(f"{label} distance ||P - P_ref|| / scale",
                                   _ratio(float(np.linalg.norm(P - R)), scale), tolerance.distance))
                found.append(Check(f"{label} norm gap | ||P|| - ||P_ref|| | / scale",
                                   _ratio(abs(float(np.linalg.norm(P)) - norm), scale), tolerance.norm_gap))
    return found


def compare(reference: Outcome, result: Outcome, dtype: str) -> list[str]:
    """One line per criterion of ``dtype`` that ``result`` misses against ``reference``; empty when they agree."""
    return [check.describe() for check in checks(reference, result, dtype) if not check.ok]


def _relative(value: float, base: float) -> float:
    return _ratio(abs(value - base), abs(base))


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return 0.0 if numerator == 0 else math.inf
    return numerator / denominator


def parse_backends(text: str) -> list[str]:
    """``'numpy,cupy@cuda:1'`` -> ['numpy', 'cupy@cuda:1']; at least two."""
    entries = backend_entries(text)
    if len(entries) < 2:
        raise argparse.ArgumentTypeError(f"expected two or more backends to compare, got {text!r}")
    return entries


DEFAULT_HIDDEN = (128,)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="ci/parity.py", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=parse_backends, default="numpy,cupy",
                        help="NAME[@DEVICE] list, the first being the reference (default: numpy,cupy)")
    add_shared(parser, "--dtype", "both", shown="both, float64 first", choices=(*DTYPES, "both"))
    add_shared(parser, "--dataset", "synthetic:60000")
    parser.add_argument("--epochs", type=positive_int, default=2, help="(default: 2)")
    add_shared(parser, "--hidden", None, shown=DEFAULT_HIDDEN)
    add_shared(parser, "--arch", None)
    add_shared(parser, "--shift", 0, shown="0, none")
    add_shared(parser, "--seed", 1)
    add_shared(parser, "--data-dir", None)
    return parser


def run_parity(args: argparse.Namespace) -> list[str]:
    """Train every backend in every dtype asked for, print the tables, and return the failures."""
    network(args)  # one network asked for, before any training
    resolve_entries(args.backends)  # every entry usable and listed once, before any training
    dataset = load_dataset(args.dataset, args.data_dir)
    failures = []
    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    # fit answers Ctrl-C with a checkpoint to resume from (in checkpoint_dir, else the current
    # folder); a parity run is never resumed, so that file goes to a folder removed on exit.
    with tempfile.TemporaryDirectory(prefix="xpnet-parity-") as scratch:
        for dtype in dtypes:
            outcomes = {}
            for entry in args.backends:
                print(f"training {entry} in {dtype}...", file=sys.stderr, flush=True)
                name, device = split_entry(entry)
                try:
                    # One folder per run: a folder holding a run is where the same run continues.
                    result = xpnet.fit(backend=name, device=device, compile=entry_compile(entry), dataset=dataset,
                                       **network(args), shift=args.shift,
                                       epochs=args.epochs, dtype=dtype, seed=args.seed, log=None,
                                       checkpoint_dir=os.path.join(scratch, f"{dtype}-{len(outcomes)}"),
                                       checkpoint_every=args.epochs)
                except xpnet.TrainingInterrupted:
                    raise KeyboardInterrupt from None
                outcomes[entry] = Outcome.of(result, dataset)
            failures += report(args, dtype, outcomes)
    return failures


def network(args: argparse.Namespace) -> dict:
    """fit's keywords for the network: ``arch`` for --arch, else ``hidden``; both is refused, as by xpnet.train."""
    if args.arch and args.hidden is not None:
        raise UsageError("give the network either with --arch or with --hidden, not both")
    return {"arch": args.arch} if args.arch else {"hidden": DEFAULT_HIDDEN if args.hidden is None else args.hidden}


def report(args: argparse.Namespace, dtype: str, outcomes: dict[str, Outcome]) -> list[str]:
    """Print one dtype's runs and each backend's checks against the reference; return the misses."""
    failures = []
    reference_name = args.backends[0]
    reference = outcomes[reference_name]
    model = f"arch {args.arch}" if args.arch else f"hidden {','.join(map(str, network(args)['hidden'])) or 'none'}"
    shifts = f", shifts up to {args.shift} px" if args.shift else ""
    print(f"\n## {dtype}: {args.dataset}, {args.epochs} epoch(s), {model}{shifts}, seed {args.seed}; "
          f"reference {reference_name}\n")
    print(f"{'backend':<24} {'epoch':>5} {'train loss':>12} {'train acc':>10} {'s/epoch':>8}")
    for name, outcome in outcomes.items():
        for record in outcome.history:
            print(f"{name:<24} {record['epoch']:>5} {record['train_loss']:>12.7f} "
                  f"{100 * record['train_accuracy']:>9.3f}% {record['seconds']:>8.3f}")
        print(f"{name:<24} {'test':>5} {'':>12} {100 * outcome.test_accuracy:>9.3f}%")
    tolerance = tolerance_of(dtype, reference)
    for name, outcome in list(outcomes.items())[1:]:
        if tolerance.distance is not None:
            how = f" (scale = max(||P_ref||, {tolerance.rms_floor:g} * sqrt(P.size))):"
        elif tolerance.param_atol is None:
            how = " (a CNN in float32: by loss and accuracy; its parameters drift apart, see ci/parity.py):"
        else:
            how = ":"
        print(f"\n{name} against {reference_name}, {dtype}" + how)
        print(f"  {'check':<58} {'gap':>10} {'allowed':>10}")
        for check in checks(reference, outcome, dtype):
            print(f"  {check.what:<58} {check.gap:>10.3g} {check.allowed:>10.3g}" + ("" if check.ok else "  FAIL"))
            if not check.ok:
                failures.append(f"{dtype} {name}: {check.describe()}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    failures = []

    def body(args: argparse.Namespace) -> None:
        failures.extend(run_parity(args))
        names = args.backends
        dtypes = "float64 and float32" if args.dtype == "both" else args.dtype
        print()
        for failure in failures:
            print(f"FAIL {failure}")
        others = ", ".join(names[1:])
        if failures:
            print(f"parity: FAIL ({len(failures)} check(s) missed; {others} against {names[0]}, {dtypes})")
        else:
            print(f"parity: PASS ({others} {'agree' if len(names) > 2 else 'agrees'} with {names[0]} in {dtypes})")

    status = run_command(parser, body, argv)
    return status if status else (1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
