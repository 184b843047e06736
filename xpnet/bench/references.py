"""The peers that ``python -m xpnet.bench`` times xpnet against; never used by the trainer.

* :func:`numpy_loop_epoch`: the MLP written the obvious way in NumPy, as the seed notebooks do.
* :func:`torch_eager_epoch`: the same hand-written math with PyTorch tensors, eagerly.
* :class:`GemmFloor`: only the 3L-1 matrix products of each SGD step, on preallocated buffers.
* :func:`torch_conv2d_epoch`: a convolutional network the way PyTorch users write it:
  ``F.conv2d`` on NCHW images, ``F.max_pool2d``, ``F.linear``, ``F.cross_entropy``,
  ``loss.backward()`` and a plain SGD update under ``torch.no_grad()``.

Parameters are host lists ``[(W (fan_in, fan_out), b (fan_out,)), ...]``, updated in place;
``X`` (n, d) float, ``y`` (n,) int64, ``order`` (n,) the epoch's permutation.
This module, as a measurement tool comparing libraries, may name NumPy and PyTorch.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from ..nn.architecture import Architecture
from ..nn.conv import POOLS, AvgPool2d, Conv2d, Flatten, MaxPool2d
from ..nn.layers import Dense, ReLU
from ..training.config import Config
from ..nn.init import init_params, init_shaped

FLOOR = "gemm-floor"
CONV_PEER = "torch-conv2d"


def host_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, rows, cols), labels (n,) -> ``X`` (n, rows*cols) ``dtype`` in [0, 1], ``y`` (n,) int64.

    The same conversion as the trainer's, so every implementation sees the same numbers.
    """
    X = images.reshape(images.shape[0], -1).astype(dtype) / 255.0
    return X, np.asarray(labels, dtype=np.int64)


def fit_draws(network, n: int, seed: int, dtype: str, epochs: int):
    """The host draws ``xpnet.fit`` makes for this seed: initial ``params`` and one permutation per epoch.

    ``network``: an MLP's layer sizes [d, h1, ..., k], or an :class:`Architecture` (a CNN's
    kernels are (k, k, c_in, c_out)). Mirrors the trainer (one generator; default init scheme;
    weights, then each epoch's ``permutation(n)``) so that a reference starts from xpnet's
    weights and visits the same batches.
    """
    defaults = Config()
    rng = np.random.default_rng(seed)
    if isinstance(network, Architecture):
        params = init_shaped(network.fans(), network.param_shapes(), rng, defaults.init, defaults.bias_init, dtype)
    else:
        params = init_params(list(network), rng, defaults.init, defaults.bias_init, dtype)
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


def network_flops(arch: Architecture, n: int) -> int:
    """:func:`gemm_flops` for any architecture: a convolution counts as the product of its patches
    (oh*ow rows of k*k*c_in per example) with its (k*k*c_in, c_out) kernel; an MLP's count is
    exactly :func:`gemm_flops`'s."""
    convs = [layer for layer in arch.layers() if isinstance(layer, Conv2d)]
    shapes = arch.param_shapes()
    positions = [math.prod(conv.out_shape[:2]) for conv in convs] + [1] * (len(shapes) - len(convs))
    products = [rows * math.prod(W_shape) for rows, (W_shape, _) in zip(positions, shapes, strict=True)]
    return 2 * n * (3 * sum(products) - products[0])


@dataclass
class TorchNet:
    """A network for :func:`torch_conv2d_epoch`: ``steps`` in order, each ``("conv", padding)``,
    ``("relu",)``, ``("pool",)``, ``("avgpool",)``, ``("flatten",)`` or ``("linear",)``, and ``params`` the
    leaf tensors ``[(weight, bias), ...]`` of the conv and linear steps, in PyTorch's layouts:
    a conv weight (c_out, c_in, k, k), a linear one (fan_out, fan_in)."""

    steps: list[tuple]
    params: list


def torch_steps(arch: Architecture) -> list[tuple]:
    """``arch``'s layers as :class:`TorchNet` steps (conv padding: 0 valid, (k - 1) // 2 same);
    ValueError naming a layer the reference does not write."""
    steps = []
    for layer in arch.layers():
        if isinstance(layer, Conv2d):
            steps.append(("conv", layer.pad))
        elif isinstance(layer, ReLU):
            steps.append(("relu",))
        elif isinstance(layer, MaxPool2d):
            steps.append(("pool",))
        elif isinstance(layer, AvgPool2d):
            steps.append(("avgpool",))
        elif isinstance(layer, Flatten):
            steps.append(("flatten",))
        elif isinstance(layer, Dense):
            steps.append(("linear",))
        else:
            raise ValueError(f"the {CONV_PEER} reference writes conv, pool, avgpool and fc layers, "
                             f"not {type(layer).__name__}")
    return steps


