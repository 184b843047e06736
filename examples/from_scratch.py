"""A whole training loop from xpnet.nn's pieces, on one screen: load, init, forward, loss,
backward, update, accuracy. Seed notebook 001's recipe (784-128-10, weights normal(0, 0.02),
SGD lr 0.1, batch 128), the same draws as `python -m xpnet.train --preset seed001`: 96.31%.

    python examples/from_scratch.py --data-dir /path/holding/mnist
    python examples/from_scratch.py --dataset synthetic --backend array-api-strict
"""

import signal
import sys

import numpy as np

import xpnet
from xpnet.cli import example_parser, positive_int
from xpnet.data import load_dataset
from xpnet.nn.init import init_params
from xpnet.nn.network import LOSS, backward, forward
from xpnet.nn.ops import accuracy, one_hot
from xpnet.nn.optim import SGD

parser = example_parser("Train an MLP with a plain loop over xpnet.nn.")
parser.add_argument("--epochs", type=positive_int, default=8, help="(default: 8)")
args = parser.parse_args()
signal.signal(signal.SIGINT, lambda *_: sys.exit("interrupted"))  # Ctrl-C: one line, no traceback
try:
    backend = xpnet.resolve(args.backend, args.device)  # which library, which device
    data = load_dataset(args.dataset, args.data_dir)  # uint8 images (n, 28, 28) and labels (n,), on the host
except xpnet.XpnetError as error:
    sys.exit(f"error: {error}")
xp, rng, lr, batch_size = backend.xp, np.random.default_rng(0), 0.1, 128
sizes = [28 * 28, 128, data.num_classes]

with backend.activate():  # every array below is made and computed on the chosen device
    X = backend.asarray(data.train_images.reshape(-1, sizes[0]), dtype="float32") / 255.0
    Y = one_hot(backend.asarray(data.train_labels), sizes[-1], X.dtype)
    X_test = backend.asarray(data.test_images.reshape(-1, sizes[0]), dtype="float32") / 255.0
    y_test = backend.asarray(data.test_labels)
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in init_params(sizes, rng, "normal:0.02")]
    optimizer = SGD(lr)
    state, t = optimizer.state_for(params), 0  # the optimiser's buffers (plain SGD has none) and step count
    n = X.shape[0]
    for epoch in range(1, args.epochs + 1):
        order = backend.asarray(rng.permutation(n))  # one transfer per epoch
        loss_sum = xp.zeros((), dtype=X.dtype, device=backend.device)
        for start in range(0, n, batch_size):
            rows = order[start:min(start + batch_size, n)]
            X_batch, Y_batch = xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0)
            t += 1
            c = optimizer.coefficients(lr, t)  # this step's scalars, Python floats; SGD's "scale" is lr
            logits, cache = forward(params, X_batch)  # every layer, remembering what backward needs
            batch_loss, probs = LOSS.forward(logits, Y_batch, xp=xp)  # softmax cross-entropy, summed
            grads = backward(cache, LOSS.backward(probs, Y_batch, scale=c.get("scale", 1.0)))
            params, state = optimizer.update(params, grads, state, c, xp=xp)  # keep what it returns
            loss_sum += batch_loss
        test_accuracy = xpnet.to_numpy(accuracy(forward(params, X_test)[0], y_test))  # one read per epoch
        print(f"epoch {epoch}: train loss {xpnet.to_numpy(loss_sum) / n:.4f}, "
              f"test accuracy {100 * test_accuracy:.2f}%")
