"""The peers that ``python -m xpnet.bench`` times xpnet against; never used by the trainer.

* :func:`numpy_loop_epoch`: the MLP written the obvious way in NumPy, as the seed notebooks do.
* :func:`torch_eager_epoch`: the same hand-written math with PyTorch tensors, eagerly.
* :class:`GemmFloor`: only the 3L-1 matrix products of each SGD step, on preallocated buffers.

Parameters are host lists ``[(W (fan_in, fan_out), b (fan_out,)), ...]``, updated in place;
``X`` (n, d) float, ``y`` (n,) int64, ``order`` (n,) the epoch's permutation.
This module, as a measurement tool comparing libraries, may name NumPy and PyTorch.
"""

from __future__ import annotations

import sys

import numpy as np

from ..training.config import Config
from ..nn.init import init_params

FLOOR = "gemm-floor"


def host_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, rows, cols), labels (n,) -> ``X`` (n, rows*cols) ``dtype`` in [0, 1], ``y`` (n,) int64.

    The same conversion as the trainer's, so every implementation sees the same numbers.
    """
    X = images.reshape(images.shape[0], -1).astype(dtype) / 255.0
    return X, np.asarray(labels, dtype=np.int64)


def fit_draws(layer_sizes: list[int], n: int, seed: int, dtype: str, epochs: int):
    """The host draws ``xpnet.fit`` makes for this seed: initial ``params`` and one permutation per epoch.

    Mirrors the trainer (one generator; default init scheme; weights, then each epoch's
    ``permutation(n)``) so that a reference starts from xpnet's weights and visits the same batches.
    """
    defaults = Config()
    rng = np.random.default_rng(seed)
    params = init_params(layer_sizes, rng, defaults.init, defaults.bias_init, dtype)
    return params, [rng.permutation(n) for _ in range(epochs)]


def numpy_loop_epoch(params, X, y, order, batch_size: int, lr: float) -> tuple[float, int]:
    """One SGD epoch, plain NumPy, seed-001 style; returns (summed loss, correct count).

    Loss and accuracy are accumulated because xpnet's epoch computes them too.
    """
    n = X.shape[0]
    eye = np.eye(params[-1][0].shape[1], dtype=X.dtype)
    last = len(params) - 1
    loss_sum, correct = 0.0, 0
    for start in range(0, n, batch_size):
        j = order[start:start + batch_size]
        H, yb = X[j], y[j]
        m = H.shape[0]
        inputs, pre = [], []
        for layer, (W, b) in enumerate(params):
            Z = H @ W + b
            inputs.append(H)
            pre.append(Z)
            H = np.maximum(Z, 0) if layer < last else Z
        shifted = H - H.max(axis=1, keepdims=True)
        E = np.exp(shifted)
        S = E.sum(axis=1, keepdims=True)
        P = E / S
        # The loss from log-sum-exp: -log(P) would overflow where P underflows to 0.
        loss_sum += (np.log(S[:, 0]) - shifted[np.arange(m), yb]).sum()
        correct += (H.argmax(axis=1) == yb).sum()
        dZ = (P - eye[yb]) / m
        for layer in range(last, -1, -1):
            W, b = params[layer]
            gW, gb = inputs[layer].T @ dZ, dZ.sum(axis=0)
            if layer > 0:
                dZ = (dZ @ W.T) * (pre[layer - 1] > 0)
            W -= lr * gW
            b -= lr * gb
    return float(loss_sum), int(correct)


def to_torch(params, *arrays):
    """Host params and arrays as CPU torch tensors (arrays share memory with NumPy; params are copied)."""
    import torch

    return ([(torch.from_numpy(W.copy()), torch.from_numpy(b.copy())) for W, b in params],
            *(torch.from_numpy(a) for a in arrays))


def torch_eager_epoch(params, X, y, order, batch_size: int, lr: float) -> tuple[float, int]:
    """:func:`numpy_loop_epoch` with torch tensors (``index_select`` gather, in-place updates)."""
    import torch

    n = X.shape[0]
    eye = torch.eye(params[-1][0].shape[1], dtype=X.dtype)
    last = len(params) - 1
    with torch.no_grad():
        loss_sum = torch.zeros((), dtype=X.dtype)
        correct = torch.zeros((), dtype=torch.int64)
        for start in range(0, n, batch_size):
            j = order[start:start + batch_size]
            H, yb = X.index_select(0, j), y.index_select(0, j)
            m = H.shape[0]
            inputs, pre = [], []
            for layer, (W, b) in enumerate(params):
                Z = H @ W + b
                inputs.append(H)
                pre.append(Z)
                H = torch.relu(Z) if layer < last else Z
            shifted = H - H.max(dim=1, keepdim=True).values
            E = torch.exp(shifted)
            S = E.sum(dim=1, keepdim=True)
            P = E / S
            loss_sum += (torch.log(S[:, 0]) - shifted.gather(1, yb[:, None])[:, 0]).sum()
            correct += (H.argmax(dim=1) == yb).sum()
            dZ = (P - eye.index_select(0, yb)) / m
            for layer in range(last, -1, -1):
                W, b = params[layer]
                gW, gb = inputs[layer].T @ dZ, dZ.sum(dim=0)
                if layer > 0:
                    dZ = (dZ @ W.T) * (pre[layer - 1] > 0)
                W -= lr * gW
                b -= lr * gb
    return float(loss_sum), int(correct)


def gemm_flops(layer_sizes: list[int], n: int) -> int:
    """FLOPs of the 3L-1 matrix products in one epoch over ``n`` examples.

    Per layer: forward ``H @ W`` and ``dW = H.T @ dZ`` (2 * n * fan_in * fan_out each), and the
    input gradient ``dZ @ W.T`` for every layer but the first (no one needs dLoss/dX).
    """
    pairs = [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    return 2 * n * (3 * sum(pairs) - pairs[0])


class GemmFloor:
    """The matrix products of an SGD epoch and nothing else: the floor any implementation sits on.

    Inputs are contiguous row slices of ``X`` (n, d) (the data must be read once per epoch);
    every other operand and every output is preallocated, so a step allocates nothing.
    """

    def __init__(self, layer_sizes: list[int], batch_size: int, X: np.ndarray, seed: int = 0):
        rng = np.random.default_rng(seed)
        dtype = X.dtype
        pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
        m = min(batch_size, X.shape[0])
        self.X, self.batch_size = X, m
        # Small random values keep every product finite and away from subnormals.
        self.W = [(0.05 * rng.standard_normal((a, b))).astype(dtype) for a, b in pairs]
        self.Z = [np.empty((m, b), dtype=dtype) for _, b in pairs]
        self.dZ = [(0.01 * rng.standard_normal((m, b))).astype(dtype) for _, b in pairs]
        self.dW = [np.empty((a, b), dtype=dtype) for a, b in pairs]
        self.dH = [np.empty((m, a), dtype=dtype) for a, _ in pairs[1:]]

    def epoch(self) -> None:
        """One epoch's products: per step, L forward, L weight-gradient and L-1 input-gradient GEMMs."""
        n = self.X.shape[0]
        for start in range(0, n, self.batch_size):
            m = min(self.batch_size, n - start)
            inputs = [self.X[start:start + m]] + [Z[:m] for Z in self.Z[:-1]]
            for H, W, Z in zip(inputs, self.W, self.Z):
                np.matmul(H, W, out=Z[:m])
            for layer in range(len(self.W) - 1, -1, -1):
                np.matmul(inputs[layer].T, self.dZ[layer][:m], out=self.dW[layer])
                if layer > 0:
                    np.matmul(self.dZ[layer][:m], self.W[layer].T, out=self.dH[layer - 1][:m])


def torch_threads() -> int | None:
    """torch's intra-op thread count; None if torch is not loaded (reporting never loads it)."""
    torch = sys.modules.get("torch")
    return None if torch is None else torch.get_num_threads()
