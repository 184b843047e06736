"""Initialisation: host draws in the notebooks' order, identical on every backend."""

import math

import numpy as np
import pytest

from xpnet.backend import to_numpy
from xpnet.nn.init import init_params, parse_scheme


def test_normal_draws_replay_notebook_001():
    params = init_params([784, 128, 10], np.random.default_rng(0), "normal:0.02", "zeros", "float32")
    rng = np.random.default_rng(0)
    W1 = rng.normal(0, 0.02, size=(784, 128)).astype(np.float32)
    W2 = rng.normal(0, 0.02, size=(128, 10)).astype(np.float32)
    np.testing.assert_array_equal(params[0][0], W1)
    np.testing.assert_array_equal(params[1][0], W2)
    assert not params[0][1].any() and params[1][1].shape == (10,)


def test_uniform_with_drawn_biases_like_notebook_004():
    params = init_params([784, 10, 10], np.random.default_rng(3), "uniform:0.5", "same", "float64")
    rng = np.random.default_rng(3)
    expected = [rng.uniform(-0.5, 0.5, size=s) for s in [(784, 10), (10,), (10, 10), (10,)]]
    got = [params[0][0], params[0][1], params[1][0], params[1][1]]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    assert all(np.all(np.abs(g) <= 0.5) for g in got)


@pytest.mark.parametrize("scheme, expected_std", [("he", math.sqrt(2 / 400)),
                                                  ("xavier", math.sqrt(2 / (400 + 300)))])
def test_scaled_schemes_have_the_right_spread(scheme, expected_std):
    W = init_params([400, 300], np.random.default_rng(1), scheme)[0][0]
    assert W.std() == pytest.approx(expected_std, rel=0.02)


@pytest.mark.parametrize("scheme", ["normal", "normal:-1", "uniform:x", "gauss:1", "he:2", ""])
def test_bad_schemes_are_usage_errors(scheme):
    with pytest.raises(ValueError):
        parse_scheme(scheme)


def test_every_backend_starts_from_identical_weights(backend):
    host = init_params([20, 8, 3], np.random.default_rng(9), "xavier", "zeros", "float32")
    for W, b in host:
        np.testing.assert_array_equal(to_numpy(backend.asarray(W)), W)
        np.testing.assert_array_equal(to_numpy(backend.asarray(b)), b)
