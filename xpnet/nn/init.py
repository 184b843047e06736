"""Parameter initialisation, drawn on the host so that every backend starts identically.

Draws happen in NumPy float64 from one ``numpy.random.Generator`` in a fixed
order (layer by layer: the weights, then the bias when it is drawn too) and are
cast afterwards, exactly as the seed notebooks do, so a notebook's run can be
replayed draw for draw.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import ParameterError

#: The weight initialisations ``init_params`` draws (its ``scheme``).
SCHEMES = ("normal:STD", "uniform:A", "xavier", "he")
#: Zero biases, or biases drawn like the weights (its ``bias``).
BIAS_SCHEMES = ("zeros", "same")


def check_schemes(scheme: str, bias: str) -> None:
    """A :class:`~xpnet.nn.checks.ParameterError` unless ``scheme`` (see :data:`SCHEMES`) and ``bias``
    (see :data:`BIAS_SCHEMES`) are known."""
    parse_scheme(scheme)
    if bias not in BIAS_SCHEMES:
        raise ParameterError("bias", lambda _: f"bad bias init {bias!r}; use one of {', '.join(BIAS_SCHEMES)}")


def parse_scheme(scheme: str) -> tuple[str, float | None]:
    """``'normal:0.01'`` -> ``('normal', 0.01)``; ``'he'`` -> ``('he', None)``."""
    kind, _, value = scheme.partition(":")
    if kind in ("xavier", "he") and not value:
        return kind, None
    if kind in ("normal", "uniform") and value:
        try:
            scale = float(value)
        except ValueError:
            scale = -1.0
        if scale > 0 and math.isfinite(scale):
            return kind, scale
    raise ParameterError("scheme", lambda _: f"bad init {scheme!r}; use one of {', '.join(SCHEMES)} "
                                             "(e.g. normal:0.01, uniform:0.5)")


def draw_weights(rng: np.random.Generator, scheme: str, fan_in: int, fan_out: int, shape: tuple[int, ...]):
    """One float64 host array of ``shape`` drawn by ``scheme`` for a layer fan_in -> fan_out."""
    kind, scale = parse_scheme(scheme)
    if kind == "normal":
        return rng.normal(0.0, scale, size=shape)
    if kind == "uniform":
        return rng.uniform(-scale, scale, size=shape)
    if kind == "xavier":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape)
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


def init_params(
    layer_sizes: list[int],
    rng: np.random.Generator,
    scheme: str = "he",
    bias: str = "zeros",
    dtype: str = "float32",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Host parameters ``[(W, b), ...]`` for an MLP with ``layer_sizes`` [d, h1, ..., k].

    ``W`` of layer i has shape (layer_sizes[i], layer_sizes[i+1]) and ``b`` shape
    (layer_sizes[i+1],), both NumPy arrays of ``dtype``. ``bias='same'`` draws
    biases with the weights' scheme (seed 004 does), ``'zeros'`` sets them to 0.
    """
    fans = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    return init_shaped(fans, [((fan_in, fan_out), (fan_out,)) for fan_in, fan_out in fans], rng, scheme, bias, dtype)


def init_shaped(fans, shapes, rng: np.random.Generator, scheme: str = "he", bias: str = "zeros",
                dtype: str = "float32") -> list[tuple[np.ndarray, np.ndarray]]:
    """Host parameters ``[(W, b), ...]`` of the given ``shapes`` [(W shape, b shape), ...], each
    layer drawn for its (fan_in, fan_out) in ``fans``: an :class:`xpnet.nn.architecture.Architecture`'s
    ``fans()`` and ``param_shapes()``. Same draws, in the same order, as :func:`init_params`."""
    check_schemes(scheme, bias)
    params = []
    for (fan_in, fan_out), (W_shape, b_shape) in zip(fans, shapes, strict=True):
        W = draw_weights(rng, scheme, fan_in, fan_out, W_shape).astype(dtype)
        if bias == "same":
            b = draw_weights(rng, scheme, fan_in, fan_out, b_shape).astype(dtype)
        else:
            b = np.zeros(b_shape, dtype=dtype)
        params.append((W, b))
    return params
