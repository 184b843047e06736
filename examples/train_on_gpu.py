"""Train on an NVIDIA GPU with CuPy and print how fast the GPU goes.

The same hand-written backpropagation as on the CPU: the training set crosses to the GPU once,
and each step runs there. The first epoch includes CuPy's kernel compilation, so the speed is
the best later epoch. Large batches show the GPU best (small ones wait on Python's launches).
Without a usable GPU it says why in one line and exits 1; --device cpu runs anywhere.

    python examples/train_on_gpu.py --data-dir /path/holding/mnist --batch-size 1024
    python examples/train_on_gpu.py --device cpu          # NumPy on the CPU, for comparison
"""

import sys

import xpnet
from xpnet.cli import example_parser, positive_int

parser = example_parser("Train on CuPy (or on the CPU) and print the speed.", device="cuda")
parser.add_argument("--batch-size", type=positive_int, default=128, help="(default: 128)")
parser.add_argument("--epochs", type=positive_int, default=5, help="(default: 5)")
parser.add_argument("--quiet", action="store_true", help="print only the result (default: off)")
args = parser.parse_args()

try:
    result = xpnet.fit(preset="seed001", dataset=args.dataset, data_dir=args.data_dir, backend=args.backend,
                       device=args.device, batch_size=args.batch_size, epochs=args.epochs,
                       log=None if args.quiet else print)
except xpnet.XpnetError as error:
    print(f"error: {error}", file=sys.stderr)
    print("hint: pass --device cpu to run this example on the CPU", file=sys.stderr)
    sys.exit(1)
timed = result.history[1:] or result.history
best = max(timed, key=lambda record: record["examples_per_second"])
print(f"{result.summary['backend']} on {result.summary['device']}: best epoch {best['epoch']} took "
      f"{best['seconds']:.3f} s, {best['examples_per_second']:,.0f} examples/s at batch {args.batch_size}; "
      f"test accuracy {100 * result.test_accuracy:.2f}%")
