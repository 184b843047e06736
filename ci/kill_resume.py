"""Kill training runs with SIGKILL at random moments, resume each, and check the result is bit-identical.

    python ci/kill_resume.py --runs 10

Each run trains with --checkpoint-dir and --save, is killed after a random delay, then the same
command runs again: it continues from the newest checkpoint (or starts over when none was
written yet), removes the temporary file a killed save left, and saves its final model;
every final model must equal, bit for bit, that of one uninterrupted run. Exit status 1 if
any differs.
"""

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xpnet.cli import non_negative_int, positive_float, positive_int
from xpnet.training.checkpoint import load_checkpoint

TRAIN = [sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:30000", "--backend", "numpy", "--hidden", "256",
         "--batch-size", "16", "--epochs", "3", "--seed", "5", "--threads", "1", "--quiet"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=10, help="killed runs (default: 10)")
    parser.add_argument("--seed", type=non_negative_int, default=2026, help="seed of the kill times (default: 2026)")
    parser.add_argument("--max-delay", type=positive_float, default=4.5, help="latest kill, in seconds (default: 4.5)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="xpnet-kill-"))
    subprocess.run([*TRAIN, "--save", str(root / "whole.npz")], check=True)
    reference = load_checkpoint(root / "whole.npz").params
    chance = random.Random(args.seed)
    identical = 0
    for run in range(args.runs):
        folder, delay = root / f"run{run}", chance.uniform(0.3, args.max_delay)
        command = [*TRAIN, "--checkpoint-dir", str(folder), "--save", str(folder / "final.npz")]
        process = subprocess.Popen(command)
        time.sleep(delay)
        process.kill()
        process.wait()
        kept = sorted(p.name for p in folder.glob("*.npz"))
        strays = sorted(p.name for p in folder.glob(".*.tmp"))
        finished = subprocess.run(command, capture_output=True, text=True)  # the same command, run again
        strays_after = sorted(p.name for p in folder.glob(".*.tmp"))
        same = finished.returncode == 0 and not strays_after and all(
            np.array_equal(a, b)
            for pair, reference_pair in zip(load_checkpoint(folder / "final.npz").params, reference)
            for a, b in zip(pair, reference_pair))
        identical += same
        print(f"run {run}: killed after {delay:.2f} s; checkpoints then: {', '.join(kept) or 'none'}; "
              f"temporary files of a killed save: {len(strays)}, after the rerun: {len(strays_after)}; "
              f"bit-identical after running the same command again: {same}", flush=True)
    print(f"{identical}/{args.runs} bit-identical")
    return 0 if identical == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
