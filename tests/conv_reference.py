"""An independent NumPy float64 convolutional network, for parity tests: written the textbook
way, not xpnet's. Patches come from ``sliding_window_view`` and ``np.pad`` (not a gather of
host-computed indices), products from ``einsum``, the input gradient is *scattered and added*
patch position by patch position (not a correlation with a flipped kernel), and pooling picks
each window's first maximum with explicit loops. Layout NHWC, kernels (k, k, c_in, c_out).

A network is a list of ("conv", pad) / ("pool",) / ("flatten",) / ("dense", relu) entries;
its parameters the plain list of (W, b) pairs, one per conv or dense entry.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_forward(X, W, b, pad):
    k = W.shape[0]
    Xp = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(Xp, (k, k), axis=(1, 2))  # (n, oh, ow, c, k, k)
    return np.einsum("nhwcab,abcf->nhwf", windows, W) + b, (windows, X.shape, pad)


def conv_backward(W, saved, dZ):
    windows, input_shape, pad = saved
    k = W.shape[0]
    dW = np.einsum("nhwcab,nhwf->abcf", windows, dZ)
    db = dZ.sum(axis=(0, 1, 2))
    n, h, w, c = input_shape
    out_h, out_w = dZ.shape[1], dZ.shape[2]
    dXp = np.zeros((n, h + 2 * pad, w + 2 * pad, c))
    for a in range(k):
        for b_ in range(k):
            dXp[:, a:a + out_h, b_:b_ + out_w, :] += np.einsum("nhwf,cf->nhwc", dZ, W[a, b_])
    return dXp[:, pad:pad + h, pad:pad + w, :], dW, db


def pool_forward(X):
    n, h, w, c = X.shape
    out = np.zeros((n, h // 2, w // 2, c))
    winners = np.zeros((n, h // 2, w // 2, c, 2), dtype=int)
    for example in range(n):
        for i in range(h // 2):
            for j in range(w // 2):
                for channel in range(c):
                    window = X[example, 2 * i:2 * i + 2, 2 * j:2 * j + 2, channel]
                    first = int(np.argmax(window))  # row-major: the first maximum
                    out[example, i, j, channel] = window.flat[first]
                    winners[example, i, j, channel] = (2 * i + first // 2, 2 * j + first % 2)
    return out, (winners, X.shape)


def pool_backward(saved, dA):
    winners, input_shape = saved
    dX = np.zeros(input_shape)
    n, oh, ow, c = dA.shape
    for example in range(n):
        for i in range(oh):
            for j in range(ow):
                for channel in range(c):
                    row, column = winners[example, i, j, channel]
                    dX[example, row, column, channel] += dA[example, i, j, channel]
    return dX


def loss_and_grads(network, params, X, y, classes):
    """Summed cross-entropy and the gradients of the *mean* loss, for images X (n, h, w, c)."""
    caches, H, remaining = [], X, iter(params)
    for entry in network:
        kind = entry[0]
        if kind == "conv":
            W, b = next(remaining)
            Z, saved = conv_forward(H, W, b, entry[1])
            H = np.maximum(Z, 0.0)
            caches.append((kind, (W, b), (saved, H)))
        elif kind == "pool":
            H, saved = pool_forward(H)
            caches.append((kind, None, saved))
        elif kind == "flatten":
            caches.append((kind, None, H.shape))
            H = H.reshape(H.shape[0], -1)
        else:
            W, b = next(remaining)
            inputs = H
            H = H @ W + b
            if entry[1]:
                H = np.maximum(H, 0.0)
            caches.append((kind, (W, b), (inputs, H, entry[1])))
    n = X.shape[0]
    shifted = H - H.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    Y = np.eye(classes)[y]
    loss_sum = -(Y * log_probs).sum()
    d = (np.exp(log_probs) - Y) / n
    grads = []
    for kind, layer_params, saved in reversed(caches):
        if kind == "dense":
            inputs, output, relu = saved
            if relu:
                d = d * (output > 0)
            grads.append((inputs.T @ d, d.sum(axis=0)))
            d = d @ layer_params[0].T
        elif kind == "flatten":
            d = d.reshape(saved)
        elif kind == "pool":
            d = pool_backward(saved, d)
        else:
            conv_saved, output = saved
            d = d * (output > 0)
            d, dW, db = conv_backward(layer_params[0], conv_saved, d)
            grads.append((dW, db))
    return loss_sum, grads[::-1]