def flattened_shape(arch: Architecture) -> tuple[int, int, int] | None:
    """(h, w, c) of the image the first Dense layer flattens; None for an MLP."""
    shape = None
    for layer in arch.layers():
        if isinstance(layer, (Conv2d, *POOLS)):
            shape = layer.out_shape
    return shape


def _conv_count(arch: Architecture) -> int:
    """How many conv layers come first: the index of the first Dense layer's parameters."""
    return sum(len(W_shape) == 4 for W_shape, _ in arch.param_shapes())


def to_torch_conv(arch: Architecture, params, X, y, *orders):
    """xpnet's host ``params`` and data as a :class:`TorchNet` and CPU tensors, NCHW.

    ``X`` (n, h*w*c) flattened NHWC -> (n, c, h, w); kernels (k, k, c_in, c_out) ->
    (c_out, c_in, k, k); Dense weights (fan_in, fan_out) -> (fan_out, fan_in), the first one's
    columns reordered from the NHWC flatten order (h, w, c) to the NCHW one (c, h, w), so the
    network computes exactly xpnet's. ``y`` and ``orders`` are shared with NumPy.
    """
    import torch

    flat, first_dense = flattened_shape(arch), _conv_count(arch)
    converted = []
    for index, (W, b) in enumerate(params):
        if W.ndim == 4:
            W = W.transpose(3, 2, 0, 1)
        else:
            if index == first_dense and flat is not None:
                W = W.reshape(*flat, -1).transpose(2, 0, 1, 3).reshape(W.shape)
            W = W.T
        converted.append((torch.tensor(np.ascontiguousarray(W)).requires_grad_(),
                          torch.tensor(b).requires_grad_()))
    height, width, channels = arch.image_shape
    images = np.ascontiguousarray(X.reshape(-1, height, width, channels).transpose(0, 3, 1, 2))
    return (TorchNet(torch_steps(arch), converted), torch.from_numpy(images),
            *(torch.from_numpy(a) for a in (y, *orders)))


def from_torch_conv(arch: Architecture, net: TorchNet) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`to_torch_conv`'s inverse on the parameters: host ``[(W, b), ...]`` in xpnet's layouts."""
    flat, first_dense = flattened_shape(arch), _conv_count(arch)
    params = []
    for index, (weight, bias) in enumerate(net.params):
        W = weight.detach().numpy()
        if W.ndim == 4:
            W = W.transpose(2, 3, 1, 0)
        else:
            W = W.T
            if index == first_dense and flat is not None:
                height, width, channels = flat
                W = W.reshape(channels, height, width, -1).transpose(1, 2, 0, 3).reshape(W.shape)
        params.append((np.ascontiguousarray(W), bias.detach().numpy().copy()))
    return params


def torch_conv2d_epoch(net: TorchNet, X, y, order, batch_size: int, lr: float) -> tuple[float, int]:
    """One SGD epoch of ``net`` on ``X`` (n, c, h, w), ``y`` (n,), batches in ``order``, autograd
    for the gradients; returns (summed loss, correct count), as xpnet's epoch computes them."""
    import torch
    import torch.nn.functional as F

    n = X.shape[0]
    loss_sum = torch.zeros((), dtype=X.dtype)
    correct = torch.zeros((), dtype=torch.int64)
    for start in range(0, n, batch_size):
        j = order[start:start + batch_size]
        H, yb = X.index_select(0, j), y.index_select(0, j)
        logits = _torch_forward(net, H, F)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        with torch.no_grad():
            for weight, bias in net.params:
                weight -= lr * weight.grad
                bias -= lr * bias.grad
                weight.grad = bias.grad = None
            loss_sum += loss * yb.shape[0]
            correct += (logits.argmax(dim=1) == yb).sum()
    return float(loss_sum), int(correct)


def _torch_forward(net: TorchNet, H, F):
    """Scores (m, k) of the batch ``H`` (m, c, h, w)."""
    params = iter(net.params)
    for step in net.steps:
        if step[0] == "conv":
            H = F.conv2d(H, *next(params), padding=step[1])
        elif step[0] == "relu":
            H = F.relu(H)
        elif step[0] == "pool":
            H = F.max_pool2d(H, 2)
        elif step[0] == "avgpool":
            H = F.avg_pool2d(H, 2)
        elif step[0] == "flatten":
            H = H.flatten(1)
        else:
            H = F.linear(H, *next(params))
    return H


def torch_installed() -> bool:
    """Whether PyTorch imports here; importing it now, before threads are pinned, lets them be pinned."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_threads() -> int | None:
    """torch's intra-op thread count; None if torch is not loaded (reporting never loads it)."""
    torch = sys.modules.get("torch")
    return None if torch is None else torch.get_num_threads()
